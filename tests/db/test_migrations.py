"""Schema migrations produce exactly the models' schema, and migrating is idempotent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from sealyard.db import Database
from sealyard.db.engine import alembic_config
from sealyard.db.models import Base, Member, Project, User


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 't.db'}")
    yield database
    database.dispose()


def _diffs(db: Database) -> list[object]:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, Base.metadata))


def _revision(db: Database) -> str | None:
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def test_empty_database_has_no_tables_before_migrating(db: Database) -> None:
    assert inspect(db.engine).get_table_names() == []
    assert _diffs(db)  # the comparison does notice a missing schema


def test_migrating_an_empty_database_gives_exactly_the_models_schema(db: Database) -> None:
    db.migrate()
    assert _diffs(db) == []
    tables = set(inspect(db.engine).get_table_names())
    assert tables == set(Base.metadata.tables) | {"alembic_version"}


def test_migrations_have_a_single_head_that_is_applied(db: Database) -> None:
    script = ScriptDirectory.from_config(alembic_config(db.url))
    heads = script.get_heads()
    assert len(heads) == 1
    db.migrate()
    assert _revision(db) == heads[0]


def test_migrate_twice_is_idempotent_and_keeps_data(db: Database) -> None:
    db.migrate()
    with db.session() as s:
        s.add(User(username="alice", password_hash="x"))
        s.add(Project(name="library", settings={"k": "v"}))
    revision = _revision(db)
    db.migrate()
    assert _revision(db) == revision
    assert _diffs(db) == []
    with db.session() as s:
        assert s.scalars(select(User.username)).all() == ["alice"]
        project = s.scalars(select(Project)).one()
        assert project.settings == {"k": "v"}
        assert project.public is False
    with db.engine.connect() as connection:
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    assert len(versions) == 1


def test_a_second_database_object_sees_the_migrated_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first = Database(url)
    first.migrate()
    second = Database(url)
    try:
        second.migrate()
        assert _diffs(second) == []
    finally:
        first.dispose()
        second.dispose()


def test_sqlite_enforces_foreign_keys_and_cascades(db: Database) -> None:
    db.migrate()
    with pytest.raises(IntegrityError), db.session() as s:
        s.add(Member(project_id=999, user_id=999, role="guest"))
    with db.session() as s:
        user = User(username="bob", password_hash="x")
        project = Project(name="p", settings={})
        s.add_all([user, project])
        s.flush()
        s.add(Member(project_id=project.id, user_id=user.id, role="guest"))
    with db.session() as s:
        s.delete(s.scalars(select(User)).one())
    with db.session() as s:
        assert s.scalars(select(Member)).all() == []


def test_session_rolls_back_on_error(db: Database) -> None:
    db.migrate()

    def failing_change() -> None:
        with db.session() as s:
            s.add(User(username="carol", password_hash="x"))
            s.flush()
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        failing_change()
    with db.session() as s:
        assert s.scalars(select(User)).all() == []
