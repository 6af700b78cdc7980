"""The Kubernetes manifests in deploy/k8s validate against the Kubernetes API schemas and agree with
each other and with the image: probes on the service's routes, CPU sized to the thread settings,
selectors that select, the custom-model and model-repository overlays producing valid Deployments,
and the sharded prediction Jobs, whose own commands are run here as local processes."""

import copy
import gzip
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from service.settings import Settings, unknown_variables

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
OVERLAY = K8S / "custom-model"
REPOSITORY = K8S / "model-repository"
PREDICT = K8S / "predict"
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


def _overlay_resources(overlay: Path = OVERLAY) -> list[dict[str, Any]]:
    kustomization = _kustomization(overlay)
    assert [r for r in kustomization["resources"] if (overlay / r).is_dir()] == ["../"]
    resources = _resources(K8S) + _resources(overlay)
    for patch in kustomization["patches"]:
        target = patch["target"]
        (index,) = [
            i
            for i, r in enumerate(resources)
            if r["kind"] == target["kind"] and r["metadata"]["name"] == target["name"]
        ]
        operations = yaml.safe_load((overlay / patch["path"]).read_text(encoding="utf-8"))
        resources[index] = _json_patch(resources[index], operations)
    return resources


def test_every_listed_file_exists() -> None:
    for directory in (K8S, OVERLAY, REPOSITORY, PREDICT):
        kustomization = _kustomization(directory)
        listed = kustomization["resources"] + [p["path"] for p in kustomization.get("patches", [])]
        for name in listed:
            assert (directory / name).exists(), f"{directory / name} is listed but missing"
    manifests = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert manifests == set(_kustomization(K8S)["resources"]), "a manifest is not in the kustomization"


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    "overlay", [None, OVERLAY, REPOSITORY], ids=["default-model", "custom-model", "repository"]
)
def test_manifests_validate_against_the_kubernetes_schemas(version: str, overlay: Path | None) -> None:
    resources = _overlay_resources(overlay) if overlay else _resources(K8S)
    assert {r["kind"] for r in resources} >= {"Deployment", "Service", "HorizontalPodAutoscaler"}
    for resource in resources + _resources(PREDICT):
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


def test_cpu_matches_workers_times_torch_threads_and_a_core_for_python() -> None:
    container = _container(_one("Deployment"))
    env = _env(container)
    cores = int(env["TEXTCNN_WORKERS"]) * (int(env["TEXTCNN_TORCH_THREADS"]) + 1)
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


def test_the_repository_overlay_serves_the_claim_and_is_ready_with_the_default_model() -> None:
    resources = _overlay_resources(REPOSITORY)
    deployment, claim = _one("Deployment", resources), _one("PersistentVolumeClaim", resources)
    container = _container(deployment)
    env = _env(container)
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "models"]
    assert mount["readOnly"] is True and env["TEXTCNN_MODEL_REPOSITORY"] == mount["mountPath"]
    (volume,) = [v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "models"]
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert claim["spec"]["accessModes"] == ["ReadOnlyMany"]
    # Readiness is the default model loaded (/ready), so the overlay must name one.
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert "TEXTCNN_MODEL_DIR" not in env and env["TEXTCNN_DEFAULT_MODEL"]
    assert not unknown_variables(env), "a variable the service does not read"
    settings = Settings(**{k.removeprefix("TEXTCNN_").lower(): v for k, v in env.items()})
    assert settings.model_repository == Path(mount["mountPath"]) and settings.poll_interval_s > 0
    assert settings.max_loaded_models is not None
    limits = container["resources"]["limits"]
    assert _mebibytes(limits["memory"]) > _mebibytes(
        _container(_one("Deployment"))["resources"]["limits"]["memory"]
    )


def _jobs() -> tuple[dict[str, Any], dict[str, Any]]:
    resources = _resources(PREDICT)
    (shards,) = [r for r in resources if r["kind"] == "Job" and r["spec"].get("completionMode") == "Indexed"]
    (merge,) = [r for r in resources if r["kind"] == "Job" and r is not shards]
    return shards, merge


