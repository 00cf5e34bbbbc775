"""One entry point for every process of the system (the container's entry point).

    python -m shared SERVICE [ROLE]   ROLE: all (default), api, relay, consumer, migrate
    python -m shared topics           create the topics of deploy/topics.toml

SERVICE is intake, evaluation, followup or notify; settings come from the environment
(INTAKE_..., see the README). ``migrate`` upgrades the service's database and exits; the
others serve HTTP (a relay or consumer only its health and readiness) until SIGTERM.
"""

import asyncio
import os
import sys

ROLES = ("all", "api", "relay", "consumer", "migrate")
SERVICES = ("intake", "evaluation", "followup", "notify")


def main(argv: list[str]) -> None:
    if argv[:1] == ["topics"]:
        from shared.messaging.topics import main as create_topics

        sys.argv = ["topics", *argv[1:]]
        create_topics()
        return
    if not argv or argv[0] not in SERVICES or (len(argv) > 1 and argv[1] not in ROLES):
        sys.exit(__doc__)
    service, role = argv[0], argv[1] if len(argv) > 1 else "all"
    if role == "migrate":
        from shared.migrations import service_settings, upgrade

        asyncio.run(upgrade(service, service_settings(service).resolved_database_url))
        return
    os.environ[f"{service.upper()}_ROLE"] = role
    from shared.serve import serve

    serve(service)


if __name__ == "__main__":
    main(sys.argv[1:])
