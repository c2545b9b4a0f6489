"""sweepctl: run W&B sweep files locally, on PostgreSQL, or on W&B."""

__version__ = "0.1.0"
