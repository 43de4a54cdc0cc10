"""`regionqa index watch`: how long from writing a file into the corpus folder until questions are answered from it,
and from deleting it until they no longer are, on the article-sized corpus.

    .venv/bin/python benchmarks/bench_watch.py [--runs 5]

Indexes the article into a temporary folder, starts `regionqa index watch` on it as a subprocess and waits
until it says it is watching. Then, `--runs` times: writes a small new source (a made-up fact, different
each run), and polls: as soon as the index's CURRENT names a new generation, opens an `Engine` on it and
asks the question the new source answers; the time from the end of the write to the first answer that
cites the new source is the "write -> answerable" latency. Then deletes the file and measures, the same
way, until an answer no longer cites it ("delete -> gone"). Reports the medians (and every run) and also
when each new generation was published. Target (issue 13): both within 5 s. Stops the watcher with
SIGINT at the end and checks that it exits with 130.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ARTICLE = REPO / "corpus" / "azerbaijan-central-asia.txt"
POLL_S = 0.02
GIVE_UP_S = 60.0
PLACES = ["Velmora", "Quistrand", "Oberlake", "Tarnvik", "Sellamor", "Prevdal", "Kastrow", "Ulvena", "Dornheim", "Maressa"]

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cold_ask import machine, regionqa_command  # noqa: E402


def probe(run: int) -> tuple[str, str, str]:
    """(file name, text, question) of run `run`: a fact no other run or the article holds."""
    place = PLACES[run % len(PLACES)]
    text = (
        f"The {place} Observatory was founded in {2001 + run} by the astronomer Ilse Varga-{run}.\nIt houses a {run + 2}-metre telescope.\n"
    )
    return f"watch-probe-{run}.txt", text, f"Who founded the {place} Observatory?"


def current(index_dir: Path) -> str:
    try:
        return (index_dir / "CURRENT").read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def wait_for(index_dir: Path, settings, question: str, name: str, present: bool, before: str) -> tuple[float, float]:
    """Seconds until a new generation is published, and until asking `question` cites `name` (or no longer does)."""
    from regionqa.engine import Engine

    started = time.perf_counter()
    published = None
    seen = before
    while time.perf_counter() - started < GIVE_UP_S:
        now = current(index_dir)
        if now and now != seen:
            seen = now
            published = published or time.perf_counter() - started
            with Engine(settings) as engine:
                result = engine.ask(question, top_k=5)
            cited = {hit.chunk.source for hit in result.passages} | ({result.answer.source} if result.answer else set())
            if (name in cited) == present:
                return published, time.perf_counter() - started
        time.sleep(POLL_S)
    raise SystemExit(f"gave up after {GIVE_UP_S:.0f} s waiting for {name} to be {'answered' if present else 'gone'}")


def start_watch(root: Path, env: dict) -> subprocess.Popen:
    watcher = subprocess.Popen(
        [*regionqa_command(), "index", "watch"], cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    for line in watcher.stderr:
        print(f"  watch: {line.rstrip()}", file=sys.stderr)
        if "Ctrl-C to stop" in line:
            return watcher
    raise SystemExit(f"regionqa index watch ended before watching (exit {watcher.wait()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from regionqa import indexing
    from regionqa.config import Settings

    root = Path(tempfile.mkdtemp(prefix="bench-watch-"))
    corpus, index_dir = root / "corpus", root / "index"
    corpus.mkdir()
    shutil.copyfile(ARTICLE, corpus / ARTICLE.name)
    settings = Settings(corpus_dir=corpus, index_dir=index_dir)
    indexing.build(settings)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "REGIONQA_CORPUS_DIR": str(corpus), "REGIONQA_INDEX_DIR": str(index_dir)}
    env["REGIONQA_CONFIG"] = str(root / "no-config.toml")
    watcher = start_watch(root, env)
    added, removed = [], []
    try:
        for run in range(args.runs):
            name, text, question = probe(run)
            before = current(index_dir)
            (corpus / name).write_text(text, encoding="utf-8")
            added.append(wait_for(index_dir, settings, question, name, True, before))
            time.sleep(0.5)  # let the watcher settle, as a user would not delete in the same second
            before = current(index_dir)
            (corpus / name).unlink()
            removed.append(wait_for(index_dir, settings, question, name, False, before))
            print(f"run {run + 1}: write -> answerable {added[-1][1]:.2f} s (published {added[-1][0]:.2f} s); "
                  f"delete -> gone {removed[-1][1]:.2f} s (published {removed[-1][0]:.2f} s)")  # fmt: skip
            time.sleep(0.5)
    finally:
        watcher.send_signal(signal.SIGINT)
        code = watcher.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)
    print(machine())
    print(f"article corpus ({ARTICLE.name}), {args.runs} runs; watcher exit code on SIGINT: {code}")
    print(
        f"write -> answerable: median {statistics.median(a for _, a in added):.2f} s, max {max(a for _, a in added):.2f} s "
        f"(published: median {statistics.median(p for p, _ in added):.2f} s)"
    )
    print(
        f"delete -> gone:      median {statistics.median(a for _, a in removed):.2f} s, max {max(a for _, a in removed):.2f} s "
        f"(published: median {statistics.median(p for p, _ in removed):.2f} s)"
    )


if __name__ == "__main__":
    main()
