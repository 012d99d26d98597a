"""Cool Papers, self-hosted: a daily arXiv triage service."""

__version__ = "0.1.0"
