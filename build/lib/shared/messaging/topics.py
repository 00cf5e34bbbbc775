"""Creates the topics listed in deploy/topics.toml; the broker never auto-creates them.

python -m shared.messaging.topics --bootstrap-servers HOST:PORT [--prefix P] [--max-replication N]
"""

from __future__ import annotations

import argparse
import asyncio
import tomllib
from dataclasses import dataclass
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

TOPIC_SPEC = Path(__file__).resolve().parents[2] / "deploy" / "topics.toml"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    min_insync_replicas: int
    retention_ms: int

    def new_topic(self, prefix: str, max_replication: int | None) -> NewTopic:
        replicas = min(self.replication_factor, max_replication or self.replication_factor)
        return NewTopic(
            name=f"{prefix}{self.name}",
            num_partitions=self.partitions,
            replication_factor=replicas,
            topic_configs={
                "min.insync.replicas": str(min(self.min_insync_replicas, replicas)),
                "retention.ms": str(self.retention_ms),
            },
        )


def load_topic_specs(path: Path = TOPIC_SPEC) -> list[TopicSpec]:
    with path.open("rb") as spec:
        return [TopicSpec(**topic) for topic in tomllib.load(spec)["topic"]]


async def ensure_topics(
    bootstrap_servers: str, *, prefix: str = "", max_replication: int | None = None
) -> list[str]:
    """Create the missing topics of the spec; return the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            spec.new_topic(prefix, max_replication)
            for spec in load_topic_specs()
            if f"{prefix}{spec.name}" not in existing
        ]
        if missing:
            await admin.create_topics(missing)
        return [topic.name for topic in missing]
    finally:
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--prefix", default="")
    parser.add_argument("--max-replication", type=int, default=None)
    args = parser.parse_args()
    created = asyncio.run(
        ensure_topics(
            args.bootstrap_servers, prefix=args.prefix, max_replication=args.max_replication
        )
    )
    print(f"created {len(created)} topic(s): {', '.join(created) or '-'}")


if __name__ == "__main__":
    main()
