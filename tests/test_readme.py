"""README.md's typical session runs as written, on a small synthetic folder of the layout the
README names, with the quick flags the README itself states for ``train``: when the README
drifts from the CLI, this test fails."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys

from conftest import ROOT


def _readme_session() -> tuple[list[str], list[str]]:
    """The commands of the README's typical session, and its quick flags for ``train``."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"A typical session, on songs laid out as `([^`]+)`.*?```\n(.*?)```", text,
                      re.S)
    assert found, "README.md has no 'A typical session, on songs laid out as `...`' block"
    layout, block = found.groups()
    assert layout == "music/<singer>/<album>/<NN-Title>.flac", layout  # what the folder below is
    commands = [line.strip() for line in block.splitlines() if line.strip().startswith("vocaltools")]
    quick = re.search(r"give\s+`train`\s+the\s+extra\s+flags\s+`([^`]+)`", text)
    assert quick, "README.md states no quick flags for train"
    return commands, shlex.split(quick.group(1))


def _music_folder(root) -> None:
    """music/<singer>/<album>/<NN-Title>.flac: 2 singers x 4 albums x 2 songs of synthetic voice."""
    from vocaltools.synth import make_singer_dataset

    staging = root / "staging"
    items = make_singer_dataset(staging, n_singers=2, n_songs=4, seconds=2.0, sample_rate=16000,
                                seed=3)
    for number, item in enumerate(items):
        song = int(item.song_id.removeprefix("song"))
        target = root / "music" / item.singer / f"{item.singer}_album{song}" / \
            f"{number % 2 + 1:02d}-{item.song_id}_{item.take}.flac"
        target.parent.mkdir(parents=True, exist_ok=True)
        (staging / item.path).rename(target)
    # a new song to identify: another take of the first singer's first song
    (root / "new-song.flac").write_bytes(
        next((root / "music" / items[0].singer).rglob("*.flac")).read_bytes())


def test_the_typical_session_of_the_readme_runs_as_written(tmp_path):
    commands, quick = _readme_session()
    assert [c.split()[1] for c in commands] == ["featurize", "train", "predict", "predict"]
    _music_folder(tmp_path)
    shim = tmp_path / "bin" / "vocaltools"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m vocaltools "$@"\n')
    shim.chmod(0o755)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           "PATH": f"{shim.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    outputs = []
    for command in commands:
        if command.split()[1] == "train":
            command = f"{command} {shlex.join(quick)} --threads 1"
        result = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"{command}\n{result.stderr}"
        outputs.append(result)
    assert (tmp_path / "music.store" / "store.json").is_file()
    assert (tmp_path / "models" / "fgnl" / "checkpoint.pt").is_file()
    assert "new-song" in outputs[2].stdout  # the predict of the one song
    report = json.loads(outputs[3].stdout)  # evaluate's report of the voted test songs
    assert '"accuracy"' in json.dumps(report), report
