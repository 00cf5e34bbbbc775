"""Every route of every service x every kind of caller: 401 / 403 / 404 / 2xx.

Each route needs a decision in MATRIX; a route added without one fails
``test_every_route_has_a_decision``. Identities are those of tests/identities.py:
"partner" owns the records the calls touch, "other-partner" is another institution.
A decision's ``level`` is how far along the pipeline its record must be for the call
to succeed; the test builds that state through the services' own APIs.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Literal

import pytest

from services.followup.tables import CandidateView
from tests.examples import cystic_fibrosis
from tests.identities import INSTITUTIONS
from tests.integration.conftest import RunningService, System
from tests.receiver import Receiver, running_receiver
from tests.support import wait_until

pytestmark = pytest.mark.integration

EVERYONE = frozenset(INSTITUTIONS)
PARTNERS = frozenset({"partner", "other-partner"})
READERS = frozenset({"partner", "other-partner", "secretariat", "ministry"})
SECRETARIAT = frozenset({"secretariat"})
OPERATOR = frozenset({"operator"})
MINISTRY = frozenset({"ministry"})
SEES_EVERYTHING = frozenset({"secretariat", "ministry", "operator"})

Level = Literal[
    "none",
    "candidate",
    "shortlisted",
    "target",
    "trial",
    "started",
    "collecting",
    "safety",
    "implemented",
]
LEVELS: list[Level] = [
    "none",
    "candidate",
    "shortlisted",
    "target",
    "trial",
    "started",
    "collecting",
    "safety",
    "implemented",
]


@dataclass(frozen=True)
class Decision:
    """Who may call a route, what another institution gets, and the state it needs."""

    allowed: frozenset[str] = EVERYONE
    # "hidden": another institution gets 404; "filtered": 2xx without others' records;
    # "none": the route touches no institution's record.
    scoping: Literal["hidden", "filtered", "none"] = "none"
    success: int = 200
    body: Callable[[], dict[str, Any]] | None = None
    level: Level = "none"
    public: bool = False
    # A body that needs the prepared records' ids (a subscription's webhook URL, say).
    body_with_ids: Callable[[dict[str, str]], dict[str, Any]] | None = None
    params: dict[str, str] | None = None


PUBLIC = Decision(public=True)
TODAY = "2027-06-01"


def _report() -> dict[str, Any]:
    return {"kind": "interim", "title": "中間報告", "summary": "…", "submitted_on": "2026-10-01"}


def _adverse_event() -> dict[str, Any]:
    return {
        "meddra_term": "Pyrexia",
        "seriousness": "non-serious",
        "causality": "possible",
        "expected": True,
        "outcome": "resolved",
        "onset_on": TODAY,
        "reported_on": TODAY,
    }


MATRIX: dict[str, dict[tuple[str, str], Decision]] = {
    "intake": {
        ("GET", "/healthz"): PUBLIC,
        ("GET", "/readyz"): PUBLIC,
        ("GET", "/audit"): Decision(EVERYONE, "filtered", level="candidate"),
        ("POST", "/candidates"): Decision(PARTNERS, "none", 201, cystic_fibrosis),
        ("GET", "/candidates"): Decision(READERS, "filtered", level="candidate"),
        ("GET", "/candidates/{candidate_id}"): Decision(READERS, "hidden", level="candidate"),
        ("PATCH", "/candidates/{candidate_id}"): Decision(
            PARTNERS, "hidden", 200, lambda: {"developer_name": "Vertex"}, "candidate"
        ),
        ("POST", "/candidates/{candidate_id}/withdrawal"): Decision(
            PARTNERS, "hidden", 200, lambda: {"reason": "a company took it on"}, "candidate"
        ),
        ("POST", "/candidates/{candidate_id}/survey-reports"): Decision(
            PARTNERS, "hidden", 201, _report, "candidate"
        ),
        ("GET", "/candidates/{candidate_id}/survey-reports"): Decision(
            READERS, "hidden", level="candidate"
        ),
    },
    "evaluation": {
        ("GET", "/healthz"): PUBLIC,
        ("GET", "/readyz"): PUBLIC,
        ("GET", "/audit"): Decision(EVERYONE, "filtered", level="shortlisted"),
        ("GET", "/candidates"): Decision(READERS, "filtered", level="candidate"),
        ("GET", "/candidates/{candidate_id}"): Decision(READERS, "hidden", level="candidate"),
        ("GET", "/candidates/{candidate_id}/decision"): Decision(READERS, "hidden", level="target"),
        ("POST", "/candidates/{candidate_id}/assessments"): Decision(
            SECRETARIAT,
            "none",
            201,
            lambda: {"results": [{"criterion_code": "patient-scale", "met": True}]},
            "candidate",
        ),
        ("GET", "/candidates/{candidate_id}/assessments"): Decision(
            READERS, "hidden", level="candidate"
        ),
        ("POST", "/candidates/{candidate_id}/shortlisting"): Decision(
            SECRETARIAT, "none", 200, lambda: {"rationale": "支援候補"}, "candidate"
        ),
        ("POST", "/candidates/{candidate_id}/decision"): Decision(
            SECRETARIAT,
            "none",
            201,
            lambda: {"decision": "deferred", "rationale": "次回", "decided_on": "2026-11-01"},
            "shortlisted",
        ),
        ("POST", "/candidates/{candidate_id}/decision/corrections"): Decision(
            SECRETARIAT,
            "none",
            200,
            lambda: {
                "decision": "selected",
                "rationale": "条件を修正",
                "decided_on": "2027-03-10",
                "conditions": ["年次報告"],
                "reason": "条件の記載漏れ",
            },
            "target",
        ),
        ("POST", "/meetings"): Decision(
            SECRETARIAT, "none", 201, lambda: {"title": "第3回", "held_on": "2027-03-10"}
        ),
        ("GET", "/meetings"): Decision(READERS),
        ("GET", "/meetings/{meeting_id}"): Decision(READERS, level="candidate"),
        ("POST", "/criteria"): Decision(
            SECRETARIAT,
            "none",
            201,
            lambda: {"code": f"c-{uuid.uuid4().hex[:8]}", "title": "要件"},
        ),
        ("GET", "/criteria"): Decision(READERS),
        ("GET", "/dead-letters"): Decision(OPERATOR),
        ("POST", "/dead-letters/redrive"): Decision(OPERATOR),
    },
    "followup": {
        ("GET", "/healthz"): PUBLIC,
        ("GET", "/readyz"): PUBLIC,
        ("GET", "/audit"): Decision(EVERYONE, "filtered", level="trial"),
        ("GET", "/support-targets"): Decision(READERS, "filtered", level="target"),
        ("GET", "/support-targets/{candidate_id}"): Decision(READERS, "hidden", level="target"),
        # Any partner may start a trial of a support target; it becomes the lead.
        ("POST", "/support-targets/{candidate_id}/trials"): Decision(
            PARTNERS,
            "none",
            201,
            lambda: {
                "trial_type": "investigator-initiated-trial",
                "legal_basis": ["pmd-act-gcp"],
                "phase": "phase-2",
            },
            "target",
        ),
        ("POST", "/support-targets/{candidate_id}/implementation"): Decision(
            PARTNERS, "hidden", 201, lambda: {"route": "insurance-listing"}, "collecting"
        ),
        ("POST", "/support-targets/{candidate_id}/discontinuation"): Decision(
            PARTNERS, "hidden", 200, lambda: {"reason": "資金終了", "effective_on": TODAY}, "trial"
        ),
        ("GET", "/trials/{trial_id}"): Decision(READERS, "hidden", level="trial"),
        ("POST", "/trials/{trial_id}/start"): Decision(
            PARTNERS, "hidden", 200, lambda: {"started_on": TODAY}, "trial"
        ),
        ("POST", "/trials/{trial_id}/status"): Decision(
            PARTNERS,
            "hidden",
            200,
            lambda: {"status": "active-but-not-recruiting", "effective_on": TODAY},
            "started",
        ),
        ("POST", "/trials/{trial_id}/enrolment"): Decision(
            PARTNERS, "hidden", 200, lambda: {"enrolled": 2, "as_of": TODAY}, "started"
        ),
        ("POST", "/trials/{trial_id}/efficacy-readouts"): Decision(
            PARTNERS,
            "hidden",
            201,
            lambda: {"endpoint": "6MWT", "primary": True, "result_summary": "…", "as_of": TODAY},
            "started",
        ),
        ("GET", "/trials/{trial_id}/efficacy-readouts"): Decision(READERS, "hidden", level="trial"),
        ("POST", "/trials/{trial_id}/adverse-events"): Decision(
            PARTNERS, "hidden", 201, _adverse_event, "started"
        ),
        ("GET", "/trials/{trial_id}/adverse-events"): Decision(READERS, "hidden", level="trial"),
        ("POST", "/adverse-events/{adverse_event_id}/corrections"): Decision(
            PARTNERS, "hidden", 200, lambda: {**_adverse_event(), "reason": "転記ミス"}, "safety"
        ),
        ("GET", "/obligations"): Decision(READERS, "filtered", level="started"),
        ("POST", "/obligations/{obligation_id}/report"): Decision(
            PARTNERS, "hidden", 200, lambda: {"submitted_on": TODAY}, "started"
        ),
        ("POST", "/implementations/{implementation_id}/status"): Decision(
            PARTNERS,
            "hidden",
            200,
            lambda: {"status": "in-progress", "effective_on": TODAY},
            "implemented",
        ),
        ("POST", "/deadlines/scan"): Decision(OPERATOR),
        ("GET", "/dead-letters"): Decision(OPERATOR),
        ("POST", "/dead-letters/redrive"): Decision(OPERATOR),
    },
    "notify": {
        ("GET", "/healthz"): PUBLIC,
        ("GET", "/readyz"): PUBLIC,
        ("GET", "/audit"): Decision(EVERYONE),
        ("GET", "/topics"): Decision(READERS),
        ("GET", "/stream"): Decision(READERS, params={"close_after": "0.3"}),
        ("GET", "/funnel"): Decision(READERS, "filtered", level="candidate"),
        ("GET", "/candidates/{candidate_id}/timeline"): Decision(
            READERS, "hidden", level="candidate"
        ),
        ("POST", "/subscriptions"): Decision(
            MINISTRY,
            "none",
            201,
            level="hook",
            body_with_ids=lambda ids: {"endpoint": ids["hook_url"]},
        ),
        ("GET", "/subscriptions"): Decision(MINISTRY),
        ("GET", "/subscriptions/{subscription_id}"): Decision(MINISTRY, level="subscription"),
        ("POST", "/subscriptions/{subscription_id}/status"): Decision(
            MINISTRY, "none", 200, lambda: {"status": "off"}, "subscription"
        ),
        ("POST", "/subscriptions/{subscription_id}/secret-rotation"): Decision(
            MINISTRY, "none", 200, lambda: {"overlap_hours": 1}, "subscription"
        ),
        ("GET", "/subscriptions/{subscription_id}/events"): Decision(
            MINISTRY, level="subscription"
        ),
        ("GET", "/subscriptions/{subscription_id}/deliveries"): Decision(
            MINISTRY, level="subscription"
        ),
        ("POST", "/deliveries/{delivery_id}/redelivery"): Decision(MINISTRY, level="delivery"),
        ("GET", "/dead-letters"): Decision(OPERATOR),
        ("POST", "/dead-letters/redrive"): Decision(OPERATOR),
    },
}


def _routes(service: str) -> set[tuple[str, str]]:
    """Every operation the service publishes in its OpenAPI document."""
    app = importlib.import_module(f"services.{service}.app").create_app()
    paths = app.openapi()["paths"]
    return {(method.upper(), path) for path, operations in paths.items() for method in operations}


@pytest.mark.parametrize("service", sorted(MATRIX))
def test_every_route_has_a_decision(service: str) -> None:
    routes = _routes(service)
    assert routes - MATRIX[service].keys() == set(), "routes without a decision"
    assert MATRIX[service].keys() - routes == set(), "decisions for routes that do not exist"


async def prepare(system: System, level: Level, receiver: Receiver) -> dict[str, str]:
    """A record of "partner" at ``level``, built through the services' APIs."""
    p, ids = system.pipeline, {}
    if level in ("hook", "subscription", "delivery"):
        return await _prepare_subscription(system, level, receiver)
    reached = LEVELS.index(level)
    if reached == 0:
        return ids
    meeting = await p.evaluation.post(
        "/meetings", json={"title": "第2回", "held_on": "2026-10-15"}, headers=p.secretariat
    )
    ids["meeting_id"] = meeting.json()["meeting_id"]
    await p.evaluation.post(
        "/criteria", json={"code": "patient-scale", "title": "患者数"}, headers=p.secretariat
    )
    candidate = await p.intake.post("/candidates", json=cystic_fibrosis(), headers=p.partner)
    cid = ids["candidate_id"] = candidate.json()["candidate_id"]
    await _until(system, cid, "surveyed")
    if reached >= LEVELS.index("shortlisted"):
        await _ok(
            p.evaluation.post(
                f"/candidates/{cid}/shortlisting", json={"rationale": "候補"}, headers=p.secretariat
            )
        )
    if reached >= LEVELS.index("target"):
        await _ok(
            p.evaluation.post(
                f"/candidates/{cid}/decision",
                json={"decision": "selected", "rationale": "選定", "decided_on": "2027-03-10"},
                headers=p.secretariat,
            )
        )
        await _until(system, cid, "selected")
    if reached >= LEVELS.index("trial"):
        trial = await _ok(
            p.followup.post(
                f"/support-targets/{cid}/trials",
                json={
                    "trial_type": "investigator-initiated-trial",
                    "legal_basis": ["pmd-act-gcp"],
                    "phase": "phase-2",
                },
                headers=p.partner,
            )
        )
        ids["trial_id"] = trial["trial_id"]
    if reached >= LEVELS.index("started"):
        tid = ids["trial_id"]
        await _ok(
            p.followup.post(f"/trials/{tid}/start", json={"started_on": TODAY}, headers=p.partner)
        )
        owed = await _ok(
            p.followup.get("/obligations", params={"candidate_id": cid}, headers=p.partner)
        )
        ids["obligation_id"] = owed[0]["obligation_id"]
    if reached >= LEVELS.index("collecting"):
        await _ok(
            p.followup.post(
                f"/trials/{ids['trial_id']}/enrolment",
                json={"enrolled": 1, "as_of": TODAY},
                headers=p.partner,
            )
        )
    if reached >= LEVELS.index("safety"):
        event = await _ok(
            p.followup.post(
                f"/trials/{ids['trial_id']}/adverse-events",
                json=_adverse_event(),
                headers=p.partner,
            )
        )
        ids["adverse_event_id"] = event["adverse_event_id"]
    if reached >= LEVELS.index("implemented"):
        implementation = await _ok(
            p.followup.post(
                f"/support-targets/{cid}/implementation",
                json={"route": "insurance-listing"},
                headers=p.partner,
            )
        )
        ids["implementation_id"] = implementation["implementation_id"]
    return ids


