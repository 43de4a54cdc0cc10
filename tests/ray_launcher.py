"""The real `regionqa` command, with a Ray build (`--ray local`) that loses part of its cluster once the first batch is stored.

    python tests/ray_launcher.py kill-worker|kill-cluster ARGS...

kill-worker: SIGKILL the Ray worker process of one embedding actor, which Ray must restart and
             whose batch it must retry (the build then completes with the same index);
kill-cluster: SIGKILL every process of the local cluster this command started (GCS, raylet,
              workers), which the build must report in one line, leaving the previous index.
The Ray driver is a child process of the build (regionqa.distributed); its cluster's processes
are found among this command's descendants.
The hook is injected here, as in tests/fault_launcher.py, so the production path holds only
the no-op `batches.reached` call. Run it inside a network namespace with only loopback
(tests/test_ray.py).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from regionqa import batches
from regionqa.cli import app


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it ended while we looked
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        for child in children(todo.pop()):
            out.append(child)
            todo.append(child)
    return out


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def main() -> None:
    action = sys.argv.pop(1)
    done = False

    def reached(step: str) -> None:
        nonlocal done
        if step != "embedded" or done:
            return
        done = True
        # Ray's own processes under this command (not the build's driver process between them).
        processes = [pid for pid in descendants(os.getpid()) if "ray" in command_line(pid)]
        if action == "kill-worker":
            processes = [pid for pid in processes if "_Embedder" in command_line(pid)][:1]
        if not processes:
            raise SystemExit(f"ray_launcher: no process to {action}")
        for pid in processes:
            print(f"ray_launcher: killing {pid} {command_line(pid)[:80]}", file=sys.stderr, flush=True)
            os.kill(pid, signal.SIGKILL)

    batches.reached = reached
    app(prog_name="regionqa")


if __name__ == "__main__":
    main()
