"""Cold `regionqa ask --json` (or, with --text, the rendered answer) of two source trees in one run: before and after a change.

    git worktree add /tmp/before HEAD~5
    .venv/bin/python benchmarks/bench_cold_ask_compare.py --before /tmp/before/src --after src [--runs 9] [--text]

Absolute times drift between machines of this kind, so a change is judged by the ratio of two
medians taken in the same run, with the two trees' processes alternating. Each tree builds its
own article index first (unmeasured); every measured run is a new process on the ONNX path
(REGIONQA_ENCODER=onnx), timed from spawn to exit.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUESTION = "How much cargo can the Alat port handle now?"
RUN_CLI = "from regionqa.cli import app; app(prog_name='regionqa')"


def command(index_dir: str, *args: str) -> list[str]:
    return [sys.executable, "-c", RUN_CLI, "--quiet", "--corpus-dir", "corpus", "--index-dir", index_dir, *args]


def environment(source: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(source.resolve()), "HF_HUB_OFFLINE": "1", "REGIONQA_ENCODER": "onnx"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="the src/ folder of the tree before the change")
    parser.add_argument("--after", type=Path, default=Path("src"), help="the src/ folder after it (default: this checkout)")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--text", action="store_true", help="time `ask` rendering its answer as text (Rich), as bench_cold_ask.py does")
    options = parser.parse_args()
    trees = {"before": options.before, "after": options.after}
    indexes = {}
    for name, source in trees.items():
        indexes[name] = tempfile.mkdtemp(prefix=f"regionqa-cold-{name}-")
        subprocess.run(command(indexes[name], "index", "build"), env=environment(source), check=True, capture_output=True)
    seconds: dict[str, list[float]] = {name: [] for name in trees}
    output = [] if options.text else ["--json"]
    for _ in range(options.runs):
        for name, source in trees.items():
            started = time.perf_counter()
            subprocess.run(command(indexes[name], "ask", *output, QUESTION), env=environment(source), check=True, capture_output=True)
            seconds[name].append(time.perf_counter() - started)
    for name, values in seconds.items():
        print(f"{name:6}  median {statistics.median(values):.3f} s   min {min(values):.3f} s   ({options.runs} runs)")
    print(f"after / before: {statistics.median(seconds['after']) / statistics.median(seconds['before']):.3f}")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
