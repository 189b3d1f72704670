"""The wheel, installed with its dependencies from PyPI into a fresh venv and run from a folder
outside the source tree, is a working worker: the schemas, the default rules and the triage
app's files come from inside the package; the models come from FRAUD_WORKER__MODELS_DIR, and
without it ``run`` stops with one line naming that setting.

Built once per session, in the background from the start of the session (``build.py``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.factories import BASE_EVENT, free_port, http_get
from tests.integration.harness import (
    encoded,
    produce,
    read_topic,
    simulated_events,
    wait_for,
    worker_settings,
)
from tests.packaging.build import BACKGROUND, checked
from worker.settings import Settings

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models"
PACKAGE = REPO / "worker"
# Data files the wheel must carry, as globs inside the package (what pyproject.toml lists).
PACKAGE_DATA = (
    "schemas/*.avsc",
    "schemas/registry.json",
    "rules/default.yaml",
    "triage/web/templates/*.html",
    "triage/web/static/*",
    "triage/db/migrations/*.py",
    "triage/db/migrations/script.py.mako",
    "triage/db/migrations/versions/*.py",
)


@dataclass(frozen=True)
class Installed:
    """The fresh venv with the wheel in it."""

    wheel: Path
    bin: Path
    package: Path  # its worker/ folder inside site-packages

    def command(self, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            cwd=cwd,
            env=outside_env(**env),
            capture_output=True,
            text=True,
            timeout=120,
        )


def outside_env(**extra: str) -> dict[str, str]:
    """This process's environment without our settings and without any path back to the
    checkout (PYTHONPATH, the test venv)."""
    dropped = ("FRAUD_", "PYTHON", "VIRTUAL_ENV")
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(dropped)},
        **extra,
    }


@pytest.fixture(scope="module")
def installed() -> Installed:
    """The wheel and its venv, built in the background since the session began."""
    build = BACKGROUND.wait()
    (wheel,) = (build / "dist").glob("fraud_worker-*.whl")
    venv = build / "venv"
    python = str(venv / "bin" / "python")
    where = checked([python, "-c", "import worker; print(worker.__file__)"], cwd=build)
    package = Path(where.strip()).parent
    assert venv in package.parents and REPO not in package.parents
    return Installed(wheel, venv / "bin", package)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A working directory with no schemas/, rules/ or models/ in it."""
    assert REPO not in tmp_path.parents
    return tmp_path


def config_file(settings: Settings, folder: Path) -> Path:
    """The settings as a file, without models_dir and rules_path: the installed defaults."""
    data = settings.model_dump(mode="json")
    for key in ("models_dir", "rules_path"):
        del data["worker"][key]
    path = folder / "worker.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_wheel_carries_the_schemas_rules_and_triage_files_but_no_models(
    installed: Installed,
) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    for pattern in PACKAGE_DATA:
        wanted = {f"worker/{p.relative_to(PACKAGE)}" for p in PACKAGE.glob(pattern)}
        assert wanted, f"nothing in the checkout matches {pattern}"
        assert wanted <= names, f"missing from the wheel: {sorted(wanted - names)}"
    models = {p.name for p in MODELS.iterdir() if p.is_file() and not p.name.startswith(".")}
    assert models and not {Path(name).name for name in names} & models


ROUND_TRIP = """
import json, sys
from worker.codec import (
    TRANSACTION_READER_SCHEMA, EventDecoder, LocalSchemaRegistry, RecordEncoder,
    default_schemas_dir, load_schema,
)
from worker.rules import load_rules
from worker.settings import load_settings
from worker.triage.web.rendering import TEMPLATES_DIR, make_templates

event = json.loads(sys.argv[1])
schemas = default_schemas_dir()
registry = LocalSchemaRegistry(schemas)
decoder = EventDecoder(registry, load_schema(schemas / TRANSACTION_READER_SCHEMA))
decoded = decoder.decode(RecordEncoder.for_schema_id(registry, 2).encode(event))
rules = load_rules(load_settings().worker.rules_path)
templates = make_templates().env
parsed = [templates.get_template(t.name).name for t in sorted(TEMPLATES_DIR.glob("*.html"))]
print(json.dumps({"schemas": str(schemas), "decoded": decoded, "rules": rules.source,
                  "rule_count": len(rules.rules), "templates": parsed}))
"""


