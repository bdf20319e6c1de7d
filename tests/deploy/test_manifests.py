"""deploy/ agrees with the published schemas and with the code it deploys.

No container runs here, so the files are read: the Kubernetes manifests are validated against
the published Kubernetes JSON schemas (kubernetes-validate, strict), the compose file against
the Compose Specification, and both are checked against what the app reads and declares (its
settings, its queues, its probe URLs), against the image's user and command, and against each
other.
"""

import ast
import fnmatch
import hashlib
import json
import os
import re
import runpy
import secrets
import shlex
import subprocess
import sys
from datetime import timedelta
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import kubernetes_validate
import pytest
import yaml
from django.urls import resolve

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
# docker-compose.yml reads deploy/.env, which the operator copies from this template.
ENV_EXAMPLE = DEPLOY / ".env.example"

# The oldest Kubernetes minor version the manifests must be valid for.
KUBERNETES_VERSION = "1.30"

# The Compose Specification's JSON schema, vendored because no installed package ships it:
# schema/compose-spec.json of github.com/compose-spec/compose-spec (Apache-2.0) at this commit.
# The digest makes an accidental edit of the vendored copy fail loudly.
COMPOSE_SPEC = Path(__file__).with_name("compose-spec.json")
COMPOSE_SPEC_COMMIT = "00655e2222608fa6eaecdf12ac5195889ca2244a"
COMPOSE_SPEC_SHA256 = "bc50c2d79102aed8df21b3a13e56c9396c7a06da6cff5ce37629f2ee7eb41735"

# Settings without which a deployment (DATABASE_URL or REDIS_URL set) refuses to start, or
# signs nothing. Each may come as NAME or, where the settings read one, as NAME_FILE.
REQUIRED = (
    "SECRET_KEY",
    "LUP_SUBJECT_PEPPER",
    "LUP_REQUEST_KEK",
    "DATABASE_URL",
    "REDIS_URL",
    "LUP_SIGNING_KEY_FILE",
)
SECRET_SETTINGS = (
    "SECRET_KEY",
    "LUP_SUBJECT_PEPPER",
    "LUP_REQUEST_KEK",
    "EMAIL_HOST_PASSWORD",
    "LUP_METRICS_TOKEN",
)
# Names the Python runtime reads, which the image may set.
RUNTIME_ENV = {"PATH", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"}
# `check --deploy` findings that production settings must not produce. HSTS for subdomains
# and preload (security.W005, W021) are the operator's own decision.
FORBIDDEN_DEPLOY_WARNINGS = (
    "security.W004",
    "security.W008",
    "security.W009",
    "security.W012",
    "security.W016",
    "security.W018",
    "security.W020",
    "lup.W050",
)
ENV_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
# The writable scratch directory every Lup container needs on its read-only root filesystem.
TMP = "/tmp"  # noqa: S108
APP_ROLES = ("web", "worker", "beat", "migrate")


# --- What the code reads and declares ---------------------------------------------------------


def _literal_calls(path: Path) -> list[tuple[str, ast.Call]]:
    tree = ast.parse(path.read_text())
    return [
        (ast.unparse(node.func), node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ]


@cache
def settings_env() -> dict[str, ast.expr | None]:
    """Every variable config/settings.py reads, with the default expression it gives.

    The settings read through small helpers (`env`, `env_int`, ...); one that also reads
    `NAME_FILE` (a mounted secret) makes both names count.
    """
    path = ROOT / "config" / "settings.py"
    readers = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("env"):
            readers[node.name] = any(
                isinstance(n, ast.Constant) and n.value == "_FILE" for n in ast.walk(node)
            )
    names: dict[str, ast.expr | None] = {}
    for func, call in _literal_calls(path):
        if func in readers:
            name = call.args[0].value
            default = (
                call.args[1]
                if len(call.args) > 1
                else next((k.value for k in call.keywords if k.arg == "default"), None)
            )
            names.setdefault(name, default)
            if readers[func]:
                names.setdefault(f"{name}_FILE", None)
    return names


def _environ_reads(path: Path) -> set[str]:
    """Variables a module reads with os.environ / os.getenv, or a local `_env*` helper."""
    direct = {"os.environ.get", "os.getenv", "os.environ.setdefault"}
    names = {
        call.args[0].value
        for func, call in _literal_calls(path)
        if func in direct or func.startswith("_env")
    }
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Subscript)
            and ast.unparse(node.value) == "os.environ"
            and isinstance(node.slice, ast.Constant)
        ):
            names.add(node.slice.value)
        if (
            isinstance(node, ast.Compare)
            and isinstance(node.left, ast.Constant)
            and [ast.unparse(c) for c in node.comparators] == ["os.environ"]
        ):
            names.add(node.left.value)
    return {name for name in names if ENV_NAME.fullmatch(name)}


