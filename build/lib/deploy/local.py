"""Real Kafka and PostgreSQL servers on loopback, started from what a plain machine has.

Kafka runs as a single-node KRaft broker from jars fetched off Maven Central
(``deploy/kafka/pom.xml``); PostgreSQL runs from the installed Debian package. Both
listen on 127.0.0.1 only, and are stopped through the PID of the very process that was
started, never by name. ``make run`` and the test fixtures use the same classes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

DEPLOY_DIR = Path(__file__).resolve().parent
KAFKA_POM = DEPLOY_DIR / "kafka" / "pom.xml"
KAFKA_LIBS_ROOT = DEPLOY_DIR / "kafka" / "libs"
POSTGRES_BIN = Path(os.environ.get("POSTGRES_BIN", "/usr/lib/postgresql/15/bin"))

BROKER_READY_TIMEOUT_S = 90.0
STOP_GRACE_S = 20.0


class RuntimeStartError(RuntimeError):
    """A local server could not be started; the message carries its log's tail."""


def _ephemeral_ports() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A free port below the ephemeral range.

    Port 0 would hand out an ephemeral port, the kind outgoing connections take as their
    local end: a server stopped for a moment (a broker restart) could then find its port
    taken by a client. Below that range only servers bind.
    """
    low, _ = _ephemeral_ports()
    for _ in range(200):
        port = random.randint(15000, low - 1)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeStartError("no free port found below the ephemeral range")


def stop_process(process: subprocess.Popen[bytes] | None, grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM the process we started, then SIGKILL it if it outlives the grace period."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=grace_s)


def _log_tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def kafka_libs() -> Path:
    """The broker's jars, fetched once per version of the pom and cached beside it."""
    digest = hashlib.sha256(KAFKA_POM.read_bytes()).hexdigest()[:12]
    libs = KAFKA_LIBS_ROOT / digest
    marker = libs / ".complete"
    if marker.exists():
        return libs
    if shutil.which("mvn") is None:
        raise RuntimeStartError("Maven (mvn) is needed to fetch the Kafka jars")
    partial = libs.with_name(digest + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    subprocess.run(
        [
            "mvn",
            "-B",
            "-q",
            "-f",
            str(KAFKA_POM),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={partial}",
            "-DincludeScope=runtime",
        ],
        check=True,
    )
    shutil.rmtree(libs, ignore_errors=True)
    partial.rename(libs)
    marker.touch()
    return libs


def _kafka_cluster_id() -> str:
    # KRaft cluster ids are a UUID in unpadded URL-safe base64, as StorageTool makes them.
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def _broker_answers(bootstrap: str) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await admin.start()
        await admin.list_topics()
        return True
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            await admin.close()


@dataclass
class KafkaBroker:
    """A single-node KRaft broker; ``start`` after ``stop`` resumes on the same data."""

    run_dir: Path
    port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)
    heap: str = "512m"
    process: subprocess.Popen[bytes] | None = None
    ready_after_s: float | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.run_dir / "broker.log"

    def _write_config(self) -> Path:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        config = self.run_dir / "server.properties"
        config.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},"
                    f"CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "inter.broker.listener.name=PLAINTEXT",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                    f"log.dirs={self.run_dir / 'data'}",
                    "num.partitions=3",
                    "default.replication.factor=1",
                    "min.insync.replicas=1",
                    # One node: internal topics must have one replica, or groups never form.
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=1",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "transaction.state.log.num.partitions=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    # Topics come from deploy/topics.toml, as in production.
                    "auto.create.topics.enable=false",
                    "num.network.threads=2",
                    "num.io.threads=2",
                    # The cleaner's default 128 MiB buffer does not fit a small heap.
                    "log.cleaner.dedupe.buffer.size=8388608",
                ]
            )
            + "\n"
        )
        (self.run_dir / "log4j2.properties").write_text(
            "\n".join(
                [
                    "appender.console.type=Console",
                    "appender.console.name=STDOUT",
                    "appender.console.layout.type=PatternLayout",
                    "appender.console.layout.pattern=[%d] %p %m (%c)%n",
                    "rootLogger.level=INFO",
                    "rootLogger.appenderRefs=stdout",
                    "rootLogger.appenderRef.stdout.ref=STDOUT",
                    "logger.state.name=state.change.logger",
                    "logger.state.level=WARN",
                    "logger.request.name=kafka.request.logger",
                    "logger.request.level=WARN",
                ]
            )
            + "\n"
        )
        return config

    def start(self) -> None:
        libs = kafka_libs()
        classpath = f"{libs}/*"
        config = self._write_config()
        if not (self.run_dir / "data" / "meta.properties").exists():
            subprocess.run(
                [
                    "java",
                    "-Xmx256m",
                    "-cp",
                    classpath,
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    _kafka_cluster_id(),
                    "-c",
                    str(config),
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        started = time.monotonic()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    "java",
                    f"-Xms{self.heap}",
                    f"-Xmx{self.heap}",
                    "-XX:+UseG1GC",
                    "-Djava.awt.headless=true",
                    f"-Dlog4j2.configurationFile={self.run_dir / 'log4j2.properties'}",
                    f"-Dkafka.logs.dir={self.run_dir}",
                    "-cp",
                    classpath,
                    "kafka.Kafka",
                    str(config),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                # Its own session: a Ctrl-C meant for the launcher must not reach it first.
                start_new_session=True,
            )
        deadline = started + BROKER_READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeStartError(
                    f"Kafka exited with {self.process.returncode}:\n{_log_tail(self.log_path)}"
                )
            if _port_open(self.port) and asyncio.run(_broker_answers(self.bootstrap_servers)):
                self.ready_after_s = time.monotonic() - started
                return
            time.sleep(0.5)
        self.stop()
        raise RuntimeStartError(
            f"Kafka not ready after {BROKER_READY_TIMEOUT_S:.0f}s:\n{_log_tail(self.log_path)}"
        )

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None


def _postgres_user() -> tuple[list[str], int | None, int | None]:
    """PostgreSQL refuses to run as root: as root, drop to the postgres user."""
    if os.geteuid() != 0:
        return [], None, None
    account = pwd.getpwnam("postgres")
    # setpriv execs in place, so the PID we hold is the server's own.
    prefix = [
        "setpriv",
        f"--reuid={account.pw_uid}",
        f"--regid={account.pw_gid}",
        "--init-groups",
    ]
    return prefix, account.pw_uid, account.pw_gid


def _let_others_traverse(directory: Path) -> None:
    """Temporary folders are often 0700; the postgres user needs to pass through them."""
    for folder in [directory, *directory.parents]:
        mode = folder.stat().st_mode
        if folder.stat().st_uid == os.geteuid() and not mode & 0o001:
            folder.chmod(mode | 0o001)


@dataclass
class PostgresServer:
    """A throw-away PostgreSQL cluster on loopback, trusting local connections."""

    run_dir: Path
    port: int = field(default_factory=free_port)
    durable: bool = False
    process: subprocess.Popen[bytes] | None = None

    @property
    def data_dir(self) -> Path:
        return self.run_dir / "data"

    @property
    def log_path(self) -> Path:
        return self.run_dir / "postgres.log"

    def url(self, database: str, driver: str = "asyncpg") -> str:
        return f"postgresql+{driver}://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        prefix, uid, gid = _postgres_user()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if uid is not None:
            _let_others_traverse(self.run_dir.parent)
            os.chown(self.run_dir, uid, gid)
        if not (self.data_dir / "PG_VERSION").exists():
            subprocess.run(
                [
                    *prefix,
                    str(POSTGRES_BIN / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.run_dir),
            "max_connections": "200",
        }
        if not self.durable:
            # Test clusters are thrown away: durability only costs time there.
            settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        options = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
        log = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            self.process = subprocess.Popen(
                [*prefix, str(POSTGRES_BIN / "postgres"), "-D", str(self.data_dir), *options],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            os.close(log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeStartError(
                    f"PostgreSQL exited with {self.process.returncode}:\n{_log_tail(self.log_path)}"
                )
            ready = subprocess.run(
                [str(POSTGRES_BIN / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
                check=False,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeStartError(f"PostgreSQL not ready:\n{_log_tail(self.log_path)}")

    def create_database(self, name: str) -> str:
        """Create ``name`` unless it exists; return its async SQLAlchemy URL."""
        psql = [str(POSTGRES_BIN / "psql"), "-h", "127.0.0.1", "-p", str(self.port)]
        psql += ["-U", "postgres", "-d", "postgres", "-tAc"]
        exists = subprocess.run(
            [*psql, f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
            check=True,
            capture_output=True,
            text=True,
        )
        if exists.stdout.strip() != "1":
            subprocess.run([*psql, f'CREATE DATABASE "{name}"'], check=True, capture_output=True)
        return self.url(name)

    def stop(self) -> None:
        # SIGTERM is PostgreSQL's "smart" shutdown; SIGINT ("fast") does not wait for clients.
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        stop_process(self.process)
        self.process = None
