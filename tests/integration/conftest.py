from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import func, select

from services.intake.app import Settings, create_app
from services.intake.tables import service_tables
from shared import migrations
from shared.service import ServiceRuntime
from tests.identities import Identities


@dataclass
class RunningService:
    """A service on the real servers; ``client`` calls it as the partner institution."""

    client: httpx.AsyncClient
    runtime: ServiceRuntime
    settings: Settings
    identities: Identities

    def as_(self, name: str) -> dict[str, str]:
        """Headers that authenticate as another identity (see tests/identities.py)."""
        return self.identities.headers(name)

    async def count(self, table) -> int:  # type: ignore[no-untyped-def]
        async with self.runtime.db.sessions() as session:
            return (await session.execute(select(func.count()).select_from(table))).scalar_one()

    async def pending_events(self) -> int:
        outbox = service_tables.outbox
        async with self.runtime.db.sessions() as session:
            return (
                await session.execute(
                    select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
                )
            ).scalar_one()


def intake_settings(
    database_url: str, bootstrap: str, prefix: str, identities: Identities, **extra: object
) -> Settings:
    return Settings(
        environment="test",
        credentials_file=identities.path,
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap,
        topic_prefix=prefix,
        relay_idle_seconds=0.05,
        **extra,
    )


@contextlib.asynccontextmanager
async def run_intake(settings: Settings, identities: Identities) -> AsyncIterator[RunningService]:
    assert settings.database_url is not None
    await migrations.upgrade("intake", settings.database_url)
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://intake.test",
            headers=identities.headers("partner"),
        ) as client,
    ):
        yield RunningService(
            client=client, runtime=app.state.runtime, settings=settings, identities=identities
        )


@pytest.fixture
async def intake(
    database_url: str, kafka_bootstrap: str, topic_prefix: str, identities: Identities
) -> AsyncIterator[RunningService]:
    settings = intake_settings(database_url, kafka_bootstrap, topic_prefix, identities)
    async with run_intake(settings, identities) as service:
        yield service