@cache
def known_env() -> frozenset[str]:
    """Every variable some Lup process reads: the settings, config/ and core/ (which settings
    calls), the gunicorn config."""
    names = set(settings_env()) | RUNTIME_ENV | _environ_reads(DEPLOY / "gunicorn.conf.py")
    for module in [*(ROOT / "config").glob("*.py"), *(ROOT / "core").glob("*.py")]:
        names |= _environ_reads(module)
    return frozenset(names)


def settings_default(name: str) -> object:
    return ast.literal_eval(settings_env()[name])


def declared_queues() -> set[str]:
    from config.celery import app

    return {queue.name for queue in app.conf.task_queues}


def file_queues() -> set[str]:
    """Queues of the kinds that work on files under LUP_FILE_ROOTS (every FileRewrite kind,
    and sqlite_table's database file): what they declare as `file_roots`."""
    from connectors import CONNECTORS
    from connectors.rewrite import FileRewrite

    kinds = {kind for kind, cls in CONNECTORS.items() if cls.file_roots}
    assert {k for k, cls in CONNECTORS.items() if issubclass(cls, FileRewrite)} <= kinds
    return {f"erasure.{kind}" for kind in kinds}


# --- deploy/Dockerfile --------------------------------------------------------------------


@cache
def dockerfile() -> tuple[tuple[str, str], ...]:
    """(INSTRUCTION, arguments), continuation lines joined and comments dropped."""
    instructions, current = [], ""
    for raw in (DEPLOY / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        keyword, _, arguments = (current + line).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        current = ""
    return tuple(instructions)


def final_stage() -> list[tuple[str, str]]:
    instructions = list(dockerfile())
    start = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[start:]


def image_env() -> dict[str, str]:
    env = {}
    for keyword, arguments in final_stage():
        if keyword == "ENV":
            env.update(item.split("=", 1) for item in shlex.split(arguments))
    return env


def image_cmd() -> list[str]:
    return json.loads(next(a for k, a in final_stage() if k == "CMD"))


def image_uid() -> str:
    return [a for k, a in final_stage() if k == "USER"][-1].split(":")[0]


# --- Roles of processes -----------------------------------------------------------------


def role(command: list[str] | str | None) -> str:
    words = shlex.split(command) if isinstance(command, str) else list(command or image_cmd())
    if words and words[0] == "gunicorn":
        return "web"
    if words[:1] == ["celery"]:
        return "worker" if "worker" in words else "beat" if "beat" in words else "other"
    if "manage.py" in words and "migrate" in words:
        return "migrate"
    return "other"


def worker_queues(command: list[str]) -> set[str]:
    """The queues a `celery worker` consumes; without --queues, every declared one."""
    for i, word in enumerate(command):
        if word.startswith(("--queues=", "-Q=")):
            return set(word.split("=", 1)[1].split(","))
        if word in {"--queues", "-Q"}:
            return set(command[i + 1].split(","))
    return declared_queues()


def worker_hostname(command: list[str]) -> str:
    return next(word.split("=", 1)[1] for word in command if word.startswith("--hostname="))


# --- Kubernetes ---------------------------------------------------------------------------


@cache
def k8s_documents() -> tuple[tuple[str, dict], ...]:
    return tuple(
        (path.name, doc)
        for path in sorted(K8S.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    )


def k8s_objects(kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for _, doc in k8s_documents() if doc["kind"] == kind}


def secret_data(secret: dict) -> dict[str, str]:
    return {**secret.get("data", {}), **secret.get("stringData", {})}


def k8s_pods() -> list[tuple[dict, dict]]:
    """(workload, pod spec) of every Deployment and Job."""
    found = []
    for kind in ("Deployment", "Job"):
        for workload in k8s_objects(kind).values():
            found.append((workload, workload["spec"]["template"]["spec"]))
    return found


def lup_image() -> str:
    return next(iter(k8s_objects("Deployment").values()))["spec"]["template"]["spec"]["containers"][
        0
    ]["image"]


def k8s_processes() -> list[tuple[dict, dict, dict, str]]:
    """(workload, pod spec, container, role) of every Lup main container."""
    return [
        (workload, pod, container, role(container.get("command")))
        for workload, pod in k8s_pods()
        for container in pod["containers"]
    ]


def k8s_env(container: dict) -> dict[str, str]:
    configmaps, secret_objects = k8s_objects("ConfigMap"), k8s_objects("Secret")
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(configmaps[source["configMapRef"]["name"]]["data"])
        elif source["secretRef"]["name"] in secret_objects:
            env.update(secret_data(secret_objects[source["secretRef"]["name"]]))
    for item in container.get("env", []):
        env[item["name"]] = item.get("value", "")
    return env


def k8s_file_provided(pod: dict, container: dict, path: str) -> bool:
    """Whether `path` is a file in one of the container's volumes: a key of the mounted Secret,
    or a file an init container writes into the same emptyDir."""
    volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        directory = mount["mountPath"].rstrip("/")
        if not path.startswith(directory + "/"):
            continue
        filename, volume = path[len(directory) + 1 :], volumes[mount["name"]]
        if "secret" in volume:
            items = volume["secret"].get("items")
            secret = k8s_objects("Secret")[volume["secret"]["secretName"]]
            files = {i["path"] for i in items} if items else set(secret_data(secret))
            return filename in files
        if "emptyDir" in volume:
            return any(
                f"{m['mountPath'].rstrip('/')}/{filename}" in init.get("command", [])
                for init in pod.get("initContainers", [])
                for m in init.get("volumeMounts", [])
                if m["name"] == mount["name"] and not m.get("readOnly")
            )
    return False


# --- Compose ------------------------------------------------------------------------------


@cache
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def env_file(path: Path) -> dict[str, str]:
    """A Compose env file: NAME=value lines; `#` lines are comments."""
    pairs = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            pairs[name.strip()] = value
    return pairs


def compose_lup_services() -> dict[str, dict]:
    image = compose()["x-lup"]["image"]
    return {name: s for name, s in compose()["services"].items() if s.get("image") == image}


def compose_processes() -> list[tuple[str, dict, str]]:
    return [(name, s, role(s.get("command"))) for name, s in compose_lup_services().items()]


def compose_env(service: dict) -> dict[str, str]:
    env: dict[str, str] = {}
    files = service.get("env_file", [])
    for entry in [files] if isinstance(files, str | dict) else files:
        name = entry["path"] if isinstance(entry, dict) else entry
        env.update(env_file(ENV_EXAMPLE if name == ".env" else DEPLOY / name))
    environment = service.get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.partition("=")[::2] for item in environment)
    env.update({name: str(value) for name, value in environment.items()})
    return env


def compose_mount_targets(service: dict) -> set[str]:
    targets = set()
    for volume in service.get("volumes", []):
        targets.add(volume["target"] if isinstance(volume, dict) else volume.split(":")[1])
    return targets


def compose_secret_targets(service: dict) -> set[str]:
    targets = set()
    for secret in service.get("secrets", []):
        source = secret if isinstance(secret, str) else secret["source"]
        target = source if isinstance(secret, str) else secret.get("target", source)
        targets.add(target if target.startswith("/") else f"/run/secrets/{target}")
    return targets


def seconds(duration: str) -> int:
    """A Compose duration such as 7m, 1m30s or 400s."""
    parts = re.findall(r"(\d+)(h|m|s)", duration)
    assert parts, duration
    return sum(int(n) * {"h": 3600, "m": 60, "s": 1}[unit] for n, unit in parts)


def setting(env: dict[str, str], name: str) -> int:
    return int(env.get(name) or settings_default(name))


# --- Schemas ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    [doc for _, doc in k8s_documents()],
    ids=[f"{file}:{doc['kind']}/{doc['metadata']['name']}" for file, doc in k8s_documents()],
)
def test_every_kubernetes_manifest_validates_against_the_published_schema(document):
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_strict_validation_refuses_a_field_kubernetes_does_not_know():
    """The schema check bites: a misspelt field is an error, not silently dropped."""
    deployment = json.loads(json.dumps(k8s_objects("Deployment")["lup-web"]))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def compose_validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads(COMPOSE_SPEC.read_text()))


