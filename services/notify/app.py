"""notify (default port 8004): stage notifications for ministry staff, and the pipeline view.

Keeps a read model of every pipeline event (each candidate's timeline, the funnel) and
delivers the events each subscription asks for to its webhook, signed and retried.
"""

from fastapi import FastAPI
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.notify.api import routers
from services.notify.delivery import deliver_webhooks
from services.notify.domain import RETRY_SCHEDULE
from services.notify.handlers import HANDLERS
from services.notify.tables import service_tables
from shared.service import ServiceRuntime, Subscription, create_service_app
from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFY_", extra="ignore")

    service_name: str = "notify"
    port: int = 8004
    webhook_timeout_seconds: float = Field(default=10, gt=0)
    webhook_allowed_hosts: list[str] = Field(
        default_factory=list, description="If set, webhooks may only go to these hosts"
    )
    delivery_retry_seconds: list[float] = Field(
        default_factory=lambda: [delay.total_seconds() for delay in RETRY_SCHEDULE],
        min_length=1,
        description="Waits between webhook attempts; after the last, the subscription errs",
    )
    delivery_poll_seconds: float = Field(default=1.0, gt=0)
    digest_seconds: float = Field(
        default=86_400, gt=0, description="How often digest subscriptions get their bundle"
    )
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_sender: str = "access-program-notify@localhost"
    smtp_starttls: bool = False


def create_app(settings: Settings | None = None) -> FastAPI:
    runtime = ServiceRuntime(
        settings or Settings(),
        service_tables,
        Subscription(producers=["intake", "evaluation", "followup"], handlers=HANDLERS),
        background=[deliver_webhooks],
    )
    return create_service_app(
        runtime,
        routers,
        title="Access program: notify",
        description=(
            "Stage notifications for ministry staff: subscriptions with filters, webhooks "
            "signed per Standard Webhooks and retried over hours, a delivery log, missed "
            "events by number; each candidate's timeline and the pipeline funnel."
        ),
    )
