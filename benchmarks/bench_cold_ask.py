"""Whole-process `regionqa ask` on a built index: the ONNX query path against sentence-transformers.

    .venv/bin/python benchmarks/bench_cold_ask.py --index-dir index [--runs 5] [--torch-runs 3]

Each run is a new process (`regionqa --index-dir DIR ask QUESTION`), timed from spawn to exit,
so imports, opening the index and the model, answering, rendering and interpreter exit all
count. The files are in the page cache (one unmeasured run of each path first): "cold" means
a cold process, not a cold disk. The path is forced with REGIONQA_ENCODER=onnx (an error if the
index has no valid ONNX export: run `regionqa index build`) and REGIONQA_ENCODER=torch.
Each run's wall time, CPU time (user + system, all threads) and peak resident memory come
from wait4. Prints medians and their ratio,
`regionqa --help` time and the machine: the machine may be shared, so the load average is shown.
Beside `ask` (with the span reader, and with REGIONQA_READER=off) it times floor_ask.py, the least
a process must do with these models (imports, ONNX sessions, encoding, FAISS, one reader call),
the runs taking turns; the target (issue 11) is cold ask with the reader <= 1.3x the floor.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

QUESTION = "How much cargo can the Alat port handle now?"


def regionqa_command() -> list[str]:
    beside = Path(sys.executable).with_name("regionqa")
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("regionqa")
    return [found] if found else [sys.executable, "-c", "from regionqa.cli import app; app()"]


class Run(NamedTuple):
    wall: float  # seconds from spawn to exit
    cpu: float  # user + system seconds of the child (all its threads)
    rss_mb: float  # the child's peak resident set size
    stdout: str


def run(command: list[str], env: dict[str, str]) -> Run:
    """One process, measured with wait4 (its own rusage); exits with its stderr when it fails."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        child = subprocess.Popen(command, env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if child.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed ({child.returncode}):\n{err.read().strip()}")
        return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out.read())


def measure(command: list[str], env: dict[str, str], runs: int) -> tuple[Run, list[Run]]:
    """One unmeasured run (page cache), then `runs` runs; (the medians, the runs)."""
    run(command, env)
    done = [run(command, env) for _ in range(runs)]
    median = Run(
        statistics.median(r.wall for r in done),
        statistics.median(r.cpu for r in done),
        statistics.median(r.rss_mb for r in done),
        done[-1].stdout,
    )
    return median, done


def measure_interleaved(commands: dict[str, tuple[list[str], dict[str, str]]], runs: int) -> dict[str, tuple[Run, list[Run]]]:
    """Like `measure`, for several commands taking turns run by run, so that drift of a shared machine
    falls on all of them alike (their ratios are what is compared)."""
    for command, env in commands.values():
        run(command, env)
    done: dict[str, list[Run]] = {label: [] for label in commands}
    for _ in range(runs):
        for label, (command, env) in commands.items():
            done[label].append(run(command, env))
    out = {}
    for label, runs_of in done.items():
        median = Run(
            statistics.median(r.wall for r in runs_of),
            statistics.median(r.cpu for r in runs_of),
            statistics.median(r.rss_mb for r in runs_of),
            runs_of[-1].stdout,
        )
        out[label] = (median, runs_of)
    return out


def report(label: str, median: Run, runs: list[Run]) -> None:
    walls = " ".join(f"{r.wall:.3f}" for r in runs)
    print(f"{label:<20} median {median.wall:.3f} s wall, {median.cpu:.3f} s CPU, peak RSS {median.rss_mb:.0f} MB  (runs: {walls})")


def compile_package() -> None:
    """Byte-compile regionqa's modules, as pip does at a regular install: an editable checkout under
    PYTHONDONTWRITEBYTECODE=1 (set on these machines) would otherwise compile its 44 modules on every
    cold start (~40-80 ms), which no installed copy does."""
    import compileall

    import regionqa

    compileall.compile_dir(str(Path(regionqa.__file__).parent), quiet=1)


def machine() -> str:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"nproc {cpus}, CPU {model}, Python {platform.python_version()}, load average {load}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index-dir", type=Path, default=Path(os.environ.get("REGIONQA_INDEX_DIR", "index")))
    parser.add_argument("--question", default=QUESTION)
    parser.add_argument("--runs", type=int, default=5, help="measured runs of the fast path and of --help")
    parser.add_argument("--torch-runs", type=int, default=3, help="measured runs of the sentence-transformers path (0: skip)")
    args = parser.parse_args()

    compile_package()
    base = [*regionqa_command(), "--index-dir", str(args.index_dir)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    fast_env = {**env, "REGIONQA_ENCODER": "onnx"}
    torch_env = {**env, "REGIONQA_ENCODER": "torch"}
    ask = [*base, "ask", args.question]

    print(f"machine: {machine()}")
    print(f"index:   {args.index_dir.resolve()}")
    print(f"command: REGIONQA_ENCODER=<onnx|torch> {' '.join(ask)}")

    help_median, help_runs = measure([*regionqa_command(), "--help"], env, args.runs)
    report("regionqa --help", help_median, help_runs)
    floor = [sys.executable, str(Path(__file__).with_name("floor_ask.py")), str(args.index_dir), args.question]
    timed = measure_interleaved(
        {
            "ask, reader on": (ask, fast_env),
            "floor, reader": (floor, env),
            "ask, reader off": (ask, {**fast_env, "REGIONQA_READER": "off"}),
            "floor, no reader": ([*floor, "--no-reader"], env),
        },
        args.runs,
    )
    for label, (median, runs) in timed.items():
        report(label, median, runs)
    fast = timed["ask, reader on"][0]
    ratio = fast.wall / timed["floor, reader"][0].wall
    print(f"cold ask / floor, reader on:  {ratio:.2f}x (target <= 1.3x: {'met' if ratio <= 1.3 else 'NOT met'})")
    print(f"cold ask / floor, reader off: {timed['ask, reader off'][0].wall / timed['floor, no reader'][0].wall:.2f}x")
    print(
        f"the reader's share: {fast.wall - timed['ask, reader off'][0].wall:+.3f} s of ask "
        f"({timed['floor, reader'][0].wall - timed['floor, no reader'][0].wall:+.3f} s of the floor)"
    )
    if args.torch_runs > 0:
        slow, slow_runs = measure(ask, torch_env, args.torch_runs)
        report("ask, torch path", slow, slow_runs)
        print(f"speed-up (torch / ONNX wall medians): {slow.wall / fast.wall:.1f}x")
        print(f"same output on both paths: {'yes' if fast.stdout == slow.stdout else 'NO'}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
