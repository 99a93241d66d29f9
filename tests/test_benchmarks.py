"""benchmarks/run.py: the table, the JSON, and rows that report 'not available' instead of failing."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load():
    import sys

    if "bench_run" not in sys.modules:
        spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["bench_run"] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules["bench_run"]


def test_rows_and_table():
    bench = _load()
    rows = [bench.Row("featurize", 200.0, "x RT", "librosa", 100.0),
            bench.Row("cli start", 0.4, "s", "python -c pass", 0.05, higher_is_better=False),
            bench.unavailable("predict", "s", "python", "not merged")]
    assert rows[0].ratio == 2.0 and rows[1].ratio == 8.0 and rows[2].ratio is None
    table = bench.format_table(rows).splitlines()
    assert table[0].split(" | ")[0].strip() == "benchmark" and len(table) == 5
    assert "not available: not merged" in table[4] and "n/a" in table[4]


@pytest.mark.slow  # imports torch and trains a step: 6-15 s on a loaded 2-core machine
def test_train_row_for_an_unknown_model_and_json(tmp_path):
    bench = _load()
    (row,) = bench.bench_train(models=["no_such_model"], batch=2, steps=1, device="cpu")
    assert row.value is None and "unknown model" in row.note
    (row,) = bench.bench_train(models=["tiny_cnn"], batch=2, steps=1, device="cpu")
    assert row.value > 0 and row.reference_value > 0
    out = tmp_path / "bench.json"
    assert bench.main(["--quick", "--only", "knn", "--json", str(out)]) == 0
    payload = json.loads(out.read_text())
    assert payload["quick"] is True and payload["rows"] and "torch" in payload["machine"]
