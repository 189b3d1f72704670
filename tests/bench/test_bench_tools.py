"""What the benchmark builds once: the Quix Streams venv (stamped with pyproject's hash) and
Kafka's perf tools (resolved by Maven at the local stack's Kafka version). Fakes stand in for
pip and Maven; the real builds run in tests/integration/test_bench_smoke.py."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from worker.errors import StackError
from worker.stack import benchtools

REPO = Path(__file__).resolve().parents[2]
POM = "{http://maven.apache.org/POM/4.0.0}"


def test_the_perf_tools_are_of_the_local_stacks_kafka_version() -> None:
    local = ET.parse(REPO / "deploy" / "local" / "pom.xml").getroot()
    bench = ET.parse(REPO / "deploy" / "bench" / "pom.xml").getroot()
    parent = bench.find(f"{POM}parent")
    assert parent is not None
    for tag in ("groupId", "artifactId", "version"):
        assert parent.findtext(f"{POM}{tag}") == local.findtext(f"{POM}{tag}")
    tools = [
        d for d in bench.iter(f"{POM}dependency") if d.findtext(f"{POM}artifactId") == "kafka-tools"
    ]
    assert [d.findtext(f"{POM}version") for d in tools] == ["${kafka.version}"]
    assert benchtools.kafka_version() == local.findtext(f"{POM}properties/{POM}kafka.version")


def test_a_pom_without_a_kafka_version_names_the_fix(tmp_path: Path) -> None:
    pom = tmp_path / "pom.xml"
    pom.write_text("<project/>")
    with pytest.raises(StackError, match=r"<kafka\.version>"):
        benchtools.kafka_version(pom)


def test_the_venv_is_built_once_per_pyproject(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    calls: list[list[str]] = []

    def fake_run(command: list[str], what: str) -> None:
        calls.append(command)
        if "venv" in command:
            python = Path(command[-1]) / "bin" / "python"
            python.parent.mkdir(parents=True)
            python.write_text("")

    monkeypatch.setattr(benchtools, "_run", fake_run)
    python = benchtools.ensure_bench_venv(tmp_path / "stack", repo)
    assert python == (tmp_path / "stack" / "bench-venv" / "bin" / "python").resolve()
    assert calls[1][-1] == f"{repo}[bench]"
    benchtools.ensure_bench_venv(tmp_path / "stack", repo)
    assert len(calls) == 2  # built once
    (repo / "pyproject.toml").write_text("[project]\nname = 'y'\n")
    benchtools.ensure_bench_venv(tmp_path / "stack", repo)
    assert len(calls) == 4  # a new pyproject: built again


def test_a_failed_pip_install_is_one_line_naming_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "pyproject.toml").write_text("")
    pip = tmp_path / "pip"
    pip.write_text(
        "#!/bin/sh\necho 'ERROR: No matching distribution found for quixstreams' >&2\nexit 1\n"
    )
    pip.chmod(0o755)
    monkeypatch.setattr(benchtools.sys, "executable", str(pip))
    with pytest.raises(StackError) as error:
        benchtools.ensure_bench_venv(tmp_path / "stack", repo)
    message = str(error.value)
    assert "\n" not in message
    assert "No matching distribution" in message and "PIP_INDEX_URL" in message


def test_the_jars_are_fetched_again_for_a_new_kafka_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jars = tmp_path / "bench-tools"
    jars.mkdir()
    (jars / ".pom-sha256").write_text("stale")
    (jars / "kafka-tools-0.0.1.jar").write_text("")
    seen: list[bool] = []

    def fake_ensure(jar_dir: Path, pom: Path) -> Path:
        seen.append((jar_dir / ".pom-sha256").exists())
        return jar_dir

    monkeypatch.setattr(benchtools, "ensure_jars", fake_ensure)
    assert benchtools.ensure_perf_tools(tmp_path) == jars
    assert seen == [False]  # the stamp of another version's jars was dropped
