"""The runtime of one service: its database, outbox, relay and consumers, started together.

The HTTP API works as soon as the database does; Kafka may come later. Until it does,
events wait in the outbox and readiness says Kafka is unreachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from shared.audit import audit_router
from shared.auth import Authenticator
from shared.db import Database
from shared.messaging.consumer import EventConsumer, Handler
from shared.messaging.kafka import make_consumer, make_producer
from shared.messaging.outbox import Outbox
from shared.messaging.redrive import dead_letter_router
from shared.messaging.relay import OutboxRelay
from shared.settings import ServiceSettings
from shared.tables import ServiceTables
from shared.web import install_http_plumbing

log = logging.getLogger(__name__)

READINESS_TIMEOUT_S = 3.0


BackgroundLoop = Callable[["ServiceRuntime", asyncio.Event], Awaitable[None]]


@dataclass(frozen=True)
class Subscription:
    """What a service consumes: the producers' topics and a handler per event type."""

    producers: list[str]
    handlers: Mapping[str, Handler] = field(default_factory=dict)


class ServiceRuntime:
    def __init__(
        self,
        settings: ServiceSettings,
        tables: ServiceTables,
        subscription: Subscription | None = None,
        background: Sequence[BackgroundLoop] = (),
    ) -> None:
        self.settings = settings
        self.background = list(background)
        self.tables = tables
        self.subscription = subscription
        self.db = Database(settings.resolved_database_url)
        self.auth = Authenticator(settings)
        self.outbox = Outbox(tables, producer=settings.service_name, source=settings.source)
        # Kafka clients bind to the running event loop, so they are made in start().
        self.producer: AIOKafkaProducer | None = None
        self.relay: OutboxRelay | None = None
        self.consumer: EventConsumer | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def consumer_group(self) -> str:
        return self.settings.topic(self.settings.service_name)

    @property
    def dead_letter_topic(self) -> str:
        return self.settings.topic(f"pipeline.{self.settings.service_name}.dlq")

    async def start(self) -> None:
        self._stop.clear()
        self.producer = make_producer(self.settings.kafka_bootstrap_servers)
        self.relay = OutboxRelay(
            db=self.db,
            tables=self.tables,
            producer=self.producer,
            topic_name=self.settings.topic,
            batch_size=self.settings.relay_batch_size,
            idle_seconds=self.settings.relay_idle_seconds,
        )
        self._task = asyncio.create_task(self._run_messaging(), name="messaging")

    async def stop(self) -> None:
        """Stop taking work, finish the batch or record in hand, commit, and close."""
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self.db.dispose()
        log.info(
            "%s stopped cleanly: work in hand finished, offsets committed",
            self.settings.service_name,
        )

    async def _run_messaging(self) -> None:
        assert self.producer is not None and self.relay is not None
        if not await self._connect_producer(self.producer):
            return
        try:
            loops = [
                self.relay.run(self._stop),
                *(loop(self, self._stop) for loop in self.background),
            ]
            if self.subscription is not None:
                self.consumer = self._make_consumer(self.subscription, self.producer)
                await self.consumer.consumer.start()
                loops.append(self.consumer.run(self._stop))
            await asyncio.gather(*loops, self._stop.wait())  # the producer lives until stop
        except Exception:
            log.exception("messaging stopped on an unexpected error")
            raise
        finally:
            if self.consumer is not None:
                # Leaving the group at once lets another instance take the partitions.
                await self.consumer.consumer.stop()
            await self.producer.stop()

    async def _connect_producer(self, producer: AIOKafkaProducer) -> bool:
        delay = 0.5
        while not self._stop.is_set():
            try:
                await producer.start()
                return True
            except Exception as error:
                log.warning("Kafka not reachable (%s); retrying in %.1fs", error, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=delay)
                delay = min(delay * 2, 10.0)
        return False

    def _make_consumer(
        self, subscription: Subscription, producer: AIOKafkaProducer
    ) -> EventConsumer:
        topics = [self.settings.topic(f"pipeline.{name}.v1") for name in subscription.producers]
        return EventConsumer(
            db=self.db,
            tables=self.tables,
            consumer=make_consumer(
                self.settings.kafka_bootstrap_servers, self.consumer_group, topics
            ),
            producer=producer,
            group=self.consumer_group,
            dead_letter_topic=self.dead_letter_topic,
            handlers=subscription.handlers,
            outbox=self.outbox,
            max_attempts=self.settings.consumer_max_attempts,
            retry_backoff_seconds=self.settings.consumer_retry_backoff_seconds,
        )

    async def readiness(self) -> dict[str, str]:
        checks = {}
        try:
            await asyncio.wait_for(self.db.ping(), READINESS_TIMEOUT_S)
            checks["database"] = "ok"
        except Exception as error:
            checks["database"] = f"unreachable: {type(error).__name__}"
        try:
            await asyncio.wait_for(self._kafka_ping(), READINESS_TIMEOUT_S)
            checks["kafka"] = "ok"
        except Exception as error:
            checks["kafka"] = f"unreachable: {type(error).__name__}"
        return checks

    async def _kafka_ping(self) -> None:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.settings.kafka_bootstrap_servers, request_timeout_ms=2500
        )
        try:
            await admin.start()
            await admin.describe_cluster()
        finally:
            await admin.close()


def health_router(runtime: ServiceRuntime) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/readyz",
        summary="The database and Kafka are reachable",
        responses={503: {"description": "Not ready; the checks say what is unreachable"}},
    )
    async def readyz() -> JSONResponse:
        checks = await runtime.readiness()
        ready = all(state == "ok" for state in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    return router


def create_service_app(
    runtime: ServiceRuntime, routers: Sequence[APIRouter], *, title: str, description: str
) -> FastAPI:
    """A service's FastAPI app, with the shared error handling, limits and lifespan."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title=title, description=description, version="1", lifespan=lifespan)
    app.state.runtime = runtime
    install_http_plumbing(app, max_body_bytes=runtime.settings.max_body_bytes)
    app.include_router(health_router(runtime))
    if runtime.settings.role not in ("all", "api"):
        return app  # a relay or consumer process answers health and readiness only
    shared_routers = [audit_router()]
    if runtime.subscription is not None:
        shared_routers.append(dead_letter_router())
    for router in [*routers, *shared_routers]:
        app.include_router(router)
    return app


def runtime_of(request: Request) -> ServiceRuntime:
    """The runtime of the service handling ``request``."""
    return request.app.state.runtime
