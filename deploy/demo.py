"""``make demo``: the program's own examples walked through every stage, over HTTP.

Against the system ``make run`` started, authenticated like real partners (with the
development keys): two candidates from the committee's first-meeting material travel
from survey to a completed social implementation, and a clearly synthetic
countermeasure for an infection absent in peacetime is declined by the committee. Each
candidate's stage history is read back from the event trail on Kafka. Exits non-zero if
any candidate does not reach its expected stage.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer

from shared.auth import development_key
from shared.messaging.kafka import topic_partitions

PRODUCERS = ("intake", "evaluation", "followup")


@dataclass(frozen=True)
class Example:
    label: str
    profile: dict[str, Any]
    decision: str
    expected_stage: str
    route: str | None = None
    trial: dict[str, Any] = field(default_factory=dict)


def _profile(**fields: Any) -> dict[str, Any]:
    return {
        "domestic_status": "not-started",
        "access_route": "overseas-approved",
        "overseas_approvals": [{"region": "US", "status": "approved"}],
        **fields,
    }


EXAMPLES = [
    Example(
        label="Cystic fibrosis, small molecule (S000 example)",
        profile=_profile(
            name="CFTR modulator (small molecule)",
            modality="small-molecule",
            product_category="drug",
            target_disease="嚢胞性線維症 (cystic fibrosis)",
            disease_category="先天性肺疾患",
            disease_class="ultra-rare",
            estimated_domestic_patients=50,
            developer_type="pharma",
            orphan_designation=True,
            drug_loss={"is_drug_loss_item": True, "medical_need_confirmed": True},
            market_viability_notes="About 50 patients in Japan; approved in the US and elsewhere.",
        ),
        decision="selected",
        expected_stage="social-implementation",
        route="marketing-approval",
        trial={"trial_type": "investigator-initiated-trial", "phase": "phase-3"},
    ),
    Example(
        label="AADC deficiency, AAV in vivo gene therapy (S000 example)",
        profile=_profile(
            name="AAV in vivo gene therapy for AADC deficiency",
            modality="in-vivo-gene-therapy",
            product_category="regenerative-medicine-product",
            target_disease="芳香族L-アミノ酸脱炭酸酵素欠損症 (AADC deficiency)",
            disease_category="先天性神経疾患",
            disease_class="ultra-rare",
            estimated_domestic_patients=10,
            developer_type="venture",
            pediatric=True,
            market_viability_notes="About 10 patients in Japan; approved in the US.",
        ),
        decision="selected",
        expected_stage="social-implementation",
        route="conditional-time-limited-approval",
        trial={"trial_type": "investigator-initiated-trial", "phase": "phase-1-phase-2"},
    ),
    Example(
        label="SYNTHETIC: countermeasure for an infection absent in peacetime (made up)",
        profile=_profile(
            name="SYNTHETIC DEMO antiviral (not a real product)",
            modality="anti-infective",
            product_category="drug",
            target_disease="SYNTHETIC infection absent from Japan in peacetime",
            disease_class="peacetime-absent-infection",
            estimated_domestic_patients=0,
            developer_type="venture",
            overseas_approvals=[{"region": "US", "status": "emergency-authorized"}],
            market_viability_notes="Synthetic record for the demonstration only.",
        ),
        decision="not-selected",
        expected_stage="declined",
    ),
]


@dataclass
class Pipeline:
    """HTTP clients of the services, and who calls as whom."""

    intake: httpx.AsyncClient
    evaluation: httpx.AsyncClient
    followup: httpx.AsyncClient
    partner: dict[str, str]  # registers candidates and leads trials
    collaborator: str  # institution id of the collaborating hospital
    secretariat: dict[str, str]
    say: Callable[[str], None] = print


class DemoFailure(Exception):
    pass


async def _call(
    client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str], **kwargs: Any
) -> Any:
    headers = {**headers, "Idempotency-Key": str(uuid.uuid4())} if method != "GET" else headers
    reply = await client.request(method, path, headers=headers, **kwargs)
    if reply.is_error:
        raise DemoFailure(f"{method} {path} -> {reply.status_code}: {reply.text}")
    return reply.json()


async def _eventually(
    probe: Callable[[], Awaitable[httpx.Response]], what: str, timeout_s: float = 60
) -> Any:
    """Choreography takes a moment: poll until the other service has heard of it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        reply = await probe()
        if reply.status_code == 200:
            return reply.json()
        await asyncio.sleep(0.2)
    raise DemoFailure(f"timed out waiting for {what}")


