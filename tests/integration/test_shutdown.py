"""SIGTERM under load: nothing accepted is lost, nothing is applied twice.

intake (API + relay) and evaluation (consumer) run as their own processes. Partners keep
registering candidates, retrying with their Idempotency-Key when a request fails, as
real clients do, while each service is stopped with SIGTERM mid-stream and restarted.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy import func, select

from services.evaluation.tables import CandidateView
from services.evaluation.tables import service_tables as evaluation_tables
from services.intake.tables import CandidateRow
from shared.db import Database
from tests.examples import cystic_fibrosis
from tests.identities import Identities
from tests.integration.processes import ServiceProcess
from tests.support import header, read_topic, wait_until

pytestmark = pytest.mark.integration

REGISTRATIONS = 60
CLIENTS = 4


async def _count(url: str, query) -> int:  # type: ignore[no-untyped-def]
    db = Database(url)
    try:
        async with db.sessions() as session:
            return (await session.execute(query)).scalar_one()
    finally:
        await db.dispose()


async def test_sigterm_under_load_loses_nothing_and_applies_nothing_twice(
    new_database: Callable[[], Awaitable[str]],
    kafka_bootstrap: str,
    topic_prefix: str,
    identities: Identities,
) -> None:
    intake_db, evaluation_db = await new_database(), await new_database()
    intake = ServiceProcess("intake", "all", intake_db, kafka_bootstrap, topic_prefix, identities)
    evaluation = ServiceProcess(
        "evaluation", "all", evaluation_db, kafka_bootstrap, topic_prefix, identities
    )
    await intake.start()
    await evaluation.start()
    accepted: dict[str, str] = {}  # idempotency key -> candidate id
    stop_logs: list[str] = []

    async def register(key: str) -> None:
        """One partner request, retried with the same key until it is answered."""
        while True:
            try:
                async with httpx.AsyncClient(timeout=10) as client:
                    reply = await client.post(
                        f"{intake.base_url}/candidates",
                        json=cystic_fibrosis(),
                        headers={**identities.headers("partner"), "Idempotency-Key": key},
                    )
                if reply.status_code == 201:
                    accepted[key] = reply.json()["candidate_id"]
                    return
            except httpx.TransportError:
                pass  # the service is restarting: try again, as a partner's client does
            await asyncio.sleep(0.2)

    async def partner(keys: list[str]) -> None:
        for key in keys:
            await register(key)

    async def operator() -> None:
        await wait_until(lambda: _at_least(accepted, REGISTRATIONS // 4), what="load")
        stop_logs.append(await evaluation.stop())  # the consumer, mid-stream
        await evaluation.start()
        await wait_until(lambda: _at_least(accepted, REGISTRATIONS // 2), what="more load")
        stop_logs.append(await intake.stop())  # the API and relay, with requests in flight
        await intake.start()

    keys = [f"register-{uuid.uuid4()}" for _ in range(REGISTRATIONS)]
    try:
        await asyncio.gather(
            operator(),
            *(partner(keys[index::CLIENTS]) for index in range(CLIENTS)),
        )
        for service, log in zip(("evaluation", "intake"), stop_logs, strict=True):
            assert "Application shutdown complete" in log, log[-2000:]
            assert f"{service} stopped cleanly" in log, log[-2000:]
        ids = set(accepted.values())
        assert len(accepted) == len(ids) == REGISTRATIONS

        stored = select(func.count()).select_from(CandidateRow)
        assert await _count(intake_db, stored) == REGISTRATIONS  # retries made no duplicates

        projected = select(func.count()).select_from(CandidateView)

        async def all_applied() -> bool:
            return await _count(evaluation_db, projected) == REGISTRATIONS

        await wait_until(all_applied, timeout_s=60, what="evaluation to apply every event")
    finally:
        await evaluation.stop()
        await intake.stop()

    records = await read_topic(
        kafka_bootstrap, f"{topic_prefix}pipeline.intake.v1", expected=REGISTRATIONS
    )
    published = {header(record, "ce_id") for record in records}
    assert {record.key.decode() for record in records} == ids  # none lost
    assert len(published) == REGISTRATIONS
    applied = select(func.count()).select_from(evaluation_tables.inbox)
    assert await _count(evaluation_db, applied) == REGISTRATIONS  # each event applied once


async def _at_least(accepted: dict[str, str], count: int) -> bool:
    return len(accepted) >= count
