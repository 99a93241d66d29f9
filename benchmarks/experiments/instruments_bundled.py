"""The bundled ``instruments`` model: render training phrases from free soundfonts, train, evaluate
on real recordings only, compare with MFCC statistics + logistic regression, and export.

Steps (each a sub-command; ``all`` runs the ones that build the shipped model)::

    render STORE [--augment room|clean|no-reverb|no-eq|no-band_limit|no-noise] [--phrases N]
                 [--copies K] [--soundfonts fluidr3,musescore[,csound]] [--seconds S] [--seed N]
                 [--preset instruments|musicnn]
    real DATA OUT [--preset P]   featurize fsd-instruments (its 7 S4 classes) and the sms-tools
                           instruments into OUT/fsd7 and OUT/sms (evaluation only)
    train STORE MODEL_DIR [--model mel_cnn] [--epochs E] [--option k=v ...]
                 [--clip-seconds S --hop-seconds H]
    evaluate MODEL_DIR [MODEL_DIR ...] REAL [-o REPORT.json]   several folders: an ensemble
    baseline STORE REAL [-o REPORT.json]   MFCC statistics + logistic regression on STORE's clips
    cv DATA [--level clip|file] [--C-grid C ...] [-o REPORT.json]   in-domain: fsd-instruments
                           cross-validated (MFCC + LR; C fixed or chosen by inner CV)
    ensemble OUT_DIR MODEL_DIR [MODEL_DIR ...]   join trained models into one (mean probability)
    tagged OUT_DIR MODEL_DIR [--weight W]   a model trained on the musicnn preset joined with
                           musicnn's instrument tags (tag_prior, 3-s clips)
    export MODEL_DIR REPORT.json [--name instruments]   write vocaltools/bundled/NAME.*
    fixture INSTRUMENT SOUNDFONT OUT.flac   a test input (a phrase of seed 101, room augmentation)
    probe WORK DATA [--phrases N]   pretrained features (CREPE tiny, GE2E, musicnn) against MFCC
                           statistics:
                           each embeds 1-s clips of rendered phrases and of fsd-instruments,
                           logistic regression on the renders, file accuracy on the real files
    tagprior REAL --model M [M ...] [--weights W ...] [--level file|clip]   the model on fsd7 joined
                           with musicnn's zero-shot instrument tags (product of experts, weight W;
                           tags of the whole file, or of each 1-s clip as predict would join them)
    all WORK DATA [--seeds N]   the shipped model: render (room, musicnn preset) -> real ->
                           train N seeds -> ensemble -> tagged -> evaluate -> baseline -> export

Training data (what ships): FluidR3_GM and MuseScore_General only (both MIT). pretty_midi's
TimGM6mb (GPL-2) is never used here. The FSD clips (licences unknown) and sms-tools are read only
to evaluate. Run with ``nice -n 10`` and ``OMP_NUM_THREADS=1`` on a shared machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

#: fsd-instruments folder -> S4 class (the 7 that are S4 instruments)
FSD_CLASSES = {"acoustic_guitar": "guitar", "cello": "cello", "clarinet": "clarinet",
               "double_bass": "double-bass", "flute": "flute", "saxophone": "saxophone",
               "violin": "violin"}
#: sms-tools instrument recordings -> S4 class
SMS_FILES = {"flute-A4": "flute", "oboe-A4": "oboe", "trumpet-A4": "trumpet", "violin-B3": "violin",
             "cello-phrase": "cello", "cello-double": "cello", "cello-double-2": "cello",
             "sax-phrase": "saxophone", "sax-phrase-short": "saxophone"}
TRAIN_SOUNDFONTS = ("fluidr3", "musescore")
#: the shipped model: its members' feature preset (the tagger's), model options (dB of the power
#: mel, SpecAugment masks of up to 12 of the 96 bands and 12 frames), epochs, members and tag weight:
#: ``all``'s defaults
SHIPPED_PRESET = "musicnn"
SHIPPED_OPTIONS = ("power_db=true", "freq_masks=2", "freq_mask_bands=12", "time_masks=2",
                   "time_mask_frames=12")
SHIPPED_EPOCHS = 8
SHIPPED_SEEDS = 5
SHIPPED_TAG_WEIGHT = 1.0
CLIP = {"clip_seconds": 1.0, "hop_seconds": 0.5}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def augment_config(name: str):
    from vocaltools.augment import CLEAN, ROOM

    if name == "room":
        return ROOM
    if name == "clean":
        return CLEAN
    if name.startswith("no-"):
        return ROOM.without(name[3:])
    raise SystemExit(f"error: unknown --augment {name!r}")


def cmd_render(args) -> None:
    from vocaltools.datasets.rendered import render_phrase_store
    from vocaltools.features import get_preset
    from vocaltools.phrases import PATCHES

    instruments = list(PATCHES) if args.instruments == "all" else args.instruments.split(",")
    start = time.time()
    result = render_phrase_store(args.store, soundfonts=args.soundfonts.split(","),
                                 instruments=instruments, n_phrases=args.phrases,
                                 seconds=args.seconds, copies=args.copies,
                                 augment_config=augment_config(args.augment), seed=args.seed,
                                 feature_config=get_preset(args.preset), progress=log)
    log(f"{args.store}: {result.n_items} items of {result.n_phrases} phrases, "
        f"{result.seconds_of_audio:.0f} s, {len(result.instruments)} instruments, skipped "
        f"{list(result.skipped)}, {time.time() - start:.0f} s")


def cmd_real(args) -> None:
    from vocaltools.audio import load_audio
    from vocaltools.features import get_preset
    from vocaltools.features.compute import compute_features
    from vocaltools.formats.store import FeatureStore

    config = get_preset(args.preset)
    data, out = Path(args.data), Path(args.out)
    sets = {"fsd7": [], "sms": []}
    with open(data / "fsd-instruments" / "metadata.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["instrument"] in FSD_CLASSES:
                sets["fsd7"].append((data / "fsd-instruments" / row["path"],
                                     FSD_CLASSES[row["instrument"]]))
    for stem, label in SMS_FILES.items():
        sets["sms"].append((data / "sms-tools-sounds" / f"{stem}.flac", label))
    for name, files in sets.items():
        store = FeatureStore(out / name)
        store.create(feature_config=config.to_dict())
        done = store.finished_ids()
        for path, label in files:
            item_id = f"{label}/{path.stem}"
            if item_id in done:
                continue
            audio = load_audio(path, sample_rate=config.sample_rate)
            arrays = compute_features(audio, sample_rate=config.sample_rate, config=config)
            store.write_item(item_id=item_id, audio_path=str(path), arrays=arrays,
                             duration_s=audio.size / config.sample_rate,
                             fields={"instrument": label}, meta={"feature_config": config.to_dict()})
        log(f"{out / name}: {len(files)} files")


def _parse_options(pairs):
    options = {}
    for pair in pairs or ():
        key, _, value = pair.partition("=")
        options[key] = json.loads(value)
    return options


def cmd_train(args) -> None:
    from vocaltools.datasets.rendered import phrase_split
    from vocaltools.formats.store import FeatureStore
    from vocaltools.training.config import make_train_config
    from vocaltools.training.loop import train_model

    store = FeatureStore(args.store)
    config = make_train_config(model=args.model, target="instrument", epochs=args.epochs,
                               lr=args.lr, optimizer=args.optimizer, batch_size=args.batch_size,
                               patience=None, select=args.select, seed=args.seed, device="cpu",
                               threads=args.threads, model_options=_parse_options(args.option),
                               precise_bn=args.precise_bn,
                               clip_seconds=args.clip_seconds or CLIP["clip_seconds"],
                               hop_seconds=args.hop_seconds or CLIP["hop_seconds"])
    split = phrase_split(store, validation_fraction=0.1, seed=args.seed)
    start = time.time()
    result = train_model(store=store, config=config, split=split, model_dir=args.model_dir,
                         progress=lambda p: p.record is not None and log(str(p.record)))
    log(f"trained {args.model_dir} in {time.time() - start:.0f} s")
    print(json.dumps({k: result.summary.get(k) for k in ("best_epoch", "validation")}, indent=1))


def _clips(store, *, clip):
    """Every item's clips: (item ids, labels, float32 [n_clips, channels, bins, frames], owner)."""
    from vocaltools.segments import ClipConfig, clip_windows, cut_clip
    from vocaltools.training.data import frames_per_second_of

    config = ClipConfig.from_dict(clip) if isinstance(clip, dict) else clip
    fps = frames_per_second_of(store.feature_config())
    ids, labels, clips, owner = [], [], [], []
    for item in store.items():
        array = store.load_arrays(item)["logmel"]
        windows = clip_windows(n_frames=array.shape[-1], frames_per_second=fps, config=config)
        if not windows:
            continue
        ids.append(item.item_id)
        labels.append(str(item.fields["instrument"]))
        for window in windows:
            clips.append(cut_clip(array, window))
            owner.append(len(ids) - 1)
    return ids, labels, np.stack(clips), np.array(owner)


