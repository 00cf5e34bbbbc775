"""Event contracts: the CloudEvents envelope and the payload of every event type.

Importing this package loads every producer's module, so the catalog is complete.
"""

from shared.events import evaluation, followup, intake
from shared.events.envelope import CloudEvent, InvalidEvent
from shared.events.registry import EventPayload, StageChange, catalog, payload_model

__all__ = [
    "CloudEvent",
    "EventPayload",
    "InvalidEvent",
    "StageChange",
    "catalog",
    "evaluation",
    "followup",
    "intake",
    "payload_model",
]
