"""`vocaltools synth`: the project's own audio through the CLI."""

from __future__ import annotations

import csv

import soundfile

from conftest import invoke_cli


def test_synth_singers_writes_files_and_metadata(tmp_path):
    result = invoke_cli("synth", "singers", str(tmp_path / "s"), "--n-singers", "2", "--n-songs", "2",
                     "--seconds", "1")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(open(tmp_path / "s" / "metadata.csv")))
    assert len(rows) == 8 and {r["take"] for r in rows} >= {"Control"}
    for row in rows:
        info = soundfile.info(tmp_path / "s" / row["path"])
        assert abs(info.duration - 1.0) < 0.05


def test_synth_notes_and_bad_range(tmp_path):
    result = invoke_cli("synth", "notes", str(tmp_path / "n"), "--instruments", "oboe,cello",
                     "--note-range", "60:64:2", "--velocities", "90")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "n" / "oboe").iterdir()) == [
        "C4_90.flac", "D4_90.flac", "E4_90.flac"]
    bad = invoke_cli("synth", "notes", str(tmp_path / "n"), "--note-range", "sixty")
    assert bad.returncode == 1 and "--note-range 'sixty'" in bad.stderr
    unknown = invoke_cli("synth", "notes", str(tmp_path / "n"), "--instruments", "violn")
    assert unknown.returncode == 1 and "did you mean 'violin'" in unknown.stderr