def scores_of(*, true, probabilities, classes, owner, n_items, item_true):
    """Clip and file (mean probability) accuracy and macro F1 over the true classes; also with
    the answer restricted to the classes present in the set."""
    from sklearn.metrics import f1_score

    classes = list(classes)
    present = sorted(set(item_true))
    keep = [classes.index(c) for c in present if c in classes]
    out = {}
    item_probabilities = np.stack([probabilities[owner == i].mean(axis=0) for i in range(n_items)])
    for level, p, t in (("clip", probabilities, true), ("file", item_probabilities, item_true)):
        predicted = [classes[i] for i in p.argmax(axis=1)]
        restricted = [classes[keep[i]] for i in p[:, keep].argmax(axis=1)]
        out[level] = {
            "n": len(t),
            "accuracy": float(np.mean([a == b for a, b in zip(t, predicted)])),
            "f1_macro": float(f1_score(t, predicted, labels=present, average="macro", zero_division=0)),
            "accuracy_among_present": float(np.mean([a == b for a, b in zip(t, restricted)])),
            "f1_macro_among_present": float(f1_score(t, restricted, labels=present, average="macro",
                                                     zero_division=0)),
        }
    predicted_files = [classes[i] for i in item_probabilities.argmax(axis=1)]
    out["confusion"] = {c: {} for c in present}
    for t, p in zip(item_true, predicted_files):
        out["confusion"][t][p] = out["confusion"][t].get(p, 0) + 1
    out["majority_file_accuracy"] = max(item_true.count(c) for c in present) / len(item_true)
    return out


def _clip_probabilities(members, clips) -> np.ndarray:
    """The members' mean softmax for every clip, 64 clips per forward pass."""
    import torch

    with torch.no_grad():
        return np.mean([np.concatenate([
            torch.softmax(m.module(torch.from_numpy(clips[i:i + 64])), dim=1).numpy()
            for i in range(0, len(clips), 64)]) for m in members], axis=0)