async def _prepare_subscription(system: System, level: Level, receiver: Receiver) -> dict[str, str]:
    ids = {"hook_url": receiver.url()}
    if level == "hook":
        return ids
    ministry = system.notify.as_("ministry")
    created = await _ok(
        system.notify.client.post(
            "/subscriptions", json={"endpoint": receiver.url()}, headers=ministry
        )
    )
    ids["subscription_id"] = created["subscription_id"]
    if level == "delivery":
        await system.pipeline.intake.post(
            "/candidates", json=cystic_fibrosis(), headers=system.pipeline.partner
        )
        path = f"/subscriptions/{ids['subscription_id']}/deliveries"

        async def delivered() -> bool:
            return bool((await system.notify.client.get(path, headers=ministry)).json())

        await wait_until(delivered, what="a delivery")
        ids["delivery_id"] = (await system.notify.client.get(path, headers=ministry)).json()[0][
            "delivery_id"
        ]
    return ids


async def _ok(call: Any) -> Any:
    reply = await call
    assert reply.is_success, reply.text
    return reply.json()


async def _until(system: System, candidate_id: str, stage: str) -> None:
    async def known() -> bool:
        evaluation = await system.evaluation.client.get(
            f"/candidates/{candidate_id}", headers=system.pipeline.secretariat
        )
        async with system.followup.runtime.db.sessions() as session:
            view = await session.get(CandidateView, candidate_id)
        timeline = await system.notify.client.get(
            f"/candidates/{candidate_id}/timeline", headers=system.notify.as_("ministry")
        )
        return (
            evaluation.status_code == 200
            and timeline.status_code == 200
            and view is not None
            and view.stage == stage
        )

    await wait_until(known, what=f"{candidate_id} to reach {stage} everywhere")


