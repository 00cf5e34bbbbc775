"""``make run``: the whole system on this machine, in the foreground until Ctrl-C.

Starts a Kafka broker (data kept in .run/kafka), creates the topics, migrates each
service's database (an SQLite file in .run/ unless <SERVICE>_DATABASE_URL is set) and
runs every service that exists. Ctrl-C or SIGTERM stops everything it started, by PID.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from deploy.local import KafkaBroker, stop_process
from shared.messaging.topics import ensure_topics

ROOT = Path(__file__).resolve().parents[1]
RUN_DIR = Path(os.environ.get("RUN_DIR", ROOT / ".run"))
KAFKA_PORT = int(os.environ.get("KAFKA_PORT", "9092"))
SERVICE_PORTS = {"intake": 8001, "evaluation": 8002, "followup": 8003, "notify": 8004}


def existing_services() -> list[str]:
    return [name for name in SERVICE_PORTS if (ROOT / "services" / name / "app.py").exists()]


def wait_ready(
    name: str, port: int, process: subprocess.Popen[bytes], timeout_s: float = 60
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{name} not ready on port {port} after {timeout_s:.0f}s")


def main() -> None:
    stopping = False

    def request_stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    broker = KafkaBroker(RUN_DIR / "kafka", port=KAFKA_PORT, controller_port=KAFKA_PORT + 1)
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        print(f"Starting Kafka on {broker.bootstrap_servers} ...", flush=True)
        broker.start()
        print(f"Kafka ready after {broker.ready_after_s:.1f}s", flush=True)
        created = asyncio.run(ensure_topics(broker.bootstrap_servers, max_replication=1))
        print(f"Topics created: {', '.join(created) or 'none (all present)'}", flush=True)
        for name in existing_services():
            prefix = name.upper()
            env = {
                **os.environ,
                f"{prefix}_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
                f"{prefix}_DATA_DIR": str(RUN_DIR),
                f"{prefix}_PORT": str(SERVICE_PORTS[name]),
            }
            subprocess.run([sys.executable, "-m", "shared", name, "migrate"], env=env, check=True)
            processes[name] = subprocess.Popen(
                [sys.executable, "-m", "shared", name, "all"],
                env=env,
                cwd=ROOT,
                start_new_session=True,  # stopped in order by us, not by the terminal's Ctrl-C
            )
        for name, process in processes.items():
            wait_ready(name, SERVICE_PORTS[name], process)
            print(f"{name} ready: http://127.0.0.1:{SERVICE_PORTS[name]}/docs", flush=True)
        print("All services ready. Ctrl-C stops everything.", flush=True)
        while not stopping and all(process.poll() is None for process in processes.values()):
            time.sleep(0.5)
        for name, process in processes.items():
            if process.poll() is not None and not stopping:
                print(f"{name} exited with {process.returncode}; stopping", flush=True)
    finally:
        for process in processes.values():
            stop_process(process)
        broker.stop()
        print("Stopped.", flush=True)


if __name__ == "__main__":
    main()
