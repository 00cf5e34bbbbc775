"""The catalog of event types: each versioned type names exactly one payload model."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.events.codes import ProgramStage
from shared.events.envelope import TYPE_NAMESPACE

_CATALOG: dict[str, type[EventPayload]] = {}


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple):
        return any(_holds_nul(item) for item in value)
    return False


class Contract(BaseModel):
    """Base of every model that crosses a boundary (HTTP bodies, event data).

    Unknown fields are refused, and so is the NUL character, which no database stores.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul_character(cls, value: Any) -> Any:
        if _holds_nul(value):
            raise ValueError("must not contain the NUL character")
        return value


class EventPayload(Contract):
    """Base of every event's data. Subclasses declare their producer, name and version."""

    producer: ClassVar[str]
    name: ClassVar[str]
    version: ClassVar[int] = 1

    candidate_id: str = Field(min_length=1, max_length=64)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            return  # an abstract intermediate class
        event_type = cls.event_type()
        if event_type in _CATALOG:
            raise TypeError(f"event type {event_type} is declared twice")
        _CATALOG[event_type] = cls

    @classmethod
    def event_type(cls) -> str:
        return f"{TYPE_NAMESPACE}.{cls.producer}.{cls.name}.v{cls.version}"

    @classmethod
    def topic(cls) -> str:
        """Each producing service has one topic; consumers subscribe by producer."""
        return producer_topic(cls.producer)


class StageChange(Contract):
    """A move of the candidate's program stage, carried by every stage-changing event."""

    previous: ProgramStage | None
    current: ProgramStage


def producer_topic(producer: str) -> str:
    return f"pipeline.{producer}.v1"


def payload_model(event_type: str) -> type[EventPayload] | None:
    return _CATALOG.get(event_type)


def catalog() -> dict[str, type[EventPayload]]:
    """All declared event types (importing shared.events loads every producer's module)."""
    return dict(sorted(_CATALOG.items()))