def evaluate_model(model_dir, real_dir) -> dict:
    """Scores on the real sets; ``model_dir`` may be a list of model folders, whose clip
    probabilities are averaged (an ensemble; the folders must share labels and clip settings)."""
    import torch

    from vocaltools.formats.store import FeatureStore
    from vocaltools.inference.predict import load_model

    dirs = [model_dir] if isinstance(model_dir, (str, Path)) else list(model_dir)
    members = [load_model(str(d), device="cpu") for d in dirs]
    loaded = members[0]
    if any(list(m.labels) != list(loaded.labels) for m in members):
        raise SystemExit("error: the ensemble's models have different labels")
    report = {"model": [str(d) for d in dirs] if len(dirs) > 1 else str(dirs[0]),
              "labels": list(loaded.labels)}
    for name in ("fsd7", "sms"):
        store = FeatureStore(Path(real_dir) / name)
        ids, item_true, clips, owner = _clips(store, clip=loaded.checkpoint.clip_config)
        probabilities = _clip_probabilities(members, clips)
        true = [item_true[i] for i in owner]
        report[name] = scores_of(true=true, probabilities=probabilities, classes=loaded.labels,
                                 owner=owner, n_items=len(ids), item_true=item_true)
        report[name]["files"] = {ids[i]: loaded.labels[int(probabilities[owner == i].mean(0).argmax())]
                                 for i in range(len(ids))}
    return report


def _print(report: dict) -> None:
    for name in ("fsd7", "sms"):
        if name not in report:
            continue
        r = report[name]
        log(f"{name}: file acc {r['file']['accuracy']:.3f} (macro F1 {r['file']['f1_macro']:.3f}, "
            f"among present {r['file']['accuracy_among_present']:.3f}), clip acc "
            f"{r['clip']['accuracy']:.3f} (macro F1 {r['clip']['f1_macro']:.3f}); "
            f"files {r['file']['n']}, clips {r['clip']['n']}, majority {r['majority_file_accuracy']:.3f}")


def _write(report: dict, path) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(report, indent=1) + "\n")


#: the tags of instruments musicnn knows (its zero-shot answer); those that name S4 classes are
#: :data:`vocaltools.models.tagprior.INSTRUMENT_TAGS`
ZERO_SHOT_TAGS = ("guitar", "violin", "cello", "flute", "piano", "harpsichord", "sitar", "harp")


def cmd_tagprior(args) -> None:
    """MODEL_DIRs (not joined with tags: e.g. the third round's ensemble) on fsd7, alone, beside
    musicnn's zero-shot instrument tags, and the two joined as a product of experts: ``p(c)
    e(c)^w`` renormalised, with ``e(c)`` the sigmoid of the tag that names class ``c``
    (``tagprior.INSTRUMENT_TAGS``) and, for the classes no tag names, the median of those four
    tags' values for that file or clip (neither raised nor lowered)."""
    import torch

    from vocaltools.audio import load_audio
    from vocaltools.features import compute_features, get_preset
    from vocaltools.formats.store import FeatureStore
    from vocaltools.inference.predict import load_model
    from vocaltools.models.musicnn import TAGS
    from vocaltools.models.registry import build_model
    from vocaltools.models.tagprior import INSTRUMENT_TAGS as TAGGED, tag_evidence

    members = [load_model(str(d), device="cpu") for d in args.model]
    labels = list(members[0].labels)
    store = FeatureStore(Path(args.real) / "fsd7")
    ids, item_true, clips, owner = _clips(store, clip=members[0].checkpoint.clip_config)
    probabilities = _clip_probabilities(members, clips)
    files = np.stack([probabilities[owner == i].mean(axis=0) for i in range(len(ids))])
    tagger, config = build_model("musicnn", head="tags").eval(), get_preset("musicnn")
    paths = {item.item_id: item.audio_path for item in store.items()}

    def tag(audio):
        mel = compute_features(audio, sample_rate=config.sample_rate, config=config)["logmel"]
        mel = np.pad(mel, ((0, 0), (0, 0), (0, max(0, 8 - mel.shape[-1]))))
        with torch.no_grad():
            return torch.sigmoid(tagger(torch.from_numpy(mel[None].astype(np.float32))))[0].numpy()

    # --level file: one tagger pass over the whole file; clip: one per 1-s clip of the model (the
    # same windows at 16 kHz), joined per clip and then averaged as predict averages clips
    hop = int(members[0].checkpoint.clip_config["hop_seconds"] * config.sample_rate)
    n = int(members[0].checkpoint.clip_config["clip_seconds"] * config.sample_rate)
    tags = []
    for i, item_id in enumerate(ids):
        audio = load_audio(paths[item_id], sample_rate=config.sample_rate)
        if args.level == "file":
            tags.append(tag(audio))
        else:
            tags += [tag(np.pad(audio[k * hop:k * hop + n], (0, max(0, n - audio[k * hop:].size))))
                     for k in range(int((owner == i).sum()))]
    tags = np.stack(tags)
    column = {t: TAGS["MTT"].index(t) for t in ZERO_SHOT_TAGS}
    evidence = tag_evidence(torch.from_numpy(tags),
                            columns=torch.tensor([column[t] for t in TAGGED.values()]),
                            tagged=torch.tensor([labels.index(c) for c in TAGGED]),
                            n_classes=len(labels)).numpy()
    unit_probabilities = files if args.level == "file" else probabilities

    def joined(weight):
        scores = np.exp(np.log(unit_probabilities + 1e-9) + weight * np.log(evidence + 1e-9))
        scores /= scores.sum(axis=1, keepdims=True)
        return scores if args.level == "file" else np.stack(
            [scores[owner == i].mean(axis=0) for i in range(len(ids))])

    file_tags = tags if args.level == "file" else np.stack(
        [tags[owner == i].mean(axis=0) for i in range(len(ids))])

    def accuracy(scores, rows=slice(None)):
        predicted = [labels[i] for i in scores.argmax(axis=1)]
        return float(np.mean([p == t for p, t in zip(np.array(predicted)[rows],
                                                     np.array(item_true)[rows])]))

    tagged_rows = np.array([t in TAGGED for t in item_true])
    zero_shot = file_tags[:, [column[t] for t in ZERO_SHOT_TAGS]].argmax(axis=1)
    report = {"model": [str(d) for d in args.model], "level": args.level, "n_files": len(ids),
              "model_file_accuracy": accuracy(files),
              "model_file_accuracy_tagged_classes": accuracy(files, tagged_rows),
              "musicnn_zero_shot_tagged_classes": float(np.mean(
                  [ZERO_SHOT_TAGS[k] == TAGGED[t] for k, t in zip(zero_shot[tagged_rows],
                                                                   np.array(item_true)[tagged_rows])])),
              "n_tagged_files": int(tagged_rows.sum()), "product_of_experts": {}}
    for weight in args.weights:
        report["product_of_experts"][str(weight)] = accuracy(joined(weight))
    log(f"fsd7 file acc ({args.level} level tags): model {report['model_file_accuracy']:.3f}; on the {report['n_tagged_files']} "
        f"files of the tagged classes: model {report['model_file_accuracy_tagged_classes']:.3f}, "
        f"musicnn zero-shot {report['musicnn_zero_shot_tagged_classes']:.3f}; product of experts "
        + ", ".join(f"w={w}: {a:.3f}" for w, a in report["product_of_experts"].items()))
    _write(report, args.output)


