"""The real `regionqa` command, with a build that kills (SIGKILL) or stops (SIGSTOP) itself at a named step.

    python tests/fault_launcher.py POINT[:stop] ARGS...

POINT is one of the steps `batches.reached` names (analysed, embedded, committed, vectors,
manifest, published). The hook is injected here, in the test's process, so the production build
path holds only a no-op call and reads nothing from the environment (tests/test_faults.py).
"""

from __future__ import annotations

import os
import signal
import sys

from regionqa import batches
from regionqa.cli import app


def main() -> None:
    wanted = sys.argv.pop(1)
    point, _, action = wanted.partition(":")

    def reached(step: str) -> None:
        if step == point:
            os.kill(os.getpid(), signal.SIGSTOP if action == "stop" else signal.SIGKILL)

    batches.reached = reached
    app(prog_name="regionqa")


if __name__ == "__main__":
    main()
