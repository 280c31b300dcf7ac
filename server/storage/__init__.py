"""Storage: the SQLAlchemy models, the database (engines and sessions) and the Alembic migrations."""
