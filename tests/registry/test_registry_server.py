"""The registry server's own logic, without starting it: which java, what configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.errors import StackError
from worker.stack.registry import RegistryServer, java_executable


def fake_java(folder: Path, name: str, version: str) -> Path:
    """A ``<folder>/<name>/bin/java`` that reports ``version`` the way java does (on stderr)."""
    java = folder / name / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text(f"#!/bin/sh\necho 'openjdk version \"{version}\" 2026-04-21' >&2\n")
    java.chmod(0o755)
    return java


def test_the_newest_installed_java_21_or_later_is_chosen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    fake_java(tmp_path, "java-17", "17.0.15")
    fake_java(tmp_path, "java-21", "21.0.5")
    newest = fake_java(tmp_path, "temurin-25", "25.0.3")

    assert java_executable(tmp_path) == str(newest)


def test_java_home_wins_when_it_is_new_enough(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = fake_java(tmp_path / "home", "jdk", "21.0.5").parent.parent
    fake_java(tmp_path / "jvm", "temurin-25", "25.0.3")
    monkeypatch.setenv("JAVA_HOME", str(home))

    assert java_executable(tmp_path / "jvm") == str(home / "bin" / "java")


def test_only_old_javas_is_one_line_naming_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    fake_java(tmp_path, "java-17", "17.0.15")

    with pytest.raises(StackError, match="needs Java 21") as caught:
        java_executable(tmp_path)
    assert "JAVA_HOME" in str(caught.value) and "\n" not in str(caught.value)


def test_the_server_binds_loopback_and_keeps_passwords_in_its_file(tmp_path: Path) -> None:
    server = RegistryServer(tmp_path, port=28081, users={"alice": "s3cret"})
    properties = dict(line.split("=", 1) for line in server._properties().splitlines())

    assert properties["quarkus.http.host"] == "127.0.0.1"
    assert properties["quarkus.management.host"] == "127.0.0.1"
    assert properties["quarkus.http.port"] == "28081"
    assert properties["quarkus.security.users.embedded.users.alice"] == "s3cret"
    assert properties["quarkus.http.auth.basic"] == "true"
    assert server.url == "http://127.0.0.1:28081/apis/ccompat/v7"