def cmd_evaluate(args) -> None:
    report = evaluate_model(args.model_dir if len(args.model_dir) > 1 else args.model_dir[0],
                            args.real)
    _print(report)
    _write(report, args.output or (None if len(args.model_dir) > 1 else
                                   Path(args.model_dir[0]) / "real-report.json"))


def _mfcc(clips, store=None):
    """MFCC statistics of dB mel clips; the power mel of a store with linear features (the
    musicnn preset) is first put in dB as mel_cnn's ``power_db`` does (80 dB below the clip's
    maximum)."""
    import torch

    from vocaltools.baselines import embed_clips_mfcc
    from vocaltools.models.melcnn import power_to_db

    if store is not None and store.feature_config()["front_ends"][0]["db"] == "none":
        clips = power_to_db(torch.from_numpy(np.ascontiguousarray(clips))).numpy()
    return embed_clips_mfcc(clips)


def cmd_baseline(args) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from vocaltools.formats.store import FeatureStore

    store = FeatureStore(args.store)
    _, train_labels, train_clips, train_owner = _clips(store, clip=CLIP)
    y = [train_labels[i] for i in train_owner]
    start = time.time()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=args.C))
    model.fit(_mfcc(train_clips, store), y)
    report = {"model": "mfcc-stats + logistic regression", "store": str(args.store), "C": args.C,
              "n_train_clips": len(y), "fit_s": round(time.time() - start, 1)}
    classes = list(model.classes_)
    for name in ("fsd7", "sms"):
        real = FeatureStore(Path(args.real) / name)
        ids, item_true, clips, owner = _clips(real, clip=CLIP)
        probabilities = model.predict_proba(_mfcc(clips, real))
        report[name] = scores_of(true=[item_true[i] for i in owner], probabilities=probabilities,
                                 classes=classes, owner=owner, n_items=len(ids), item_true=item_true)
    _print(report)
    _write(report, args.output)


