"""Services as their own OS processes, started and stopped the way operators do."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass, field

import httpx

from deploy.local import free_port
from shared import migrations
from tests.identities import Identities
from tests.support import wait_until


@dataclass
class ServiceProcess:
    service: str
    role: str
    database_url: str
    bootstrap: str
    prefix: str
    identities: Identities
    port: int = field(default_factory=free_port)
    extra_environment: dict[str, str] = field(default_factory=dict)
    process: asyncio.subprocess.Process | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _environment(self) -> dict[str, str]:
        prefix = self.service.upper()
        return {
            **os.environ,
            f"{prefix}_ENVIRONMENT": "test",
            f"{prefix}_PORT": str(self.port),
            f"{prefix}_DATABASE_URL": self.database_url,
            f"{prefix}_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            f"{prefix}_TOPIC_PREFIX": self.prefix,
            f"{prefix}_CREDENTIALS_FILE": str(self.identities.path),
            f"{prefix}_RATE_LIMIT_PER_MINUTE": "1000000",
            f"{prefix}_RELAY_IDLE_SECONDS": "0.05",
            # notify: webhooks only to this machine, whatever a generated request asks.
            "NOTIFY_WEBHOOK_ALLOWED_HOSTS": '["127.0.0.1"]',
            **self.extra_environment,
        }

    async def start(self) -> None:
        await migrations.upgrade(self.service, self.database_url)
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "shared",
            self.service,
            self.role,
            env=self._environment(),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )

        async def ready() -> bool:
            assert self.process is not None
            if self.process.returncode is not None:
                log = await self.process.stderr.read() if self.process.stderr else b""
                raise AssertionError(f"{self.service} exited: {log.decode()[-3000:]}")
            try:
                async with httpx.AsyncClient() as client:
                    return (await client.get(f"{self.base_url}/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await wait_until(ready, timeout_s=30, what=f"{self.service} to be ready")

    async def stop(self, grace_s: float = 30) -> str:
        """SIGTERM, as Kubernetes and compose do; returns what the process logged."""
        if self.process is None or self.process.returncode is not None:
            return ""
        self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), timeout=grace_s)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise AssertionError(f"{self.service} ignored SIGTERM for {grace_s}s") from None
        log = await self.process.stderr.read() if self.process.stderr else b""
        # Uvicorn re-raises the SIGTERM it handled, so a clean stop exits with -15 too.
        assert self.process.returncode in (0, -15), self.process.returncode
        return log.decode(errors="replace")
