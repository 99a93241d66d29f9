#!/usr/bin/env bash
# S4 instrument identification: train on rendered General-MIDI notes, test on the synthetic test
# split and on real recordings from sms-tools (docs/results-instruments.md).
#
# synth notes -> featurize -> stratified 80/10/10 split -> train aacnn ratio 0 and 0.25 (width
# reduced) -> predict the synthetic test split and the real notes -> vote -> evaluate.
#
# Usage: benchmarks/experiments/instruments.sh [WORK_DIR]
# Environment:
#   PY          python with vocaltools installed   [python]
#   VT        command that runs vocaltools   [python -m vocaltools]
#   DATA      shared data folder             [<repo>/../shared/data]
#   MODEL     aacnn_cqt (CQT 252 x 87) or aacnn (STFT 1025 x 87)  [aacnn_cqt]
#   WIDTH     width_multiplier of every conv and dense layer      [0.125]  (paper 1.0)
#   EPOCHS    maximum epochs, ratio 0         [8]     (paper up to 400, patience 30)
#   EPOCHS_ATT  maximum epochs, ratio 0.25    [3]     (its attention costs ~4 x the CPU at width 0.125)
#   LR        Adagrad learning rate           [1e-2]  (project default 1e-3)
#   THREADS   torch CPU threads per run       [1]
#   JOBS      featurize worker processes      [2]
#   NOTES     MIDI notes FIRST:LAST:STEP      [40:84:2]
#   VELOCITIES                                [60,100]
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
WORK="${1:-/tmp/vt-instruments}"
MODEL="${MODEL:-aacnn_cqt}"; WIDTH="${WIDTH:-0.125}"; EPOCHS="${EPOCHS:-8}"; EPOCHS_ATT="${EPOCHS_ATT:-3}"; LR="${LR:-1e-2}"
THREADS="${THREADS:-1}"; JOBS="${JOBS:-2}"; NOTES="${NOTES:-40:84:2}"; VELOCITIES="${VELOCITIES:-60,100}"
SMS="$DATA/sms-tools-sounds"
need_data "$SMS"
if [ "$MODEL" = aacnn ]; then PRESET=wise-stft; else PRESET=wise-cqt; fi
INSTRUMENTS=flute,oboe,trumpet,violin,cello,saxophone,clarinet,bassoon,viola,trombone,french-horn,guitar,double-bass,tuba
mkdir -p "$WORK"
start_clock

# 1. training notes: 14 instruments x 23 notes (E2..C6, every 2nd semitone) x velocities 60, 100
$VT synth notes "$WORK/notes" --instruments "$INSTRUMENTS" --note-range "$NOTES" --velocities "$VELOCITIES"
$VT featurize "$WORK/notes" --labels dirname --preset "$PRESET" -o "$WORK/store-$PRESET" -q -j "$JOBS"
$VT dataset split "$WORK/store-$PRESET" --scheme stratified --by label --test-fraction 0.1 \
  --validation-fraction 0.1 --seed 0 -o "$WORK/split.jsonl"

# 2. real notes (sms-tools, CC BY 4.0): a labelled CSV beside symbolic links to the files
mkdir -p "$WORK/real"
printf 'path,label\n' > "$WORK/real/labels.csv"
for pair in flute-A4:flute oboe-A4:oboe trumpet-A4:trumpet violin-B3:violin cello-phrase:cello \
            cello-double:cello cello-double-2:cello sax-phrase:saxophone sax-phrase-short:saxophone; do
  f=${pair%%:*}; ln -sf "$SMS/$f.flac" "$WORK/real/$f.flac"; echo "$f.flac,${pair##*:}" >> "$WORK/real/labels.csv"
done
$VT featurize "$WORK/real" --labels "csv:$WORK/real/labels.csv" --preset "$PRESET" \
  -o "$WORK/real-$PRESET" -q

# 3. train ratio 0 and 0.25 (in parallel)
for ratio in 0 0.25; do
  if [ "$ratio" = 0 ]; then epochs=$EPOCHS; else epochs=$EPOCHS_ATT; fi
  /usr/bin/time -f "ratio $ratio wall %e s" $VT train "$WORK/store-$PRESET" -m "$MODEL" -t label \
    --split "$WORK/split.jsonl" --option ratio=$ratio --option width_multiplier=$WIDTH \
    --epochs "$epochs" --lr "$LR" --threads "$THREADS" --no-register \
    -o "$WORK/models/$MODEL-r$ratio" -q &
done
wait

# 4. predict: synthetic validation and test split, real recordings; evaluate clip and item level
for ratio in 0 0.25; do
  d="$WORK/models/$MODEL-r$ratio"
  for side in validation test; do
    $VT predict "$WORK/store-$PRESET" -m "$d" --subset $side --threads "$THREADS" -q -o "$d/$side-predictions.jsonl"
    $VT evaluate "$d/$side-predictions.jsonl" -o "$d/$side-report.json"
  done
  $VT predict "$WORK/real-$PRESET" -m "$d" --threads "$THREADS" -q -o "$d/real-predictions.jsonl"
  $VT vote "$d/real-predictions.jsonl" -o "$d/real-votes.jsonl"
  $VT evaluate "$d/real-predictions.jsonl" -o "$d/real-report.json" --confusion "$d/real-confusion.png"
done

# 5. summary table and the real-recording votes
"$PY" - "$WORK" "$MODEL" <<'PY'
import json, sys
work, model = sys.argv[1:]
print("| model | ratio | set | clips | clip acc | clip macro F1 | items | item acc | item macro F1 |")
print("|---|---|---|---|---|---|---|---|---|")
for ratio in ("0", "0.25"):
    for side in ("validation", "test", "real"):
        rep = json.load(open(f"{work}/models/{model}-r{ratio}/{side}-report.json"))["runs"][0]
        c, i = rep["clip"], rep["item"]
        print(f"| {model} | {ratio} | {side} | {c['n']} | {c['accuracy']:.3f} | {c['f1_macro']:.3f} | "
              f"{i['n']} | {i['accuracy']:.3f} | {i['f1_macro']:.3f} |")
for ratio in ("0", "0.25"):
    print(f"real recordings, ratio {ratio}:")
    for line in open(f"{work}/models/{model}-r{ratio}/real-votes.jsonl"):
        v = json.loads(line)
        print("  ", {k: v.get(k) for k in ("item_id", "true_label", "label", "n_clips")})
PY
total_wall
