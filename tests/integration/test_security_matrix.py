"""Every route of every service x every kind of caller: 401 / 403 / 404 / 2xx.

Each route needs a decision in MATRIX; a route added without one fails
``test_every_route_has_a_decision``. Identities are those of tests/identities.py:
"partner" owns the records the calls touch, "other-partner" is another institution.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest

from services.intake.app import create_app as create_intake
from services.intake.tables import service_tables
from tests.examples import cystic_fibrosis
from tests.identities import INSTITUTIONS
from tests.integration.conftest import RunningService

pytestmark = pytest.mark.integration

EVERYONE = frozenset(INSTITUTIONS)
PARTNERS = frozenset({"partner", "other-partner"})
READERS = frozenset({"partner", "other-partner", "secretariat", "ministry"})


@dataclass(frozen=True)
class Decision:
    """Who may call a route, and what another institution gets."""

    allowed: frozenset[str] = EVERYONE
    # "hidden": another institution gets 404; "filtered": 2xx without others' records;
    # "none": the route touches no institution's record.
    scoping: Literal["hidden", "filtered", "none"] = "none"
    success: int = 200
    body: Callable[[], dict[str, Any]] | None = None
    public: bool = False
    params: dict[str, str] = field(default_factory=dict)


PUBLIC = Decision(public=True)

MATRIX: dict[str, dict[tuple[str, str], Decision]] = {
    "intake": {
        ("GET", "/healthz"): PUBLIC,
        ("GET", "/readyz"): PUBLIC,
        ("GET", "/audit"): Decision(EVERYONE, "filtered"),
        ("POST", "/candidates"): Decision(PARTNERS, "none", 201, cystic_fibrosis),
        ("GET", "/candidates"): Decision(READERS, "filtered"),
        ("GET", "/candidates/{candidate_id}"): Decision(READERS, "hidden"),
        ("PATCH", "/candidates/{candidate_id}"): Decision(
            PARTNERS, "hidden", 200, lambda: {"developer_name": "Vertex"}
        ),
        ("POST", "/candidates/{candidate_id}/withdrawal"): Decision(
            PARTNERS, "hidden", 200, lambda: {"reason": "a company started development"}
        ),
        ("POST", "/candidates/{candidate_id}/survey-reports"): Decision(
            PARTNERS,
            "hidden",
            201,
            lambda: {
                "kind": "interim",
                "title": "中間報告",
                "summary": "…",
                "submitted_on": "2026-10-01",
            },
        ),
        ("GET", "/candidates/{candidate_id}/survey-reports"): Decision(READERS, "hidden"),
    },
}

APPS = {"intake": create_intake}


def _routes(service: str) -> set[tuple[str, str]]:
    """Every operation the service publishes in its OpenAPI document."""
    paths = APPS[service]().openapi()["paths"]
    return {(method.upper(), path) for path, operations in paths.items() for method in operations}


@pytest.mark.parametrize("service", sorted(APPS))
def test_every_route_has_a_decision(service: str) -> None:
    routes = _routes(service)
    assert routes - MATRIX[service].keys() == set(), "routes without a decision"
    assert MATRIX[service].keys() - routes == set(), "decisions for routes that do not exist"


async def _call(
    service: RunningService, method: str, path: str, decision: Decision, who: str | None
) -> Any:
    headers = service.as_(who) if who else {"Authorization": ""}
    body = decision.body() if decision.body else None
    return await service.client.request(method, path, json=body, headers=headers)


async def _own_candidate(service: RunningService) -> str:
    reply = await service.client.post("/candidates", json=cystic_fibrosis())
    assert reply.status_code == 201
    return reply.json()["candidate_id"]


async def _writes(service: RunningService) -> tuple[int, int]:
    tables = service_tables
    return await service.count(tables.outbox), await service.count(tables.audit)


@pytest.mark.parametrize(
    ("method", "template"),
    sorted(MATRIX["intake"]),
    ids=[f"{method} {path}" for method, path in sorted(MATRIX["intake"])],
)
async def test_intake_route_answers_each_caller_as_decided(
    intake: RunningService, method: str, template: str
) -> None:
    decision = MATRIX["intake"][(method, template)]

    async def path() -> str:
        # A fresh record of "partner" for every call, so that one call's effect
        # (a withdrawal, say) cannot change what the next one sees.
        if "{candidate_id}" not in template:
            return template
        return template.format(candidate_id=await _own_candidate(intake))

    if decision.public:
        assert (await intake.client.request(method, template, headers={})).status_code == 200
        return

    if decision.scoping == "filtered":
        await _own_candidate(intake)  # something for other institutions not to see
    before = await _writes(intake)
    anonymous = await intake.client.request(
        method,
        await path(),
        json=decision.body() if decision.body else None,
        headers={"Authorization": ""},
    )
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    for who in sorted(EVERYONE - decision.allowed):
        reply = await _call(intake, method, await path(), decision, who)
        assert reply.status_code == 403, f"{who}: {reply.status_code} {reply.text}"
    if decision.scoping == "hidden":
        reply = await _call(intake, method, await path(), decision, "other-partner")
        assert reply.status_code == 404, reply.text
    created_for_setup = await _writes(intake)
    assert (created_for_setup[0] - before[0]) == (created_for_setup[1] - before[1])

    for who in sorted(decision.allowed):
        if decision.scoping == "hidden" and who == "other-partner":
            continue
        target = await path()
        reply = await _call(intake, method, target, decision, who)
        assert reply.status_code == decision.success, f"{who}: {reply.text}"
        if decision.scoping == "filtered" and method == "GET":
            seen = reply.json()
            if who == "other-partner":
                assert seen["total"] == 0, f"{template} leaks another institution's records"
            else:
                assert seen["total"] > 0


async def test_refused_calls_change_nothing(intake: RunningService) -> None:
    candidate_id = await _own_candidate(intake)
    before = await _writes(intake)
    path = f"/candidates/{candidate_id}"
    refusals = [
        await intake.client.patch(path, json={"name": "x"}, headers={"Authorization": ""}),
        await intake.client.patch(path, json={"name": "x"}, headers=intake.as_("ministry")),
        await intake.client.patch(path, json={"name": "x"}, headers=intake.as_("other-partner")),
        await intake.client.post(
            f"{path}/withdrawal", json={"reason": "r"}, headers=intake.as_("other-partner")
        ),
    ]
    assert [reply.status_code for reply in refusals] == [401, 403, 404, 404]
    assert await _writes(intake) == before
    assert (await intake.client.get(path)).json()["name"] == cystic_fibrosis()["name"]
