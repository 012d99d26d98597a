"""Store: SQLAlchemy models, the engine, and idempotent repository functions."""
