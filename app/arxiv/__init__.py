"""arXiv: fetching (I/O) apart from parsing (pure bytes -> records)."""
