"""The Kubernetes manifests render (kustomize) and are valid against Kubernetes' own schemas
and the operators' CRD schemas (kubeconform, strict: unknown fields are errors), offline.

The first run on a machine builds kustomize and kubeconform with `go install` (about
100 s on two busy cores; cached in .tools/bin afterwards)."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from orderflow_deploy.schemas import write_core_schemas
from orderflow_deploy.toolchain import tool as build_tool

REPO = Path(__file__).resolve().parents[3]
TOOLS = REPO / ".tools"

# The oldest Kubernetes the README promises, and a current one.
KUBERNETES_VERSIONS = ("1.30.0", "1.33.0")


def tool(name: str) -> Path:
    return build_tool(name, TOOLS)


KUBERNETES = REPO / "deploy" / "kubernetes"
OVERLAYS = sorted(p.name for p in (KUBERNETES / "overlays").iterdir() if p.is_dir())
CRD_SCHEMAS = KUBERNETES / "schemas" / "crds"
CORE_KINDS = [
    "deployment-apps-v1",
    "service-v1",
    "serviceaccount-v1",
    "poddisruptionbudget-policy-v1",
    "networkpolicy-networking-v1",
    "namespace-v1",
    "configmap-v1",
]

pytestmark = pytest.mark.timeout(900)  # a cold machine builds two Go tools first


@pytest.fixture(scope="module", params=KUBERNETES_VERSIONS)
def core_schemas(request: pytest.FixtureRequest) -> Path:
    version: str = request.param
    return write_core_schemas(version, CORE_KINDS, TOOLS / "kubernetes-schemas")


@functools.cache
def render(overlay: str) -> str:
    result = subprocess.run(
        [str(tool("kustomize")), "build", str(KUBERNETES / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def kubeconform(manifests: str, core_schemas: Path) -> subprocess.CompletedProcess[str]:
    core = core_schemas.parent / (
        "{{.NormalizedKubernetesVersion}}-standalone{{.StrictSuffix}}/"
        "{{.ResourceKind}}{{.KindSuffix}}.json"
    )
    crds = CRD_SCHEMAS / "{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json"
    return subprocess.run(
        [
            str(tool("kubeconform")),
            "-strict",
            "-summary",
            "-output",
            "text",
            "-kubernetes-version",
            core_schemas.name.removeprefix("v").split("-")[0],
            "-schema-location",
            str(core),
            "-schema-location",
            str(crds),
            "-",
        ],
        input=manifests,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, str]:
    return request.param, render(request.param)


def documents(manifests: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(manifests) if d]


def test_there_is_a_production_and_an_evaluation_overlay() -> None:
    assert OVERLAYS == ["evaluation", "production"]


def test_every_rendered_resource_is_valid(rendered: tuple[str, str], core_schemas: Path) -> None:
    overlay, manifests = rendered
    result = kubeconform(manifests, core_schemas)
    count = len(documents(manifests))
    assert result.returncode == 0, f"{overlay}:\n{result.stdout}{result.stderr}"
    # Skipped would mean a kind without a schema: everything must be checked.
    assert f"{count} resources found parsing stdin - Valid: {count}," in result.stdout
    assert "Skipped: 0" in result.stdout


@pytest.mark.parametrize(
    ("kind", "where"),
    [("KafkaTopic", "spec"), ("ScaledObject", "spec"), ("Cluster", "spec"), ("Deployment", "spec")],
)
def test_an_unknown_field_is_refused(core_schemas: Path, kind: str, where: str) -> None:
    # Proves the schemas are really applied, strictly: a typo in a field would not pass.
    resource = next(d for d in documents(render("production")) if d["kind"] == kind)
    resource[where]["replicaz"] = 3
    result = kubeconform(yaml.safe_dump(resource), core_schemas)
    assert result.returncode != 0
    assert "replicaz" in result.stdout


def _env(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {entry["name"]: entry for entry in container["env"]}


def test_no_credential_is_written_into_a_manifest(rendered: tuple[str, str]) -> None:
    _, manifests = rendered
    resources = documents(manifests)
    assert not [r for r in resources if r["kind"] == "Secret"]
    for deployment in (r for r in resources if r["kind"] == "Deployment"):
        for name, entry in _env(deployment).items():
            if any(word in name for word in ("PASSWORD", "SECRET", "API_KEY", "USERS")):
                assert "secretKeyRef" in entry.get("valueFrom", {}), (name, entry)


def test_the_profiles_the_overlays_run(rendered: tuple[str, str]) -> None:
    overlay, manifests = rendered
    expected = {"production": ("production", "3"), "evaluation": ("development", "1")}[overlay]
    deployments = [r for r in documents(manifests) if r["kind"] == "Deployment"]
    assert len(deployments) == 5
    for deployment in deployments:
        env = _env(deployment)
        assert env["ORDERFLOW_ENV"]["value"] == expected[0]
        assert env["KAFKA_TOPICS_FILE"]["value"] == "/etc/orderflow/topics/topics.yaml"
    topics = [r for r in documents(manifests) if r["kind"] == "KafkaTopic"]
    assert {str(t["spec"]["replicas"]) for t in topics} == {expected[1]}


def test_every_pod_is_locked_down(rendered: tuple[str, str]) -> None:
    _, manifests = rendered
    for deployment in (r for r in documents(manifests) if r["kind"] == "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
        assert container["resources"]["requests"]
        assert container["resources"]["limits"]["memory"]


def test_keda_alone_sets_the_services_replica_count(rendered: tuple[str, str]) -> None:
    # A count in the Deployment would reset KEDA's on every `kubectl apply`.
    resources = documents(rendered[1])
    scaled = {r["spec"]["scaleTargetRef"]["name"] for r in resources if r["kind"] == "ScaledObject"}
    for deployment in (r for r in resources if r["kind"] == "Deployment"):
        name = deployment["metadata"]["name"]
        if name == "orderflow-console":
            assert deployment["spec"]["replicas"] == 1
            assert name not in scaled
        else:
            assert "replicas" not in deployment["spec"]
            assert name in scaled
    budgets = {r["metadata"]["name"] for r in resources if r["kind"] == "PodDisruptionBudget"}
    assert budgets == {r["metadata"]["name"] for r in resources if r["kind"] == "Deployment"}