def test_the_compose_file_validates_against_the_compose_specification():
    errors = [
        f"{'/'.join(map(str, error.path))}: {error.message}"
        for error in compose_validator().iter_errors(compose())
    ]
    assert errors == []


def test_the_compose_specification_refuses_what_compose_does_not_know():
    document = json.loads(json.dumps(compose()))
    document["services"]["web"]["depends_on"]["migrate"]["condition"] = "service_completed"
    assert not compose_validator().is_valid(document)


def test_the_vendored_compose_specification_is_the_recorded_version():
    digest = hashlib.sha256(COMPOSE_SPEC.read_bytes()).hexdigest()
    assert digest == COMPOSE_SPEC_SHA256, f"not compose-spec's file at {COMPOSE_SPEC_COMMIT}"
    assert json.loads(COMPOSE_SPEC.read_text())["title"] == "Compose Specification"


# --- Settings reach the processes ----------------------------------------------------------


def test_the_required_settings_are_ones_the_settings_read():
    missing = [name for name in REQUIRED if name not in settings_env()]
    assert missing == [], "config/settings.py no longer reads these; update REQUIRED and deploy/"


def test_every_variable_the_deployment_sets_is_one_lup_reads():
    """A misspelt or retired name would be ignored in silence, leaving a default in force."""
    given = set()  # "where: NAME"
    for _, _, container, _ in k8s_processes():
        given |= {f"k8s {container['name']}: {n}" for n in k8s_env(container)}
    for _, pod in k8s_pods():
        for init in pod.get("initContainers", []):
            given |= {f"k8s init {init['name']}: {n}" for n in k8s_env(init)}
    for name, service, _ in compose_processes():
        given |= {f"compose {name}: {n}" for n in compose_env(service)}
    given |= {f"Dockerfile: {n}" for n in image_env()}
    given |= {f".env.example: {n}" for n in env_file(ENV_EXAMPLE)}
    assert sorted(g for g in given if g.rsplit(": ", 1)[1] not in known_env()) == []