def _count(body: Any) -> int:
    if isinstance(body, dict):
        return body["total"] if "total" in body else body["candidates"]
    return len(body)


CASES = [
    (service, method, path)
    for service, decisions in sorted(MATRIX.items())
    for method, path in sorted(decisions)
]


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as running:
        yield running


@pytest.mark.parametrize(
    ("service", "method", "template"), CASES, ids=[f"{s} {m} {p}" for s, m, p in CASES]
)
async def test_route_answers_each_caller_as_decided(
    shared_system: System, receiver: Receiver, service: str, method: str, template: str
) -> None:
    system = shared_system
    decision = MATRIX[service][(method, template)]
    target: RunningService = getattr(system, service)

    async def call(who: str | None, ids: dict[str, str]) -> Any:
        headers = target.as_(who) if who else {"Authorization": ""}
        body = decision.body() if decision.body else None
        if decision.body_with_ids:
            body = decision.body_with_ids(ids)
        return await target.client.request(
            method, template.format(**ids), json=body, headers=headers, params=decision.params
        )

    if decision.public:
        assert (await target.client.request(method, template, headers={})).status_code == 200
        return

    shared = await prepare(system, decision.level, receiver)
    before = await target.writes()
    anonymous = await call(None, shared)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    for who in sorted(EVERYONE - decision.allowed):
        reply = await call(who, shared)
        assert reply.status_code == 403, f"{who}: {reply.status_code} {reply.text}"
    if decision.scoping == "hidden":
        reply = await call("other-partner", shared)
        assert reply.status_code == 404, reply.text
    assert await target.writes() == before, "a refused call changed something"

    for who in sorted(decision.allowed):
        if decision.scoping == "hidden" and who == "other-partner":
            continue
        if decision.scoping == "filtered" and who == "other-partner":
            # Another institution's view must not change when "partner" adds a record.
            seen_before = _count((await call(who, shared)).json())
            await prepare(system, decision.level, receiver)
            reply = await call(who, shared)
            assert reply.status_code == decision.success, reply.text
            assert _count(reply.json()) == seen_before, f"{template} leaks others' records"
            continue
        reply = await call(who, await prepare(system, decision.level, receiver))
        assert reply.status_code == decision.success, f"{who}: {reply.text}"
        if decision.scoping == "filtered" and (
            who in SEES_EVERYTHING or (who == "partner" and service != "evaluation")
        ):
            assert _count(reply.json()) > 0, f"{who} should see records"
