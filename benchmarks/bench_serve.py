"""Warm `regionqa serve`: latency of POST /ask over loopback, against the same engine in-process.

    .venv/bin/python benchmarks/bench_serve.py [--index-dir DIR] [--requests 300] [--warm-up 20] [--clients 2]

Starts `regionqa --index-dir DIR serve --port P` as a subprocess on a free loopback port (DIR:
a built index; without --index-dir the article is indexed into a temporary folder first),
waits for GET /health, sends `--warm-up` unmeasured requests, then `--requests` sequential
POST /ask, each timed from send to the parsed reply. The questions are the repository's
evaluation questions (eval/*.jsonl and ../shared/eval/sample_qa.jsonl), cycled: the first pass
meets each question for the first time (its embedding is computed), later passes repeat them
(the encoder's cache answers), so both are reported apart as well as together. Optionally
`--clients N` threads then share `--requests` more requests for throughput. Finally the same
sequential questions are answered by a `engine_mod.Engine` in this process: the difference is
what HTTP, JSON and uvicorn add. The server is stopped at the end (and on any error).
Two servers run side by side, one with the span reader and one without (REGIONQA_READER=off), and
each question goes to both in turn. Target (issue 11): with the reader, p50 and p99 at most 2x those without.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ARTICLE = REPO / "corpus" / "azerbaijan-central-asia.txt"
QUESTION_FILES = [*sorted((REPO / "eval").glob("*.jsonl")), REPO.parent / "shared" / "eval" / "sample_qa.jsonl"]
WARM_UP = [
    "What is the Middle Corridor?",
    "Which ports are on the Caspian Sea?",
    "Who met in Astana?",
    "How long is the railway?",
]

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cold_ask import machine, regionqa_command  # noqa: E402


def questions() -> list[str]:
    """Every distinct evaluation question, in file order."""
    seen: dict[str, None] = {}
    for path in QUESTION_FILES:
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    seen.setdefault(json.loads(line)["question"], None)
    return list(seen) or WARM_UP


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def percentiles(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]

    return {"n": len(ordered), "p50": statistics.median(ordered), "p90": at(0.90), "p99": at(0.99), "max": ordered[-1]}


def line(label: str, ms: list[float], seconds: float | None = None) -> str:
    p = percentiles(ms)
    rate = f", {p['n'] / seconds:.0f} requests/s" if seconds else ""
    return f"{label:<34} n={p['n']:<4} p50 {p['p50']:6.1f} ms  p90 {p['p90']:6.1f}  p99 {p['p99']:6.1f}  max {p['max']:6.1f}{rate}"


def build_article_index(root: Path, env: dict[str, str]) -> Path:
    corpus, index = root / "corpus", root / "index"
    corpus.mkdir()
    shutil.copyfile(ARTICLE, corpus / ARTICLE.name)
    print(f"building the article index in {index} …", flush=True)
    subprocess.run(
        [*regionqa_command(), "--index-dir", str(index), "--corpus-dir", str(corpus), "index", "build"], env=env, check=True, timeout=600
    )
    return index


def wait_for_health(client, url: str, server: subprocess.Popen, timeout: float) -> dict:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with code {server.returncode} before answering /health")
        try:
            reply = client.get(f"{url}/health", timeout=2.0)
            if reply.status_code == 200:
                return reply.json()
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"no answer from {url}/health within {timeout:.0f} s")


def ask(client, url: str, question: str, top_k: int = 5) -> float:
    """One POST /ask; milliseconds from send to parsed reply."""
    started = time.perf_counter()
    reply = client.post(f"{url}/ask", json={"question": question, "top_k": top_k})
    data = reply.json()
    elapsed = (time.perf_counter() - started) * 1000
    if reply.status_code != 200 or "passages" not in data:
        raise SystemExit(f"/ask failed ({reply.status_code}): {reply.text[:300]}")
    return elapsed


def concurrent(url: str, sequence: list[str], clients: int) -> tuple[list[float], float]:
    """`clients` threads, each with its own connection, share the sequence; (latencies, wall seconds)."""
    import httpx

    latencies: list[float] = []
    lock = threading.Lock()
    position = iter(range(len(sequence)))

    def worker() -> None:
        with httpx.Client() as client:
            while True:
                with lock:
                    index = next(position, None)
                if index is None:
                    return
                elapsed = ask(client, url, sequence[index])
                with lock:
                    latencies.append(elapsed)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, time.perf_counter() - started


def in_process(index_dir: Path, warm_up: list[str], sequence: list[str]) -> tuple[list[float], list[float]]:
    """The same questions through engine_mod.Engine and render.result_json, without HTTP; (milliseconds, reader milliseconds)."""
    from regionqa import engine as engine_mod
    from regionqa import render
    from regionqa.config import Settings

    engine = engine_mod.Engine(Settings(index_dir=index_dir, corpus_dir=index_dir / "unused"))
    for question in warm_up:
        engine.ask(question)
    out, read = [], []
    for question in sequence:
        started = time.perf_counter()
        result = engine.ask(question, 5)
        render.dumps(render.result_json(result))
        out.append((time.perf_counter() - started) * 1000)
        read.append(result.timings.get("read", 0.0) * 1000)
    engine.close()
    return out, read


def start_server(index_dir: Path, env: dict[str, str], reader: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [*regionqa_command(), "--index-dir", str(index_dir), "serve", "--host", "127.0.0.1", "--port", str(port)]
    print(f"command: REGIONQA_READER={reader} {' '.join(command)}")
    server = subprocess.Popen(command, env={**env, "REGIONQA_READER": reader}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return server, f"http://127.0.0.1:{port}"


def stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def sequential_pair(client, urls: dict[str, str], sequence: list[str]) -> dict[str, list[float]]:
    """Each question to the server with the reader and to the one without, alternating which goes first,
    so that drift of this shared machine falls on both alike."""
    out: dict[str, list[float]] = {name: [] for name in urls}
    for i, question in enumerate(sequence):
        for name in list(urls) if i % 2 == 0 else list(urls)[::-1]:
            out[name].append(ask(client, urls[name], question))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index-dir", type=Path, help="a built index (default: index the article into a temporary folder)")
    parser.add_argument(
        "--requests", type=int, default=300, help="measured sequential requests per server (and concurrent ones with --clients)"
    )
    parser.add_argument("--warm-up", type=int, default=20, help="unmeasured requests first")
    parser.add_argument("--clients", type=int, default=2, help="concurrent clients for the throughput run (0: skip)")
    parser.add_argument("--no-in-process", action="store_true", help="skip the in-process engine comparison")
    parser.add_argument("--startup-timeout", type=float, default=180.0)
    args = parser.parse_args()
    if not 1 <= args.requests <= 5000 or not 0 <= args.warm_up <= 1000 or not 0 <= args.clients <= 16:
        parser.error("--requests 1..5000, --warm-up 0..1000, --clients 0..16 keep the run bounded")

    import httpx

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    temporary = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    servers: list[subprocess.Popen] = []
    try:
        index_dir = args.index_dir or build_article_index(temporary, env)
        pool = questions()
        sequence = [pool[i % len(pool)] for i in range(args.requests)]
        warm_up = [WARM_UP[i % len(WARM_UP)] for i in range(args.warm_up)]
        print(f"machine: {machine()}")
        urls = {}
        for reader in ("on", "off"):
            server, urls[reader] = start_server(index_dir, env, reader)
            servers.append(server)
        with httpx.Client() as client:
            for server, url in zip(servers, urls.values()):
                started = time.perf_counter()
                print(f"server up in {time.perf_counter() - started:.1f} s: {wait_for_health(client, url, server, args.startup_timeout)}")
                for question in warm_up:
                    ask(client, url, question)
            began = time.perf_counter()
            timed = sequential_pair(client, urls, sequence)
            seconds = time.perf_counter() - began
        first = min(len(pool), len(sequence))
        print(f"{len(pool)} distinct questions, {args.requests} sequential requests to each server after {args.warm_up} warm-up; top_k 5")
        for reader, ms in timed.items():
            print(line(f"POST /ask, reader {reader}", ms, seconds / 2))
            print(line("  first time each question", ms[:first]))
            if len(sequence) > first:
                print(line("  repeated questions", ms[first:]))
        on, off = percentiles(timed["on"]), percentiles(timed["off"])
        ratio50, ratio99 = on["p50"] / off["p50"], on["p99"] / off["p99"]
        print(
            f"reader on / off: p50 {ratio50:.2f}x, p99 {ratio99:.2f}x (target <= 2x each: {'met' if max(ratio50, ratio99) <= 2 else 'NOT met'})"
        )
        if args.clients:
            latencies, wall = concurrent(urls["on"], sequence, args.clients)
            print(line(f"POST /ask, {args.clients} concurrent clients, reader on", latencies, wall))
        if not args.no_in_process:
            engine_ms, read_ms = in_process(index_dir, warm_up, sequence)
            print(line("Engine.ask in-process (no HTTP), reader on", engine_ms))
            print(line("  of which the reader", read_ms))
            print(
                f"the reader's share of in-process ask: {sum(read_ms) / sum(engine_ms):.0%} of the time (median {statistics.median(read_ms):.1f} ms)"
            )
            overhead = statistics.median(timed["on"]) - statistics.median(engine_ms)
            print(
                f"HTTP + uvicorn + JSON add {overhead:.1f} ms at the median (HTTP / in-process: {statistics.median(timed['on']) / statistics.median(engine_ms):.2f}x)"
            )
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        for server in servers:
            stop(server)
        shutil.rmtree(temporary, ignore_errors=True)


if __name__ == "__main__":
    main()
