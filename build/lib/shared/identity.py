"""Institutions and their API keys: the credentials registry every service verifies against.

The registry is one JSON file holding institutions and the SHA-256 hashes of their keys,
never the keys themselves. Every service reads the same file (a mounted Secret on
Kubernetes, a mounted file with compose), so a key revoked here stops working everywhere
within a second, without services sharing a database. A key is shown once, when issued.

    python -m shared.identity --registry FILE add-institution ncchd --name N --kind national-center
    python -m shared.identity --registry FILE issue-key ncchd --role partner-institution
    python -m shared.identity --registry FILE rotate-key KEY_ID [--overlap-hours 24]
    python -m shared.identity --registry FILE revoke-key KEY_ID
    python -m shared.identity --registry FILE list
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import secrets
import tempfile
import time
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

from pydantic import AwareDatetime, BaseModel, Field

KEY_PREFIX = "apk_"
RELOAD_INTERVAL_S = 1.0


class Role(StrEnum):
    PARTNER = "partner-institution"  # national centers, core clinical research hospitals
    SECRETARIAT = "committee-secretariat"
    MINISTRY = "ministry-staff"
    OPERATOR = "operator"


class InstitutionKind(StrEnum):
    NATIONAL_CENTER = "national-center"  # 国立高度専門医療研究センター
    CORE_HOSPITAL = "core-clinical-research-hospital"  # 臨床研究中核病院
    SURVEY_BODY = "survey-body"
    MINISTRY = "ministry"
    SECRETARIAT = "secretariat"
    OPERATOR = "operator"


class Institution(BaseModel):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    name: str = Field(min_length=1, max_length=200)
    kind: InstitutionKind


class KeyRecord(BaseModel):
    key_id: str
    institution_id: str
    role: Role
    secret_sha256: str
    label: str = ""
    created_at: AwareDatetime
    expires_at: AwareDatetime | None = None
    revoked_at: AwareDatetime | None = None

    def active(self, now: datetime) -> bool:
        if self.revoked_at is not None and self.revoked_at <= now:
            return False
        return self.expires_at is None or now < self.expires_at


class Registry(BaseModel):
    institutions: list[Institution] = Field(default_factory=list)
    keys: list[KeyRecord] = Field(default_factory=list)

    def institution(self, institution_id: str) -> Institution | None:
        return next((item for item in self.institutions if item.id == institution_id), None)

    def key(self, key_id: str) -> KeyRecord | None:
        return next((item for item in self.keys if item.key_id == key_id), None)

    def add_institution(self, institution: Institution) -> None:
        if self.institution(institution.id) is not None:
            raise ValueError(f"institution {institution.id} already exists")
        self.institutions.append(institution)

    def issue_key(self, institution_id: str, role: Role, label: str = "") -> str:
        """Add a key and return it; only its hash is kept."""
        if self.institution(institution_id) is None:
            raise ValueError(f"no institution {institution_id}")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        self.keys.append(
            KeyRecord(
                key_id=key_id,
                institution_id=institution_id,
                role=role,
                secret_sha256=secret_digest(secret),
                label=label,
                created_at=datetime.now(UTC),
            )
        )
        return f"{KEY_PREFIX}{key_id}_{secret}"

    def rotate_key(self, key_id: str, overlap: timedelta) -> str:
        """Issue a successor; the old key keeps working for ``overlap``, then expires."""
        old = self._existing(key_id)
        new_key = self.issue_key(old.institution_id, old.role, old.label)
        old.expires_at = datetime.now(UTC) + overlap
        return new_key

    def revoke_key(self, key_id: str) -> None:
        self._existing(key_id).revoked_at = datetime.now(UTC)

    def verify(self, presented: str, now: datetime | None = None) -> KeyRecord | None:
        """The active key record matching ``presented``, or None."""
        if not presented.startswith(KEY_PREFIX):
            return None
        key_id, _, secret = presented[len(KEY_PREFIX) :].partition("_")
        record = self.key(key_id)
        if record is None or not record.active(now or datetime.now(UTC)):
            return None
        if not hmac.compare_digest(record.secret_sha256, secret_digest(secret)):
            return None
        return record

    def _existing(self, key_id: str) -> KeyRecord:
        record = self.key(key_id)
        if record is None:
            raise ValueError(f"no key {key_id}")
        return record


def secret_digest(secret: str) -> str:
    # Keys are 256 random bits, so a plain hash cannot be brute-forced; no slow KDF needed.
    return hashlib.sha256(secret.encode()).hexdigest()


def load_registry(path: Path) -> Registry:
    if not path.exists():
        return Registry()
    return Registry.model_validate_json(path.read_text())


def save_registry(registry: Registry, path: Path) -> None:
    """Write atomically, so that services never read a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w") as file:
        file.write(registry.model_dump_json(indent=2) + "\n")
    os.chmod(temporary, 0o640)
    os.replace(temporary, path)


class RegistryFile:
    """A registry file, re-read when it changes (checked at most once a second)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._registry = Registry()
        self._stamp: tuple[int, int] | None = None
        self._checked = 0.0

    def current(self) -> Registry:
        now = time.monotonic()
        if now - self._checked >= RELOAD_INTERVAL_S or self._stamp is None:
            self._checked = now
            stat = self.path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
            if stamp != self._stamp:
                self._registry = load_registry(self.path)
                self._stamp = stamp
        return self._registry


def main() -> None:
    parser = argparse.ArgumentParser(description="Manage institutions and their API keys.")
    parser.add_argument("--registry", type=Path, required=True, help="the credentials file")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add-institution")
    add.add_argument("institution_id")
    add.add_argument("--name", required=True)
    add.add_argument("--kind", required=True, choices=[kind.value for kind in InstitutionKind])
    issue = commands.add_parser("issue-key")
    issue.add_argument("institution_id")
    issue.add_argument("--role", required=True, choices=[role.value for role in Role])
    issue.add_argument("--label", default="")
    rotate = commands.add_parser("rotate-key")
    rotate.add_argument("key_id")
    rotate.add_argument("--overlap-hours", type=float, default=24.0)
    revoke = commands.add_parser("revoke-key")
    revoke.add_argument("key_id")
    commands.add_parser("list")
    args = parser.parse_args()

    registry = load_registry(args.registry)
    if args.command == "add-institution":
        registry.add_institution(
            Institution(id=args.institution_id, name=args.name, kind=args.kind)
        )
        print(f"added institution {args.institution_id}")
    elif args.command == "issue-key":
        key = registry.issue_key(args.institution_id, Role(args.role), args.label)
        print(f"API key (shown once, store it now): {key}")
    elif args.command == "rotate-key":
        key = registry.rotate_key(args.key_id, timedelta(hours=args.overlap_hours))
        print(f"new API key (shown once): {key}")
        print(f"{args.key_id} keeps working for {args.overlap_hours:g} hours")
    elif args.command == "revoke-key":
        registry.revoke_key(args.key_id)
        print(f"revoked {args.key_id}")
    else:
        hashes = {"keys": {"__all__": {"secret_sha256"}}}
        listing = registry.model_dump(mode="json", exclude=hashes)
        print(json.dumps(listing, indent=2, ensure_ascii=False))
        return
    save_registry(registry, args.registry)


if __name__ == "__main__":
    main()
