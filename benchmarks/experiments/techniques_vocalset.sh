#!/usr/bin/env bash
# S3 singing-technique classification on the VocalSet excerpts, leave-one-singer-out
# (docs/results-techniques.md).
#
# featurize (yamamoto2022: 44.1 kHz multi-resolution STFT, 3 x 1025 x 87 per 1-s clip)
# -> 4 folds, one singer tested per fold (dataset split --scheme kfold --by singer --hold-out group)
# -> per fold and setting: one crt_wc training (EPOCHS unweighted, then CRT epochs of classifier
#    re-training with w_c = 1/n_c^0.2), predictions of its stage-1 model (= joint with alpha 0.2:
#    the five classes have 18 training clips each in every fold, so the class weights are uniform
#    and weighted cross-entropy is the unweighted one) and of its final model (crt_wc)
# -> the stage-1 model with its BatchNorm statistics recomputed over the training clips
#    (recalibrate_bn.py: what --precise-bn does after the last epoch; these runs train with
#    --precise-bn 0, as PRECISE_BN says, to save CPU time, and a model whose running statistics
#    are used as they are answers one class for every clip: docs/results-techniques.md)
# -> evaluate --folds per setting (per fold, mean, std, pooled)
# -> the MFCC-statistics + logistic-regression baseline on the same folds (techniques_baseline.py).
#
# Usage: benchmarks/experiments/techniques_vocalset.sh [WORK_DIR]
# Environment:
#   PY        python with vocaltools installed             [python]
#   VT        command that runs vocaltools                 [$PY -m vocaltools]
#   DATA      shared data folder                           [<repo>/../shared/data]
#   EPOCHS    stage-1 (joint) epochs                       [5]
#   CRT       classifier re-training epochs                [2]
#   LR        Adam learning rate                           [1e-3]
#   BATCH     batch size                                   [8]
#   JOBS      trainings at once (one thread each)          [4]
#   PRECISE_BN  train --precise-bn                         [0]
#   RUNS      settings "model:tag" separated by spaces; tag "aug" adds the augmentation and label
#             smoothing of AUG_FLAGS   [oblong:plain oblong_dc_late:plain]
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
WORK="${1:-/tmp/vt-techniques-vocalset}"
PRECISE_BN="${PRECISE_BN:-0}"; EPOCHS="${EPOCHS:-5}"; CRT="${CRT:-2}"; LR="${LR:-1e-3}"; BATCH="${BATCH:-8}"; JOBS="${JOBS:-4}"
RUNS="${RUNS:-oblong:plain oblong_dc_late:plain}"
# glibc keeps freed blocks up to 32 MB in its heap instead of returning them to the kernel: the
# 1025 x 87 maps are re-allocated every step, and fresh pages cost as much system time as the
# training itself (measured: 3.1 -> 2.3 CPU-s per 16 clips at batch 8). Speed only.
export MALLOC_MMAP_THRESHOLD_="${MALLOC_MMAP_THRESHOLD_:-33554432}"
export MALLOC_TRIM_THRESHOLD_="${MALLOC_TRIM_THRESHOLD_:-4000000000}"
export MALLOC_TOP_PAD_="${MALLOC_TOP_PAD_:-268435456}"
AUG_FLAGS="${AUG_FLAGS:---augment-gain-db 6 --augment-shift-seconds 0.25 --augment-pitch-semitones 1 --augment-noise-snr-db 10 --label-smoothing 0.1}"
SRC="$DATA/vocalset-excerpts"
need_data "$SRC"
mkdir -p "$WORK/models"
start_clock

# 1. features at the paper's front end; 2. leave-one-singer-out folds (no validation singer:
#    3 training singers, the last epoch is kept)
[ -f "$WORK/store/manifest.jsonl" ] || $VT featurize "$SRC" --labels vocalset --preset yamamoto2022 -o "$WORK/store" -q
$VT dataset split "$WORK/store" --scheme kfold --by singer --hold-out group --validation-fraction 0 \
  --seed 0 -o "$WORK/loso.jsonl"
FOLDS=$($PY -c "import json,sys; print(' '.join(sorted({str(json.loads(l)['fold']) for l in open(sys.argv[1])})))" "$WORK/loso.jsonl")

