"""Shared fixtures: the repository root, the shared data folder, and a CLI runner that runs the
real ``python -m vocaltools`` in a subprocess (so import costs and exit codes are the real ones)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def shared_data(name: str) -> Path:
    """``../shared/data/<name>``, or skip the test with a reason when it is absent."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"shared data {path} is absent")
    return path


def run_cli(*args: str, input: str | bytes | None = None, cwd: Path | None = None,
            env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``python -m vocaltools ARGS`` and return the completed process (text mode unless
    ``input`` is bytes)."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    text = not isinstance(input, bytes)
    return subprocess.run([sys.executable, "-m", "vocaltools", *args], input=input, cwd=cwd,
                          env=full_env, capture_output=True, text=text, timeout=timeout)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Trained-model registry and caches go to a temporary folder, never the user's home."""
    monkeypatch.setenv("VOCALTOOLS_HOME", str(tmp_path_factory.mktemp("vocaltools-home")))
