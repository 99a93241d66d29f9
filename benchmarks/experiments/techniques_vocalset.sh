#!/usr/bin/env bash
# S3 singing-technique classification on the VocalSet excerpts, leave-one-singer-out
# (docs/results-techniques.md).
#
# featurize (yamamoto2022: 44.1 kHz multi-resolution STFT, 3 x 1025 x 87 per 1-s clip)
# -> 4 folds, one singer tested per fold (dataset split --scheme kfold --by singer --hold-out group)
# -> per fold: train the networks of RUNS, predict the held-out singer's clips
# -> evaluate --folds per setting (per fold, mean, std, pooled)
# -> the MFCC-statistics + logistic-regression baseline on the same folds (techniques_baseline.py).
#
# Usage: benchmarks/experiments/techniques_vocalset.sh [WORK_DIR]
# Environment:
#   PY        python with vocaltools installed             [python]
#   VT        command that runs vocaltools                 [$PY -m vocaltools]
#   DATA      shared data folder                           [<repo>/../shared/data]
#   EPOCHS    joint epochs (and stage-1 epochs of crt_wc)  [8]
#   CRT       crt_wc classifier re-training epochs         [4]
#   LR        Adam learning rate                           [1e-3]
#   BATCH     batch size                                   [8]
#   JOBS      trainings at once (one thread each)          [4]
#   RUNS      settings, "model:strategy:tag" separated by spaces; tag "aug" adds the augmentation
#             and label smoothing of AUG_FLAGS [the four of the acceptance table + oblong:joint:aug]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
WORK="${1:-/tmp/vt-techniques-vocalset}"
PY="${PY:-python}"
VT="${VT:-$PY -m vocaltools}"
DATA="${DATA:-$ROOT/../shared/data}"
[ -d "$DATA" ] || [ ! -d "$ROOT/../../shared/data" ] || DATA="$ROOT/../../shared/data"  # a worktree under /work/wt
EPOCHS="${EPOCHS:-8}"; CRT="${CRT:-4}"; LR="${LR:-1e-3}"; BATCH="${BATCH:-8}"; JOBS="${JOBS:-4}"
RUNS="${RUNS:-oblong:joint:plain oblong:crt_wc:plain oblong_dc_late:joint:plain oblong_dc_late:crt_wc:plain oblong:joint:aug}"
AUG_FLAGS="${AUG_FLAGS:---augment-gain-db 6 --augment-shift-seconds 0.25 --augment-pitch-semitones 1 --augment-noise-snr-db 10 --label-smoothing 0.1}"
SRC="$DATA/vocalset-excerpts"
[ -d "$SRC" ] || { echo "error: $SRC not found (set DATA)" >&2; exit 2; }
mkdir -p "$WORK/models"
cd "$ROOT"
start=$(date +%s)

# 1. features at the paper's front end; 2. leave-one-singer-out folds (no validation singer:
#    3 training singers, the last epoch is kept)
[ -f "$WORK/store/manifest.jsonl" ] || $VT featurize "$SRC" --labels vocalset --preset yamamoto2022 -o "$WORK/store" -q
$VT dataset split "$WORK/store" --scheme kfold --by singer --hold-out group --validation-fraction 0 \
  --seed 0 -o "$WORK/loso.jsonl"
FOLDS=$($PY -c "import json,sys; print(' '.join(sorted({str(json.loads(l)['fold']) for l in open(sys.argv[1])})))" "$WORK/loso.jsonl")

# 3. one job per (setting, fold): train, then predict the fold's test singer
job() {  # model strategy tag fold
  local m=$1 s=$2 tag=$3 f=$4 name="$1-$2-$3" extra=()
  local dir="$WORK/models/$name/fold-$f"
  [ -f "$dir/test-predictions.jsonl" ] && return 0
  if [ "$s" != joint ]; then extra+=(--crt-epochs "$CRT"); fi
  if [ "$tag" = aug ]; then read -r -a aug <<< "$AUG_FLAGS"; extra+=("${aug[@]}"); fi
  /usr/bin/time -f "$name fold $f: wall %e s, cpu %U+%S s" \
    $VT train "$WORK/store" -m "$m" -t technique --split "$WORK/loso.jsonl" --fold "$f" \
    --clip-seconds 1 --alpha 0.2 --strategy "$s" --epochs "$EPOCHS" --lr "$LR" --batch-size "$BATCH" \
    --select last --precise-bn 0 --threads 1 --no-register "${extra[@]}" -o "$dir" -q
  $VT predict "$WORK/store" -m "$dir" --subset test --threads 1 -q -o "$dir/test-predictions.jsonl"
}
export -f job
export WORK VT EPOCHS CRT LR BATCH AUG_FLAGS
for r in $RUNS; do
  for f in $FOLDS; do echo "${r//:/ } $f"; done
done | xargs -P "$JOBS" -L 1 bash -c 'job "$@"' _

# 4. per setting: every fold, their mean and std, and all folds pooled
for r in $RUNS; do
  name="${r//:/-}"
  preds=(); for f in $FOLDS; do preds+=("$WORK/models/$name/fold-$f/test-predictions.jsonl"); done
  $VT evaluate --folds "${preds[@]}" -o "$WORK/models/$name/report.json" > /dev/null
done

# 5. the baseline on the same folds, and the table
"$PY" "$ROOT/benchmarks/experiments/techniques_baseline.py" "$WORK/store" --split "$WORK/loso.jsonl" \
  -o "$WORK/baseline-report.json"
"$PY" - "$WORK" $RUNS <<'PY'
import json, sys
work, runs = sys.argv[1], sys.argv[2:]
rows = [(r.replace(":", " "), json.load(open(f"{work}/models/{r.replace(':', '-')}/report.json")))
        for r in runs] + [("mfcc-stats logreg", json.load(open(f"{work}/baseline-report.json")))]
keys = (("f1_macro", "macro F1"), ("accuracy", "acc"), ("balanced_accuracy", "B-acc"), ("top2", "top-2"))
print("| setting | fold | " + " | ".join(k[1] for k in keys) + " |")
print("|---|---|" + "---|" * len(keys))
for name, rep in rows:
    for run in rep["runs"]:
        c = run["clip"]
        print(f"| {name} | {run.get('fold', run['source'])} | " + " | ".join(f"{c[k]:.3f}" for k, _ in keys) + " |")
    agg = rep["aggregate"]["clip"]
    print(f"| {name} | mean +- std | " + " | ".join(f"{agg[k]['mean']:.3f} +- {agg[k]['std']:.3f}" for k, _ in keys) + " |")
PY
echo "total wall $(( $(date +%s) - start )) s"
