"""Exceptions the library raises; the CLI turns each into a one-line message and an exit code.

Exit codes (also listed by `regionqa --help`):
    0  done (a build that skipped some unreadable sources still exits 0 and lists them)
    1  any other regionqa error
    2  bad input: a bad argument, question or source file; a build where no source could be read
    3  the index is missing, corrupt or built with other models/settings: run `regionqa index build --full`
    4  a model is missing or its files do not match the expected hash
    5  another build holds the index lock: try again when it has finished
  130  interrupted (Ctrl-C); the previous index is unchanged
"""


class RegionQAError(Exception):
    """Base class: a problem the user can act on, with a message that says what to do."""

    exit_code = 1


class BadInputError(RegionQAError):
    """A bad argument, question or source file."""

    exit_code = 2


class SourceError(BadInputError):
    """A source file that cannot be read as text."""


class IndexStateError(RegionQAError):
    """The index is missing, corrupt, or does not match the current models or settings."""

    exit_code = 3


class IndexWriteError(RegionQAError):
    """A build could not write its new generation (a full disk, a read-only folder); the previous index is unchanged."""


class IndexBusyError(RegionQAError):
    """Another build is writing the index (it holds the lock); this one did not start."""

    exit_code = 5


class ModelError(RegionQAError):
    """A model is missing or does not match the expected files."""

    exit_code = 4
