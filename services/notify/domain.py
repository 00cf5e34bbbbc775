"""notify's rules, free of I/O: what is urgent, who wants what, when to retry, signing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from shared.events import catalog
from shared.events.codes import DiseaseClass, Modality, ProgramStage, Seriousness
from shared.events.followup import AdverseEventReported, DeadlineOverdue

# Standard Webhooks: retries spread over hours, so a receiver down for an afternoon misses
# nothing; after the last one the subscription goes to "error".
RETRY_SCHEDULE = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
SECRET_PREFIX = "whsec_"


def is_urgent(event_type: str, data: dict[str, Any]) -> bool:
    """Serious adverse events and overdue deadlines are delivered at once, never digested."""
    if event_type == AdverseEventReported.event_type():
        return data.get("seriousness") == Seriousness.SERIOUS
    return event_type == DeadlineOverdue.event_type()


@dataclass(frozen=True)
class Filters:
    event_types: frozenset[str] = frozenset()
    stages: frozenset[str] = frozenset()
    candidate_id: str | None = None
    modality: str | None = None
    disease_class: str | None = None
    urgent_only: bool = False

    @classmethod
    def of(cls, raw: dict[str, Any]) -> Filters:
        return cls(
            event_types=frozenset(raw.get("event_types") or ()),
            stages=frozenset(raw.get("stages") or ()),
            candidate_id=raw.get("candidate_id"),
            modality=raw.get("modality"),
            disease_class=raw.get("disease_class"),
            urgent_only=bool(raw.get("urgent_only")),
        )

    def matches(
        self,
        *,
        event_type: str,
        candidate_id: str,
        stage_current: str | None,
        urgent: bool,
        modality: str | None,
        disease_class: str | None,
    ) -> bool:
        if self.event_types and event_type not in self.event_types:
            return False
        if self.stages and stage_current not in self.stages:
            return False
        if self.candidate_id and candidate_id != self.candidate_id:
            return False
        if self.modality and modality != self.modality:
            return False
        if self.disease_class and disease_class != self.disease_class:
            return False
        return urgent or not self.urgent_only


def check_filters(raw: dict[str, Any]) -> list[dict[str, str]]:
    """Field errors for filters naming things that do not exist."""
    errors = []
    known_types = set(catalog())
    for event_type in raw.get("event_types") or ():
        if event_type not in known_types:
            errors.append(_error("filters.event_types", f"unknown event type {event_type}"))
    for stage in raw.get("stages") or ():
        if stage not in {item.value for item in ProgramStage}:
            errors.append(_error("filters.stages", f"unknown stage {stage}"))
    if raw.get("modality") and raw["modality"] not in {item.value for item in Modality}:
        errors.append(_error("filters.modality", f"unknown modality {raw['modality']}"))
    if raw.get("disease_class") and raw["disease_class"] not in {
        item.value for item in DiseaseClass
    }:
        errors.append(_error("filters.disease_class", f"unknown class {raw['disease_class']}"))
    return errors


def _error(field: str, message: str) -> dict[str, str]:
    return {"field": field, "in": "body", "rule": "known-value", "message": message}


def next_attempt_delay(
    attempts: int, schedule: tuple[timedelta, ...] = RETRY_SCHEDULE
) -> timedelta | None:
    """The wait before retry number ``attempts`` (1-based), or None when retries are spent."""
    return schedule[attempts - 1] if attempts <= len(schedule) else None


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The Standard Webhooks signature: v1,base64(HMAC-SHA256(key, id.timestamp.body))."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def funnel(states: list[dict[str, Any]]) -> dict[str, Any]:
    """How many candidates are, or have been, at each stage; overall and by dimension."""

    def count(rows: list[dict[str, Any]]) -> dict[str, int]:
        return {
            stage.value: sum(1 for row in rows if stage.value in row["stages_reached"])
            for stage in ProgramStage
        }

    by: dict[str, dict[str, dict[str, int]]] = {"modality": {}, "disease_class": {}}
    for dimension in by:
        for value in sorted({row[dimension] for row in states if row[dimension]}):
            by[dimension][value] = count([row for row in states if row[dimension] == value])
    return {"candidates": len(states), "reached": count(states), "by": by}


STAGE_NAMES = {
    "ja": {
        "surveyed": "国内外調査",
        "shortlisted": "支援候補",
        "selected": "支援対象",
        "trial-started": "治験・臨床研究の開始",
        "data-collection": "有効性・安全性の知見の収集",
        "social-implementation": "社会実装",
        "declined": "非採択",
        "discontinued": "開発中止",
        "withdrawn": "取下げ",
    },
    "en": {stage.value: stage.value.replace("-", " ") for stage in ProgramStage},
}


def email_text(language: str, event: dict[str, Any], name: str | None) -> tuple[str, str]:
    """Subject and body of a notification e-mail, in the subscriber's language."""
    names = STAGE_NAMES[language]
    label = name or event["subject"]
    stage = event["data"].get("stage") if isinstance(event["data"].get("stage"), dict) else None
    kind = event["type"].removeprefix("jp.mhlw.accessprogram.")
    urgent = event.get("urgent", False)
    if language == "ja":
        change = (
            f"{names.get(stage['previous'], '-')} → {names[stage['current']]}" if stage else kind
        )
        subject = f"{'【至急】' if urgent else ''}【未承認薬等アクセス確保事業】{label}: {change}"
        body = (
            f"候補技術等: {label}\n候補ID: {event['subject']}\n事象: {kind}\n"
            f"日時: {event['time']}\n" + (f"段階: {change}\n" if stage else "")
        )
    else:
        change = (
            f"{names.get(stage['previous'] or '', '-')} -> {names[stage['current']]}"
            if stage
            else kind
        )
        subject = f"{'[URGENT] ' if urgent else ''}[Access program] {label}: {change}"
        body = (
            f"Candidate: {label}\nCandidate id: {event['subject']}\nEvent: {kind}\n"
            f"Time: {event['time']}\n" + (f"Stage: {change}\n" if stage else "")
        )
    return subject, body