@pytest.mark.parametrize("platform", ["kubernetes", "compose"])
def test_every_process_gets_the_settings_a_deployment_requires(platform):
    problems = []
    if platform == "kubernetes":
        processes = [
            (w["metadata"]["name"], k8s_env(c), r, (pod, c)) for w, pod, c, r in k8s_processes()
        ]
    else:
        processes = [(name, compose_env(s), r, s) for name, s, r in compose_processes()]
    assert {r for _, _, r, _ in processes} >= set(APP_ROLES)
    for name, env, _, where in processes:
        for required in REQUIRED:
            given = required if required in env else f"{required}_FILE"
            if given not in env or given not in settings_env():
                problems.append(f"{name}: {required} is not set")
            elif given.endswith("_FILE"):
                path = env[given]
                if platform == "kubernetes" and not k8s_file_provided(*where, path):
                    problems.append(f"{name}: {given}={path} is no file of a mounted volume")
                if platform == "compose" and path not in compose_secret_targets(where):
                    problems.append(f"{name}: {given}={path} is no mounted secret")
    assert problems == []


def _dummy() -> str:
    # 64 hex digits satisfy every secret's check: the KEK's format, the pepper's length.
    return secrets.token_hex(32)


def _deployment_env(platform: str, tmp_path: Path) -> dict[str, str]:
    """The web process's environment, container paths replaced by files made here."""
    if platform == "kubernetes":
        web = next(c for _, _, c, r in k8s_processes() if r == "web")
        env = {**image_env(), **k8s_env(web)}
        values = secret_data(k8s_objects("Secret")["lup-secrets"])
    else:
        web = compose()["services"]["web"]
        env = {**image_env(), **compose_env(web)}
        values = env
    from ledger.keys import write_key_file

    write_key_file(tmp_path / "signing_key")
    env["LUP_SIGNING_KEY_FILE"] = str(tmp_path / "signing_key")
    for name in [n for n in env if n.endswith("_FILE") and n != "LUP_SIGNING_KEY_FILE"]:
        secret = name.removesuffix("_FILE")
        (tmp_path / secret).write_text(values.get(secret) or _dummy())
        env[name] = str(tmp_path / secret)
    for name in SECRET_SETTINGS:
        if name in env and not env[name]:
            env[name] = _dummy()
    if "PROMETHEUS_MULTIPROC_DIR" in env:
        (tmp_path / "prometheus").mkdir()
        env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "prometheus")
    env.update(LUP_DATA_DIR=str(tmp_path / "data"), PATH=os.environ["PATH"])
    return env


@pytest.mark.parametrize("platform", ["kubernetes", "compose"])
def test_the_settings_load_and_pass_the_deploy_checks_with_the_deployment_environment(
    platform, tmp_path
):
    """Exactly the environment the web process gets (secrets filled in) loads the settings in
    service mode, and `check --deploy` finds no error and none of the warnings production
    settings exist to silence."""
    code = (
        "import django; django.setup()\n"
        "from django.conf import settings\n"
        "from django.core.management import call_command\n"
        "assert not settings.EMBEDDED, 'embedded mode'\n"
        "call_command('check', deploy=True, fail_level='ERROR')\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=_deployment_env(platform, tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert [w for w in FORBIDDEN_DEPLOY_WARNINGS if w in run.stderr] == [], run.stderr


def test_the_env_example_lists_every_setting():
    text = ENV_EXAMPLE.read_text()
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))
    missing = sorted(n for n in settings_env() if not n.endswith("_FILE") and n not in listed)
    assert missing == [], "add them to deploy/.env.example (commented, with their default)"


def test_no_secret_is_committed_with_the_templates():
    example = env_file(ENV_EXAMPLE)
    assert {n: example[n] for n in SECRET_SETTINGS if example.get(n)} == {}
    for name in ("DATABASE_URL", "REDIS_URL"):
        assert urlsplit(example[name]).password in (None, "REPLACE-ME"), name
    for secret in k8s_objects("Secret").values():
        committed = {k: v for k, v in secret_data(secret).items() if v and "REPLACE-ME" not in v}
        assert committed == {}, secret["metadata"]["name"]
    ignore = (DEPLOY / "secrets" / ".gitignore").read_text().split()
    assert "*" in ignore and "!.gitignore" in ignore  # deploy/secrets/ holds the real ones


