"""The CLI shell: help, version, exit codes, light imports, generated docs in step with the code."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, run_cli
from vocaltools import __version__

COMMANDS = ["featurize", "separate", "train", "predict", "vote", "embed", "knn"]
HEAVY = ["torch", "librosa", "faiss", "sklearn", "matplotlib", "scipy", "numba"]

PROBE = """
import os, sys, json
sys.argv = ["vocaltools", *json.loads(os.environ["PROBE_ARGS"])]
from vocaltools.cli.app import main
try:
    main()
except SystemExit:
    pass
heavy = [m for m in json.loads(os.environ["PROBE_HEAVY"]) if m in sys.modules]
print("HEAVY=" + json.dumps(heavy), file=sys.stderr)
"""


def probe_imports(args: list[str], extra_env: dict | None = None) -> tuple[str, list[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PROBE_ARGS": json.dumps(args),
           "PROBE_HEAVY": json.dumps(HEAVY), **(extra_env or {})}
    result = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                            text=True, timeout=120)
    line = [ln for ln in result.stderr.splitlines() if ln.startswith("HEAVY=")][-1]
    return result.stdout, json.loads(line[len("HEAVY="):])


def test_help_lists_every_command():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in COMMANDS + ["models", "evaluate"]:
        assert command in result.stdout


def test_version():
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"vocaltools {__version__}"


@pytest.mark.parametrize("args", [["--help"], *[[c, "--help"] for c in COMMANDS + ["models"]]])
def test_help_imports_nothing_heavy(args):
    stdout, heavy = probe_imports(args)
    assert "Usage" in stdout
    assert heavy == []


def test_tab_completion_imports_nothing_heavy():
    stdout, heavy = probe_imports([], {"_VOCALTOOLS_COMPLETE": "complete_bash",
                                       "COMP_WORDS": "vocaltools fe", "COMP_CWORD": "1"})
    assert "featurize" in stdout
    assert heavy == []


def test_usage_error_exits_2():
    result = run_cli("vote", "--no-such-option")
    assert result.returncode == 2
    assert "No such option" in result.stderr


def test_expected_error_is_one_line_and_exits_1(tmp_path):
    result = run_cli("vote", str(tmp_path / "missing.jsonl"))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"error: {tmp_path / 'missing.jsonl'}: no such file"]


def test_generated_man_pages_and_completions_are_current():
    from vocaltools.cli.docgen import stale_files

    stale = stale_files()
    assert stale == [], f"regenerate with: python -m vocaltools.cli.docgen ({stale})"


def test_every_man_page_has_options_and_exit_status():
    pages = sorted((ROOT / "man").glob("*.1"))
    assert len(pages) >= len(COMMANDS) + 1
    for page in pages:
        text = page.read_text()
        assert ".SH OPTIONS" in text and ".SH EXIT STATUS" in text, page.name