async def prepare_committee(p: Pipeline) -> str:
    """Criteria (held as data) and the autumn meeting; returns the meeting id."""
    for code, title in [
        (
            "patient-scale",
            "Domestic patients from 1 to a few tens, or an infection absent in peacetime",
        ),
        ("overseas-or-domestic-research", "Approved abroad, or in domestic clinical research"),
        ("market-not-viable", "Commercial development unlikely (事業性が乏しい)"),
    ]:
        reply = await p.evaluation.post(
            "/criteria", json={"code": code, "title": title}, headers=p.secretariat
        )
        if reply.status_code not in (201, 409):  # 409: defined by an earlier run
            raise DemoFailure(f"criterion {code}: {reply.status_code} {reply.text}")
    meeting = await _call(
        p.evaluation,
        "POST",
        "/meetings",
        p.secretariat,
        json={
            "title": "特定医療技術等開発推進検討会 第2回",
            "held_on": "2026-10-15",
            "agenda": ["調査事業の中間報告", "支援候補の同定"],
        },
    )
    return meeting["meeting_id"]


async def walk(p: Pipeline, example: Example, meeting_id: str) -> tuple[str, str]:
    """Take one candidate as far as its example goes; returns its id and final stage."""
    p.say(f"\n== {example.label}")
    candidate = await _call(p.intake, "POST", "/candidates", p.partner, json=example.profile)
    cid = candidate["candidate_id"]
    p.say(f"   registered {cid} by {candidate['registered_by']} (stage {candidate['stage']})")
    for kind, title, on in [
        ("interim", "中間報告", "2026-09-30"),
        ("final", "調査結果報告", "2026-12-01"),
    ]:
        await _call(
            p.intake,
            "POST",
            f"/candidates/{cid}/survey-reports",
            p.partner,
            json={"kind": kind, "title": title, "summary": "国内外調査の結果", "submitted_on": on},
        )
    await _eventually(
        lambda: p.evaluation.get(f"/candidates/{cid}", headers=p.secretariat),
        "evaluation to learn of the candidate",
    )
    met = example.decision == "selected"
    await _call(
        p.evaluation,
        "POST",
        f"/candidates/{cid}/assessments",
        p.secretariat,
        json={
            "meeting_id": meeting_id,
            "summary": "要件の確認",
            "results": [
                {"criterion_code": "patient-scale", "met": True},
                {"criterion_code": "overseas-or-domestic-research", "met": True},
                {"criterion_code": "market-not-viable", "met": met},
            ],
        },
    )
    await _call(
        p.evaluation,
        "POST",
        f"/candidates/{cid}/shortlisting",
        p.secretariat,
        json={"meeting_id": meeting_id, "rationale": "支援候補として同定"},
    )
    decision = await _call(
        p.evaluation,
        "POST",
        f"/candidates/{cid}/decision",
        p.secretariat,
        json={
            "decision": example.decision,
            "decided_on": "2027-03-10",
            "meeting_id": meeting_id,
            "rationale": "検討会の最終決定" if met else "事業性の要件を満たさない",
            "conditions": ["定期的なフォローアップ報告"] if met else [],
        },
    )
    p.say(f"   committee decision: {decision['decision']}")
    if not met:
        view = await _call(p.evaluation, "GET", f"/candidates/{cid}", p.secretariat)
        return cid, view["stage"]

    await _eventually(
        lambda: p.followup.get(f"/support-targets/{cid}", headers=p.partner),
        "followup to create the support target",
    )
    trial = await _call(
        p.followup,
        "POST",
        f"/support-targets/{cid}/trials",
        p.partner,
        json={
            **example.trial,
            "legal_basis": ["pmd-act-gcp", "mixed-billing"],
            "collaborating_institutions": [p.collaborator],
            "planned_start_on": "2027-06-01",
            "target_enrolment": 5,
        },
    )
    tid = trial["trial_id"]
    p.say(f"   trial {tid} led by {trial['lead_institution']} with {p.collaborator}")
    await _call(
        p.followup, "POST", f"/trials/{tid}/start", p.partner, json={"started_on": "2027-06-01"}
    )
    await _call(
        p.followup,
        "POST",
        f"/trials/{tid}/enrolment",
        p.partner,
        json={"enrolled": 3, "as_of": "2027-09-01"},
    )
    await _call(
        p.followup,
        "POST",
        f"/trials/{tid}/efficacy-readouts",
        p.partner,
        json={
            "endpoint": "primary endpoint at 48 weeks",
            "primary": True,
            "result_summary": "improvement in all treated patients",
            "as_of": "2028-06-01",
        },
    )
    await _call(
        p.followup,
        "POST",
        f"/trials/{tid}/adverse-events",
        p.partner,
        json={
            "meddra_term": "Pyrexia",
            "meddra_code": "10037660",
            "seriousness": "non-serious",
            "severity": "mild",
            "ctcae_grade": 1,
            "causality": "possible",
            "expected": True,
            "outcome": "resolved",
            "onset_on": "2027-10-01",
            "reported_on": "2027-10-03",
        },
    )
    await _call(
        p.followup,
        "POST",
        f"/trials/{tid}/status",
        p.partner,
        json={"status": "completed", "effective_on": "2028-06-30"},
    )
    implementation = await _call(
        p.followup,
        "POST",
        f"/support-targets/{cid}/implementation",
        p.partner,
        json={"route": example.route, "status": "in-progress", "target_on": "2029-03-31"},
    )
    await _call(
        p.followup,
        "POST",
        f"/implementations/{implementation['implementation_id']}/status",
        p.partner,
        json={"status": "completed", "effective_on": "2029-03-01"},
    )
    p.say(f"   social implementation: {example.route}, completed")
    target = await _call(p.followup, "GET", f"/support-targets/{cid}", p.partner)
    return cid, target["stage"]


