"""`python -m regionqa ...`: the same command as `regionqa ...`."""

from .cli import app

app(prog_name="regionqa")