def cmd_cv(args) -> None:
    """fsd-instruments trained on itself: stratified k-fold over files (a file's clips stay on one
    side), MFCC statistics + logistic regression, on all 10 classes and on the 7 S4 classes;
    also the clip-level figure when ``--level clip``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, GroupKFold, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from vocaltools.audio import load_audio
    from vocaltools.features import get_preset
    from vocaltools.features.compute import compute_features
    from vocaltools.segments import ClipConfig, clip_windows, cut_clip
    from vocaltools.training.data import frames_per_second_of

    config = get_preset("instruments")
    fps = frames_per_second_of(config.to_dict())
    clip = ClipConfig.from_dict(CLIP)
    data = Path(args.data) / "fsd-instruments"
    files, labels, features = [], [], []
    with open(data / "metadata.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        audio = load_audio(data / row["path"], sample_rate=config.sample_rate)
        array = compute_features(audio, sample_rate=config.sample_rate, config=config)["logmel"]
        if args.level == "file":  # one vector of statistics over the whole file
            features.append(_mfcc(array[None]))
        else:
            windows = clip_windows(n_frames=array.shape[-1], frames_per_second=fps, config=clip)
            features.append(_mfcc(np.stack([cut_clip(array, w) for w in windows])))
        files.append(row["path"])
        labels.append(row["instrument"])
    report = {"model": "mfcc-stats + logistic regression", "folds": args.folds, "seeds": args.seeds,
              "level": args.level, "C": args.C_grid or args.C}
    for subset, keep in (("10 classes", set(labels)), ("7 S4 classes", set(FSD_CLASSES))):
        index = [i for i, label in enumerate(labels) if label in keep]
        y = np.array([labels[i] for i in index])
        runs = []
        for seed in range(args.seeds):
            correct_files, correct_clips, n_clips, chosen = 0, 0, 0, []
            folds = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=seed)
            for train, test in folds.split(np.zeros(len(y)), y):
                x_train = np.concatenate([features[index[i]] for i in train])
                y_train = np.concatenate([[y[i]] * len(features[index[i]]) for i in train])
                model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, C=args.C))
                if args.C_grid:  # C chosen by an inner 3-fold CV over the training files
                    groups = np.concatenate([[i] * len(features[index[i]]) for i in train])
                    model = GridSearchCV(model, {"logisticregression__C": args.C_grid},
                                         cv=GroupKFold(n_splits=3))
                    model.fit(x_train, y_train, groups=groups)
                    chosen.append(model.best_params_["logisticregression__C"])
                else:
                    model.fit(x_train, y_train)
                for i in test:
                    p = model.predict_proba(features[index[i]])
                    correct_clips += int(np.sum(model.classes_[p.argmax(1)] == y[i]))
                    n_clips += len(p)
                    correct_files += int(model.classes_[p.mean(0).argmax()] == y[i])
            runs.append({"file_accuracy": correct_files / len(y), "clip_accuracy": correct_clips / n_clips,
                         **({"C_chosen": chosen} if args.C_grid else {})})
        report[subset] = {"n_files": len(y), "runs": runs,
                          "file_accuracy_mean": float(np.mean([r["file_accuracy"] for r in runs])),
                          "clip_accuracy_mean": float(np.mean([r["clip_accuracy"] for r in runs]))}
        log(f"cv {subset}: file acc {report[subset]['file_accuracy_mean']:.3f}, clip acc "
            f"{report[subset]['clip_accuracy_mean']:.3f} ({args.seeds} seeds x {args.folds} folds)")
    _write(report, args.output)


def _probe_audio(work: Path, data: Path, n_phrases: int):
    """Rendered phrases (room augmentation, one copy) and the fsd-instruments 7-class files, as
    16 kHz and 22,050 Hz waveforms, cached in ``work/probe-audio-N.npz``."""
    from vocaltools.audio import load_audio
    from vocaltools.augment import ROOM, augment
    from vocaltools.phrases import PATCHES, PhraseRenderer, iter_phrases

    cache = work / f"probe-audio-{n_phrases}.npz"
    if cache.exists():
        z = np.load(cache, allow_pickle=True)
        return z["train"].tolist(), list(z["train_y"]), z["real"].tolist(), list(z["real_y"])
    train, train_y = [], []
    for font_index, font in enumerate(TRAIN_SOUNDFONTS):
        renderer = PhraseRenderer(font, sample_rate=22050)
        for index, phrase in enumerate(iter_phrases(renderer, instruments=list(PATCHES),
                                                    n_phrases=n_phrases, seconds=3.0, seed=7)):
            audio = augment(phrase.audio, sample_rate=phrase.sample_rate, config=ROOM,
                            rng=np.random.default_rng([7, font_index, index]))
            train.append(audio.astype(np.float32))
            train_y.append(phrase.instrument)
        log(f"probe: rendered {font}")
    real, real_y = [], []
    with open(data / "fsd-instruments" / "metadata.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["instrument"] in FSD_CLASSES:
                real.append(load_audio(data / "fsd-instruments" / row["path"], sample_rate=22050))
                real_y.append(FSD_CLASSES[row["instrument"]])
    work.mkdir(parents=True, exist_ok=True)
    np.savez(cache, train=np.array(train, dtype=object), train_y=np.array(train_y),
             real=np.array(real, dtype=object), real_y=np.array(real_y))
    return train, train_y, real, real_y


def _one_second_clips(audio: np.ndarray, sample_rate: int) -> list[np.ndarray]:
    n, hop = sample_rate, sample_rate // 2
    audio = np.pad(audio, (0, max(0, n - audio.size)))
    return [audio[i:i + n] for i in range(0, max(1, audio.size - n + 1), hop)]


def _embed_crepe(clips16):
    """CREPE tiny's last conv layer (256 values per 1024-sample frame, frames every 40 ms):
    mean and standard deviation over a clip's frames."""
    import torch

    from vocaltools.models.crepe import crepe_frames, load_crepe

    net = load_crepe("tiny")
    out = []
    with torch.no_grad():
        for clip in clips16:
            x = net.conv_features(torch.from_numpy(crepe_frames(clip, hop_length=640)))
            h = x.transpose(1, 2).reshape(len(x), -1).numpy()
            out.append(np.concatenate([h.mean(0), h.std(0)]))
    return np.stack(out)


def _embed_pretrained(model: str, clips16):
    """The output of the pretrained registry model ``model`` for each 1-s clip at 16 kHz, on its
    own feature preset, 64 clips per forward pass."""
    import torch

    from vocaltools.features import get_preset
    from vocaltools.features.compute import compute_features
    from vocaltools.models.registry import build_model, get_spec

    config = get_preset(get_spec(model).preset)
    net = build_model(model).eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(clips16), 64):
            mels = [compute_features(c, sample_rate=16000, config=config)["logmel"]
                    for c in clips16[start:start + 64]]
            width = min(m.shape[-1] for m in mels)
            x = torch.from_numpy(np.stack([m[..., :width] for m in mels]).astype(np.float32))
            out.append(net(x).numpy())
    return np.concatenate(out)


