"""The deployment files parse, and what they name exists: images, commands, env vars, probes."""

import re

import pytest
import yaml

from tests.support import ROOT

DEPLOY = ROOT / "deploy"


def setting_env_names() -> set[str]:
    names = set()
    for path in (
        ROOT / "config" / "settings" / "base.py",
        ROOT / "config" / "settings" / "production.py",
        DEPLOY / "gunicorn.conf.py",
    ):
        text = path.read_text()
        names |= set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z0-9_]+)"', text))
        names |= set(re.findall(r'os\.environ(?:\.get)?[\[(]\s*"([A-Z0-9_]+)"', text))
    # Read by Django, prometheus_client and the images' own entry points, not by our settings.
    return names | {
        "DJANGO_SETTINGS_MODULE",
        "PROMETHEUS_MULTIPROC_DIR",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONUNBUFFERED",
        "PIP_NO_CACHE_DIR",
        "PIP_DISABLE_PIP_VERSION_CHECK",
    }


KNOWN = setting_env_names()


def k8s_documents():
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                yield path.name, document


def containers(document):
    spec = document["spec"]
    template = spec.get("template") or spec.get("jobTemplate", {}).get("spec", {}).get("template")
    return template["spec"]["containers"] if template else []


def test_required_settings_are_real_setting_names():
    for name in (
        "SECRET_KEY",
        "DATABASE_URL",
        "REDIS_URL",
        "QR_SIGNING_KEYS_DIR",
        "AUTH_JWT_KEYS_DIR",
        "ALLOWED_HOSTS",
    ):
        assert name in KNOWN


def test_compose_has_every_process_and_its_commands_and_env_are_real():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"db", "redis", "migrate", "web", "worker", "beat"}
    assert services["migrate"]["command"][:3] == ["python", "manage.py", "migrate"]
    assert services["web"]["command"][:3] == ["gunicorn", "-c", "deploy/gunicorn.conf.py"]
    assert services["worker"]["command"][:4] == ["celery", "-A", "config", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "config", "beat"]
    assert "/readyz" in " ".join(services["web"]["healthcheck"]["test"])
    for name in ("migrate", "web", "worker", "beat"):
        env = services[name]["environment"]
        assert env["DJANGO_SETTINGS_MODULE"] == "config.settings.production"
        assert set(env) <= KNOWN, set(env) - KNOWN
        assert services[name]["build"]["dockerfile"] == "deploy/Dockerfile"


def test_the_dockerfile_is_slim_non_root_collects_static_and_checks_health():
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", text, re.M)
    assert re.search(r"^USER ecard$", text, re.M) and "HEALTHCHECK" in text and "/healthz" in text
    assert "collectstatic" in text and "DJANGO_SETTINGS_MODULE=config.settings.production" in text
    for name in re.findall(r"^ENV (.+?)(?=^\S)", text, re.M | re.S):
        for key in re.findall(r"([A-Z_]+)=", name):
            assert key in KNOWN or key.startswith("GUNICORN_"), key
    for path in re.findall(r"^COPY (\S+)", text, re.M):
        for part in path.split():
            assert (ROOT / part).exists(), part


