#!/usr/bin/env bash
# S3 singing-technique classification on the GTSinger demo clips (docs/results-techniques.md).
#
# Featurize -> song-disjoint split (Speech takes left out) -> train oblong / oblong_dc_late with
# alpha 0.2, strategies joint and crt_wc -> predict the test songs -> vote -> evaluate.
#
# Usage: benchmarks/experiments/techniques.sh [WORK_DIR]
# Environment:
#   PY          python with vocaltools installed   [python]
#   VT          command that runs vocaltools   [python -m vocaltools]
#   DATA        shared data folder             [<repo>/../shared/data]
#   EPOCHS      joint epochs                   [10]
#   STAGE1      crt_wc stage-1 epochs          [6]   (STAGE1 + CRT = EPOCHS, as 100 + 100 = 200)
#   CRT         crt_wc classifier epochs       [4]
#   LR          Adam learning rate             [1e-3]  (paper 1e-4 for 200 epochs)
#   THREADS     torch CPU threads per run      [1]
#   PARALLEL    1 = the four trainings run at once  [1]
#   FULL        1 = the paper's yamamoto2022 front end (44.1 kHz, 3 x 1025 x 259) [0 = reduced]
# Reduced front end (default): 16,000 Hz, n_fft 512, hop 512, windows 512/256/128 (32/16/8 ms
# against the paper's 46/23/12 ms at 44.1 kHz; hop 32 ms against 11.6 ms), i.e. 3 x 257 x 94 per
# 3-s clip instead of 3 x 1025 x 259: about 11 times fewer input values.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
WORK="${1:-/tmp/vt-techniques}"
EPOCHS="${EPOCHS:-10}"; STAGE1="${STAGE1:-6}"; CRT="${CRT:-4}"; LR="${LR:-1e-3}"
THREADS="${THREADS:-1}"; PARALLEL="${PARALLEL:-1}"; FULL="${FULL:-0}"
SRC="$DATA/gtsinger-demo"
need_data "$SRC"
mkdir -p "$WORK"
start_clock

# 1. features
if [ "$FULL" = 1 ]; then
  FEAT=(--preset yamamoto2022)
else
  cat > "$WORK/front-end.json" <<'JSON'
{"preset": "yamamoto2022-reduced16k", "sample_rate": 16000, "front_ends": [{"name": "multires", "n_fft": 512, "hop_length": 512, "win_lengths": [512, 256, 128], "top_db": 80.0}]}
JSON
  FEAT=(--config "$WORK/front-end.json")
fi
$VT featurize "$SRC" --labels gtsinger-demo "${FEAT[@]}" -o "$WORK/store" -q

# 2. song-disjoint split (song_key = singer/song_id), Speech takes left out
$VT dataset split "$WORK/store" --scheme group --by song_key \
  --keep take=Control,Breathy,Vibrato,Glissando,Falsetto,Mixed,Pharyngeal \
  --test-fraction 0.25 --validation-fraction 0.2 --seed 0 -o "$WORK/split.jsonl"

# 3. train: 2 models x 2 strategies, alpha 0.2
train() {  # model strategy
  local m=$1 s=$2 extra=()
  if [ "$s" = joint ]; then extra=(--epochs "$EPOCHS"); else extra=(--epochs "$STAGE1" --crt-epochs "$CRT"); fi
  /usr/bin/time -f "$m-$s wall %e s" $VT train "$WORK/store" -m "$m" -t take --split "$WORK/split.jsonl" \
    --alpha 0.2 --strategy "$s" "${extra[@]}" --lr "$LR" --threads "$THREADS" --no-register \
    -o "$WORK/models/$m-$s" -q
}
RUNS=("oblong joint" "oblong crt_wc" "oblong_dc_late joint" "oblong_dc_late crt_wc")
for r in "${RUNS[@]}"; do
  if [ "$PARALLEL" = 1 ]; then train $r & else train $r; fi
done
wait

# 4. predict the test songs, vote (S1 rule), evaluate (clip and item level)
for r in "${RUNS[@]}"; do
  set -- $r; name="$1-$2"
  $VT predict "$WORK/store" -m "$WORK/models/$name" --subset test --threads "$THREADS" -q \
    -o "$WORK/models/$name/test-predictions.jsonl"
  $VT vote "$WORK/models/$name/test-predictions.jsonl" -o "$WORK/models/$name/test-votes.jsonl"
  $VT evaluate "$WORK/models/$name/test-predictions.jsonl" -o "$WORK/models/$name/test-report.json" \
    --confusion "$WORK/models/$name/test-confusion.png"
done

# 5. chance levels of the test side (majority class and 1/n_classes), clip and item level
"$PY" - "$WORK" <<'PY'
import collections, json, sys
work = sys.argv[1]
recs = [json.loads(l) for l in open(f"{work}/models/oblong-joint/test-predictions.jsonl")]
clips = collections.Counter(r["true_label"] for r in recs)
items = collections.Counter({r["item_id"]: r["true_label"] for r in recs}.values())
n_classes = len(recs[0]["labels"])
for level, c in (("clip", clips), ("item", items)):
    total = sum(c.values())
    print(f"chance {level}: n={total} counts={dict(c)} majority={max(c.values()) / total:.3f} "
          f"uniform=1/{n_classes}={1 / n_classes:.3f}")
PY
"$PY" - "$WORK" "${RUNS[@]}" <<'PY'
import json, sys
work, runs = sys.argv[1], sys.argv[2:]
print("| model | strategy | clip acc | clip macro F1 | clip B-acc | top-2 | top-3 | item acc | item macro F1 | item B-acc |")
print("|---|---|---|---|---|---|---|---|---|---|")
for r in runs:
    m, s = r.split()
    rep = json.load(open(f"{work}/models/{m}-{s}/test-report.json"))["runs"][0]
    c, i = rep["clip"], rep["item"]
    print(f"| {m} | {s} | {c['accuracy']:.3f} | {c['f1_macro']:.3f} | {c['balanced_accuracy']:.3f} | "
          f"{c['top2']:.3f} | {c['top3']:.3f} | {i['accuracy']:.3f} | {i['f1_macro']:.3f} | "
          f"{i['balanced_accuracy']:.3f} |")
PY
total_wall
