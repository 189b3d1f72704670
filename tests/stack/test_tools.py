"""``ensure_helm``: the cached or PATH helm at the pinned version, else built with go install.

Unit tests with fake ``helm`` and ``go`` executables (shell scripts) on a PATH of our own; the
real build is what ``make test`` runs before pytest (tests/deploy use its result).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from worker.errors import StackError
from worker.stack.tools import HELM_VERSION, ensure_helm, tools_dir


def _script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def _fake_helm(path: Path, version: str) -> Path:
    return _script(path, f'[ "$1" = version ] && printf %s "{version}" && exit 0\nexit 2\n')


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH holding only what the test puts there (no real go, no real helm)."""
    folder = tmp_path / "path-bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", str(folder))
    return folder


def test_the_cached_helm_is_used_without_go(tmp_path: Path, bin_dir: Path) -> None:
    cached = _fake_helm(tools_dir(tmp_path) / "bin" / "helm", HELM_VERSION)
    assert ensure_helm(tmp_path) == cached


def test_a_helm_on_path_at_the_pinned_version_is_used(tmp_path: Path, bin_dir: Path) -> None:
    # `go install` builds report the minor only: v3.22.
    on_path = _fake_helm(bin_dir / "helm", HELM_VERSION.rsplit(".", 1)[0])
    assert ensure_helm(tmp_path) == on_path


def test_another_version_is_not_used_and_go_builds_the_pinned_one(
    tmp_path: Path, bin_dir: Path
) -> None:
    _fake_helm(bin_dir / "helm", "v3.9.4")
    _fake_helm(tools_dir(tmp_path) / "bin" / "helm", "v3.21.0")  # an older build, replaced
    release = _fake_helm(tmp_path / "built" / "helm", HELM_VERSION.rsplit(".", 1)[0])
    calls = tmp_path / "go-calls"
    _script(
        bin_dir / "go",
        f'PATH=/usr/bin:/bin\necho "$*" > {calls}/args\nenv > {calls}/env\n'
        f'mkdir -p "$GOCACHE" "$GOBIN"\ncp {release} "$GOBIN/helm"\n',
    )
    calls.mkdir()
    built = ensure_helm(tmp_path)
    root = tools_dir(tmp_path)
    assert built == root / "bin" / "helm"
    assert (calls / "args").read_text().split() == [
        "install",
        f"helm.sh/helm/v3/cmd/helm@{HELM_VERSION}",
    ]
    lines = (calls / "env").read_text().splitlines()
    env = dict(line.split("=", 1) for line in lines if "=" in line)
    assert env["GOBIN"] == str(root / "bin") and env["GOPATH"] == str(root / "go")
    assert "-modcacherw" in env["GOFLAGS"].split()  # so that `make clean` can remove the caches
    # The build cache is dropped once the binary is there.
    assert Path(env["GOCACHE"]).parent == root and not Path(env["GOCACHE"]).exists()


def test_without_go_the_error_names_the_fix(tmp_path: Path, bin_dir: Path) -> None:
    with pytest.raises(StackError) as caught:
        ensure_helm(tmp_path)
    message = str(caught.value)
    assert "Go is not installed" in message and f"put helm {HELM_VERSION} on PATH" in message
    assert "\n" not in message


def test_a_refusing_proxy_is_named_in_one_line(
    tmp_path: Path, bin_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOPROXY", "https://proxy.example")
    refusal = "go: helm.sh/helm/v3/cmd/helm@v3.22.0: dial tcp: connection refused"
    _script(
        bin_dir / "go",
        f"echo 'go: downloading helm.sh/helm/v3' >&2\necho '{refusal}' >&2\nexit 1\n",
    )
    with pytest.raises(StackError) as caught:
        ensure_helm(tmp_path)
    message = str(caught.value)
    assert refusal in message and "GOPROXY=https://proxy.example" in message
    assert "\n" not in message


def test_two_callers_at_once_build_helm_once(tmp_path: Path, bin_dir: Path) -> None:
    """``make test``'s background build and a test that needs helm early: the second waits
    for the first's build and uses it, instead of starting its own."""
    release = _fake_helm(tmp_path / "built" / "helm", HELM_VERSION)
    builds = tmp_path / "builds"
    builds.mkdir()
    # A slow build, so that the second caller surely arrives while it runs.
    _script(
        bin_dir / "go",
        f'PATH=/usr/bin:/bin\nmktemp -p {builds} >/dev/null\nsleep 1\n'
        f'mkdir -p "$GOBIN"\ncp {release} "$GOBIN/helm"\n',
    )
    with ThreadPoolExecutor(2) as pool:
        found = list(pool.map(lambda _: ensure_helm(tmp_path), range(2)))
    assert found == [tools_dir(tmp_path) / "bin" / "helm"] * 2
    assert len(list(builds.iterdir())) == 1