# --- Queues and workers ---------------------------------------------------------------------


def _workers(platform: str) -> list[tuple[str, list[str], dict, set[str]]]:
    """(name, command, env, mounted paths) of every worker."""
    if platform == "kubernetes":
        return [
            (
                w["metadata"]["name"],
                c["command"],
                k8s_env(c),
                {m["mountPath"].rstrip("/") for m in c.get("volumeMounts", [])},
            )
            for w, _, c, r in k8s_processes()
            if r == "worker"
        ]
    return [
        (name, s["command"], compose_env(s), compose_mount_targets(s))
        for name, s, r in compose_processes()
        if r == "worker"
    ]


@pytest.mark.parametrize("platform", ["kubernetes", "compose"])
def test_every_queue_the_app_declares_is_consumed_and_no_worker_names_another(platform):
    consumed = set().union(*(worker_queues(cmd) for _, cmd, _, _ in _workers(platform)))
    from connectors import CONNECTORS

    declared = declared_queues()
    assert declared == {"celery", *(f"erasure.{kind}" for kind in CONNECTORS)}
    assert sorted(declared - consumed) == [], "nothing would ever run these queues' tasks"
    assert sorted(consumed - declared) == [], "no task is ever sent to these"


@pytest.mark.parametrize("platform", ["kubernetes", "compose"])
def test_file_kinds_run_only_on_workers_that_mount_the_file_roots(platform):
    assert {
        "erasure.jsonl_file",
        "erasure.text_log",
        "erasure.csv_file",
        "erasure.parquet_file",
    } <= file_queues()
    files_workers = 0
    for name, command, env, mounts in _workers(platform):
        if not worker_queues(command) & file_queues():
            continue
        files_workers += 1
        roots = [root.strip().rstrip("/") for root in env.get("LUP_FILE_ROOTS", "").split(",")]
        assert roots and all(roots), f"{name}: LUP_FILE_ROOTS is not set"
        assert [r for r in roots if r not in mounts] == [], f"{name}: a file root is not mounted"
    assert files_workers


def test_there_is_exactly_one_beat():
    beats = [(w, pod) for w, pod, _, r in k8s_processes() if r == "beat"]
    assert len(beats) == 1
    workload, _ = beats[0]
    assert workload["kind"] == "Deployment" and workload["spec"]["replicas"] == 1
    # Recreate: an update never runs the old beat beside the new one.
    assert workload["spec"]["strategy"]["type"] == "Recreate"
    scaled = {
        h["spec"]["scaleTargetRef"]["name"] for h in k8s_objects("HorizontalPodAutoscaler").values()
    }
    assert workload["metadata"]["name"] not in scaled

    compose_beats = [(name, s) for name, s, r in compose_processes() if r == "beat"]
    assert len(compose_beats) == 1
    _, service = compose_beats[0]
    assert service.get("scale", 1) == 1
    assert (service.get("deploy") or {}).get("replicas", 1) == 1


def test_workers_get_longer_to_stop_than_a_task_may_run():
    """A worker stopping (rollout, scale-down) finishes its tasks, so none is cut short."""
    for workload, pod, container, _ in k8s_processes():
        if role(container.get("command")) == "worker":
            limit = setting(k8s_env(container), "LUP_TASK_TIME_LIMIT")
            grace = pod["terminationGracePeriodSeconds"]
            assert grace > limit, workload["metadata"]["name"]
    for name, service, process in compose_processes():
        if process == "worker":
            limit = setting(compose_env(service), "LUP_TASK_TIME_LIMIT")
            assert seconds(service["stop_grace_period"]) > limit, name


@pytest.mark.parametrize("platform", ["kubernetes", "compose"])
def test_redis_redelivers_only_after_a_task_may_have_ended(platform):
    for _, _, env, _ in _workers(platform):
        assert setting(env, "LUP_VISIBILITY_TIMEOUT") > setting(env, "LUP_TASK_TIME_LIMIT")


# --- Kubernetes: probes, objects and references ----------------------------------------------


def test_web_probes_ask_lups_health_urls_with_a_host_django_accepts():
    web = [(c, k8s_env(c)) for _, _, c, r in k8s_processes() if r == "web"]
    assert web
    for container, env in web:
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        allowed = env["ALLOWED_HOSTS"].split(",")
        for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
            if kind not in container:
                continue
            probe = container[kind]["httpGet"]
            assert resolve(probe["path"]).url_name == probe["path"].strip("/")
            assert ports.get(probe["port"], probe["port"]) == 8000
            hosts = [h["value"] for h in probe.get("httpHeaders", []) if h["name"] == "Host"]
            assert hosts and hosts[0] in allowed, f"{kind}: Django answers 400 to its Host"


