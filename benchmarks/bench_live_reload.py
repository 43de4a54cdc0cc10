"""`regionqa serve` under load while the index is rebuilt: no error, no dropped request, and the new generation after a switch.

    .venv/bin/python benchmarks/bench_live_reload.py [--seconds 60] [--clients 4] [--builds 2]

Indexes the article into a temporary folder, starts `regionqa serve` on a free loopback port, and
lets `--clients` threads (each with its own connection) send POST /ask back to back for
`--seconds`. Meanwhile `--builds` times a new source with a distinctive fact is added to the corpus
and `regionqa index build` is run (the real CLI, in its own process), each publishing a new
generation. Every fourth request asks one of the new sources' questions. Every request is recorded: when it was sent and answered, its status, the generation
named by the X-Regionqa-Generation header, and the answer's source.

Checked and printed: requests, errors (any status but 200, or a transport error: a dropped
request) and p50/p99 latency, overall and in the two seconds after each build; for each new
generation, that every request sent after the first reply from it came from it or a later one
(none from an older generation once the switch was seen), how long after CURRENT changed the
first reply came from it, and that its distinctive question is then answered from
its new source. The exit code is 1 when any check fails.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cold_ask import machine, regionqa_command  # noqa: E402
from bench_serve import build_article_index, free_port, percentiles, questions, stop, wait_for_health  # noqa: E402

HEADER = "x-regionqa-generation"
# The sources the builds add, each with a fact no earlier generation holds, and the question that finds it.
NEW_SOURCES = [
    (
        "veltrane-bridge.txt",
        "The Veltrane Bridge is a fictional road bridge across the Quellmar Strait.\n"
        "The Veltrane Bridge is 7.4 kilometres long and was opened in 2029.\n",
        "How long is the Veltrane Bridge?",
    ),
    (
        "quellmar-lighthouse.txt",
        "The Quellmar Lighthouse is a fictional lighthouse on Cape Ardent.\n"
        "The Quellmar Lighthouse was designed by the engineer Osric Pellam in 2027.\n",
        "Who designed the Quellmar Lighthouse?",
    ),
]


@dataclass(frozen=True)
class Request:
    sent: float  # seconds since the start of the run
    done: float
    status: int  # 0: a transport error (no reply)
    generation: str
    question: str
    source: str | None  # the answer's source, None without an answer


@dataclass(frozen=True)
class Build:
    source: str
    question: str
    started: float
    published: float  # when CURRENT changed (polled every 10 ms while the build ran)
    finished: float  # when the build command returned
    generation: str


def client_loop(url: str, pool: list[str], offset: int, start: float, stop_at: threading.Event, out: list[Request], lock) -> None:
    """Ask back to back until told to stop: the evaluation questions, and every fourth time a new source's question."""
    import httpx

    index = offset
    distinctive = [question for _, _, question in NEW_SOURCES]
    with httpx.Client(timeout=30.0) as client:
        while not stop_at.is_set():
            question = distinctive[(index // 4) % len(distinctive)] if index % 4 == 3 else pool[index % len(pool)]
            index += 1
            sent = time.perf_counter() - start
            try:
                reply = client.post(f"{url}/ask", json={"question": question, "top_k": 5})
                answer = reply.json().get("answer") if reply.status_code == 200 else None
                record = Request(
                    sent,
                    time.perf_counter() - start,
                    reply.status_code,
                    reply.headers.get(HEADER, ""),
                    question,
                    answer and answer["source"],
                )
            except (httpx.HTTPError, ValueError):
                record = Request(sent, time.perf_counter() - start, 0, "", question, None)
            with lock:
                out.append(record)


def builder(root: Path, env: dict[str, str], count: int, start: float, pause: float, builds: list[Build]) -> None:
    """Add one source and rebuild, `count` times, `pause` seconds apart (and before the first)."""
    corpus, index = root / "corpus", root / "index"
    for name, text, question in NEW_SOURCES[:count]:
        time.sleep(pause)
        (corpus / name).write_text(text, encoding="utf-8")
        began = time.perf_counter() - start
        command = [*regionqa_command(), "-q", "--index-dir", str(index), "--corpus-dir", str(corpus), "index", "build"]
        before = (index / "CURRENT").stat().st_ino
        published = None
        with subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL) as build:
            while build.poll() is None:
                if published is None and (index / "CURRENT").stat().st_ino != before:
                    published = time.perf_counter() - start
                time.sleep(0.01)
        if build.returncode != 0:
            raise SystemExit(f"index build failed with exit code {build.returncode}")
        finished = time.perf_counter() - start
        generation = (index / "CURRENT").read_text(encoding="utf-8").strip()
        builds.append(Build(name, question, began, published if published is not None else finished, finished, generation))


def check_switch(build: Build, later: list[str], requests: list[Request]) -> tuple[list[str], str]:
    """Problems with one switch (empty: none), and a line describing it."""
    own = [r for r in requests if r.generation == build.generation]
    if not own:
        return [f"no reply ever came from {build.generation}"], ""
    first = min(r.done for r in own)
    allowed = {build.generation, *later}
    stale = [r for r in requests if r.sent > first and r.status == 200 and r.generation not in allowed]
    asked = [r for r in requests if r.sent > first and r.question == build.question and r.generation == build.generation]
    from_new = [r for r in asked if r.source == build.source]
    problems = [f"{len(stale)} requests sent after the switch to {build.generation} came from an older generation"] if stale else []
    if len(from_new) != len(asked):
        problems.append(
            f"{len(asked) - len(from_new)} of {len(asked)} '{build.question}' after the switch were not answered from {build.source}"
        )
    line = (
        f"{build.generation}: build {build.started:5.1f}-{build.finished:5.1f} s, published at {build.published:5.1f} s, "
        f"first reply from it {first - build.published:.2f} s later; stale replies after it: {len(stale)}; "
        f"'{build.question}' answered from {build.source}: {len(from_new)}/{len(asked)}"
    )
    return problems, line


def report(requests: list[Request], builds: list[Build], seconds: float, clients: int) -> list[str]:
    """Print the figures; the list of failed checks."""
    ok = [r for r in requests if r.status == 200]
    errors = len(requests) - len(ok)
    latencies = [(r.done - r.sent) * 1000 for r in ok]
    p = percentiles(latencies)
    print(f"{len(requests)} requests from {clients} clients in {seconds:.1f} s ({len(requests) / seconds:.0f}/s), {len(builds)} rebuilds")
    print(
        f"errors: {errors} (status other than 200: {sum(1 for r in requests if r.status not in (0, 200))}, no reply: {sum(1 for r in requests if r.status == 0)})"
    )
    print(f"latency: p50 {p['p50']:.1f} ms, p90 {p['p90']:.1f}, p99 {p['p99']:.1f}, max {p['max']:.1f}")
    near = [(r.done - r.sent) * 1000 for r in ok if any(b.published <= r.sent <= b.published + 2 for b in builds)]
    if near:
        q = percentiles(near)
        print(f"  in the 2 s after each switch: n={q['n']} p50 {q['p50']:.1f} ms, p99 {q['p99']:.1f}, max {q['max']:.1f}")
    during = [(r.done - r.sent) * 1000 for r in ok if any(b.started <= r.sent <= b.finished for b in builds)]
    if during:
        q = percentiles(during)
        print(f"  while a build ran (same 2 cores): n={q['n']} p50 {q['p50']:.1f} ms, p99 {q['p99']:.1f}, max {q['max']:.1f}")
    counts: dict[str, int] = {}
    for r in ok:
        counts[r.generation] = counts.get(r.generation, 0) + 1
    print("replies by generation: " + ", ".join(f"{name} {count}" for name, count in counts.items()))
    problems = [f"{errors} requests failed or were dropped"] if errors else []
    for i, build in enumerate(builds):
        found, line = check_switch(build, [b.generation for b in builds[i + 1 :]], requests)
        problems += found
        if line:
            print(line)
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the clients ask (longer if the builds are not done)")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--builds", type=int, default=2, choices=range(1, len(NEW_SOURCES) + 1))
    parser.add_argument("--pause", type=float, default=5.0, help="seconds before each build")
    args = parser.parse_args()
    if not 5 <= args.seconds <= 600 or not 1 <= args.clients <= 16:
        parser.error("--seconds 5..600 and --clients 1..16 keep the run bounded")
    import httpx

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    root = Path(tempfile.mkdtemp(prefix="bench-live-"))
    server = None
    try:
        index = build_article_index(root, env)
        port = free_port()
        command = [*regionqa_command(), "--index-dir", str(index), "--corpus-dir", str(root / "corpus"), "serve", "--port", str(port)]
        print(f"machine: {machine()}\ncommand: {' '.join(command)}")
        server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        url = f"http://127.0.0.1:{port}"
        with httpx.Client() as probe:
            print(f"serving: {wait_for_health(probe, url, server, 180.0)}")
        pool = questions()
        requests: list[Request] = []
        builds: list[Build] = []
        lock, stop_at = threading.Lock(), threading.Event()
        start = time.perf_counter()
        workers = [
            threading.Thread(target=client_loop, args=(url, pool, i * 7, start, stop_at, requests, lock)) for i in range(args.clients)
        ]
        building = threading.Thread(target=builder, args=(root, env, args.builds, start, args.pause, builds))
        for thread in [*workers, building]:
            thread.start()
        building.join()
        remaining = max(args.seconds - (time.perf_counter() - start), args.pause)  # at least `pause` s after the last switch
        time.sleep(remaining)
        stop_at.set()
        for thread in workers:
            thread.join()
        seconds = time.perf_counter() - start
        if len(builds) != args.builds:
            raise SystemExit("a build failed; see above")
        problems = report(sorted(requests, key=lambda r: r.sent), builds, seconds, args.clients)
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print("all checks passed" if not problems else "FAILED: " + "; ".join(problems))
        if problems:
            raise SystemExit(1)
    finally:
        if server is not None:
            stop(server)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