def test_the_shard_job_runs_one_indexed_pod_per_shard_and_the_merge_agrees() -> None:
    shards, merge = _jobs()
    spec = shards["spec"]
    container, merger = _container(shards), _container(merge)
    env, merge_env = _env_with_fields(container), _env_with_fields(merger)
    assert spec["completions"] == spec["parallelism"] == int(env["SHARDS"]) == int(merge_env["SHARDS"])
    assert env["SHARD"] == "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    assert env["OUT"] == merge_env["OUT"]
    assert container["command"] == ["python", "-m", "training.batch_predict"]
    assert "--shard" in container["args"] and container["args"][container["args"].index("--shard") + 1] == (
        "$(SHARD)/$(SHARDS)"
    )
    claims = {
        v["name"]: v["persistentVolumeClaim"]["claimName"]
        for job in (shards, merge)
        for v in job["spec"]["template"]["spec"]["volumes"]
        if "persistentVolumeClaim" in v
    }
    (data_claim,) = [r for r in _resources(PREDICT) if r["kind"] == "PersistentVolumeClaim"]
    assert claims["data"] == data_claim["metadata"]["name"] and data_claim["spec"]["accessModes"] == [
        "ReadWriteMany"
    ]
    assert claims["models"] == _one("PersistentVolumeClaim", _resources(REPOSITORY))["metadata"]["name"]
    for job in (shards, merge):
        pod = job["spec"]["template"]["spec"]
        assert pod["restartPolicy"] == "Never" and pod["securityContext"]["runAsNonRoot"] is True
    threads = container["args"][container["args"].index("--threads") + 1]
    assert container["resources"]["requests"]["cpu"] == container["resources"]["limits"]["cpu"] == threads


def _env_with_fields(container: dict[str, Any]) -> dict[str, str]:
    """Each variable's value, or the field path it comes from."""
    return {
        e["name"]: e.get("value", e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath"))
        for e in container["env"]
    }


def _local(value: str, mounts: dict[str, Path]) -> str:
    """A path inside a pod as the local folder its volume stands for."""
    for inside, outside in mounts.items():
        if value.startswith(inside + "/"):
            return str(outside) + value[len(inside) :]
    return value


def _expand(argument: str, env: dict[str, str]) -> str:
    """Kubernetes' $(NAME) expansion of command arguments."""
    return re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], argument)


@pytest.mark.slow
def test_the_jobs_own_commands_as_local_processes_merge_to_the_unsharded_output(
    bbc_model_dir: Path, data_dir: Path, tmp_path: Path
) -> None:
    shards, merge = _jobs()
    container, merger = _container(shards), _container(merge)
    count = 2  # the manifest's N, smaller here; the commands are the manifest's
    mounts = {"/models": tmp_path / "models", "/data": tmp_path / "data"}
    env = {k: _local(v, mounts) for k, v in _env_with_fields(container).items()} | {"SHARDS": str(count)}
    shutil.copytree(bbc_model_dir, env["MODEL"])
    Path(env["DATA"]).parent.mkdir(parents=True, exist_ok=True)
    Path(env["DATA"]).write_bytes(gzip.compress((data_dir / "bbc_dev.jsonl").read_bytes()))
    python = [sys.executable, *container["command"][1:]]
    workers = [
        subprocess.Popen(python + [_expand(a, {**env, "SHARD": str(i)}) for a in container["args"]])
        for i in range(count)
    ]
    merge_env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    merge_env |= {k: _local(v, mounts) for k, v in _env_with_fields(merger).items()} | {"SHARDS": str(count)}
    merging = subprocess.Popen([*merger["command"], *merger["args"]], env=merge_env)  # waits for the shards
    assert [w.wait(timeout=600) for w in workers] == [0] * count
    assert merging.wait(timeout=600) == 0
    unsharded = tmp_path / "unsharded.jsonl"
    alone = [a for a in container["args"] if not a.startswith("$(SHARD)")]
    alone = alone[: alone.index("--shard")] + alone[alone.index("--shard") + 1 :]
    subprocess.run(python + [_expand(a, {**env, "OUT": str(unsharded)}) for a in alone], check=True)
    merged = Path(env["OUT"]).read_bytes()
    assert merged == unsharded.read_bytes() and merged.count(b"\n") == 20
