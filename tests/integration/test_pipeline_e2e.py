"""The whole pipeline on real Kafka and PostgreSQL: every service, its own database,
choreography only. A candidate travels from registration to a completed social
implementation through each service's HTTP API; a refused step leaves nothing behind.
"""

from __future__ import annotations

import pytest

from deploy.demo import EXAMPLES, event_trail, prepare_committee, walk
from services.followup.tables import CandidateView
from tests.integration.conftest import System
from tests.support import wait_until

pytestmark = pytest.mark.integration

NS = "jp.mhlw.accessprogram."


def _by_source(trail: list[dict]) -> dict[str, list[tuple[int, str]]]:
    found: dict[str, list[tuple[int, str]]] = {}
    for event in trail:
        source = event["ce_source"].removeprefix("/services/")
        kind = event["ce_type"].removeprefix(f"{NS}{source}.")
        found.setdefault(source, []).append((int(event["ce_sequence"]), kind))
    return {source: sorted(events) for source, events in found.items()}


async def test_a_candidate_travels_from_survey_to_completed_social_implementation(
    system: System,
) -> None:
    cystic_fibrosis = EXAMPLES[0]
    meeting_id = await prepare_committee(system.pipeline)
    candidate_id, stage = await walk(system.pipeline, cystic_fibrosis, meeting_id)
    assert stage == "social-implementation"

    partner = system.pipeline.partner
    intake_view = (await system.intake.client.get(f"/candidates/{candidate_id}")).json()
    assert (intake_view["stage"], intake_view["version"]) == ("surveyed", 1)
    evaluation_view = (
        await system.evaluation.client.get(
            f"/candidates/{candidate_id}", headers=system.pipeline.secretariat
        )
    ).json()
    assert (evaluation_view["stage"], evaluation_view["decision"]) == ("selected", "selected")
    assert evaluation_view["registered_by"] == "ncchd"  # learnt from intake's events
    target = (
        await system.followup.client.get(f"/support-targets/{candidate_id}", headers=partner)
    ).json()
    assert target["stage"] == "social-implementation"
    assert target["implementation"]["status"] == "completed"
    assert target["conditions"] == ["定期的なフォローアップ報告"]
    [trial_id] = target["trial_ids"]
    trial = (await system.followup.client.get(f"/trials/{trial_id}", headers=partner)).json()
    assert (trial["status"], trial["enrolled"], trial["lead_institution"]) == (
        "completed",
        3,
        "ncchd",
    )
    assert trial["collaborating_institutions"] == ["osaka-u"]

    await system.published()
    trail = await event_trail(system.bootstrap, candidate_id, prefix=system.prefix)
    assert _by_source(trail) == {
        "intake": [
            (1, "candidate.registered.v1"),
            (2, "survey-report.submitted.v1"),
            (3, "survey-report.submitted.v1"),
        ],
        "evaluation": [
            (1, "candidate.assessed.v1"),
            (2, "candidate.shortlisted.v1"),
            (3, "support.decided.v1"),
        ],
        "followup": [
            (1, "support-target.created.v1"),
            (2, "trial.registered.v1"),
            (3, "trial.started.v1"),
            (4, "enrolment.updated.v1"),
            (5, "candidate.stage-changed.v1"),
            (6, "efficacy-readout.recorded.v1"),
            (7, "adverse-event.reported.v1"),
            (8, "trial.status-changed.v1"),
            (9, "implementation.decided.v1"),
            (10, "implementation.status-changed.v1"),
        ],
    }
    stages = [
        (event["data"]["stage"]["previous"], event["data"]["stage"]["current"])
        for event in trail
        if "stage" in event["data"]
    ]
    assert stages == [
        (None, "surveyed"),
        ("surveyed", "shortlisted"),
        ("shortlisted", "selected"),
        ("selected", "trial-started"),
        ("trial-started", "data-collection"),
        ("data-collection", "social-implementation"),
    ]
    decided = next(e for e in trail if e["ce_type"].endswith("support.decided.v1"))
    created = next(e for e in trail if e["ce_type"].endswith("support-target.created.v1"))
    assert created["ce_causationid"] == decided["ce_id"]  # the reaction names its cause


async def test_a_declined_candidate_gets_no_support_target_and_no_trial(system: System) -> None:
    synthetic = EXAMPLES[2]
    meeting_id = await prepare_committee(system.pipeline)
    candidate_id, stage = await walk(system.pipeline, synthetic, meeting_id)
    assert stage == "declined"

    partner = system.pipeline.partner
    await _until_followup_knows(system, candidate_id, "declined")
    before = await system.writes()
    trial = await system.followup.client.post(
        f"/support-targets/{candidate_id}/trials",
        json={
            "trial_type": "investigator-initiated-trial",
            "legal_basis": ["pmd-act-gcp"],
            "phase": "phase-2",
        },
        headers=partner,
    )
    assert trial.status_code == 409
    assert "not a support target" in trial.json()["detail"]
    again = await system.evaluation.client.post(
        f"/candidates/{candidate_id}/decision",
        json={"decision": "selected", "rationale": "r", "decided_on": "2027-03-10"},
        headers=system.pipeline.secretariat,
    )
    assert again.status_code == 409
    assert "correction" in again.json()["detail"]
    assert await system.writes() == before


