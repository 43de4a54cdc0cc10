"""Two `regionqa serve` replicas over one shared index folder against one replica: throughput and latency.

    .venv/bin/python benchmarks/bench_replicas.py [--index-dir DIR] [--requests 400] [--clients 4]

An index is a folder of immutable generations with an atomic CURRENT, so any number of `serve`
processes can answer from one copy of it (docs/scaling.md, "Serving from many replicas"). This
starts two replicas on the same folder (DIR, or the article indexed into a temporary folder),
warms both, then sends `--requests` POST /ask from `--clients` threads, first all to replica A
alone, then spread over A and B as a round-robin load balancer would (client i talks to replica
i mod 2), and the same again in the other order, so that drift of this shared machine falls on
both setups alike. Prints requests/s, p50 and p99 per setup, the throughput ratio, and checks
that the two replicas answered every question alike (same answer, same passages).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cold_ask import machine  # noqa: E402
from bench_serve import WARM_UP, build_article_index, line, questions, start_server, stop, wait_for_health  # noqa: E402


def ask(client, url: str, question: str) -> tuple[float, tuple]:
    started = time.perf_counter()
    reply = client.post(f"{url}/ask", json={"question": question, "top_k": 5})
    elapsed = (time.perf_counter() - started) * 1000
    if reply.status_code != 200:
        raise SystemExit(f"/ask failed ({reply.status_code}): {reply.text[:300]}")
    data = reply.json()
    answer = (data.get("answer") or {}).get("text")
    return elapsed, (answer, tuple((p["source"], p["start"]) for p in data["passages"]))


def load(urls: list[str], sequence: list[str], clients: int) -> tuple[list[float], float]:
    """`clients` threads share the sequence; client i talks to urls[i % len(urls)]; (latencies ms, wall seconds)."""
    import httpx

    latencies: list[float] = []
    lock = threading.Lock()
    position = iter(range(len(sequence)))

    def worker(url: str) -> None:
        with httpx.Client() as client:
            while True:
                with lock:
                    index = next(position, None)
                if index is None:
                    return
                elapsed, _ = ask(client, url, sequence[index])
                with lock:
                    latencies.append(elapsed)

    threads = [threading.Thread(target=worker, args=(urls[i % len(urls)],)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, time.perf_counter() - started


def main() -> None:
    import os

    import httpx

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index-dir", type=Path, help="a built index (default: index the article into a temporary folder)")
    parser.add_argument("--requests", type=int, default=400, help="requests per setup and round (default 400)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client threads (default 4)")
    args = parser.parse_args()
    print(machine())
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    with tempfile.TemporaryDirectory(prefix="regionqa-bench-replicas-") as folder:
        index_dir = args.index_dir or build_article_index(Path(folder), env)
        servers = [start_server(index_dir, env, reader="on") for _ in range(2)]
        try:
            with httpx.Client() as client:
                for server, url in servers:
                    wait_for_health(client, url, server, timeout=120)
                asked = questions()
                for _, url in servers:
                    for question in [*WARM_UP, *asked]:  # every question once: the encoder caches are warm on both
                        ask(client, url, question)
                same = all(ask(client, servers[0][1], q)[1] == ask(client, servers[1][1], q)[1] for q in asked)
            sequence = [asked[i % len(asked)] for i in range(args.requests)]
            one_url, both_urls = [servers[0][1]], [url for _, url in servers]
            results: dict[str, list[tuple[list[float], float]]] = {"1 replica": [], "2 replicas": []}
            for order in (("1 replica", "2 replicas"), ("2 replicas", "1 replica")):
                for setup in order:
                    results[setup].append(load(one_url if setup == "1 replica" else both_urls, sequence, args.clients))
        finally:
            for server, _ in servers:
                stop(server)
    print(f"\n{args.clients} clients, {args.requests} requests per setup and round, 2 rounds; the article index")
    rates = {}
    for setup, rounds in results.items():
        latencies = [ms for ms_list, _ in rounds for ms in ms_list]
        seconds = sum(s for _, s in rounds)
        rates[setup] = len(latencies) / seconds
        print(line(setup, latencies, seconds))
    print(f"throughput 2 replicas / 1 replica: {rates['2 replicas'] / rates['1 replica']:.2f}x")
    print(f"the two replicas gave the same answers and passages to all {len(asked)} questions: {same}")
    print(f"(median round seconds: {statistics.median(s for r in results.values() for _, s in r):.1f})")


if __name__ == "__main__":
    main()