async def event_trail(
    bootstrap: str, candidate_id: str, *, prefix: str = "", settle_s: float = 1.0
) -> list[dict[str, Any]]:
    """Every event about a candidate on the producers' topics, oldest first."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [
            partition
            for producer in PRODUCERS
            for partition in await topic_partitions(consumer, f"{prefix}pipeline.{producer}.v1")
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            positions = [await consumer.position(tp) for tp in partitions]
            if all(
                position >= ends[tp] for position, tp in zip(positions, partitions, strict=True)
            ):
                break
            batch = await consumer.getmany(timeout_ms=settle_s * 1000)
            for records in batch.values():
                for record in records:
                    if record.key and record.key.decode() == candidate_id:
                        headers = {name: value.decode() for name, value in record.headers}
                        found.append({**headers, "data": json.loads(record.value)})
        return sorted(found, key=lambda event: event["ce_time"])
    finally:
        await consumer.stop()


def stage_history(trail: list[dict[str, Any]]) -> list[str]:
    lines = []
    for event in trail:
        stage = event["data"].get("stage")
        if isinstance(stage, dict) and stage.get("previous") != stage.get("current"):
            name = event["ce_type"].removeprefix("jp.mhlw.accessprogram.")
            lines.append(
                f"{event['ce_time'][:19]}  {stage['previous'] or '-':>22} -> "
                f"{stage['current']:<22} {name} (#{event['ce_sequence']})"
            )
    return lines


async def main() -> int:
    host = os.environ.get("DEMO_HOST", "127.0.0.1")
    bootstrap = os.environ.get(
        "KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{os.environ.get('KAFKA_PORT', '9092')}"
    )

    def key(institution: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {development_key(institution)}"}

    async with (
        httpx.AsyncClient(base_url=f"http://{host}:8001", timeout=30) as intake,
        httpx.AsyncClient(base_url=f"http://{host}:8002", timeout=30) as evaluation,
        httpx.AsyncClient(base_url=f"http://{host}:8003", timeout=30) as followup,
    ):
        pipeline = Pipeline(
            intake=intake,
            evaluation=evaluation,
            followup=followup,
            partner=key("dev-ncchd"),
            collaborator="dev-ncnp",
            secretariat=key("dev-secretariat"),
        )
        meeting_id = await prepare_committee(pipeline)
        failures = 0
        walked: list[tuple[str, Example]] = []
        for example in EXAMPLES:
            try:
                candidate_id, stage = await walk(pipeline, example, meeting_id)
                walked.append((candidate_id, example))
            except DemoFailure as error:
                print(f"   FAILED: {error}")
                failures += 1
                continue
            verdict = (
                "ok" if stage == example.expected_stage else f"EXPECTED {example.expected_stage}"
            )
            failures += stage != example.expected_stage
            print(f"   final stage: {stage} [{verdict}]")
        print("\nStage history (from the event trail on Kafka):")
        for candidate_id, example in walked:
            print(await _history(bootstrap, candidate_id, example))
    print(
        f"\n{len(EXAMPLES) - failures} of {len(EXAMPLES)} candidates reached their expected stage"
    )
    return 1 if failures else 0


async def _history(bootstrap: str, candidate_id: str, example: Example) -> str:
    """The candidate's stage history, once the last of its events has been published."""
    deadline = time.monotonic() + 15
    while True:
        trail = await event_trail(bootstrap, candidate_id)
        lines = stage_history(trail)
        last = [event["data"]["stage"]["current"] for event in trail if "stage" in event["data"]]
        if (last and last[-1] == example.expected_stage) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.3)  # the relays publish a moment after each write
    name = example.profile["name"]
    return "\n".join([f"\n{name} ({candidate_id})", *(f"  {line}" for line in lines)])


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except httpx.ConnectError:
        sys.exit("The services are not running: start them with `make run`, then `make demo`.")
