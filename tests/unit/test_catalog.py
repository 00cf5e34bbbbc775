"""The event catalog: naming rules, topics, and the JSON Schemas kept in the repository."""

import re

from shared.events import catalog, schemas
from shared.events.codes import ProgramStage
from shared.events.registry import StageChange
from shared.messaging.topics import load_topic_specs

TYPE_PATTERN = re.compile(
    r"^jp\.mhlw\.accessprogram\.(intake|evaluation|followup)\.[a-z-]+\.[a-z-]+\.v\d+$"
)
PAST_TENSE = re.compile(r"(ed|drawn|overdue)$")


def test_every_type_is_namespaced_versioned_and_past_tense() -> None:
    for event_type in catalog():
        assert TYPE_PATTERN.match(event_type), event_type
        action = event_type.rsplit(".", 2)[1]
        assert PAST_TENSE.search(action), f"{event_type}: '{action}' is not past tense"


def test_the_catalog_covers_every_stage_of_the_program() -> None:
    stages_reached = set()
    for model in catalog().values():
        if "stage" in model.model_fields and model.model_fields["stage"].annotation is StageChange:
            stages_reached.add(model.__name__)
    assert {
        "CandidateRegistered",
        "CandidateShortlisted",
        "SupportDecided",
        "TrialStarted",
        "CandidateStageChanged",
        "ImplementationDecided",
        "CandidateWithdrawn",
    } <= stages_reached
    assert len(ProgramStage) == 9


def test_every_producer_topic_is_in_the_topic_spec() -> None:
    spec = {topic.name for topic in load_topic_specs()}
    assert {model.topic() for model in catalog().values()} <= spec
    for group in ("evaluation", "followup", "notify"):
        assert f"pipeline.{group}.dlq" in spec


def test_committed_json_schemas_match_the_payload_models() -> None:
    assert schemas.stale() == [], "run `make schemas` and commit the result"
    assert len(list(schemas.SCHEMA_DIR.glob("*.json"))) == len(catalog())
