"""Alembic migrations, one history per service, run on the service's configured database.

python -m shared.migrations intake upgrade [REVISION]     # default head
python -m shared.migrations intake downgrade REVISION     # e.g. base
python -m shared.migrations intake revision -m "what changes"  # autogenerate
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
from collections.abc import Callable
from typing import Any

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from shared.db import UtcDateTime, create_engine


def alembic_config(service: str) -> Config:
    config = Config()
    config.set_main_option("script_location", f"services.{service}:migrations")
    return config


def _render_item(kind: str, item: Any, _context: Any) -> str | bool:
    # Migrations stay plain SQLAlchemy: UtcDateTime is a timestamp with time zone in SQL.
    if kind == "type" and isinstance(item, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def configure_environment(metadata: MetaData) -> None:
    """The whole of each service's migrations/env.py: run on the connection we were given."""
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run(url: str, service: str, action: Callable[[Config], Any]) -> None:
    engine = create_engine(url)
    config = alembic_config(service)

    def with_connection(connection: Connection) -> None:
        config.attributes["connection"] = connection
        action(config)

    try:
        async with engine.begin() as connection:
            await connection.run_sync(with_connection)
    finally:
        await engine.dispose()


async def upgrade(service: str, url: str, revision: str = "head") -> None:
    await _run(url, service, lambda config: command.upgrade(config, revision))


async def downgrade(service: str, url: str, revision: str) -> None:
    await _run(url, service, lambda config: command.downgrade(config, revision))


def service_settings(service: str) -> Any:
    return importlib.import_module(f"services.{service}.app").Settings()


def main() -> None:
    parser = argparse.ArgumentParser(description="Migrate a service's database.")
    parser.add_argument("service")
    parser.add_argument("action", choices=["upgrade", "downgrade", "revision"])
    parser.add_argument("revision", nargs="?", default="head")
    parser.add_argument("-m", "--message", default="")
    args = parser.parse_args()
    url = service_settings(args.service).resolved_database_url
    if args.action == "upgrade":
        asyncio.run(upgrade(args.service, url, args.revision))
    elif args.action == "downgrade":
        asyncio.run(downgrade(args.service, url, args.revision))
    else:
        asyncio.run(
            _run(
                url,
                args.service,
                lambda config: command.revision(config, message=args.message, autogenerate=True),
            )
        )


if __name__ == "__main__":
    main()
