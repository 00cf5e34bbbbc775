"""intake over HTTP against real PostgreSQL, with its events on the real broker."""

from __future__ import annotations

import json

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary
from cloudevents.core.formats.json import JSONFormat

from deploy.local import free_port
from services.intake.tables import CandidateRow, SurveyReportRow, service_tables
from tests.examples import aadc_gene_therapy, cystic_fibrosis
from tests.identities import Identities
from tests.integration.conftest import RunningService, intake_settings, run_service
from tests.support import read_topic, wait_until

pytestmark = pytest.mark.integration

REGISTERED = "jp.mhlw.accessprogram.intake.candidate.registered.v1"
UPDATED = "jp.mhlw.accessprogram.intake.candidate.updated.v1"


async def _published(intake: RunningService, count: int) -> list:
    await wait_until(lambda: _nothing_pending(intake), what="the relay to publish the outbox")
    return await read_topic(
        intake.settings.kafka_bootstrap_servers,
        intake.settings.topic("pipeline.intake.v1"),
        expected=count,
    )


async def _nothing_pending(intake: RunningService) -> bool:
    return await intake.pending_events() == 0


async def test_registered_candidate_is_published_as_a_cloudevent_keyed_by_its_id(
    intake: RunningService,
) -> None:
    reply = await intake.client.post("/candidates", json=cystic_fibrosis())
    assert reply.status_code == 201, reply.text
    candidate = reply.json()
    assert candidate["stage"] == "surveyed"
    assert reply.headers["location"] == f"/candidates/{candidate['candidate_id']}"

    [record] = await _published(intake, 1)
    event = from_binary(
        KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value),
        JSONFormat(),
    )
    assert record.key.decode() == candidate["candidate_id"]
    assert event.get_specversion() == "1.0"
    assert event.get_type() == REGISTERED
    assert event.get_source() == "/services/intake"
    assert event.get_subject() == candidate["candidate_id"]
    assert event.get_datacontenttype() == "application/json"
    assert event.get_extension("sequence") == "1"
    assert event.get_time() is not None
    data = event.get_data()
    assert data["candidate"]["target_disease"] == "嚢胞性線維症 (cystic fibrosis)"
    assert data["stage"] == {"previous": None, "current": "surveyed"}


async def test_updates_carry_the_next_sequence_number_and_the_changed_fields(
    intake: RunningService,
) -> None:
    candidate = (await intake.client.post("/candidates", json=aadc_gene_therapy())).json()
    path = f"/candidates/{candidate['candidate_id']}"
    reply = await intake.client.patch(
        path, json={"estimated_domestic_patients": 12, "orphan_designation": True}
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["version"] == 2
    unchanged = await intake.client.patch(path, json={"estimated_domestic_patients": 12})
    assert unchanged.json()["version"] == 2  # nothing changed, nothing published

    records = await _published(intake, 2)
    assert [json.loads(r.value).get("changed_fields") for r in records] == [
        None,
        ["estimated_domestic_patients", "orphan_designation"],
    ]
    assert [dict(r.headers)["ce_type"].decode() for r in records] == [REGISTERED, UPDATED]
    assert [dict(r.headers)["ce_sequence"].decode() for r in records] == ["1", "2"]


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"target_disease": None}, "target_disease", "missing"),
        ({"estimated_domestic_patients": -1}, "estimated_domestic_patients", "greater_than_equal"),
        (
            {"estimated_domestic_patients": 5_000_000},
            "estimated_domestic_patients",
            "less_than_equal",
        ),
        ({"estimated_domestic_patients": 0}, "estimated_domestic_patients", "value_error"),
        ({"modality": "teleportation"}, "modality", "enum"),
        ({"unexpected": 1}, "unexpected", "extra_forbidden"),
        (
            {"overseas_approvals": [{"region": "US", "status": "approved"}] * 2},
            "overseas_approvals",
            "value_error",
        ),
    ],
)
async def test_invalid_candidates_are_refused_naming_the_field_and_change_nothing(
    intake: RunningService, change: dict, field: str, rule: str
) -> None:
    body = {**cystic_fibrosis(), **change}
    body = {key: value for key, value in body.items() if value is not None}
    reply = await intake.client.post("/candidates", json=body)
    assert reply.status_code == 422
    assert reply.headers["content-type"] == "application/problem+json"
    problem = reply.json()
    assert problem["status"] == 422
    assert {"field": field, "rule": rule} in [
        {"field": error["field"], "rule": error["rule"]} for error in problem["errors"]
    ]
    assert await intake.count(CandidateRow.__table__) == 0
    assert await intake.count(service_tables.outbox) == 0