def test_selectors_and_references_find_what_they_name():
    deployments = k8s_objects("Deployment")
    for name, deployment in deployments.items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items(), name
    web_labels = deployments["lup-web"]["spec"]["template"]["metadata"]["labels"]
    others = [
        d["spec"]["template"]["metadata"]["labels"]
        for n, d in deployments.items()
        if n != "lup-web"
    ]
    for selector in (
        k8s_objects("Service")["lup-web"]["spec"]["selector"],
        k8s_objects("PodDisruptionBudget")["lup-web"]["spec"]["selector"]["matchLabels"],
    ):
        assert selector.items() <= web_labels.items()
        assert not any(selector.items() <= labels.items() for labels in others)
    port = k8s_objects("Service")["lup-web"]["spec"]["ports"][0]["targetPort"]
    assert port in {
        p["name"]
        for p in deployments["lup-web"]["spec"]["template"]["spec"]["containers"][0]["ports"]
    }

    autoscaled = {
        h["spec"]["scaleTargetRef"]["name"] for h in k8s_objects("HorizontalPodAutoscaler").values()
    }
    workers = {w["metadata"]["name"] for w, _, _, r in k8s_processes() if r == "worker"}
    assert autoscaled == workers, "one autoscaler for each worker Deployment, and only those"

    configmaps, secret_objects = k8s_objects("ConfigMap"), k8s_objects("Secret")
    claims = k8s_objects("PersistentVolumeClaim")
    for _, pod in k8s_pods():
        for container in pod["containers"] + pod.get("initContainers", []):
            for source in container.get("envFrom", []):
                ref = source.get("configMapRef") or source["secretRef"]
                known = configmaps if "configMapRef" in source else secret_objects
                assert ref["name"] in known or ref.get("optional"), ref["name"]
            volumes = {v["name"] for v in pod.get("volumes", [])}
            assert {m["name"] for m in container.get("volumeMounts", [])} <= volumes
        for volume in pod.get("volumes", []):
            if "secret" in volume:
                data = secret_data(secret_objects[volume["secret"]["secretName"]])
                assert {i["key"] for i in volume["secret"].get("items", [])} <= set(data)
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims


def test_everything_lives_in_the_declared_namespace():
    namespaces = set(k8s_objects("Namespace"))
    assert len(namespaces) == 1
    for file, doc in k8s_documents():
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") in namespaces, file


def test_the_kustomization_applies_every_manifest_but_the_secret_template():
    """Applying the Secret template would put its placeholders over the real secrets."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    manifests = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == manifests - {"secret.yaml"}
    images = {image["name"] for image in kustomization["images"]}
    assert images == {lup_image().split(":")[0]}


def test_every_lup_container_runs_one_image_as_its_non_root_user():
    uid = image_uid()
    assert uid.isdigit() and int(uid) != 0, "USER must be a numeric id for runAsNonRoot"
    images = set()
    for workload, pod in k8s_pods():
        name = workload["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] == int(uid), name
        assert pod.get("automountServiceAccountToken") is False, name
        for container in pod["containers"] + pod.get("initContainers", []):
            images.add(container["image"])
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, (name, container["name"])
            assert context["allowPrivilegeEscalation"] is False, (name, container["name"])
            assert context["capabilities"]["drop"] == ["ALL"], (name, container["name"])
        volumes = {v["name"]: v for v in pod["volumes"]}
        for container in pod["containers"]:
            tmp = [m for m in container["volumeMounts"] if m["mountPath"] == TMP]
            assert tmp and "emptyDir" in volumes[tmp[0]["name"]], (name, "needs a writable /tmp")
    assert images == {lup_image()}

    services = compose_lup_services()
    assert {"web", "migrate", "beat"} <= set(services)
    for name, service in services.items():
        assert service.get("user", uid).split(":")[0] not in {"0", "root"}, name
        assert service["read_only"] is True and TMP in service["tmpfs"], name
    build = compose()["x-lup"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"


# --- Compose: start order and health -------------------------------------------------------


def test_compose_starts_lup_after_its_migrations_and_healthy_dependencies():
    services = compose()["services"]
    for name in ("postgres", "redis"):
        assert "healthcheck" in services[name], name
        named = [v.split(":")[0] for v in services[name]["volumes"]]
        assert named and set(named) <= set(compose()["volumes"]), f"{name}: a named volume"
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"
    for name, service, process in compose_processes():
        depends = service["depends_on"]
        if process == "migrate":
            assert depends["postgres"]["condition"] == "service_healthy"
            assert service["restart"] == "no"
            continue
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["redis"]["condition"] == "service_healthy", name


def test_only_web_keeps_the_images_http_health_check():
    """The image's HEALTHCHECK asks /healthz over HTTP: any other process needs its own."""
    healthcheck = next(a for k, a in final_stage() if k == "HEALTHCHECK")
    assert "/healthz" in healthcheck and resolve("/healthz").url_name == "healthz"
    host = re.search(r"'Host': '([^']+)'", healthcheck).group(1)
    for name, service, process in compose_processes():
        if process == "web":
            assert "healthcheck" not in service, name
            assert host in compose_env(service)["ALLOWED_HOSTS"].split(","), name
        else:
            check = service.get("healthcheck") or {}
            assert check.get("disable") is True or check.get("test"), name
        if process == "worker":
            node = worker_hostname(service["command"]).split("@")[0]
            assert f"--destination {node}@" in check["test"][1], name


