# Sourced by the experiment scripts beside it: strict mode, the checkout's root, the commands and
# the data folder, with the defaults their usage lines state.
#   ROOT  the checkout (this file's grandparent folder)
#   PY    python with vocaltools installed   [python]
#   VT    command that runs vocaltools       [$PY -m vocaltools]
#   DATA  shared data folder                 [<repo>/../shared/data, or <repo>/../../shared/data
#         for a git worktree one level deeper]
# need_data DIR exits 2 with a message when a data set is missing; start_clock cds to ROOT and
# starts the clock that total_wall reads.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PY="${PY:-python}"
VT="${VT:-$PY -m vocaltools}"
DATA="${DATA:-$ROOT/../shared/data}"
[ -d "$DATA" ] || [ ! -d "$ROOT/../../shared/data" ] || DATA="$ROOT/../../shared/data"

need_data() {
  [ -d "$1" ] || { echo "error: $1 not found (set DATA)" >&2; exit 2; }
}

start_clock() {
  cd "$ROOT"
  start=$(date +%s)
}

total_wall() {
  echo "total wall $(( $(date +%s) - start )) s"
}