async def test_malformed_and_oversized_bodies_are_refused_and_change_nothing(
    intake: RunningService,
) -> None:
    malformed = await intake.client.post(
        "/candidates", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 400
    assert malformed.json()["title"] == "Malformed JSON"

    oversized_body = {**cystic_fibrosis(), "description": "x" * 2_000_000}
    oversized = await intake.client.post("/candidates", json=oversized_body)
    assert oversized.status_code == 413
    assert oversized.headers["content-type"] == "application/problem+json"

    assert await intake.count(CandidateRow.__table__) == 0
    assert await intake.count(service_tables.outbox) == 0
    assert (
        await read_topic(
            intake.settings.kafka_bootstrap_servers,
            intake.settings.topic("pipeline.intake.v1"),
            expected=0,
            timeout_s=1,
        )
        == []
    )


async def test_an_update_that_breaks_a_rule_is_refused_and_changes_nothing(
    intake: RunningService,
) -> None:
    candidate = (await intake.client.post("/candidates", json=cystic_fibrosis())).json()
    path = f"/candidates/{candidate['candidate_id']}"
    reply = await intake.client.patch(path, json={"estimated_domestic_patients": 0})
    assert reply.status_code == 422
    assert reply.json()["errors"][0]["field"] == "estimated_domestic_patients"
    stale = await intake.client.patch(path, json={"name": "renamed"}, headers={"if-match": '"7"'})
    assert stale.status_code == 412
    assert (await intake.client.get(path)).json() == candidate | {
        "updated_at": candidate["updated_at"]
    }
    assert await intake.count(service_tables.outbox) == 1  # the registration only


async def test_list_filters_and_pages(intake: RunningService) -> None:
    for body in (cystic_fibrosis(), aadc_gene_therapy(), cystic_fibrosis()):
        assert (await intake.client.post("/candidates", json=body)).status_code == 201

    everything = (await intake.client.get("/candidates")).json()
    assert everything["total"] == 3
    gene = (await intake.client.get("/candidates?modality=in-vivo-gene-therapy")).json()
    assert [item["estimated_domestic_patients"] for item in gene["items"]] == [10]
    page = (await intake.client.get("/candidates?limit=2&offset=2")).json()
    assert (page["total"], len(page["items"])) == (3, 1)
    text = (await intake.client.get("/candidates", params={"q": "cystic"})).json()
    assert text["total"] == 2
    bad = await intake.client.get("/candidates?limit=0&stage=nowhere")
    assert bad.status_code == 422
    assert {error["field"] for error in bad.json()["errors"]} == {"limit", "stage"}


async def test_survey_reports_and_withdrawal_follow_the_rules(intake: RunningService) -> None:
    candidate = (await intake.client.post("/candidates", json=cystic_fibrosis())).json()
    path = f"/candidates/{candidate['candidate_id']}"
    report = {
        "kind": "final",
        "title": "調査結果報告",
        "summary": "…",
        "submitted_on": "2026-10-01",
    }
    assert (await intake.client.post(f"{path}/survey-reports", json=report)).status_code == 201
    again = await intake.client.post(f"{path}/survey-reports", json=report)
    assert again.status_code == 409
    assert "final survey report" in again.json()["detail"]

    withdrawn = await intake.client.post(f"{path}/withdrawal", json={"reason": "developer found"})
    assert withdrawn.json()["stage"] == "withdrawn"
    closed = await intake.client.patch(path, json={"name": "renamed"})
    assert closed.status_code == 409
    assert (await intake.client.get("/candidates/unknown")).status_code == 404
    assert await intake.count(SurveyReportRow.__table__) == 1
    # registered, survey report, withdrawn: the refusals published nothing
    assert await intake.count(service_tables.outbox) == 3


async def test_health_and_readiness(intake: RunningService) -> None:
    assert (await intake.client.get("/healthz")).json() == {"status": "ok"}
    ready = await intake.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "kafka": "ok"}


async def test_without_kafka_writes_are_kept_and_readiness_says_why(
    database_url: str, identities: Identities
) -> None:
    nowhere = f"127.0.0.1:{free_port()}"
    settings = intake_settings(database_url, nowhere, "x.", identities)
    async with run_service(settings, identities) as intake:
        ready = await intake.client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"] == "ok"
        assert ready.json()["checks"]["kafka"].startswith("unreachable")
        assert (await intake.client.post("/candidates", json=cystic_fibrosis())).status_code == 201
        assert await intake.pending_events() == 1
