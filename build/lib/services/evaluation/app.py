"""evaluation (default port 8002): the committee's assessments and support decisions."""

from fastapi import FastAPI
from pydantic_settings import SettingsConfigDict

from services.evaluation.api import routers
from services.evaluation.handlers import HANDLERS
from services.evaluation.tables import service_tables
from shared.service import ServiceRuntime, Subscription, create_service_app
from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EVALUATION_", extra="ignore")

    service_name: str = "evaluation"
    port: int = 8002


def create_app(settings: Settings | None = None) -> FastAPI:
    runtime = ServiceRuntime(
        settings or Settings(),
        service_tables,
        Subscription(producers=["intake"], handlers=HANDLERS),
    )
    return create_service_app(
        runtime,
        routers,
        title="Access program: evaluation",
        description=(
            "The expert committee (特定医療技術等開発推進検討会): meetings, requirement "
            "criteria, assessments, shortlisting and support decisions. Keeps its own "
            "projection of intake's candidates; publishes on pipeline.evaluation.v1."
        ),
    )
