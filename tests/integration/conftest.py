from __future__ import annotations

import contextlib
import importlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import func, select

from deploy.demo import Pipeline
from shared import migrations
from shared.service import ServiceRuntime
from shared.settings import ServiceSettings
from tests.conftest import CollectedMail, fresh_topics
from tests.identities import Identities
from tests.support import wait_until


@dataclass
class RunningService:
    """A service on the real servers; ``client`` calls it as the partner institution."""

    client: httpx.AsyncClient
    runtime: ServiceRuntime
    settings: ServiceSettings
    identities: Identities

    def as_(self, name: str) -> dict[str, str]:
        """Headers that authenticate as another identity (see tests/identities.py)."""
        return self.identities.headers(name)

    async def count(self, table) -> int:  # type: ignore[no-untyped-def]
        async with self.runtime.db.sessions() as session:
            return (await session.execute(select(func.count()).select_from(table))).scalar_one()

    async def writes(self) -> tuple[int, int]:
        """(outbox rows, audit rows): a refused request must change neither."""
        tables = self.runtime.tables
        return await self.count(tables.outbox), await self.count(tables.audit)

    async def pending_events(self) -> int:
        outbox = self.runtime.tables.outbox
        async with self.runtime.db.sessions() as session:
            return (
                await session.execute(
                    select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
                )
            ).scalar_one()


def service_settings(
    service: str,
    database_url: str,
    bootstrap: str,
    prefix: str,
    identities: Identities,
    **extra: object,
) -> ServiceSettings:
    settings_class = importlib.import_module(f"services.{service}.app").Settings
    if service == "notify":
        # Webhooks only to this machine, retried within a second rather than over hours.
        extra = {
            "webhook_allowed_hosts": ["127.0.0.1"],
            "delivery_retry_seconds": [0.2] * 6,
            "delivery_poll_seconds": 0.1,
            "digest_seconds": 2.0,
            **extra,
        }
    fields: dict[str, object] = {
        "environment": "test",
        "credentials_file": identities.path,
        "database_url": database_url,
        "kafka_bootstrap_servers": bootstrap,
        "topic_prefix": prefix,
        "relay_idle_seconds": 0.05,
    }
    return settings_class(**(fields | extra))


def intake_settings(
    database_url: str, bootstrap: str, prefix: str, identities: Identities, **extra: object
) -> ServiceSettings:
    return service_settings("intake", database_url, bootstrap, prefix, identities, **extra)


@contextlib.asynccontextmanager
async def run_service(
    settings: ServiceSettings, identities: Identities
) -> AsyncIterator[RunningService]:
    """The service in this process, on its migrated database, relay and consumer running."""
    assert settings.database_url is not None
    await migrations.upgrade(settings.service_name, settings.database_url)
    app = importlib.import_module(f"services.{settings.service_name}.app").create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url=f"http://{settings.service_name}.test",
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
    async with run_service(settings, identities) as service:
        yield service


@dataclass
class System:
    """Every service in this process, each on its own database, sharing the broker."""

    intake: RunningService
    evaluation: RunningService
    followup: RunningService
    notify: RunningService
    pipeline: Pipeline
    bootstrap: str
    prefix: str

    async def published(self) -> None:
        """Until every service's relay has published everything written so far."""
        for name in ("intake", "evaluation", "followup", "notify"):
            service: RunningService = getattr(self, name)

            async def drained(service: RunningService = service) -> bool:
                return await service.pending_events() == 0

            await wait_until(drained, what=f"{name}'s outbox to drain")

    async def writes(self) -> dict[str, tuple[int, int]]:
        """(outbox rows, audit rows) of each service: a refused step must change neither."""
        names = ("intake", "evaluation", "followup", "notify")
        return {name: await getattr(self, name).writes() for name in names}


@contextlib.asynccontextmanager
async def start_system(
    new_database: Callable[[], Awaitable[str]],
    kafka_bootstrap: str,
    topic_prefix: str,
    identities: Identities,
    smtp_port: int,
) -> AsyncIterator[System]:
    async with contextlib.AsyncExitStack() as stack:
        services = {}
        for name in ("intake", "evaluation", "followup", "notify"):
            extra = {"smtp_port": smtp_port} if name == "notify" else {}
            settings = service_settings(
                name, await new_database(), kafka_bootstrap, topic_prefix, identities, **extra
            )
            services[name] = await stack.enter_async_context(run_service(settings, identities))
        pipeline = Pipeline(
            intake=services["intake"].client,
            evaluation=services["evaluation"].client,
            followup=services["followup"].client,
            partner=identities.headers("partner"),
            collaborator=identities.institution("other-partner"),
            secretariat=identities.headers("secretariat"),
            say=lambda _line: None,
        )
        yield System(**services, pipeline=pipeline, bootstrap=kafka_bootstrap, prefix=topic_prefix)


@pytest.fixture
async def system(
    new_database: Callable[[], Awaitable[str]],
    kafka_bootstrap: str,
    topic_prefix: str,
    identities: Identities,
    smtp_server: tuple[int, CollectedMail],
) -> AsyncIterator[System]:
    """Every service, started for one test."""
    async with start_system(
        new_database, kafka_bootstrap, topic_prefix, identities, smtp_server[0]
    ) as started:
        yield started


@pytest.fixture(scope="module")
async def shared_system(
    new_database: Callable[[], Awaitable[str]],
    kafka_bootstrap: str,
    identities: Identities,
    smtp_server: tuple[int, CollectedMail],
) -> AsyncIterator[System]:
    """Every service, started once for a module whose tests each make their own records."""
    prefix = await fresh_topics(kafka_bootstrap)
    async with start_system(
        new_database, kafka_bootstrap, prefix, identities, smtp_server[0]
    ) as started:
        yield started
