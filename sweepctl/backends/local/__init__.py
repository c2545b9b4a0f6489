"""The local backend: sweepctl's store (SQLite or PostgreSQL), its controller and agents."""
