"""The Kubernetes manifests validate against the Kubernetes schemas and match the image."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.conftest import ROOT

MANIFESTS = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.33.0"


def _documents() -> dict[str, dict]:
    documents = {}
    for path in sorted(MANIFESTS.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            documents[document["kind"]] = document
    return documents


@pytest.mark.parametrize("path", sorted(MANIFESTS.glob("*.yaml")), ids=lambda p: p.name)
def test_manifest_validates_strictly(path: Path) -> None:
    for document in yaml.safe_load_all(path.read_text()):
        if document["kind"] == "Kustomization":
            assert all((MANIFESTS / name).is_file() for name in document["resources"])
            continue
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_deployment_probes_resources_and_user() -> None:
    documents = _documents()
    pod = documents["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"cpu", "memory"} <= set(container["resources"]["requests"]) & set(container["resources"]["limits"])
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] != 0
    assert "USER 10001" in (ROOT / "Dockerfile").read_text()
    assert container["ports"][0]["containerPort"] == int(
        next(e["value"] for e in container["env"] if e["name"] == "PORT")
    )


def test_service_and_autoscaler_point_at_the_deployment() -> None:
    documents = _documents()
    name = documents["Deployment"]["metadata"]["name"]
    labels = documents["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert documents["Service"]["spec"]["selector"].items() <= labels.items()
    assert documents["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"] == name


def test_the_validator_catches_a_misspelt_field() -> None:
    deployment = _documents()["Deployment"]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {"path": "/readyz"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def _secret_refs(container: dict) -> dict[str, tuple[str, str]]:
    """Environment variable -> (Secret name, key) for every variable read from a Secret."""
    return {
        e["name"]: (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
        for e in container["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }


def test_records_secrets_reach_the_service_and_the_migration_job() -> None:
    secrets = {
        document["metadata"]["name"]: set(document["stringData"])
        for path in sorted(MANIFESTS.glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if document["kind"] == "Secret"
    }
    documents = _documents()
    service = documents["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    job = documents["Job"]["spec"]["template"]["spec"]["containers"][0]
    for container, needed in ((service, {"DATABASE_URL", "LESION_RECORDS_KEY"}), (job, {"DATABASE_URL"})):
        refs = _secret_refs(container)
        assert set(refs) == needed
        assert all(key in secrets[name] for name, key in refs.values())
    assert job["command"] == ["python", "-m", "records", "migrate"]
    assert (ROOT / "records" / "__main__.py").is_file()
    assert job["image"] == service["image"]
    assert documents["Job"]["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    listed = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())["resources"]
    assert listed.index("migrate-job.yaml") < listed.index("deployment.yaml")
