"""Every service's migrations go up, down and up again on PostgreSQL."""

import pytest
from sqlalchemy import inspect

from shared import migrations
from shared.db import Database

pytestmark = pytest.mark.integration

SERVICES_WITH_DATABASES = ["intake", "evaluation", "followup", "notify"]


async def _tables(url: str) -> set[str]:
    db = Database(url)
    try:
        async with db.engine.connect() as connection:
            return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await db.dispose()


@pytest.mark.parametrize("service", SERVICES_WITH_DATABASES)
async def test_migrations_go_up_and_down(service: str, database_url: str) -> None:
    await migrations.upgrade(service, database_url)
    created = await _tables(database_url)
    assert {"outbox", "inbox", "event_sequences", "alembic_version"} <= created

    await migrations.downgrade(service, database_url, "base")
    assert await _tables(database_url) == {"alembic_version"}

    await migrations.upgrade(service, database_url)
    assert await _tables(database_url) == created


@pytest.mark.parametrize("service", SERVICES_WITH_DATABASES)
async def test_migrations_match_the_table_definitions(service: str, database_url: str) -> None:
    """A model change without its migration fails here, not in production."""
    import importlib

    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    await migrations.upgrade(service, database_url)
    metadata = importlib.import_module(f"services.{service}.tables").Base.metadata
    db = Database(database_url)
    try:
        async with db.engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), metadata
                )
            )
    finally:
        await db.dispose()
    assert differences == []
