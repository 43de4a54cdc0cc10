"""regionqa: offline, document-grounded question answering with cited answers."""

__version__ = "0.1.0"