def test_schemas_rules_and_templates_load_from_the_installed_package(
    installed: Installed, outside: Path
) -> None:
    done = installed.command("python", "-c", ROUND_TRIP, json.dumps(BASE_EVENT), cwd=outside)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    assert loaded["schemas"] == str(installed.package / "schemas")
    assert loaded["decoded"] == BASE_EVENT
    assert loaded["rules"] == str(installed.package / "rules" / "default.yaml")
    assert loaded["rule_count"] >= 1
    templates = sorted(p.name for p in (PACKAGE / "triage/web/templates").glob("*.html"))
    assert loaded["templates"] == templates


def test_the_triage_migrations_run_from_the_installed_package(
    installed: Installed, outside: Path
) -> None:
    url = f"sqlite:///{outside / 'triage.db'}"
    done = installed.command(
        "fraud-worker", "triage", "migrate", cwd=outside, FRAUD_TRIAGE__DATABASE_URL=url
    )
    assert done.returncode == 0, done.stderr
    assert "is up to date" in done.stdout


def test_check_config_passes_with_the_models_dir_set(
    installed: Installed, outside: Path, live_stack: Settings, make_topic: Callable[[int], str]
) -> None:
    config = config_file(worker_settings(live_stack, make_topic), outside)
    done = installed.command(
        "fraud-worker",
        "check-config",
        cwd=outside,
        FRAUD_CONFIG_FILE=str(config),
        FRAUD_WORKER__MODELS_DIR=str(MODELS),
    )
    assert done.returncode == 0, done.stderr
    rules = installed.package / "rules" / "default.yaml"
    for line in (f"ok    manifest   {MODELS}: ", f"ok    rules      {rules}: ", "ok    topics"):
        assert line in done.stdout


def test_run_scores_events_with_the_configured_models_and_stops_on_sigterm(
    installed: Installed, outside: Path, live_stack: Settings, make_topic: Callable[[int], str]
) -> None:
    settings = worker_settings(live_stack, make_topic)
    config = config_file(settings, outside)
    produce(settings, encoded(simulated_events(50)))
    stderr = (outside / "stderr.log").open("wb")
    proc = subprocess.Popen(
        [str(installed.bin / "fraud-worker"), "run"],
        cwd=outside,
        env=outside_env(FRAUD_CONFIG_FILE=str(config), FRAUD_WORKER__MODELS_DIR=str(MODELS)),
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )
    try:
        results = read_topic(settings, settings.topics.scored, "scored", 50, timeout_s=120)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        stderr.close()
    version = json.loads((MODELS / "manifest.json").read_text())["model_version"]
    assert len(results) == 50
    # Only the two models answer here: both are loaded from FRAUD_WORKER__MODELS_DIR.
    assert {r["source"] for r, _ in results} <= {"primary", "fallback"}
    assert {r["model_version"] for r, _ in results} == {version}


def test_run_without_a_models_dir_is_one_line_naming_the_setting(
    installed: Installed, outside: Path, live_stack: Settings, make_topic: Callable[[int], str]
) -> None:
    config = config_file(worker_settings(live_stack, make_topic), outside)
    done = installed.command("fraud-worker", "run", cwd=outside, FRAUD_CONFIG_FILE=str(config))
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: models folder models ") and str(outside) in line
    assert "FRAUD_WORKER__MODELS_DIR" in line and "FRAUD_WORKER__ALLOW_DEGRADED_START" in line


def test_a_degraded_start_without_models_is_allowed_when_asked(
    installed: Installed, outside: Path, live_stack: Settings, make_topic: Callable[[int], str]
) -> None:
    config = config_file(worker_settings(live_stack, make_topic), outside)
    port = free_port()
    proc = subprocess.Popen(
        [str(installed.bin / "fraud-worker"), "run"],
        cwd=outside,
        env=outside_env(
            FRAUD_CONFIG_FILE=str(config),
            FRAUD_WORKER__ALLOW_DEGRADED_START="true",
            FRAUD_WORKER__METRICS_PORT=str(port),
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: http_get(f"http://127.0.0.1:{port}/readyz")[0] == 200, timeout_s=90)
        metrics = http_get(f"http://127.0.0.1:{port}/metrics")[1]
        assert 'fraud_artifact_load_failed{artifact="manifest"} 1.0' in metrics
        assert 'fraud_artifact_load_failed{artifact="rules"} 0.0' in metrics
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
