"""Writes (or checks) the JSON Schema of every event payload under shared/events/schemas/.

python -m shared.events.schemas          # regenerate
python -m shared.events.schemas --check  # fail if the committed schemas are stale
"""

import json
import sys
from pathlib import Path

from shared.events import catalog

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"


def generated() -> dict[str, str]:
    """File name -> schema text, one file per event type."""
    files = {}
    for event_type, model in catalog().items():
        schema = {"$id": event_type, **model.model_json_schema()}
        files[f"{event_type}.json"] = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    return files


def stale() -> list[str]:
    expected = generated()
    present = {path.name for path in SCHEMA_DIR.glob("*.json")}
    changed = [
        name
        for name, text in expected.items()
        if not (SCHEMA_DIR / name).exists() or (SCHEMA_DIR / name).read_text() != text
    ]
    return sorted(changed + list(present - expected.keys()))


def write() -> None:
    SCHEMA_DIR.mkdir(exist_ok=True)
    expected = generated()
    for path in SCHEMA_DIR.glob("*.json"):
        if path.name not in expected:
            path.unlink()
    for name, text in expected.items():
        (SCHEMA_DIR / name).write_text(text)


if __name__ == "__main__":
    if "--check" in sys.argv:
        outdated = stale()
        if outdated:
            sys.exit(f"stale event schemas (run python -m shared.events.schemas): {outdated}")
    else:
        write()
