"""The defaults an installed wheel relies on, checked in the checkout: the schemas and the
default rules are the package's own files (the top-level folders link to them), and a
``models_dir`` left at its default that is missing stops the worker with one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.codec import default_schemas_dir
from worker.errors import ConfigError
from worker.runtime import load_artifacts, require_models_dir
from worker.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "worker"


def test_the_schemas_and_rules_are_the_packages_and_the_top_level_links_to_them() -> None:
    assert default_schemas_dir() == PACKAGE / "schemas"
    assert load_settings().worker.rules_path == PACKAGE / "rules" / "default.yaml"
    assert (REPO / "schemas").resolve() == PACKAGE / "schemas"
    assert (REPO / "rules" / "rules.yaml").resolve() == PACKAGE / "rules" / "default.yaml"
    assert (REPO / "schemas").is_symlink() and (REPO / "rules" / "rules.yaml").is_symlink()


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory without models/, and no models setting in the environment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FRAUD_WORKER__MODELS_DIR", raising=False)
    monkeypatch.delenv("FRAUD_CONFIG_FILE", raising=False)
    return tmp_path


def test_an_unset_models_dir_that_is_missing_is_one_line_naming_the_setting(
    elsewhere: Path,
) -> None:
    with pytest.raises(ConfigError) as raised:
        require_models_dir(load_settings())
    message = str(raised.value)
    assert "\n" not in message and str(elsewhere) in message
    assert "FRAUD_WORKER__MODELS_DIR" in message
    assert "FRAUD_WORKER__ALLOW_DEGRADED_START" in message


def test_a_degraded_start_or_a_configured_folder_is_left_to_readiness(elsewhere: Path) -> None:
    require_models_dir(load_settings(worker={"allow_degraded_start": True}))
    configured = load_settings(worker={"models_dir": str(elsewhere / "gone")})
    require_models_dir(configured)  # a mount that is missing: not ready, /readyz names it
    failures = load_artifacts(configured).failures
    assert "FRAUD_WORKER__MODELS_DIR" in failures["manifest"]
    assert failures["primary"] == failures["fallback"] == "no valid model manifest"


def test_the_default_models_folder_in_a_checkout_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("FRAUD_WORKER__MODELS_DIR", raising=False)
    settings = load_settings()
    require_models_dir(settings)
    assert load_artifacts(settings).failures == {}
