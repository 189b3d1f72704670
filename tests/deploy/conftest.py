"""The pinned helm, built once into the stack's tools folder (``make test`` builds it first)."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.settings import Settings
from worker.stack.tools import ensure_helm


@pytest.fixture(scope="session")
def helm(settings: Settings) -> Path:
    return ensure_helm(settings.stack.dir)