def test_k8s_web_has_probes_an_autoscaler_and_a_service():
    kinds = {(doc["kind"], doc["metadata"]["name"]) for _, doc in k8s_documents()}
    assert {
        ("Deployment", "ecard-web"),
        ("Service", "ecard-web"),
        ("HorizontalPodAutoscaler", "ecard-web"),
        ("Deployment", "ecard-worker"),
        ("Deployment", "ecard-beat"),
        ("Job", "ecard-migrate"),
        ("ConfigMap", "ecard-config"),
    } <= kinds
    web = next(
        doc
        for _, doc in k8s_documents()
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] == "ecard-web"
    )
    [container] = containers(web)
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    hpa = next(doc for _, doc in k8s_documents() if doc["kind"] == "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "ecard-web"


def test_k8s_beat_is_exactly_one_and_never_two_during_a_rollout():
    beat = next(doc for _, doc in k8s_documents() if doc["metadata"]["name"] == "ecard-beat")
    assert beat["spec"]["replicas"] == 1 and beat["spec"]["strategy"]["type"] == "Recreate"


def test_k8s_env_and_config_names_are_real_settings():
    config = next(doc for _, doc in k8s_documents() if doc["kind"] == "ConfigMap")
    assert set(config["data"]) <= KNOWN, set(config["data"]) - KNOWN
    secret = next(
        doc
        for _, doc in k8s_documents()
        if doc["kind"] == "Secret" and doc["metadata"]["name"] == "ecard-env"
    )
    assert set(secret["stringData"]) <= KNOWN
    for _, doc in k8s_documents():
        for container in containers(doc) if doc["kind"] in ("Deployment", "Job") else []:
            assert container["image"].endswith("ecard:latest")
            for item in container.get("env", []):
                assert item["name"] in KNOWN or item["name"].startswith("GUNICORN_"), item["name"]
            refs = {
                ref.get("configMapRef", {}).get("name") or ref.get("secretRef", {}).get("name")
                for ref in container["envFrom"]
            }
            assert refs == {"ecard-config", "ecard-env"}


@pytest.mark.parametrize("unit", ["ecard-web", "ecard-worker", "ecard-beat"])
def test_systemd_units_run_the_right_process(unit):
    text = (DEPLOY / "systemd" / f"{unit}.service").read_text()
    assert "EnvironmentFile=/etc/ecard/ecard.env" in text and "User=ecard" in text
    command = re.search(r"^ExecStart=(.+)$", text, re.M).group(1)
    expected = {
        "ecard-web": "gunicorn -c /opt/ecard/deploy/gunicorn.conf.py",
        "ecard-worker": "celery -A config worker",
        "ecard-beat": "celery -A config beat",
    }[unit]
    assert expected in command


def test_the_systemd_env_example_names_only_real_settings():
    lines = (DEPLOY / "systemd" / "ecard.env.example").read_text().splitlines()
    names = {line.split("=", 1)[0] for line in lines if line and not line.startswith("#")}
    assert names <= KNOWN, names - KNOWN


def test_gunicorn_config_loads_with_workers_from_the_cpu_count():
    import multiprocessing
    import os

    namespace = {}
    previous = os.environ.pop("GUNICORN_WORKERS", None)
    try:
        exec(compile((DEPLOY / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"), namespace)
    finally:
        if previous is not None:
            os.environ["GUNICORN_WORKERS"] = previous
    assert namespace["workers"] == multiprocessing.cpu_count() and namespace["worker_class"] == "gthread"
    assert namespace["access_log_format"].startswith('{"time"')


def test_the_image_copies_every_package_the_project_installs():
    import tomllib

    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    copied = set(re.findall(r"^COPY (\w+) \./\1$", (DEPLOY / "Dockerfile").read_text(), re.M))
    assert {pattern.rstrip("*") for pattern in packages["include"]} <= copied


def pins(lock: str) -> dict[str, str]:
    text = (ROOT / lock).read_text()
    return {
        m.group(1).lower().replace("_", "-"): m.group(2)
        for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==(\S+) \\$", text, re.M)
    }


@pytest.mark.parametrize(
    ("lock", "groups"), [("requirements.lock", ["runtime"]), ("requirements-dev.lock", ["runtime", "dev"])]
)
def test_each_lock_pins_every_dependency_the_project_names_within_its_range(lock, groups):
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    named = {"runtime": project["dependencies"], "dev": project["optional-dependencies"]["dev"]}
    pinned = pins(lock)
    for text in [r for group in groups for r in named[group]]:
        requirement = Requirement(text)
        version = pinned.get(requirement.name.lower().replace("_", "-"))
        assert version is not None and requirement.specifier.contains(version), (lock, text)
    assert (ROOT / lock).read_text().count("--hash=sha256:") >= len(pinned)  # pip checks them


def test_the_tools_lock_keeps_the_runtime_pins_the_image_installs():
    runtime, dev = pins("requirements.lock"), pins("requirements-dev.lock")
    assert runtime and {name: dev.get(name) for name in runtime} == runtime


def test_make_install_and_the_image_install_from_the_locks_with_their_hashes():
    assert "--require-hashes -r requirements-dev.lock" in (ROOT / "Makefile").read_text()
    assert "--require-hashes -r requirements.lock" in (ROOT / "deploy" / "Dockerfile").read_text()
    assert "make test" in (ROOT / ".ci" / "run").read_text()
