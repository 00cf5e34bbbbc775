"""notify (default port 8004): the service that will deliver stage notifications.

It runs with the others, answers health and readiness and keeps an audit trail;
subscriptions and deliveries come next.
"""

from fastapi import FastAPI
from pydantic_settings import SettingsConfigDict

from services.notify.tables import service_tables
from shared.service import ServiceRuntime, create_service_app
from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFY_", extra="ignore")

    service_name: str = "notify"
    port: int = 8004


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        ServiceRuntime(settings or Settings(), service_tables),
        [],
        title="Access program: notify",
        description="Stage notifications for ministry staff.",
    )
