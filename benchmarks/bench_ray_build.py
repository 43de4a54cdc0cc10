"""A build on a local Ray cluster against the same build in one process: times, ratio, throughput per worker.

    .venv/bin/python benchmarks/bench_ray_build.py [--limit 1000] [--repeat 1]

Builds the first --limit SciFact abstracts (../shared/bench/scifact/corpus.jsonl, read in place,
never copied into the repository; one JSONL source of records, as tests/test_ray.py makes it)
into a fresh index, each build in a new process, the two kinds taking turns:

- local: `indexing.build` as `regionqa index build` runs it (spaCy beside a thread embedding);
- ray:   the same with `--ray local` (`distributed`): a Ray cluster started by the build, with
         its analysis and embedding actor pools, inside a private network namespace with only
         loopback (`unshare --net`, as root), as the tests run it.

The ONNX query-encoder export, a fixed ~30 s once per index folder, is switched off on both
sides. Each process also times its start-up (imports, and for Ray joining the cluster) apart
from the build. Prints the medians, the ratio ray / local, chunks/s, and chunks/s per embedding
actor. Requires `pip install 'regionqa[ray]'`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cold_ask import machine  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SCIFACT = REPO.parent / "shared" / "bench" / "scifact" / "corpus.jsonl"


def write_corpus(folder: Path, limit: int) -> None:
    folder.mkdir(parents=True)
    with SCIFACT.open(encoding="utf-8") as lines, (folder / "scifact.jsonl").open("w", encoding="utf-8") as out:
        for _, line in zip(range(limit), lines):
            record = json.loads(line)
            out.write(json.dumps({"id": record["_id"], "title": record["title"], "text": record["text"]}) + "\n")


def build_here(kind: str, corpus: Path, index: Path) -> dict:
    """One build in this process (the child side of `run`); returns its timings."""
    if kind == "ray-start":  # joining a new local cluster alone: the fixed part of Ray's overhead
        from regionqa import distributed

        started = time.perf_counter()
        distributed.connect("local")
        return {"kind": kind, "build": time.perf_counter() - started, "chunks": 0}
    started = time.perf_counter()
    from regionqa import distributed, indexing
    from regionqa.config import Settings

    settings = Settings(corpus_dir=corpus, index_dir=index)
    models = replace(indexing.real_models(settings, ray_address="local" if kind == "ray" else None), export_query_encoder=False)
    import_seconds = time.perf_counter() - started
    build_started = time.perf_counter()
    report = indexing.build(settings, full=True, models=models)
    seconds = time.perf_counter() - build_started
    analysers, embedders = distributed.pool_sizes(_cpus()) if kind == "ray" else (1, 1)
    return {
        "kind": kind,
        "imports": import_seconds,
        "build": seconds,
        "chunks": report.chunks_embedded,
        "embedders": embedders,
        "analysers": analysers,
    }


def _cpus() -> int:
    import os

    return os.cpu_count() or 1


def run(kind: str, corpus: Path, index: Path) -> dict:
    """One build in a fresh process (for ray, in a private network namespace)."""
    shutil.rmtree(index, ignore_errors=True)
    command = [sys.executable, __file__, "--child", kind, str(corpus), str(index)]
    if kind.startswith("ray"):
        command = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *command]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{kind} build failed:\n{result.stderr[-3000:]}")
    timings = json.loads(result.stdout.strip().splitlines()[-1])
    timings["process"] = time.perf_counter() - started
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=1000, help="SciFact abstracts to build (default 1000)")
    parser.add_argument("--repeat", type=int, default=1, help="builds of each kind, taking turns (default 1)")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "CORPUS", "INDEX"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, corpus, index = args.child
        print(json.dumps(build_here(kind, Path(corpus), Path(index))))
        return
    if not SCIFACT.is_file():
        raise SystemExit(f"{SCIFACT} is not available")
    print(machine())
    with tempfile.TemporaryDirectory(prefix="regionqa-bench-ray-") as folder:
        root = Path(folder)
        write_corpus(root / "corpus", args.limit)
        runs: dict[str, list[dict]] = {"local": [], "ray": [], "ray-start": []}
        for _ in range(args.repeat):
            for kind in ("local", "ray", "ray-start"):
                runs[kind].append(run(kind, root / "corpus", root / f"index-{kind}"))
                print(f"  {kind}: {runs[kind][-1]}", flush=True)
    local, ray = (statistics.median(r["build"] for r in runs[k]) for k in ("local", "ray"))
    local_process, ray_process = (statistics.median(r["process"] for r in runs[k]) for k in ("local", "ray"))
    chunks = runs["local"][0]["chunks"]
    embedders = runs["ray"][0]["embedders"]
    print(f"\n{args.limit} SciFact abstracts, {chunks} chunks; medians of {args.repeat} build(s) each")
    print(f"{'':24}{'local':>10}{'ray':>10}{'ray/local':>11}")
    print(f"{'build s':24}{local:>10.1f}{ray:>10.1f}{ray / local:>11.2f}")
    print(f"{'whole process s':24}{local_process:>10.1f}{ray_process:>10.1f}{ray_process / local_process:>11.2f}")
    print(f"{'chunks/s (build)':24}{chunks / local:>10.1f}{chunks / ray:>10.1f}")
    print(f"ray: starting a local cluster alone takes {statistics.median(r['build'] for r in runs['ray-start']):.1f} s (in its build s)")
    print(
        f"ray: {runs['ray'][0]['analysers']} analysis + {embedders} embedding actor(s), "
        f"{chunks / ray / embedders:.1f} chunks/s per embedding actor"
    )


if __name__ == "__main__":
    main()