# --- The image ------------------------------------------------------------------------------


def test_the_image_is_multi_stage_and_runs_gunicorn_with_its_config():
    stages = [a for k, a in dockerfile() if k == "FROM"]
    assert len(stages) >= 2
    assert any(a.startswith("${PYTHON_IMAGE}") for a in stages)
    base = next(a for k, a in dockerfile() if k == "ARG" and a.startswith("PYTHON_IMAGE="))
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11-slim(-\w+)?", base)
    command = image_cmd()
    assert command[0] == "gunicorn" and command[-1] == "config.wsgi"
    config = command[command.index("-c") + 1]
    assert (ROOT / config).is_file() and config == "deploy/gunicorn.conf.py"
    assert ("EXPOSE", "8000") in final_stage()
    runs = [a for k, a in dockerfile() if k == "RUN"]
    assert any("pybabel compile --directory locale --domain django" in r for r in runs)
    assert any(k == "RUN" and "manage.py collectstatic" in a for k, a in final_stage())


def test_the_build_time_dummy_secrets_stay_on_the_collectstatic_line():
    secret_names = ("SECRET_KEY", "LUP_SUBJECT_PEPPER", "LUP_REQUEST_KEK", "DATABASE_URL")
    for keyword, arguments in dockerfile():
        mentions = [n for n in secret_names if re.search(rf"\b{n}=", arguments)]
        if keyword in {"ENV", "ARG"}:
            assert mentions == [], f"{keyword} would keep {mentions} in the image"
        elif mentions:
            assert keyword == "RUN" and "manage.py collectstatic" in arguments


