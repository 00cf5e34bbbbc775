"""notify's rules without I/O: urgency, filters, retries, signatures, funnel, e-mail text."""

import time
from datetime import timedelta

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from services.notify import domain
from shared.events.followup import AdverseEventReported, DeadlineOverdue, TrialStarted


def test_serious_adverse_events_and_overdue_reports_are_urgent() -> None:
    reported = AdverseEventReported.event_type()
    assert domain.is_urgent(reported, {"seriousness": "serious"})
    assert not domain.is_urgent(reported, {"seriousness": "non-serious"})
    assert domain.is_urgent(DeadlineOverdue.event_type(), {})
    assert not domain.is_urgent(TrialStarted.event_type(), {})


def test_filters_match_on_every_dimension() -> None:
    event = {
        "event_type": TrialStarted.event_type(),
        "candidate_id": "c-1",
        "stage_current": "trial-started",
        "urgent": False,
        "modality": "small-molecule",
        "disease_class": "ultra-rare",
    }
    assert domain.Filters.of({}).matches(**event)
    assert domain.Filters.of({"stages": ["trial-started"], "modality": "small-molecule"}).matches(
        **event
    )
    assert not domain.Filters.of({"stages": ["declined"]}).matches(**event)
    assert not domain.Filters.of({"candidate_id": "c-2"}).matches(**event)
    assert not domain.Filters.of({"urgent_only": True}).matches(**event)
    assert domain.Filters.of({"urgent_only": True}).matches(**{**event, "urgent": True})


def test_unknown_filter_values_are_named() -> None:
    errors = domain.check_filters(
        {"event_types": ["x.v1"], "stages": ["done"], "modality": "magic", "disease_class": "x"}
    )
    assert [error["field"] for error in errors] == [
        "filters.event_types",
        "filters.stages",
        "filters.modality",
        "filters.disease_class",
    ]
    assert domain.check_filters({"stages": ["selected"]}) == []


def test_retries_spread_over_hours_then_stop() -> None:
    delays = [domain.next_attempt_delay(attempt) for attempt in range(1, 9)]
    assert delays[0] == timedelta(seconds=5)
    assert sum((d for d in delays if d), timedelta()) > timedelta(hours=24)
    assert delays[-1] is None


def test_signatures_verify_with_the_standard_webhooks_library() -> None:
    secret = domain.new_secret()
    body = b'{"type":"event-notification"}'
    now = int(time.time())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(now),
        "webhook-signature": domain.sign(secret, "msg_1", now, body),
    }
    assert Webhook(secret).verify(body, headers) == {"type": "event-notification"}
    with pytest.raises(WebhookVerificationError):
        Webhook(domain.new_secret()).verify(body, headers)


def test_the_funnel_counts_every_stage_a_candidate_has_reached() -> None:
    rows = [
        {
            "stages_reached": ["surveyed", "shortlisted", "selected"],
            "modality": "small-molecule",
            "disease_class": "ultra-rare",
        },
        {
            "stages_reached": ["surveyed", "shortlisted", "declined"],
            "modality": "anti-infective",
            "disease_class": "peacetime-absent-infection",
        },
        {
            "stages_reached": ["surveyed"],
            "modality": "small-molecule",
            "disease_class": "ultra-rare",
        },
    ]
    funnel = domain.funnel(rows)
    assert funnel["candidates"] == 3
    assert (funnel["reached"]["surveyed"], funnel["reached"]["shortlisted"]) == (3, 2)
    assert (funnel["reached"]["selected"], funnel["reached"]["declined"]) == (1, 1)
    assert funnel["by"]["modality"]["small-molecule"]["surveyed"] == 2


def test_emails_speak_the_subscribers_language() -> None:
    event = {
        "subject": "c-1",
        "type": "jp.mhlw.accessprogram.followup.trial.started.v1",
        "time": "2027-06-01T00:00:00+00:00",
        "urgent": True,
        "data": {"stage": {"previous": "selected", "current": "trial-started"}},
    }
    subject, body = domain.email_text("ja", event, "AADC遺伝子治療")
    assert (
        subject
        == "【至急】【未承認薬等アクセス確保事業】AADC遺伝子治療: 支援対象 → 治験・臨床研究の開始"
    )
    assert "候補ID: c-1" in body
    subject, _ = domain.email_text("en", event, None)
    assert subject == "[URGENT] [Access program] c-1: selected -> trial started"
