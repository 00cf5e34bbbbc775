"""Who is calling and what they may do: API keys or OAuth2 JWTs, roles, scopes, rate limits.

Every route but health declares the scope it needs with ``require(Scope.X)``. A partner
institution sees only what it is party to; routes enforce that by answering 404 for
anything else, so that another institution's ids do not even leak their existence.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import jwt
from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes

from shared.identity import (
    KEY_PREFIX,
    Institution,
    InstitutionKind,
    KeyRecord,
    Registry,
    RegistryFile,
    Role,
    secret_digest,
)
from shared.settings import ServiceSettings
from shared.web import Problem

JWT_ALGORITHMS = ["RS256", "ES256", "EdDSA"]


class Scope(StrEnum):
    CANDIDATES_READ = "candidates:read"
    CANDIDATES_WRITE = "candidates:write"
    DECISIONS_WRITE = "decisions:write"
    TRIALS_WRITE = "trials:write"
    SUBSCRIPTIONS_WRITE = "subscriptions:write"
    AUDIT_READ = "audit:read"
    DEAD_LETTERS_REDRIVE = "dead-letters:redrive"
    OPERATIONS_RUN = "operations:run"


ROLE_SCOPES: dict[Role, frozenset[Scope]] = {
    Role.PARTNER: frozenset(
        {Scope.CANDIDATES_READ, Scope.CANDIDATES_WRITE, Scope.TRIALS_WRITE, Scope.AUDIT_READ}
    ),
    Role.SECRETARIAT: frozenset({Scope.CANDIDATES_READ, Scope.DECISIONS_WRITE, Scope.AUDIT_READ}),
    Role.MINISTRY: frozenset({Scope.CANDIDATES_READ, Scope.SUBSCRIPTIONS_WRITE, Scope.AUDIT_READ}),
    # Operators run the system; they do not read the program's records.
    Role.OPERATOR: frozenset({Scope.AUDIT_READ, Scope.DEAD_LETTERS_REDRIVE, Scope.OPERATIONS_RUN}),
}


@dataclass(frozen=True)
class Principal:
    client_id: str
    institution_id: str
    role: Role
    scopes: frozenset[str]

    @property
    def sees_everything(self) -> bool:
        return self.role is not Role.PARTNER

    def party_to(self, institution_ids: set[str | None] | str | None) -> bool:
        if self.sees_everything:
            return True
        if isinstance(institution_ids, set):
            return self.institution_id in institution_ids
        return self.institution_id == institution_ids


def development_registry() -> Registry:
    """Well-known keys for local runs and the demo; refused outside development."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    national = InstitutionKind.NATIONAL_CENTER
    entries = [
        ("dev-ncchd", "国立成育医療研究センター (development)", national, Role.PARTNER),
        ("dev-ncnp", "国立精神・神経医療研究センター (development)", national, Role.PARTNER),
        (
            "dev-secretariat",
            "検討会事務局 (development)",
            InstitutionKind.SECRETARIAT,
            Role.SECRETARIAT,
        ),
        (
            "dev-ministry",
            "医政局研究開発政策課 (development)",
            InstitutionKind.MINISTRY,
            Role.MINISTRY,
        ),
        ("dev-operator", "運用 (development)", InstitutionKind.OPERATOR, Role.OPERATOR),
    ]
    registry = Registry()
    for institution_id, name, kind, role in entries:
        registry.institutions.append(Institution(id=institution_id, name=name, kind=kind))
        registry.keys.append(
            KeyRecord(
                key_id=institution_id.removeprefix("dev-"),
                institution_id=institution_id,
                role=role,
                secret_sha256=secret_digest("development-only"),
                created_at=now,
            )
        )
    return registry


def development_key(institution_id: str) -> str:
    """The public key of a development institution, e.g. ``dev-ncchd``."""
    return f"{KEY_PREFIX}{institution_id.removeprefix('dev-')}_development-only"


class RateLimiter:
    """A token bucket per client: ``per_minute`` requests, refilled continuously."""

    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.refill_per_second = per_minute / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}

    def retry_after(self, client_id: str) -> int | None:
        """Take one token; None if granted, else the seconds to wait."""
        now = time.monotonic()
        tokens, last = self._buckets.get(client_id, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.refill_per_second)
        if tokens >= 1:
            self._buckets[client_id] = (tokens - 1, now)
            return None
        self._buckets[client_id] = (tokens, now)
        return max(1, math.ceil((1 - tokens) / self.refill_per_second))


class Authenticator:
    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self._registry_file = (
            RegistryFile(settings.credentials_file) if settings.credentials_file else None
        )
        self._development = development_registry() if self._registry_file is None else None
        self._jwt_key = (
            settings.jwt_public_key_file.read_text() if settings.jwt_public_key_file else None
        )
        self.rate_limiter = RateLimiter(settings.rate_limit_per_minute)

    def registry(self) -> Registry:
        if self._registry_file is not None:
            return self._registry_file.current()
        assert self._development is not None
        return self._development

    def authenticate(self, credential: str) -> Principal:
        if credential.startswith(KEY_PREFIX):
            record = self.registry().verify(credential)
            if record is not None:
                return Principal(
                    client_id=record.key_id,
                    institution_id=record.institution_id,
                    role=record.role,
                    scopes=frozenset(ROLE_SCOPES[record.role]),
                )
        elif self._jwt_key is not None:
            return self._from_token(credential)
        raise _unauthorized("The API key is unknown, revoked or expired.")

    def _from_token(self, token: str) -> Principal:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._jwt_key,
                algorithms=JWT_ALGORITHMS,
                audience=self.settings.jwt_audience,
                issuer=self.settings.jwt_issuer,
                leeway=timedelta(seconds=30),
                options={"require": ["exp", "sub", "role", "institution"]},
            )
            role = Role(claims["role"])
        except (jwt.PyJWTError, ValueError) as error:
            raise _unauthorized(f"The token is not valid: {error}.") from error
        granted = set(str(claims.get("scope", "")).split()) & ROLE_SCOPES[role]
        return Principal(
            client_id=str(claims["sub"]),
            institution_id=str(claims["institution"]),
            role=role,
            scopes=frozenset(granted),
        )


def _unauthorized(detail: str) -> Problem:
    return Problem(401, "Unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


_bearer = HTTPBearer(
    auto_error=False,
    description="An institution's API key (apk_...) or an OAuth2 client-credentials JWT.",
)


async def _authorize(
    security_scopes: SecurityScopes,
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),  # noqa: B008
) -> Principal:
    if credentials is None:
        raise _unauthorized("Send Authorization: Bearer <API key or token>.")
    authenticator: Authenticator = request.app.state.runtime.auth
    principal = authenticator.authenticate(credentials.credentials)
    wait = authenticator.rate_limiter.retry_after(principal.client_id)
    if wait is not None:
        raise Problem(
            429,
            "Too many requests",
            f"Rate limit of {authenticator.settings.rate_limit_per_minute} requests a minute.",
            headers={"Retry-After": str(wait)},
        )
    missing = sorted(set(security_scopes.scopes) - principal.scopes)
    if missing:
        raise Problem(
            403, "Forbidden", f"The role {principal.role} lacks the scope {', '.join(missing)}."
        )
    request.state.principal = principal
    return principal


def require(scope: Scope) -> Any:
    """A route parameter's dependency: the caller, authenticated and holding ``scope``."""
    return Security(_authorize, scopes=[scope.value])
