"""intake (default port 8001): partner institutions register candidates and survey data."""

from fastapi import FastAPI
from pydantic_settings import SettingsConfigDict

from services.intake.api import router
from services.intake.tables import service_tables
from shared.service import ServiceRuntime, create_service_app
from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore")

    service_name: str = "intake"
    port: int = 8001


def create_app(settings: Settings | None = None) -> FastAPI:
    runtime = ServiceRuntime(settings or Settings(), service_tables)
    return create_service_app(
        runtime,
        [router],
        title="Access program: intake",
        description=(
            "Candidate technologies (候補技術等) and their domestic and overseas survey. "
            "Every change is published as a CloudEvent on pipeline.intake.v1."
        ),
    )
