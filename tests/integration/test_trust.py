"""Idempotent retries, the audit trail, OAuth2 tokens, rate limits and key lifecycle."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from services.intake.tables import CandidateRow, service_tables
from shared.identity import load_registry, save_registry
from tests.examples import aadc_gene_therapy, cystic_fibrosis
from tests.identities import Identities
from tests.integration.conftest import RunningService, intake_settings, run_service
from tests.support import read_topic, wait_until

pytestmark = pytest.mark.integration


async def test_a_post_retried_with_the_same_key_creates_one_record_and_one_event(
    intake: RunningService,
) -> None:
    key = {"Idempotency-Key": "register-cf-2026-11-23"}
    first = await intake.client.post("/candidates", json=cystic_fibrosis(), headers=key)
    again = await intake.client.post("/candidates", json=cystic_fibrosis(), headers=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers

    assert await intake.count(CandidateRow.__table__) == 1
    assert await intake.count(service_tables.outbox) == 1
    assert await intake.count(service_tables.audit) == 1
    await wait_until(lambda: _published(intake), what="the relay")
    records = await read_topic(
        intake.settings.kafka_bootstrap_servers,
        intake.settings.topic("pipeline.intake.v1"),
        expected=1,
    )
    assert len(records) == 1


async def _published(intake: RunningService) -> bool:
    return await intake.pending_events() == 0


async def test_the_same_key_with_another_body_is_a_conflict(intake: RunningService) -> None:
    key = {"Idempotency-Key": "k-1"}
    assert (await intake.client.post("/candidates", json=cystic_fibrosis(), headers=key)).is_success
    reused = await intake.client.post("/candidates", json=aadc_gene_therapy(), headers=key)
    assert reused.status_code == 409
    assert reused.json()["title"] == "Idempotency key reused"
    assert await intake.count(CandidateRow.__table__) == 1


async def test_keys_belong_to_their_client(intake: RunningService) -> None:
    key = {"Idempotency-Key": "shared-name"}
    mine = await intake.client.post("/candidates", json=cystic_fibrosis(), headers=key)
    theirs = await intake.client.post(
        "/candidates", json=cystic_fibrosis(), headers=key | intake.as_("other-partner")
    )
    assert mine.json()["candidate_id"] != theirs.json()["candidate_id"]
    assert await intake.count(CandidateRow.__table__) == 2


async def test_concurrent_retries_with_one_key_act_once(intake: RunningService) -> None:
    key = {"Idempotency-Key": "parallel"}
    replies = await asyncio.gather(
        *(intake.client.post("/candidates", json=cystic_fibrosis(), headers=key) for _ in range(5))
    )
    assert {reply.status_code for reply in replies} == {201}
    assert len({reply.json()["candidate_id"] for reply in replies}) == 1
    assert await intake.count(CandidateRow.__table__) == 1
    assert await intake.count(service_tables.outbox) == 1


async def test_a_patch_retried_with_the_same_key_applies_once(intake: RunningService) -> None:
    created = (await intake.client.post("/candidates", json=cystic_fibrosis())).json()
    path = f"/candidates/{created['candidate_id']}"
    key = {"Idempotency-Key": "patch-1"}
    change = {"estimated_domestic_patients": 51}
    first = await intake.client.patch(path, json=change, headers=key)
    again = await intake.client.patch(path, json=change, headers=key)
    assert first.json()["version"] == again.json()["version"] == 2
    assert again.headers["etag"] == first.headers["etag"] == '"2"'
    assert await intake.count(service_tables.outbox) == 2


async def test_keys_expire_after_the_configured_time(
    database_url: str, kafka_bootstrap: str, topic_prefix: str, identities: Identities
) -> None:
    settings = intake_settings(
        database_url, kafka_bootstrap, topic_prefix, identities, idempotency_ttl_seconds=1
    )
    async with run_service(settings, identities) as intake:
        key = {"Idempotency-Key": "short-lived"}
        await intake.client.post("/candidates", json=cystic_fibrosis(), headers=key)
        await asyncio.sleep(1.2)
        later = await intake.client.post("/candidates", json=aadc_gene_therapy(), headers=key)
        assert later.status_code == 201
        assert "idempotent-replayed" not in later.headers
        assert await intake.count(CandidateRow.__table__) == 2


async def test_every_write_leaves_an_audit_row_and_corrections_need_a_reason(
    intake: RunningService,
) -> None:
    created = (await intake.client.post("/candidates", json=cystic_fibrosis())).json()
    path = f"/candidates/{created['candidate_id']}"
    writes = [
        await intake.client.patch(path, json={"estimated_domestic_patients": 48}),
        await intake.client.post(
            f"{path}/survey-reports",
            json={
                "kind": "interim",
                "title": "中間報告",
                "summary": "…",
                "submitted_on": "2026-09-30",
            },
        ),
        await intake.client.post(
            f"{path}/survey-reports",
            json={
                "kind": "final",
                "title": "調査結果報告",
                "summary": "…",
                "submitted_on": "2026-12-01",
            },
        ),
    ]
    assert all(reply.is_success for reply in writes)
    # The survey is concluded: a change is now a correction and needs a reason.
    unexplained = await intake.client.patch(path, json={"estimated_domestic_patients": 47})
    assert unexplained.status_code == 409
    assert "reason" in unexplained.json()["detail"]
    corrected = await intake.client.patch(
        path, json={"estimated_domestic_patients": 47, "reason": "患者数の再集計"}
    )
    assert corrected.status_code == 200
    withdrawn = await intake.client.post(f"{path}/withdrawal", json={"reason": "企業が開発に着手"})
    assert withdrawn.status_code == 200

    successful_writes = 1 + len(writes) + 2
    trail = (await intake.client.get("/audit", headers=intake.as_("ministry"))).json()
    assert trail["total"] == successful_writes
    actions = [entry["action"] for entry in trail["items"]]
    assert actions == [
        "candidate.registered",
        "candidate.updated",
        "survey-report.submitted",
        "survey-report.submitted",
        "candidate.updated",
        "candidate.withdrawn",
    ]
    correction = trail["items"][4]
    assert correction["changes"] == {"estimated_domestic_patients": {"old": 48, "new": 47}}
    assert correction["reason"] == "患者数の再集計"
    assert {entry["actor_institution_id"] for entry in trail["items"]} == {"ncchd"}
    assert all(entry["request_id"] for entry in trail["items"])
    assert trail["items"][-1]["changes"] == {"stage": {"old": "surveyed", "new": "withdrawn"}}

    hidden = (await intake.client.get("/audit", headers=intake.as_("other-partner"))).json()
    assert hidden["total"] == 0


async def test_the_audit_trail_exports_as_csv_that_excel_opens_in_japanese(
    intake: RunningService,
) -> None:
    await intake.client.post("/candidates", json=cystic_fibrosis())
    await intake.client.post("/candidates", json=aadc_gene_therapy())
    export = await intake.client.get("/audit", params={"format": "csv"})
    assert export.status_code == 200
    assert export.headers["content-type"] == "text/csv; charset=utf-8"
    assert export.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert len(rows) == 2
    changes = json.loads(rows[0]["changes"])
    assert changes["target_disease"]["new"] == "嚢胞性線維症 (cystic fibrosis)"


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _token(key: rsa.RSAPrivateKey, **claims: object) -> str:
    now = datetime.now(UTC)
    body = {
        "sub": "client-ncchd-etl",
        "iss": "https://idp.example.jp",
        "aud": "access-pipeline",
        "role": "partner-institution",
        "institution": "ncchd",
        "scope": "candidates:read candidates:write",
        "iat": now,
        "exp": now + timedelta(minutes=5),
        **claims,
    }
    return jwt.encode(body, key, algorithm="RS256")


async def test_oauth2_client_credentials_tokens_are_verified_against_the_configured_key(
    database_url: str,
    kafka_bootstrap: str,
    topic_prefix: str,
    identities: Identities,
    signing_key: rsa.RSAPrivateKey,
    tmp_path: Path,
) -> None:
    public_key = tmp_path / "idp.pem"
    public_key.write_bytes(
        signing_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    settings = intake_settings(
        database_url,
        kafka_bootstrap,
        topic_prefix,
        identities,
        jwt_public_key_file=public_key,
        jwt_issuer="https://idp.example.jp",
        jwt_audience="access-pipeline",
    )
    async with run_service(settings, identities) as intake:

        def bearer(token: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {token}"}

        created = await intake.client.post(
            "/candidates", json=cystic_fibrosis(), headers=bearer(_token(signing_key))
        )
        assert created.status_code == 201
        assert created.json()["registered_by"] == "ncchd"
        # The key-holding partner of the same institution sees the token client's record.
        assert (await intake.client.get(created.headers["location"])).status_code == 200

        read_only = _token(signing_key, scope="candidates:read")
        refused = await intake.client.post(
            "/candidates", json=cystic_fibrosis(), headers=bearer(read_only)
        )
        assert refused.status_code == 403
        expired = _token(signing_key, exp=datetime.now(UTC) - timedelta(minutes=5))
        forged = _token(rsa.generate_private_key(public_exponent=65537, key_size=2048))
        wrong_audience = _token(signing_key, aud="someone-else")
        for token in (expired, forged, wrong_audience, "not-a-token"):
            reply = await intake.client.get("/candidates", headers=bearer(token))
            assert reply.status_code == 401, token
        assert await intake.count(CandidateRow.__table__) == 1


async def test_clients_over_their_rate_limit_get_429_with_retry_after(
    database_url: str, kafka_bootstrap: str, topic_prefix: str, identities: Identities
) -> None:
    settings = intake_settings(
        database_url, kafka_bootstrap, topic_prefix, identities, rate_limit_per_minute=3
    )
    async with run_service(settings, identities) as intake:
        statuses = [(await intake.client.get("/candidates")).status_code for _ in range(3)]
        limited = await intake.client.get("/candidates")
        assert statuses == [200, 200, 200]
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.headers["content-type"] == "application/problem+json"
        # The limit is per client: another institution is not affected.
        other = await intake.client.get("/candidates", headers=intake.as_("other-partner"))
        assert other.status_code == 200


async def test_revoked_keys_stop_working_and_rotated_keys_overlap(
    database_url: str,
    kafka_bootstrap: str,
    topic_prefix: str,
    identities: Identities,
    tmp_path: Path,
) -> None:
    registry_path = tmp_path / "credentials.json"
    shutil.copy(identities.path, registry_path)
    own = Identities(path=registry_path, keys=dict(identities.keys))
    settings = intake_settings(database_url, kafka_bootstrap, topic_prefix, own)
    async with run_service(settings, own) as intake:
        old_key = own.keys["partner"]
        old_id = old_key.removeprefix("apk_").split("_")[0]
        registry = load_registry(registry_path)
        new_key = registry.rotate_key(old_id, overlap=timedelta(hours=1))
        registry.revoke_key(own.keys["secretariat"].removeprefix("apk_").split("_")[0])
        save_registry(registry, registry_path)

        def as_key(key: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {key}"}

        async def secretariat_refused() -> bool:
            reply = await intake.client.get("/candidates", headers=intake.as_("secretariat"))
            return reply.status_code == 401

        await wait_until(secretariat_refused, timeout_s=5, what="the revocation to apply")
        assert (await intake.client.get("/candidates", headers=as_key(new_key))).status_code == 200
        assert (await intake.client.get("/candidates", headers=as_key(old_key))).status_code == 200

        registry = load_registry(registry_path)
        registry.key(old_id).expires_at = datetime.now(UTC)  # the overlap is over
        save_registry(registry, registry_path)

        async def old_key_refused() -> bool:
            reply = await intake.client.get("/candidates", headers=as_key(old_key))
            return reply.status_code == 401

        await wait_until(old_key_refused, timeout_s=5, what="the old key to expire")
        assert (await intake.client.get("/candidates", headers=as_key(new_key))).status_code == 200