def test_the_build_context_leaves_out_secrets_and_local_state():
    patterns = [
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(path: str) -> bool:
        prefixes = ["/".join(path.split("/")[:i]) for i in range(1, path.count("/") + 2)]
        return any(
            fnmatch.fnmatch(prefix, pattern)
            or (pattern.startswith("**/") and fnmatch.fnmatch(prefix.split("/")[-1], pattern[3:]))
            for pattern in patterns
            for prefix in prefixes
        )

    for path in (
        ".env",
        "deploy/.env",
        "deploy/secrets/signing_key",
        "data/signing_key",
        "data/lup.sqlite3",
        ".git/config",
        ".venv/bin/python",
        "keys/old.pem",
        "locale/km/LC_MESSAGES/django.mo",
    ):
        assert ignored(path), path
    for path in (
        "pyproject.toml",
        "README.md",
        "manage.py",
        "config/settings.py",
        "deploy/gunicorn.conf.py",
        "locale/km/LC_MESSAGES/django.po",
        "portal/static/portal/portal.css",
    ):
        assert not ignored(path), path


def test_the_procfile_runs_the_same_processes():
    processes = dict(
        line.split(": ", 1)
        for line in (DEPLOY / "Procfile").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert shlex.split(processes["web"]) == image_cmd()
    assert role(processes["worker"]) == "worker" and role(processes["beat"]) == "beat"
    assert role(processes["release"]) == "migrate"


# --- gunicorn -------------------------------------------------------------------------------


def gunicorn_config(monkeypatch, **env: str) -> dict:
    for name in (
        "PORT",
        "WEB_CONCURRENCY",
        "GUNICORN_THREADS",
        "FORWARDED_ALLOW_IPS",
        "LUP_TRUSTED_PROXIES",
        "PROMETHEUS_MULTIPROC_DIR",
        "REDIS_URL",
        "REDIS_URL_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))


def test_gunicorn_takes_its_size_and_trusted_proxies_from_the_environment(monkeypatch):
    default = gunicorn_config(monkeypatch)
    assert default["bind"] == ["0.0.0.0:8000"]
    sized = gunicorn_config(
        monkeypatch, WEB_CONCURRENCY="5", GUNICORN_THREADS="8", FORWARDED_ALLOW_IPS="10.0.0.1"
    )
    assert (sized["workers"], sized["threads"]) == (5, 8)
    assert sized["forwarded_allow_ips"] == "10.0.0.1"
    assert default["forwarded_allow_ips"] == ""  # no proxy is trusted until one is named
    proxied = gunicorn_config(monkeypatch, LUP_TRUSTED_PROXIES="10.0.0.0/8,172.16.0.0/12")
    assert proxied["forwarded_allow_ips"] == "10.0.0.0/8,172.16.0.0/12"
    # Workers are forks of the application loaded once, except when tasks run in-process
    # (no broker), where each worker starts its own beat thread.
    assert not default["preload_app"]
    assert gunicorn_config(monkeypatch, REDIS_URL="redis://cache:6379/0")["preload_app"]
    assert gunicorn_config(monkeypatch, REDIS_URL_FILE="/run/secrets/redis_url")["preload_app"]
    # The web pods stop within their grace period.
    web_pod = next(pod for _, pod, _, r in k8s_processes() if r == "web")
    assert web_pod["terminationGracePeriodSeconds"] > default["graceful_timeout"]


def test_gunicorn_starts_the_shared_metrics_folder_empty(monkeypatch, tmp_path):
    folder = tmp_path / "prometheus"
    folder.mkdir()
    (folder / "counter_123.db").write_bytes(b"from the server before")
    conf = gunicorn_config(monkeypatch, PROMETHEUS_MULTIPROC_DIR=str(folder))
    conf["on_starting"](server=None)
    assert list(folder.iterdir()) == []
    # Set for the web process wherever it runs several gunicorn workers.
    web_env = next(k8s_env(c) for _, _, c, r in k8s_processes() if r == "web")
    compose_web = compose_env(compose()["services"]["web"])
    assert web_env["PROMETHEUS_MULTIPROC_DIR"] == compose_web["PROMETHEUS_MULTIPROC_DIR"]
    assert web_env["PROMETHEUS_MULTIPROC_DIR"].startswith(TMP + "/")


def test_gunicorns_access_log_format_has_no_query_string(monkeypatch):
    log_format = gunicorn_config(monkeypatch)["access_log_format"]
    assert "%(U)s" in log_format and "%(m)s" in log_format
    for atom in ("%(q)s", "%(r)s", "%(f)s", "{query_string}e", "{raw_uri}e", "%(h)s"):
        assert atom not in log_format, atom


def test_an_access_log_line_is_json_with_no_identifier_or_capability(monkeypatch):
    from gunicorn.config import Config

    conf = gunicorn_config(monkeypatch)
    cfg = Config()
    cfg.set("accesslog", "-")
    cfg.set("access_log_format", conf["access_log_format"])
    logger = conf["logger_class"](cfg)

    class Response:
        status, sent, headers = "200 OK", 42, [("X-Request-ID", "0123456789abcdef")]

    class Request:
        headers = [("Referer", "https://lup.example.org/?email=sokha@example.com")]

    key = "ab" * 32
    request = "/api/v1/erasure-requests/0b9f2a4e-2c1d-4e8b-9a3f-5d6c7b8a9e0f/plan"
    font = "/static/portal/fonts/noto-sans-khmer-khmer-400-normal.woff2"
    paths = {  # requested path: the path the log line holds once decoded
        f"/api/v1/consent/subjects/{key}/history": "/api/v1/consent/subjects/[scrubbed]/history",
        "/api/v1/bundles/eyJyIjoiMSJ9:1tAbCd:Zm9vYmFyYmF6cXV4": "/api/v1/bundles/[scrubbed]",
        "/km/consents/confirm/Xk3pQ9vLm2Rt7Wz1Bc4Nf6Hj8Ds0Ga5E/": (
            "/km/consents/confirm/[scrubbed]/"
        ),
        "/km/requests/+85512345678/": "/km/requests/[scrubbed]/",
        request: request,
        font: font,
        '/x/sokha@example.com/"quoted"\\back\nline': '/x/[scrubbed]/"quoted"\\back\nline',
    }
    for path, logged in paths.items():
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "QUERY_STRING": "id_type=email&value=sokha@example.com",
            "RAW_URI": f"{path}?value=sokha@example.com",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_REFERER": "https://lup.example.org/?email=sokha@example.com",
        }
        atoms = logger.atoms_wrapper_class(
            logger.atoms(Response(), Request(), environ, timedelta(milliseconds=7))
        )
        line = conf["access_log_format"] % atoms
        entry = json.loads(line)
        assert entry["path"] == logged, line
        assert (entry["status"], entry["request_id"]) == ("200", "0123456789abcdef")
        assert "sokha" not in line and "value=" not in line and key not in line
