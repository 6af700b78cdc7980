"""The Kubernetes manifests in deploy/k8s validate against the Kubernetes API schemas and agree with
each other and with the image: probes on the service's routes, CPU sized to the thread settings,
selectors that select, and the custom-model overlay producing a valid Deployment."""

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
OVERLAY = K8S / "custom-model"
# The oldest Kubernetes the manifests are written for, and the newest the validator knows.
VERSIONS = ["1.29.0", kubernetes_validate.latest_version()]


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def _kustomization(directory: Path) -> dict[str, Any]:
    (doc,) = _documents(directory / "kustomization.yaml")
    return doc


def _resources(directory: Path) -> list[dict[str, Any]]:
    """The resources a kustomization lists, from files (directories are other kustomizations)."""
    return [
        doc
        for name in _kustomization(directory)["resources"]
        if (directory / name).is_file()
        for doc in _documents(directory / name)
    ]


def _one(kind: str, resources: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    (found,) = [r for r in resources or _resources(K8S) if r["kind"] == kind]
    return found


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"]}


def _json_patch(document: dict[str, Any], operations: list[dict[str, Any]]) -> dict[str, Any]:
    """Apply the `add` operations of a JSON 6902 patch (all the overlay uses), as kustomize does."""
    patched = copy.deepcopy(document)
    for operation in operations:
        assert operation["op"] == "add", operation
        *parents, last = operation["path"].lstrip("/").split("/")
        target: Any = patched
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if last == "-":
            target.append(operation["value"])
        elif isinstance(target, list):
            target.insert(int(last), operation["value"])
        else:
            target[last] = operation["value"]
    return patched


def _overlay_resources() -> list[dict[str, Any]]:
    kustomization = _kustomization(OVERLAY)
    assert [r for r in kustomization["resources"] if (OVERLAY / r).is_dir()] == ["../"]
    resources = _resources(K8S) + _resources(OVERLAY)
    for patch in kustomization["patches"]:
        target = patch["target"]
        (index,) = [
            i
            for i, r in enumerate(resources)
            if r["kind"] == target["kind"] and r["metadata"]["name"] == target["name"]
        ]
        operations = yaml.safe_load((OVERLAY / patch["path"]).read_text(encoding="utf-8"))
        resources[index] = _json_patch(resources[index], operations)
    return resources


def test_every_listed_file_exists() -> None:
    for directory in (K8S, OVERLAY):
        kustomization = _kustomization(directory)
        listed = kustomization["resources"] + [p["path"] for p in kustomization.get("patches", [])]
        for name in listed:
            assert (directory / name).exists(), f"{directory / name} is listed but missing"
    manifests = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert manifests == set(_kustomization(K8S)["resources"]), "a manifest is not in the kustomization"


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("overlay", [False, True], ids=["default-model", "custom-model"])
def test_manifests_validate_against_the_kubernetes_schemas(version: str, overlay: bool) -> None:
    resources = _overlay_resources() if overlay else _resources(K8S)
    assert {r["kind"] for r in resources} >= {"Deployment", "Service", "HorizontalPodAutoscaler"}
    for resource in resources:
        # strict: unknown or misspelt fields are errors, not silently dropped as kubectl would.
        kubernetes_validate.validate(resource, version, strict=True)


def test_an_invalid_manifest_is_rejected() -> None:
    deployment = copy.deepcopy(_one("Deployment"))
    _container(deployment)["readinessProbe"]["httpGet"]["paht"] = "/ready"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[-1], strict=True)


def test_probes_use_the_service_routes_on_the_served_port() -> None:
    container = _container(_one("Deployment"))
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": int(_env(container)["TEXTCNN_PORT"])}
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert container["startupProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert _env(container)["TEXTCNN_HOST"] == "0.0.0.0"


def test_cpu_matches_workers_times_torch_threads() -> None:
    container = _container(_one("Deployment"))
    env = _env(container)
    cores = int(env["TEXTCNN_WORKERS"]) * int(env["TEXTCNN_TORCH_THREADS"])
    resources = container["resources"]
    assert resources["requests"]["cpu"] == resources["limits"]["cpu"] == str(cores)
    assert _mebibytes(resources["requests"]["memory"]) <= _mebibytes(resources["limits"]["memory"])


def _mebibytes(quantity: str) -> int:
    units = {"Mi": 1, "Gi": 1024}
    return int(quantity[:-2]) * units[quantity[-2:]]


def test_runs_as_the_image_non_root_user_and_stops_gracefully() -> None:
    deployment = _one("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    # The uid the Dockerfile creates and names in USER.
    dockerfile = (K8S.parents[1] / "Dockerfile").read_text(encoding="utf-8")
    assert f"USER {pod['securityContext']['runAsUser']}:" in dockerfile
    pre_stop = _container(deployment)["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep" and int(pre_stop[1]) < pod["terminationGracePeriodSeconds"]
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_service_and_autoscaler_point_at_the_deployment() -> None:
    deployment, service, hpa = (_one(k) for k in ("Deployment", "Service", "HorizontalPodAutoscaler"))
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert {p["targetPort"] for p in service["spec"]["ports"]} == {"http"}
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert hpa["spec"]["minReplicas"] <= deployment["spec"]["replicas"] <= hpa["spec"]["maxReplicas"]


def test_custom_model_overlay_mounts_the_claim_and_serves_it() -> None:
    resources = _overlay_resources()
    deployment, claim = _one("Deployment", resources), _one("PersistentVolumeClaim", resources)
    container = _container(deployment)
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "model"]
    assert mount["readOnly"] is True
    assert _env(container)["TEXTCNN_MODEL_DIR"] == mount["mountPath"]
    (volume,) = [v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "model"]
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    # The base Deployment is untouched: it serves the embedded model.
    assert "TEXTCNN_MODEL_DIR" not in _env(_container(_one("Deployment")))


def test_the_deployment_sets_the_http_limits() -> None:
    env = _env(_container(_one("Deployment")))
    assert float(env["TEXTCNN_ARRIVAL_TIMEOUT_S"]) > 0
    assert int(env["TEXTCNN_MAX_HEADER_BYTES"]) >= 1024
    assert int(env["TEXTCNN_MAX_CONNECTIONS"]) >= 1
