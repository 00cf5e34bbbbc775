"""The deployment files, validated offline: Kubernetes manifests (kustomize + strict
schemas), the compose file (compose-spec schema), the image, and the configuration
reference, kept in step with the settings classes.
"""

from __future__ import annotations

import copy
import importlib
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version

from shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
KUSTOMIZE = BIN / "kustomize"
COMPOSE_SCHEMA = BIN.parent / "share" / "compose-spec.json"
SERVICES = ["intake", "evaluation", "followup", "notify"]
# What a deployment must set for each service; the rest have safe defaults.
REQUIRED = [
    "environment",
    "host",
    "port",
    "database_url",
    "kafka_bootstrap_servers",
    "credentials_file",
]


def _build(overlay: str) -> list[dict[str, Any]]:
    assert KUSTOMIZE.exists(), "run `make tools` (make test does) to fetch kustomize"
    rendered = subprocess.run(
        [str(KUSTOMIZE), "build", str(ROOT / "deploy" / "k8s" / overlay)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


@pytest.fixture(scope="module", params=["base", "overlays/production"])
def manifests(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return _build(request.param)


def _pod_specs(manifests: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]["spec"])
        for doc in manifests
        if doc["kind"] in {"Deployment", "Job"}
    ]


def test_every_manifest_passes_the_strict_kubernetes_schema(manifests: list[dict]) -> None:
    for doc in manifests:
        kubernetes_validate.validate(doc, latest_version(), strict=True)


def test_the_validator_is_strict_enough_to_catch_a_typo() -> None:
    deployment = next(doc for doc in _build("base") if doc["kind"] == "Deployment")
    broken = copy.deepcopy(deployment)
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, latest_version(), strict=True)


def test_every_workload_is_probed_limited_and_unprivileged(manifests: list[dict]) -> None:
    for name, pod in _pod_specs(manifests):
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["automountServiceAccountToken"] is False, name
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            assert {"cpu", "memory"} <= container["resources"]["requests"].keys(), name
            assert {"cpu", "memory"} <= container["resources"]["limits"].keys(), name
            if name.startswith("Deployment/"):
                assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
                assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name


def test_each_service_has_its_deployment_migration_job_budget_and_topics_job(
    manifests: list[dict],
) -> None:
    names = {(doc["kind"], doc["metadata"]["name"]) for doc in manifests}
    for service in SERVICES:
        assert {
            ("Deployment", service),
            ("Service", service),
            ("PodDisruptionBudget", service),
            ("Job", f"migrate-{service}"),
            ("ConfigMap", f"{service}-config"),
        } <= names
    assert ("Job", "create-topics") in names
    assert not any(kind == "Secret" for kind, _ in names), "secret values never live in git"


def test_autoscaling_stays_within_the_partition_count(manifests: list[dict]) -> None:
    with (ROOT / "deploy" / "topics.toml").open("rb") as spec:
        partitions = min(
            topic["partitions"]
            for topic in tomllib.load(spec)["topic"]
            if topic["name"].endswith(".v1")
        )
    scalers = [doc for doc in manifests if doc["kind"] == "HorizontalPodAutoscaler"]
    assert {doc["spec"]["scaleTargetRef"]["name"] for doc in scalers} == {
        "intake",
        "evaluation",
        "followup",
    }
    for scaler in scalers:
        assert scaler["spec"]["maxReplicas"] <= partitions


def _environment(manifests: list[dict], service: str) -> set[str]:
    """Every variable a service's Deployment gets, from its ConfigMap and its env."""
    config = next(
        doc
        for doc in manifests
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == f"{service}-config"
    )
    deployment = next(
        doc
        for doc in manifests
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] == service
    )
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return set(config["data"]) | {item["name"] for item in container.get("env", [])}


def _settings_class(service: str) -> type[ServiceSettings]:
    return importlib.import_module(f"services.{service}.app").Settings


def _variables(service: str) -> set[str]:
    prefix = service.upper()
    return {f"{prefix}_{name.upper()}" for name in _settings_class(service).model_fields}


@pytest.mark.parametrize("service", SERVICES)
def test_every_required_setting_is_set_in_the_manifests_and_nothing_unknown(
    manifests: list[dict], service: str
) -> None:
    environment = _environment(manifests, service)
    required = {f"{service.upper()}_{name.upper()}" for name in REQUIRED}
    assert required <= environment, f"missing: {sorted(required - environment)}"
    assert environment <= _variables(service), (
        f"unknown: {sorted(environment - _variables(service))}"
    )


def _compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "deploy" / "compose" / "compose.yaml").read_text())


def test_the_compose_file_passes_the_compose_spec_schema() -> None:
    assert COMPOSE_SCHEMA.exists(), "run `make tools` (make test does) to fetch the schema"
    # The schema names draft 2019-09 in a form jsonschema does not look up by itself.
    validator = jsonschema.Draft201909Validator(json.loads(COMPOSE_SCHEMA.read_text()))
    validator.validate(_compose())
    broken = _compose()
    broken["services"]["intake"]["depends_on"]["kafka"]["condition"] = "whenever"
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(broken)


@pytest.mark.parametrize("service", SERVICES)
def test_compose_runs_each_service_after_its_migration_with_every_required_setting(
    service: str,
) -> None:
    services = _compose()["services"]
    app = services[service]
    assert app["command"] == [service, "all"]
    assert app["depends_on"][f"migrate-{service}"]["condition"] == "service_completed_successfully"
    assert app["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert app["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert app["read_only"] is True
    environment = set(app["environment"])
    required = {f"{service.upper()}_{name.upper()}" for name in REQUIRED}
    assert required <= environment, f"missing: {sorted(required - environment)}"
    for name in ("", "migrate-"):
        assert set(services[f"{name}{service}"]["environment"]) <= _variables(service)
    assert services[f"migrate-{service}"]["command"] == [service, "migrate"]
    assert {"kafka-data", "postgres-data"} <= set(_compose()["volumes"])


def test_the_image_runs_unprivileged_with_a_healthcheck_and_no_build_tools() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = re.split(r"^FROM ", dockerfile, flags=re.MULTILINE)
    final = stages[-1]
    assert final.startswith("python:3.11-slim\n")
    assert re.search(r"^USER 10001:10001$", final, re.MULTILINE)
    assert "HEALTHCHECK" in final and "/healthz" in final
    assert 'ENTRYPOINT ["python", "-m", "shared"]' in final
    assert not re.search(r"apt-get|gcc|build-essential|pip install", final)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "tests", "deploy/kafka/libs"} <= set(ignored)


@pytest.mark.parametrize("service", SERVICES)
def test_the_readme_documents_every_setting(service: str) -> None:
    readme = (ROOT / "README.md").read_text()
    common = set(ServiceSettings.model_fields)
    for name in _settings_class(service).model_fields:
        documented = (
            f"<P>_{name.upper()}" if name in common else f"{service.upper()}_{name.upper()}"
        )
        if name == "service_name":
            continue  # fixed per service, not configuration
        assert documented in readme, f"{documented} is not in the README's configuration reference"
