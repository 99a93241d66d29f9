"""Shared fixtures: the repository root, the shared data folder, and two CLI runners with one
signature: :func:`run_cli` runs the real ``python -m vocaltools`` in a subprocess (for import
costs, start-up and the process's own exit status), :func:`invoke_cli` runs the same entry point
in this process (the same error boundary, exit codes, stdout and stderr; no interpreter start-up
and no re-import of torch, so it is the one to use for everything else)."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

# numba's on-disk cache (librosa's pyin, localmin, ...) is not safe to fill from several processes
# at once: two pytest-xdist workers compiling the same guvectorize on a cold cache can leave a pair
# of cache files from different processes, and the next call segfaults (numba/numba#10128). Each
# worker gets its own cache, set before anything imports numba.
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".pytest_cache" / "numba" /
                                             os.environ.get("PYTEST_XDIST_WORKER", "main")))


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


def invoke_cli(*args: str, input: str | bytes | None = None, cwd: Path | None = None,
               env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``vocaltools ARGS`` in this process through :func:`vocaltools.cli.app.main` and return
    what :func:`run_cli` returns: the exit code (0, 1 from the error boundary, 2 for usage, or the
    code of ``typer.Exit``) and stdout and stderr (text unless ``input`` is bytes). stdin, stdout
    and stderr are in-memory streams with a binary ``buffer`` (``-`` reads and writes it), and none
    is a terminal, so progress bars stay off as they do under a pipe. torch's thread count, which
    ``--threads`` sets for the whole process, is restored afterwards."""
    from vocaltools.cli.app import main

    text = not isinstance(input, bytes)
    data = input.encode("utf-8") if isinstance(input, str) else (input or b"")
    stdin = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    stderr = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    code: int | str | None = 0
    with contextlib.ExitStack() as stack:
        saved = {key: os.environ.get(key) for key in (env or {})}
        os.environ.update(env or {})
        stack.callback(_restore_environment, saved)
        if cwd is not None:
            stack.enter_context(contextlib.chdir(cwd))
        stack.enter_context(_streams(stdin, stdout, stderr))
        if "--threads" in args:  # train/predict set torch's process-wide thread count
            import torch

            stack.callback(torch.set_num_threads, torch.get_num_threads())
        try:
            main(list(args))
        except SystemExit as done:
            code = done.code
    if code is None:
        code = 0
    elif not isinstance(code, int):  # sys.exit("message"): the message goes to stderr, status 1
        stderr.write(f"{code}\n")
        code = 1
    out, err = stdout.buffer.getvalue(), stderr.buffer.getvalue()
    if text:
        out, err = out.decode("utf-8"), err.decode("utf-8")
    return subprocess.CompletedProcess(["vocaltools", *args], code, out, err)


@contextlib.contextmanager
def _streams(stdin, stdout, stderr):
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = stdin, stdout, stderr
    try:
        yield
    finally:
        stdout.flush()
        stderr.flush()
        sys.stdin, sys.stdout, sys.stderr = saved


def _restore_environment(saved: dict) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Trained-model registry and caches go to a temporary folder, never the user's home."""
    monkeypatch.setenv("VOCALTOOLS_HOME", str(tmp_path_factory.mktemp("vocaltools-home")))