def _embed_mfcc(clips22):
    from vocaltools.features import get_preset
    from vocaltools.features.compute import compute_features

    config = get_preset("instruments")
    mels = [compute_features(c, sample_rate=22050, config=config)["logmel"] for c in clips22]
    width = min(m.shape[-1] for m in mels)
    return _mfcc(np.stack([m[..., :width] for m in mels]))


def cmd_probe(args) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import soxr

    train, train_y, real, real_y = _probe_audio(Path(args.work), Path(args.data), args.phrases)
    sets = {}
    for name, audios, labels in (("train", train, train_y), ("real", real, real_y)):
        clips22, clips16, owner = [], [], []
        for i, audio in enumerate(audios):
            pieces = _one_second_clips(np.asarray(audio, dtype=np.float32), 22050)
            clips22 += pieces
            clips16 += [soxr.resample(c, 22050, 16000, quality="HQ").astype(np.float32) for c in pieces]
            owner += [i] * len(pieces)
        sets[name] = (clips22, clips16, np.array(owner), list(labels))
    report = {"phrases": args.phrases, "n_train_files": len(train), "n_real_files": len(real)}
    for backbone in args.backbones.split(","):
        start = time.time()
        embed = {"crepe-tiny": lambda s: _embed_crepe(s[1]),
                 "ge2e": lambda s: _embed_pretrained("ge2e", s[1]),
                 "musicnn": lambda s: _embed_pretrained("musicnn", s[1]),
                 "mfcc": lambda s: _embed_mfcc(s[0])}[backbone]
        x_train, x_real = embed(sets["train"]), embed(sets["real"])
        _, _, train_owner, labels = sets["train"]
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, C=args.C))
        model.fit(x_train, [labels[i] for i in train_owner])
        _, _, owner, item_true = sets["real"]
        r = scores_of(true=[item_true[i] for i in owner], probabilities=model.predict_proba(x_real),
                      classes=list(model.classes_), owner=owner, n_items=len(item_true),
                      item_true=item_true)
        report[backbone] = {"dims": int(x_train.shape[1]), "seconds": round(time.time() - start, 1),
                            "fsd7": r}
        log(f"probe {backbone} ({x_train.shape[1]} dims, {time.time() - start:.0f} s): fsd7 file acc "
            f"{r['file']['accuracy']:.3f} (among present {r['file']['accuracy_among_present']:.3f}), "
            f"clip acc {r['clip']['accuracy']:.3f}")
    _write(report, args.output or Path(args.work) / f"probe-{args.phrases}.json")


def card_for(model_dir, report: dict, *, script: str):
    from vocaltools.bundled import ModelCard
    from vocaltools.checkpoint import load_checkpoint

    checkpoint = load_checkpoint(model_dir)
    options = dict(checkpoint.model_options)
    tagger = checkpoint.model == "tag_prior"
    base = options["base_options"] if tagger else options
    members = (f"the mean probability of {base['n_members']} {base['member']} models trained "
               f"with seeds 0-{base['n_members'] - 1}"
               + (f" (options {base['member_options']})" if base["member_options"] else "")
               if "n_members" in base else checkpoint.model)
    if tagger:
        tags = ", ".join(sorted(options["tags"]))
        architecture = (f"tag_prior: {members}, multiplied by the sigmoid of musicnn's "
                        f"{options['dataset']} tag of the same name for {tags} (for the other "
                        "classes by the median of those tags) to the power "
                        f"{options['weight']:g}, renormalised")
        reads = ("3-s clips (every 1.5 s) of the 'musicnn' preset (16 kHz power mel, 96 bands), "
                 "which the mel_cnn members read in dB")
    else:
        architecture, reads = f"{checkpoint.model}: {members}", "1-s log-mel clips (the 'instruments' preset)"
    rendered = report.get("rendered", {})
    figures = {}
    for name, title in (("fsd7", "fsd-instruments, 7 S4 classes (real)"),
                        ("sms", "sms-tools instruments (real)")):
        r = report[name]
        figures[f"{title}: file accuracy"] = round(r["file"]["accuracy"], 3)
        figures[f"{title}: file macro F1"] = round(r["file"]["f1_macro"], 3)
        figures[f"{title}: clip accuracy"] = round(r["clip"]["accuracy"], 3)
    if "baseline_fsd7_file_accuracy" in report:
        figures["MFCC + LR on the same rendered data, fsd-instruments 7 classes: file accuracy"] = \
            round(report["baseline_fsd7_file_accuracy"], 3)
    return ModelCard(
        description=(f"Instrument recognition, {len(checkpoint.labels)} of S4's 19 classes "
                     f"(bass-clarinet and contra-bassoon have no free soundfont preset), from {reads}; "
                     "a file's answer is the mean of its clip probabilities. Architecture "
                     f"{architecture}. The fsd-instruments figures are development-set figures "
                     "(the configuration was chosen among others on that set), so optimistic; see "
                     "docs/results-instruments.md."),
        training_data=("Phrases (melodies, legato and detached notes, repeated notes, held notes, "
                       "strummed chords; vibrato; varied velocity and register) rendered with "
                       "tinysoundfont from FluidR3_GM and MuseScore_General, each through random "
                       "reverberation (generated impulse responses), EQ, band limits and noise"
                       + (f": {rendered}" if rendered else "") + ". No recording was trained on"
                       + ("; musicnn's tagger (not in this file) was trained by its authors on "
                          "MagnaTagATune" if tagger else "") + "."),
        licence=("MIT (the model); trained only on MIT-licensed soundfonts"
                 + ("; at run time it also reads musicnn's weights from the installed musicnn "
                    "wheel (ISC), which were trained on MagnaTagATune (audio CC BY-NC-SA 3.0)"
                    if tagger else "")),
        attribution=("FluidR3_GM by Frank Wen (MIT, Debian fluid-soundfont-gm); MuseScore_General "
                     "by S. Christian Collins (MIT, parts CC0/PD; built on Fluid R3 Mono by Michael "
                     "Cowgill and Frank Wen; Debian musescore-general-soundfont)"
                     + ("; musicnn by Jordi Pons and Xavier Serra (ISC)" if tagger else "")),
        figures=figures, script=script)


