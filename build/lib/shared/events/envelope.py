"""The CloudEvents 1.0 envelope and its Kafka binary-mode binding.

On Kafka an event travels in binary content mode: the attributes are ``ce_*`` headers,
the value is the JSON data, ``content-type`` carries ``datacontenttype`` and the record
key is the candidate id (the ``partitionkey`` extension), so that all events of one
candidate stay in order on one partition.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

SPEC_VERSION = "1.0"
JSON_CONTENT_TYPE = "application/json"
TYPE_NAMESPACE = "jp.mhlw.accessprogram"

_HEADER_ATTRIBUTES = (
    "id",
    "source",
    "specversion",
    "type",
    "time",
    "subject",
    "dataschema",
    "sequence",
    "sequencetype",
    "partitionkey",
    "traceparent",
    "correlationid",
    "causationid",
)


class InvalidEvent(ValueError):
    """A Kafka record that is not a well-formed event of this system."""


class CloudEvent(BaseModel):
    """One event as the whole system sees it: envelope attributes plus JSON data."""

    # Extensions we do not know are dropped, as the CloudEvents spec asks of consumers.
    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str = Field(default_factory=lambda: str(uuid.uuid4()), min_length=1)
    source: str = Field(min_length=1, pattern=r"^/")
    specversion: str = SPEC_VERSION
    type: str = Field(min_length=1)
    time: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    subject: str = Field(min_length=1, description="The candidate id")
    datacontenttype: str = JSON_CONTENT_TYPE
    dataschema: str | None = None
    sequence: int = Field(ge=1, description="Per source and subject, gap-free from 1")
    sequencetype: str = "Integer"
    traceparent: str | None = None
    correlationid: str | None = None
    causationid: str | None = None
    data: dict[str, Any]

    @property
    def partitionkey(self) -> str:
        return self.subject

    def kafka_headers(self) -> list[tuple[str, bytes]]:
        headers = [("content-type", self.datacontenttype.encode())]
        for name in _HEADER_ATTRIBUTES:
            value = self.time.isoformat() if name == "time" else getattr(self, name)
            if value is not None:
                headers.append((f"ce_{name}", str(value).encode()))
        return headers

    def kafka_key(self) -> bytes:
        return self.partitionkey.encode()

    def kafka_value(self) -> bytes:
        return json.dumps(self.data, ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_kafka(
        cls, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
    ) -> CloudEvent:
        """Parse a binary-mode record, or raise InvalidEvent saying what is wrong."""
        attributes: dict[str, Any] = {}
        for name, raw in headers:
            try:
                text = raw.decode()
            except (UnicodeDecodeError, AttributeError) as error:
                raise InvalidEvent(f"header {name!r} is not UTF-8") from error
            lowered = name.lower()
            if lowered == "content-type":
                attributes["datacontenttype"] = text
            elif lowered.startswith("ce_"):
                attributes[lowered[3:]] = text
        if attributes.get("specversion") != SPEC_VERSION:
            raise InvalidEvent(f"ce_specversion must be {SPEC_VERSION!r}")
        if not attributes.get("datacontenttype", "").startswith(JSON_CONTENT_TYPE):
            raise InvalidEvent(f"content-type must be {JSON_CONTENT_TYPE!r}")
        partition_key = attributes.pop("partitionkey", None)
        try:
            data = json.loads(value or b"")
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise InvalidEvent(f"value is not JSON: {error}") from error
        if not isinstance(data, dict):
            raise InvalidEvent("value must be a JSON object")
        try:
            event = cls.model_validate({**attributes, "data": data})
        except ValidationError as error:
            raise InvalidEvent(_describe(error)) from error
        record_key = key.decode(errors="replace") if key is not None else None
        if record_key != event.subject or partition_key not in (None, event.subject):
            raise InvalidEvent("record key must equal ce_subject (the candidate id)")
        return event


def _describe(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in issue['loc']) or 'event'}: {issue['msg']}"
        for issue in error.errors()
    )
