"""followup (default port 8003): support targets, trials, safety, social implementation."""

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from fastapi import FastAPI
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.followup.api import announce_overdue, routers
from services.followup.handlers import HANDLERS
from services.followup.tables import service_tables
from shared.service import ServiceRuntime, Subscription, create_service_app
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FOLLOWUP_", extra="ignore")

    service_name: str = "followup"
    port: int = 8003
    deadline_scan_seconds: float = Field(default=3600, gt=0)


async def scan_deadlines_periodically(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
    """Announce overdue reports as days pass, without anyone having to ask."""
    interval = getattr(runtime.settings, "deadline_scan_seconds", 3600)
    while not stop.is_set():
        try:
            await announce_overdue(runtime, datetime.now(UTC).date())
        except Exception:
            log.exception("deadline scan failed; retrying at the next interval")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


def create_app(settings: Settings | None = None) -> FastAPI:
    runtime = ServiceRuntime(
        settings or Settings(),
        service_tables,
        Subscription(producers=["intake", "evaluation"], handlers=HANDLERS),
        background=[scan_deadlines_periodically],
    )
    return create_service_app(
        runtime,
        routers,
        title="Access program: followup",
        description=(
            "Support targets (支援対象), their trials (医師主導治験・特定臨床研究), enrolment, "
            "efficacy readouts, adverse events, reporting deadlines and the social-"
            "implementation route. Publishes on pipeline.followup.v1."
        ),
    )