def cmd_ensemble(args) -> None:
    from vocaltools.checkpoint import load_checkpoint, save_checkpoint
    from vocaltools.models.ensemble import ensemble_checkpoint

    checkpoint = ensemble_checkpoint([load_checkpoint(d) for d in args.model_dir])
    Path(args.out_dir).mkdir(parents=True, exist_ok=True)
    path = save_checkpoint(Path(args.out_dir), checkpoint)
    log(f"{path}: {checkpoint.model} of {len(args.model_dir)} members")


def cmd_tagged(args) -> None:
    """MODEL_DIR (trained on the musicnn preset) joined with musicnn's instrument tags."""
    from vocaltools.checkpoint import load_checkpoint, save_checkpoint
    from vocaltools.models.tagprior import tag_prior_checkpoint

    checkpoint = tag_prior_checkpoint(load_checkpoint(args.model_dir), weight=args.weight)
    Path(args.out_dir).mkdir(parents=True, exist_ok=True)
    path = save_checkpoint(Path(args.out_dir), checkpoint)
    log(f"{path}: {checkpoint.summary['name']}")


def cmd_export(args) -> None:
    from vocaltools.bundled import export_bundled

    report = json.loads(Path(args.report).read_text())
    card = card_for(args.model_dir, report, script=args.script)
    entry = export_bundled(args.model_dir, args.name, card, dtype=args.dtype)
    log(f"exported {entry.path} and {entry.weights} ({entry.n_bytes / 1e6:.2f} MB)")


def cmd_fixture(args) -> None:
    """A test input: one phrase (seed 101, not a training seed) through the room augmentation."""
    from vocaltools.augment import ROOM, augment
    from vocaltools.phrases import Phrase, PhraseRenderer, style_for, write_phrase

    renderer = PhraseRenderer(args.soundfont)
    phrase = renderer.phrase(args.instrument, style=style_for(args.instrument, 0),
                             seconds=args.seconds, seed=101)
    audio = augment(phrase.audio, sample_rate=phrase.sample_rate, config=ROOM,
                    rng=np.random.default_rng(101))
    write_phrase(args.output, Phrase(**{**phrase.__dict__, "audio": audio}))
    log(f"{args.output}: {args.instrument} from {args.soundfont}, preset {phrase.bank}:{phrase.program}")


def cmd_all(args) -> None:
    """The shipped model: N mel_cnn seeds on the musicnn preset -> their ensemble (WORK/models/
    instruments-members) -> joined with musicnn's tags (WORK/models/instruments)."""
    work = Path(args.work)
    render = argparse.Namespace(store=str(work / f"train-{SHIPPED_PRESET}{args.phrases}"),
                                augment="room", phrases=args.phrases, copies=args.copies,
                                soundfonts=",".join(TRAIN_SOUNDFONTS), seconds=3.0, seed=0,
                                instruments="all", preset=SHIPPED_PRESET)
    real = work / f"real-{SHIPPED_PRESET}"
    if not args.no_render:
        cmd_render(render)
        cmd_real(argparse.Namespace(data=args.data, out=str(real), preset=SHIPPED_PRESET))
    options = list(SHIPPED_OPTIONS) if args.option is None else \
        [o for o in args.option if o != "none"]
    members = [work / "models" / f"instruments-seed{seed}" for seed in range(args.seeds)]
    for seed, member in enumerate(members):  # each member: its own split, initialisation, order
        if not (member / "checkpoint.pt").exists():
            cmd_train(argparse.Namespace(store=render.store, model_dir=str(member), model=args.model,
                                         epochs=args.epochs, lr=args.lr, optimizer="adam",
                                         batch_size=32, select="val_loss", seed=seed,
                                         threads=args.threads, option=options, precise_bn=2048,
                                         clip_seconds=None, hop_seconds=None))
        _print(evaluate_model(member, real))
    ensemble_dir, model_dir = work / "models" / "instruments-members", work / "models" / "instruments"
    cmd_ensemble(argparse.Namespace(out_dir=str(ensemble_dir), model_dir=[str(m) for m in members]))
    _print(evaluate_model(ensemble_dir, real))
    cmd_tagged(argparse.Namespace(out_dir=str(model_dir), model_dir=str(ensemble_dir),
                                  weight=args.tag_weight))
    report = evaluate_model(model_dir, real)
    cmd_baseline(argparse.Namespace(store=render.store, real=str(real), C=1.0,
                                    output=str(work / "baseline-report.json")))
    baseline = json.loads((work / "baseline-report.json").read_text())
    report["baseline_fsd7_file_accuracy"] = baseline["fsd7"]["file"]["accuracy"]
    report["rendered"] = (f"{args.phrases} phrases of 3 s per instrument and soundfont, "
                          f"{args.copies} augmented copies each")
    report["members"] = args.seeds
    _print(report)
    _write(report, model_dir / "real-report.json")
    if args.export:
        cmd_export(argparse.Namespace(model_dir=str(model_dir), report=str(model_dir / "real-report.json"),
                                      name="instruments", dtype="float16", script=SCRIPT))


