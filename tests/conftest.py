"""Real servers for the test session: a Kafka broker and a PostgreSQL server.

Each is taken, in this order, from an explicit address (KAFKA_BOOTSTRAP_SERVERS,
TEST_POSTGRES_URL), from testcontainers where a Docker engine answers, or from the
local launcher in deploy/local.py, which needs neither Docker nor a network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from deploy.local import KafkaBroker, PostgresServer, free_port
from shared.messaging.topics import ensure_topics
from tests.identities import Identities, issue_identities

_timings: dict[str, float] = {}


def _docker_engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=15).returncode == 0
    except subprocess.TimeoutExpired:
        return False


@pytest.fixture(scope="session")
def docker_available() -> bool:
    return _docker_engine_answers()


@pytest.fixture(scope="session")
def kafka_bootstrap(
    tmp_path_factory: pytest.TempPathFactory, docker_available: bool
) -> Iterator[str]:
    if given := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield given
        return
    if docker_available:
        from testcontainers.kafka import KafkaContainer  # imported lazily: needs a daemon

        with KafkaContainer("apache/kafka:4.1.1") as container:
            yield container.get_bootstrap_server()
        return
    broker = KafkaBroker(tmp_path_factory.mktemp("kafka"))
    broker.start()
    assert broker.ready_after_s is not None
    _timings["Kafka broker ready after (s)"] = broker.ready_after_s
    try:
        yield broker.bootstrap_servers
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def postgres_server_url(
    tmp_path_factory: pytest.TempPathFactory, docker_available: bool
) -> Iterator[str]:
    """An asyncpg URL of a server database from which test databases are created."""
    if given := os.environ.get("TEST_POSTGRES_URL"):
        yield given
        return
    if docker_available:
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:15", driver="asyncpg") as container:
            yield container.get_connection_url()
        return
    started = time.monotonic()
    server = PostgresServer(tmp_path_factory.mktemp("postgres"))
    server.start()
    _timings["PostgreSQL ready after (s)"] = time.monotonic() - started
    try:
        yield server.url("postgres")
    finally:
        server.stop()


@pytest.fixture(scope="session")
def new_database(postgres_server_url: str) -> Callable[[], Awaitable[str]]:
    """Creates new, empty PostgreSQL databases; returns the URL of each."""

    async def create() -> str:
        name = f"test_{uuid.uuid4().hex[:12]}"
        admin = create_async_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        await admin.dispose()
        base, _, _ = postgres_server_url.rpartition("/")
        return f"{base}/{name}"

    return create


@pytest.fixture
async def database_url(new_database: Callable[[], Awaitable[str]]) -> str:
    """A new, empty PostgreSQL database for one test."""
    return await new_database()


async def fresh_topics(bootstrap: str) -> str:
    """Creates the spec's topics under a new prefix; returns the prefix."""
    prefix = f"t{uuid.uuid4().hex[:10]}."
    await ensure_topics(bootstrap, prefix=prefix, max_replication=1)
    return prefix


@pytest.fixture
async def topic_prefix(kafka_bootstrap: str) -> str:
    """Topics of the spec under a prefix of this test's own, so tests never share topics."""
    return await fresh_topics(kafka_bootstrap)


@pytest.fixture(scope="session")
def identities(tmp_path_factory: pytest.TempPathFactory) -> Identities:
    return issue_identities(tmp_path_factory.mktemp("identity") / "credentials.json")


class CollectedMail:
    """An SMTP handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, _server: object, _session: object, envelope: Any) -> str:
        self.messages.append(
            message_from_bytes(envelope.content, policy=email_policy.default)  # type: ignore[arg-type]
        )
        return "250 OK"


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[int, CollectedMail]]:
    """A real SMTP server on loopback (aiosmtpd), stopped when the tests end."""
    from aiosmtpd.controller import Controller

    mailbox = CollectedMail()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port, mailbox
    finally:
        controller.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for label, seconds in _timings.items():
        terminalreporter.write_line(f"{label}: {seconds:.1f}")
