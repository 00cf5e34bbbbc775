from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from shared.auth import ROLE_SCOPES, RateLimiter, Scope, development_key
from shared.identity import Institution, InstitutionKind, Registry, Role
from shared.settings import ServiceSettings
from shared.writes import field_changes


def _registry() -> tuple[Registry, str]:
    registry = Registry()
    registry.add_institution(
        Institution(
            id="ncchd", name="国立成育医療研究センター", kind=InstitutionKind.NATIONAL_CENTER
        )
    )
    return registry, registry.issue_key("ncchd", Role.PARTNER)


def test_only_the_hash_of_a_key_is_kept() -> None:
    registry, key = _registry()
    stored = registry.model_dump_json()
    assert key.split("_", 2)[2] not in stored
    assert registry.verify(key).institution_id == "ncchd"


@pytest.mark.parametrize(
    "tamper", [lambda k: k[:-1] + "x", lambda k: "apk_nobody_secret", str.upper]
)
def test_wrong_keys_are_not_verified(tamper) -> None:  # type: ignore[no-untyped-def]
    registry, key = _registry()
    assert registry.verify(tamper(key)) is None


def test_revoked_keys_fail_and_rotation_overlaps() -> None:
    registry, key = _registry()
    key_id = key.split("_")[1]
    successor = registry.rotate_key(key_id, overlap=timedelta(hours=2))
    now = datetime.now(UTC)
    assert registry.verify(key, now) is not None
    assert registry.verify(key, now + timedelta(hours=3)) is None
    assert registry.verify(successor, now + timedelta(hours=3)) is not None
    registry.revoke_key(successor.split("_")[1])
    assert registry.verify(successor) is None


def test_keys_are_issued_only_to_known_institutions() -> None:
    registry, _ = _registry()
    with pytest.raises(ValueError, match="no institution"):
        registry.issue_key("unknown", Role.PARTNER)
    with pytest.raises(ValueError, match="already exists"):
        registry.add_institution(
            Institution(id="ncchd", name="x", kind=InstitutionKind.CORE_HOSPITAL)
        )


def test_the_development_keys_are_refused_outside_development() -> None:
    with pytest.raises(ValidationError, match="credentials_file"):
        ServiceSettings(service_name="intake", port=8001, environment="production")
    development = ServiceSettings(service_name="intake", port=8001)
    assert development.credentials_file is None
    assert development_key("dev-ncchd") == "apk_ncchd_development-only"


def test_only_the_secretariat_records_decisions_and_only_operators_redrive() -> None:
    holders = {
        scope: {role for role, scopes in ROLE_SCOPES.items() if scope in scopes} for scope in Scope
    }
    assert holders[Scope.DECISIONS_WRITE] == {Role.SECRETARIAT}
    assert holders[Scope.DEAD_LETTERS_REDRIVE] == {Role.OPERATOR}
    assert holders[Scope.CANDIDATES_WRITE] == {Role.PARTNER}
    assert Role.OPERATOR not in holders[Scope.CANDIDATES_READ]


def test_the_rate_limiter_refills_over_time(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr("shared.auth.time.monotonic", lambda: clock[0])
    limiter = RateLimiter(per_minute=2)
    assert [limiter.retry_after("a"), limiter.retry_after("a")] == [None, None]
    assert limiter.retry_after("a") == 30
    assert limiter.retry_after("b") is None
    clock[0] += 30
    assert limiter.retry_after("a") is None


def test_field_changes_list_old_and_new_of_what_differs() -> None:
    assert field_changes({"a": 1, "b": 2}, {"a": 1, "b": 3}) == {"b": {"old": 2, "new": 3}}
    assert field_changes(None, {"a": 1}) == {"a": {"old": None, "new": 1}}