# 3. one job per (setting, fold): train, then predict the fold's test singer with both models
job() {  # model tag fold
  local m=$1 tag=$2 f=$3 name="$1-$2" extra=()
  local dir="$WORK/models/$name/fold-$f"
  [ -f "$dir/test-predictions.jsonl" ] && [ -f "$dir/bn-stage1/test-predictions.jsonl" ] && return 0
  if [ "$tag" = aug ]; then read -r -a extra <<< "$AUG_FLAGS"; fi
  /usr/bin/time -f "$name fold $f: wall %e s, cpu %U+%S s" \
    $VT train "$WORK/store" -m "$m" -t technique --split "$WORK/loso.jsonl" --fold "$f" \
    --clip-seconds 1 --alpha 0.2 --strategy crt_wc --epochs "$EPOCHS" --crt-epochs "$CRT" \
    --lr "$LR" --batch-size "$BATCH" --select last --precise-bn "$PRECISE_BN" --threads 1 --no-register \
    "${extra[@]}" -o "$dir" -q
  $VT predict "$WORK/store" -m "$dir" --subset test --threads 1 -q -o "$dir/test-predictions.jsonl"
  $VT predict "$WORK/store" -m "$dir/stage1" --subset test --threads 1 -q \
    -o "$dir/stage1/test-predictions.jsonl"
  PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PY" "$ROOT/benchmarks/experiments/recalibrate_bn.py" "$WORK/store" "$dir/stage1" "$dir/bn-stage1"
  $VT predict "$WORK/store" -m "$dir/bn-stage1" --subset test --threads 1 -q \
    -o "$dir/bn-stage1/test-predictions.jsonl"
}
export -f job
export WORK VT PY ROOT EPOCHS CRT LR BATCH AUG_FLAGS PRECISE_BN
for r in $RUNS; do
  for f in $FOLDS; do echo "${r//:/ } $f"; done
done | xargs -P "$JOBS" -L 1 bash -c 'job "$@"' _

# 4. per setting and strategy: every fold, their mean and std, and all folds pooled
TABLE=()
for r in $RUNS; do
  name="${r//:/-}"
  for strategy in joint joint-bn crt_wc; do
    sub=""; [ "$strategy" = joint ] && sub="/stage1"; [ "$strategy" = joint-bn ] && sub="/bn-stage1"
    preds=(); for f in $FOLDS; do preds+=("$WORK/models/$name/fold-$f$sub/test-predictions.jsonl"); done
    $VT evaluate --folds "${preds[@]}" -o "$WORK/models/$name/report-$strategy.json" 2> /dev/null
    TABLE+=("$name-$strategy=$WORK/models/$name/report-$strategy.json")
  done
done

# 5. the baseline on the same folds, and the table
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PY" "$ROOT/benchmarks/experiments/techniques_baseline.py" "$WORK/store" --split "$WORK/loso.jsonl" \
  -o "$WORK/baseline-report.json"
"$PY" - "$WORK/loso.jsonl" "${TABLE[@]}" "mfcc-stats-logreg=$WORK/baseline-report.json" <<'PY'
import json, sys
split, entries = sys.argv[1], sys.argv[2:]
test_singer = {}
for line in open(split):
    r = json.loads(line)
    if r["split"] == "test":
        test_singer[r["fold"]] = r["item_id"].split("/")[-2]
keys = (("f1_macro", "macro F1"), ("accuracy", "acc"), ("balanced_accuracy", "B-acc"), ("top2", "top-2"))
print("| setting | fold (test singer) | " + " | ".join(k[1] for k in keys) + " |")
print("|---|---|" + "---|" * len(keys))
for entry in entries:
    name, path = entry.split("=", 1)
    rep = json.load(open(path))
    for run in rep["runs"]:
        c = run["clip"]
        print(f"| {name} | {run['fold']} ({test_singer[run['fold']]}) | " + " | ".join(f"{c[k]:.3f}" for k, _ in keys) + " |")
    agg = rep["aggregate"]["clip"]
    print(f"| {name} | **mean +- std** | " + " | ".join(f"**{agg[k]['mean']:.3f}** +- {agg[k]['std']:.3f}" for k, _ in keys) + " |")
    pooled = rep["pooled"]["clip"]
    print(f"| {name} | pooled | " + " | ".join(f"{pooled[k]:.3f}" for k, _ in keys) + " |")
PY
total_wall
