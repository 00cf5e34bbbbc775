from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import func, select

from services.intake.app import Settings, create_app
from services.intake.tables import messaging
from shared import migrations
from shared.service import ServiceRuntime


@dataclass
class RunningService:
    client: httpx.AsyncClient
    runtime: ServiceRuntime
    settings: Settings

    async def count(self, table) -> int:  # type: ignore[no-untyped-def]
        async with self.runtime.db.sessions() as session:
            return (await session.execute(select(func.count()).select_from(table))).scalar_one()

    async def pending_events(self) -> int:
        outbox = messaging.outbox
        async with self.runtime.db.sessions() as session:
            return (
                await session.execute(
                    select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
                )
            ).scalar_one()


def intake_settings(database_url: str, bootstrap: str, prefix: str, **extra: object) -> Settings:
    return Settings(
        environment="test",
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap,
        topic_prefix=prefix,
        relay_idle_seconds=0.05,
        **extra,
    )


@contextlib.asynccontextmanager
async def run_intake(settings: Settings) -> AsyncIterator[RunningService]:
    assert settings.database_url is not None
    await migrations.upgrade("intake", settings.database_url)
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://intake.test"
        ) as client,
    ):
        yield RunningService(client=client, runtime=app.state.runtime, settings=settings)


@pytest.fixture
async def intake(
    database_url: str, kafka_bootstrap: str, topic_prefix: str
) -> AsyncIterator[RunningService]:
    async with run_intake(intake_settings(database_url, kafka_bootstrap, topic_prefix)) as service:
        yield service
