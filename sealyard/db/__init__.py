"""Metadata database: SQLAlchemy 2 models, Alembic migrations, the job queue."""

from __future__ import annotations

from sealyard.db.engine import Database

__all__ = ["Database"]