SCRIPT = ("nice -n 10 python benchmarks/experiments/instruments_bundled.py all WORK "
          "../shared/data --export")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("render")
    p.add_argument("store")
    p.add_argument("--augment", default="room")
    p.add_argument("--phrases", type=int, default=16)
    p.add_argument("--copies", type=int, default=2)
    p.add_argument("--soundfonts", default=",".join(TRAIN_SOUNDFONTS))
    p.add_argument("--instruments", default="all")
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--preset", default="instruments", help="the feature preset of the store")
    p.set_defaults(func=cmd_render)
    p = sub.add_parser("real")
    p.add_argument("data")
    p.add_argument("out")
    p.add_argument("--preset", default="instruments")
    p.set_defaults(func=cmd_real)
    p = sub.add_parser("train")
    p.add_argument("store")
    p.add_argument("model_dir")
    p.add_argument("--model", default="mel_cnn")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--optimizer", default="adam")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--select", default="val_loss")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--precise-bn", type=int, default=2048)
    p.add_argument("--option", action="append")
    p.add_argument("--clip-seconds", type=float, help=f"training clips (default {CLIP['clip_seconds']})")
    p.add_argument("--hop-seconds", type=float, help=f"their hop (default {CLIP['hop_seconds']})")
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("evaluate")
    p.add_argument("model_dir", nargs="+", help="one model folder, or several: an ensemble "
                   "(mean of their clip probabilities)")
    p.add_argument("real")
    p.add_argument("-o", "--output")
    p.set_defaults(func=cmd_evaluate)
    p = sub.add_parser("baseline")
    p.add_argument("store")
    p.add_argument("real")
    p.add_argument("-C", type=float, default=1.0)
    p.add_argument("-o", "--output")
    p.set_defaults(func=cmd_baseline)
    p = sub.add_parser("cv")
    p.add_argument("data")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--level", choices=("clip", "file"), default="clip",
                   help="statistics per 1-s clip (answers averaged per file) or per whole file")
    p.add_argument("-C", type=float, default=1.0)
    p.add_argument("--C-grid", type=float, nargs="+", dest="C_grid",
                   help="choose C among these by an inner 3-fold CV (grouped by file) in each fold")
    p.add_argument("-o", "--output")
    p.set_defaults(func=cmd_cv)
    p = sub.add_parser("tagprior")
    p.add_argument("real")
    p.add_argument("--model", nargs="+", required=True,
                   help="model folders without tags (the bundled model already has them)")
    p.add_argument("--weights", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    p.add_argument("--level", choices=("file", "clip"), default="file")
    p.add_argument("-o", "--output")
    p.set_defaults(func=cmd_tagprior)
    p = sub.add_parser("ensemble")
    p.add_argument("out_dir")
    p.add_argument("model_dir", nargs="+")
    p.set_defaults(func=cmd_ensemble)
    p = sub.add_parser("tagged")
    p.add_argument("out_dir")
    p.add_argument("model_dir")
    p.add_argument("--weight", type=float, default=1.0)
    p.set_defaults(func=cmd_tagged)
    p = sub.add_parser("export")
    p.add_argument("model_dir")
    p.add_argument("report")
    p.add_argument("--name", default="instruments")
    p.add_argument("--dtype", default="float16")
    p.add_argument("--script", default=SCRIPT)
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("fixture")
    p.add_argument("instrument")
    p.add_argument("soundfont")
    p.add_argument("output")
    p.add_argument("--seconds", type=float, default=2.5)
    p.set_defaults(func=cmd_fixture)
    p = sub.add_parser("probe")
    p.add_argument("work")
    p.add_argument("data")
    p.add_argument("--phrases", type=int, default=6)
    p.add_argument("--backbones", default="mfcc,ge2e,crepe-tiny,musicnn")
    p.add_argument("-C", type=float, default=1.0)
    p.add_argument("-o", "--output")
    p.set_defaults(func=cmd_probe)
    p = sub.add_parser("all")
    p.add_argument("work")
    p.add_argument("data")
    p.add_argument("--phrases", type=int, default=16)
    p.add_argument("--copies", type=int, default=2)
    p.add_argument("--model", default="mel_cnn")
    p.add_argument("--epochs", type=int, default=SHIPPED_EPOCHS)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--option", action="append",
                   help=f"model option k=v (default: {' '.join(SHIPPED_OPTIONS)}; 'none' for none)")
    p.add_argument("--seeds", type=int, default=SHIPPED_SEEDS,
                   help="members of the shipped ensemble (seeds 0..N-1, each trained on its own)")
    p.add_argument("--tag-weight", type=float, default=SHIPPED_TAG_WEIGHT,
                   help="the exponent of musicnn's tags in the product of experts")
    p.add_argument("--no-render", action="store_true",
                   help="use the rendered store and real sets already in WORK")
    p.add_argument("--export", action="store_true")
    p.set_defaults(func=cmd_all)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
