from __future__ import annotations

import json

import pytest

from shared.events import CloudEvent, InvalidEvent


def _event(**changes: object) -> CloudEvent:
    fields: dict[str, object] = {
        "source": "/services/intake",
        "type": "jp.mhlw.accessprogram.intake.candidate.withdrawn.v1",
        "subject": "cand-1",
        "sequence": 3,
        "data": {"candidate_id": "cand-1", "reason": "理由"},
    }
    return CloudEvent(**{**fields, **changes})


def test_binary_mode_round_trip_keeps_every_attribute() -> None:
    event = _event(correlationid="req-9")
    parsed = CloudEvent.from_kafka(event.kafka_key(), event.kafka_value(), event.kafka_headers())
    assert parsed == event
    headers = dict(event.kafka_headers())
    assert headers["content-type"] == b"application/json"
    assert headers["ce_sequence"] == b"3"
    assert headers["ce_partitionkey"] == b"cand-1"
    assert event.kafka_key() == b"cand-1"
    assert json.loads(event.kafka_value())["reason"] == "理由"


@pytest.mark.parametrize(
    ("key", "value", "drop", "replace", "message"),
    [
        (b"cand-1", b"{oops", None, {}, "value is not JSON"),
        (b"cand-1", b"[1, 2]", None, {}, "JSON object"),
        (b"cand-1", None, "ce_specversion", {}, "ce_specversion"),
        (b"cand-1", None, None, {"content-type": b"text/plain"}, "content-type"),
        (b"cand-1", None, "ce_type", {}, "type"),
        (b"cand-1", None, None, {"ce_sequence": b"zero"}, "sequence"),
        (b"cand-1", None, None, {"ce_source": b"intake"}, "source"),
        (b"other", None, None, {}, "record key"),
        (None, None, None, {}, "record key"),
        (b"cand-1", None, None, {"ce_id": b"\xff\xfe"}, "UTF-8"),
    ],
)
def test_malformed_records_are_rejected_with_the_reason(
    key: bytes | None,
    value: bytes | None,
    drop: str | None,
    replace: dict[str, bytes],
    message: str,
) -> None:
    event = _event()
    headers = [
        (name, replace.get(name, raw)) for name, raw in event.kafka_headers() if name != drop
    ]
    with pytest.raises(InvalidEvent, match=message):
        CloudEvent.from_kafka(key, value if value is not None else event.kafka_value(), headers)


def test_unknown_extension_attributes_are_tolerated() -> None:
    # CloudEvents lets intermediaries add extensions; a consumer must not choke on them.
    event = _event()
    parsed = CloudEvent.from_kafka(
        event.kafka_key(), event.kafka_value(), [*event.kafka_headers(), ("ce_region", b"jp")]
    )
    assert parsed == event
