"""A bounded schemathesis run against each service's OpenAPI, served by a real process.

Generated requests (valid and invalid) must never cause a 5xx, and every response must
match what the OpenAPI document promises for its status code and content type.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from deploy.local import free_port
from shared import migrations
from tests.identities import Identities
from tests.support import wait_until

pytestmark = pytest.mark.integration

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
SERVICES = ["intake", "evaluation", "followup", "notify"]


@pytest.fixture
async def served(
    request: pytest.FixtureRequest,
    database_url: str,
    kafka_bootstrap: str,
    topic_prefix: str,
    identities: Identities,
) -> AsyncIterator[str]:
    """The service as its own process, as operators run it; yields its base URL."""
    service = request.param
    await migrations.upgrade(service, database_url)
    port = free_port()
    prefix = service.upper()
    env = {
        **os.environ,
        f"{prefix}_ENVIRONMENT": "test",
        f"{prefix}_PORT": str(port),
        f"{prefix}_DATABASE_URL": database_url,
        f"{prefix}_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        f"{prefix}_TOPIC_PREFIX": topic_prefix,
        f"{prefix}_CREDENTIALS_FILE": str(identities.path),
        f"{prefix}_RATE_LIMIT_PER_MINUTE": "1000000",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shared",
        service,
        "api",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    base_url = f"http://127.0.0.1:{port}"

    async def ready() -> bool:
        if process.returncode is not None:
            log = await process.stderr.read() if process.stderr else b""
            raise AssertionError(f"{service} exited: {log.decode()[-3000:]}")
        try:
            async with httpx.AsyncClient() as client:
                return (await client.get(f"{base_url}/readyz")).status_code == 200
        except httpx.TransportError:
            return False

    try:
        await wait_until(ready, timeout_s=30, what=f"{service} to be ready")
        yield base_url
    finally:
        if process.returncode is None:
            process.terminate()  # SIGTERM: the service's graceful shutdown
            try:
                await asyncio.wait_for(process.wait(), timeout=20)
            except TimeoutError:
                process.kill()
                await process.wait()


@pytest.mark.parametrize("served", SERVICES, indirect=True)
async def test_generated_requests_cause_no_server_error_and_no_schema_violation(
    served: str, identities: Identities
) -> None:
    run = await asyncio.to_thread(
        subprocess.run,
        [
            str(SCHEMATHESIS),
            "run",
            f"{served}/openapi.json",
            "--header",
            f"Authorization: Bearer {identities.keys['partner']}",
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,"
            "response_schema_conformance",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "25",
            "--seed",
            "20261123",
            "--request-timeout",
            "10",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "No issues found" in run.stdout or "passed" in run.stdout, run.stdout[-3000:]
