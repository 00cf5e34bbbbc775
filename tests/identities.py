"""A credentials registry with one identity of every kind, as an operator would issue them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shared.identity import Institution, InstitutionKind, Registry, Role, save_registry

INSTITUTIONS = {
    # name used in tests: (institution id, kind, role)
    "partner": ("ncchd", InstitutionKind.NATIONAL_CENTER, Role.PARTNER),
    "other-partner": ("osaka-u", InstitutionKind.CORE_HOSPITAL, Role.PARTNER),
    "secretariat": ("secretariat", InstitutionKind.SECRETARIAT, Role.SECRETARIAT),
    "ministry": ("mhlw-rd", InstitutionKind.MINISTRY, Role.MINISTRY),
    "operator": ("ops", InstitutionKind.OPERATOR, Role.OPERATOR),
}


@dataclass
class Identities:
    path: Path
    keys: dict[str, str]

    def headers(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[name]}"}

    def institution(self, name: str) -> str:
        return INSTITUTIONS[name][0]


def issue_identities(path: Path) -> Identities:
    registry = Registry()
    keys = {}
    for name, (institution_id, kind, role) in INSTITUTIONS.items():
        registry.add_institution(Institution(id=institution_id, name=name, kind=kind))
        keys[name] = registry.issue_key(institution_id, role, label=f"tests: {name}")
    save_registry(registry, path)
    return Identities(path=path, keys=keys)
