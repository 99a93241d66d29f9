"""conftest.invoke_cli, the in-process runner, answers as the real process does."""

from __future__ import annotations

import json

from conftest import invoke_cli, run_cli


def test_in_process_runner_matches_the_real_process(tmp_path):
    for args in (["--version"], ["vote", str(tmp_path / "missing.jsonl")], ["models", "--bogus"]):
        real, here = run_cli(*args), invoke_cli(*args)
        assert here.returncode == real.returncode, args
        assert here.stdout == real.stdout, args
        assert here.stderr.splitlines()[-1:] == real.stderr.splitlines()[-1:], args
    assert invoke_cli("--version").returncode == 0
    missing = invoke_cli("vote", str(tmp_path / "missing.jsonl"))
    assert missing.returncode == 1 and missing.stderr.startswith("error: ")
    assert invoke_cli("models", "--bogus").returncode == 2  # usage error


def test_in_process_runner_reads_stdin_and_returns_bytes_when_given_bytes(tmp_path):
    from vocaltools.formats.jsonl import make_record

    record = make_record("prediction", item_id="a", clip_index=0, start_s=0.0, end_s=5.0,
                         top=[{"label": "x", "label_index": 0, "probability": 0.9}],
                         probabilities=[0.9, 0.1], labels=["x", "y"], target="singer",
                         true_label="x", fields={"singer": "x"}, model="m")
    text = json.dumps(record) + "\n"
    voted = invoke_cli("vote", "-", input=text)
    as_bytes = invoke_cli("vote", "-", input=text.encode())
    assert voted.returncode == 0 and as_bytes.returncode == 0, voted.stderr
    assert isinstance(as_bytes.stdout, bytes) and as_bytes.stdout.decode() == voted.stdout
    assert json.loads(voted.stdout.splitlines()[0])["label"] == "x"