async def _until_followup_knows(system: System, candidate_id: str, stage: str) -> None:
    from tests.support import wait_until

    async def known() -> bool:
        async with system.followup.runtime.db.sessions() as session:
            view = await session.get(CandidateView, candidate_id)
            return view is not None and view.stage == stage

    await wait_until(known, what=f"followup to learn that {candidate_id} is {stage}")


async def test_impossible_steps_are_refused_and_leave_no_row_and_no_event(system: System) -> None:
    p = system.pipeline
    candidate = (
        await p.intake.post("/candidates", json=EXAMPLES[1].profile, headers=p.partner)
    ).json()
    cid = candidate["candidate_id"]
    await _until_evaluation_knows(system, cid)
    await _until_followup_knows(system, cid, "surveyed")
    before = await system.writes()

    refusals = {
        "decision before shortlisting": await p.evaluation.post(
            f"/candidates/{cid}/decision",
            json={"decision": "selected", "rationale": "r", "decided_on": "2027-03-10"},
            headers=p.secretariat,
        ),
        "correction without a decision": await p.evaluation.post(
            f"/candidates/{cid}/decision/corrections",
            json={
                "decision": "selected",
                "rationale": "r",
                "decided_on": "2027-03-10",
                "reason": "r",
            },
            headers=p.secretariat,
        ),
        "trial for a candidate not selected": await p.followup.post(
            f"/support-targets/{cid}/trials",
            json={"trial_type": "other", "legal_basis": ["pmd-act-gcp"], "phase": "phase-2"},
            headers=p.partner,
        ),
        "adverse event on a trial that does not exist": await p.followup.post(
            "/trials/no-such-trial/adverse-events",
            json={
                "meddra_term": "Pyrexia",
                "seriousness": "non-serious",
                "causality": "possible",
                "expected": True,
                "outcome": "resolved",
                "onset_on": "2027-10-01",
                "reported_on": "2027-10-02",
            },
            headers=p.partner,
        ),
        "implementation before data collection": await p.followup.post(
            f"/support-targets/{cid}/implementation",
            json={"route": "marketing-approval"},
            headers=p.partner,
        ),
        "assessment against an unknown criterion": await p.evaluation.post(
            f"/candidates/{cid}/assessments",
            json={"results": [{"criterion_code": "invented", "met": True}]},
            headers=p.secretariat,
        ),
    }
    statuses = {step: reply.status_code for step, reply in refusals.items()}
    assert statuses == {
        "decision before shortlisting": 409,
        "correction without a decision": 409,
        "trial for a candidate not selected": 409,
        "adverse event on a trial that does not exist": 404,
        "implementation before data collection": 409,
        "assessment against an unknown criterion": 422,
    }
    for step, reply in refusals.items():
        assert reply.json()["detail"], step
    assert await system.writes() == before


async def _until_evaluation_knows(system: System, candidate_id: str) -> None:
    async def known() -> bool:
        reply = await system.evaluation.client.get(
            f"/candidates/{candidate_id}", headers=system.pipeline.secretariat
        )
        return reply.status_code == 200

    await wait_until(known, what="evaluation to learn of the candidate")


async def test_a_started_trial_cannot_start_again_and_safety_rules_hold(system: System) -> None:
    p = system.pipeline
    meeting_id = await prepare_committee(p)
    candidate_id, _ = await walk(p, EXAMPLES[0], meeting_id)
    target = (await p.followup.get(f"/support-targets/{candidate_id}", headers=p.partner)).json()
    [trial_id] = target["trial_ids"]
    before = await system.writes()

    restart = await p.followup.post(
        f"/trials/{trial_id}/start", json={"started_on": "2027-07-01"}, headers=p.partner
    )
    assert restart.status_code == 409
    assert "already started" in restart.json()["detail"]
    serious_without_criteria = await p.followup.post(
        f"/trials/{trial_id}/adverse-events",
        json={
            "meddra_term": "Seizure",
            "seriousness": "serious",
            "causality": "possible",
            "expected": False,
            "outcome": "recovering",
            "onset_on": "2027-10-01",
            "reported_on": "2027-10-02",
        },
        headers=p.partner,
    )
    assert serious_without_criteria.status_code == 422
    assert serious_without_criteria.json()["errors"][0]["field"] == "seriousness_criteria"
    reopened_without_reason = await p.followup.post(
        f"/trials/{trial_id}/status",
        json={"status": "recruiting", "effective_on": "2028-07-01"},
        headers=p.partner,
    )
    assert reopened_without_reason.status_code == 409
    outsider = await p.followup.post(
        f"/trials/{trial_id}/enrolment",
        json={"enrolled": 9, "as_of": "2027-12-01"},
        headers=system.intake.as_("secretariat"),
    )
    assert outsider.status_code == 403
    assert await system.writes() == before
