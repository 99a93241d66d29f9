#!/usr/bin/env bash
# The main job, end to end on audio vocaltools makes itself (no network, a few minutes on a CPU):
# synthesise singers -> featurize -> train -> predict -> vote -> evaluate.
# Usage: bash scripts/demo.sh [WORKDIR]   (default: demo-out; re-running resumes and redoes nothing)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
[ -x "$here/.venv/bin/vocaltools" ] && export PATH="$here/.venv/bin:$PATH"
out=${1:-demo-out}
export VOCALTOOLS_HOME=${VOCALTOOLS_HOME:-$out/home}   # keep the demo's model registry in WORKDIR
set -x
vocaltools synth singers "$out/audio" --n-singers 4 --n-songs 6 --seconds 10 --seed 0
vocaltools featurize "$out/audio" --labels "csv:$out/audio/metadata.csv" --preset fgnl -o "$out/store"
vocaltools train "$out/store" --model tiny_cnn --target singer --split-by song_id --split-seed 0 \
    --clip-seconds 2 --epochs 12 --patience 0 --seed 0 -o "$out/model" --name demo
vocaltools predict "$out/store" --model demo --subset test -o "$out/predictions.jsonl"
vocaltools vote "$out/predictions.jsonl" -o "$out/votes.jsonl"
vocaltools evaluate "$out/predictions.jsonl" --confusion "$out/confusion.png" -o "$out/report.json"
vocaltools models --set-default demo
first=$(find "$out/audio" -name '*.flac' | sort | head -n 1)
vocaltools predict "$first"   # the default model: one line per file on a terminal, JSONL in a pipe
