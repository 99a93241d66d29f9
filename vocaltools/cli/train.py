"""`vocaltools train`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from vocaltools.cli.common import field_default
from vocaltools.errors import InputError
from vocaltools.segments import SEED_CLIPS
from vocaltools.training.augment import AugmentConfig
from vocaltools.training.config import EMBEDDING_DIM, SiameseConfig, TrainConfig


def _parse_options(options: list[str]) -> dict:
    parsed = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or not key:
            raise InputError(f"--option {option!r}: expected KEY=VALUE (VALUE in JSON, e.g. width=32)")
        try:
            parsed[key] = json.loads(value)
        except json.JSONDecodeError:
            parsed[key] = value
    return parsed


#: flags the contrastive objective does not take unless they hold one of these values, and why
CONTRASTIVE_REFUSED = {
    "runs": ((1,), "--runs", "one seed per call; train several folders with --seed"),
    "precision": (("auto", "fp32"), "--precision", "it trains in fp32"),
    "optimizer": (("adam",), "--optimizer", "S2's siamese training uses Adam"),
    "select": (("val_loss",), "--select", "the epoch of lowest validation contrastive loss is kept"),
    "alpha": ((0.0,), "--alpha", "class weights belong to the classify objective"),
    "strategy": (("joint",), "--strategy", "classifier re-training belongs to the classify objective"),
    "crt_epochs": ((0,), "--crt-epochs", "classifier re-training belongs to the classify objective"),
    "max_epochs": ((None,), "--max-epochs", "a contrastive run does not resume; use --epochs"),
    "workers": ((0, None), "--workers", "pairs are cut in the training process"),
    "compile_model": ((False,), "--compile", "not implemented for the contrastive objective"),
    "precise_bn": ((0,), "--precise-bn", "it keeps the BatchNorm running averages"),
}


def _refuse_contrastive_flags(ctx: typer.Context) -> None:
    """A contrastive run refuses the classify-only flags that were given with another value
    than the one it uses (a flag left at its default is not given)."""
    from vocaltools.errors import ConfigError

    refused = []
    for name, (allowed, flag, why) in CONTRASTIVE_REFUSED.items():
        source = ctx.get_parameter_source(name)  # a click ParameterSource (COMMANDLINE, DEFAULT, ...)
        given = source is not None and source.name != "DEFAULT"
        if given and ctx.params[name] not in allowed:
            refused.append(f"{flag} ({why})")
    if refused:
        raise ConfigError("--objective contrastive does not take " + "; ".join(refused))


def train(
    ctx: typer.Context,
    store: Annotated[Path, typer.Argument(help="Feature store written by 'vocaltools featurize'.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Architecture (see 'vocaltools models').")],
    target: Annotated[str, typer.Option("--target", "-t", help="Item field to predict, e.g. singer.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Model folder to write.")],
    split_by: Annotated[str, typer.Option(
        help="Field(s) whose values stay on one side of the split, comma-separated "
             "(e.g. song_id, or singer,song_id when song numbers restart per singer); the "
             "split of 'dataset split --scheme group --by FIELDS --stratify TARGET'.")] = "item_id",
    split: Annotated[Optional[Path], typer.Option(
        "--split", help="Use this split file (vocaltools.split/1 JSONL) instead of making one.")] = None,
    fold: Annotated[Optional[int], typer.Option(
        help="The fold of a cross-validation split file (vocaltools dataset split --scheme kfold).")] = None,
    split_seed: Annotated[int, typer.Option(help="Seed of the split.")] = 0,
    validation_fraction: Annotated[float, typer.Option(
        help="Share of the groups left after test for validation.")] = 0.15,
    test_fraction: Annotated[float, typer.Option(help="Share of groups for test.")] = 0.15,
    clip_seconds: Annotated[Optional[float], typer.Option(
        help="Clip length in seconds [default: the model's seed paper: "
             + ", ".join(f"{seed} {clip.clip_seconds:g}" for seed, clip in SEED_CLIPS.items() if seed)
             + "; a pretrained model's partial utterances: ge2e 1.6, hop 0.77].")] = None,
    hop_seconds: Annotated[Optional[float], typer.Option(
        help="Hop between clips in seconds [default: the seed's; S2 20 % of the clip, others "
             "non-overlapping].")] = None,
    drop_last_clip: Annotated[Optional[bool], typer.Option(
        "--drop-last-clip/--keep-last-clip",
        help="Drop the last full clip of every item (S1 reference-code compatibility).")] = None,
    pad_short: Annotated[Optional[bool], typer.Option(
        "--pad-short/--skip-short", help="Items shorter than a clip give one repeated clip "
                                         "[default: pad, except S4].")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Maximum epochs [default: the seed's].")] = None,
    patience: Annotated[Optional[int], typer.Option(
        help="Stop after this many epochs without improvement (0 = never) [default: the seed's].")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Batch size [default: the seed's].")] = None,
    lr: Annotated[Optional[float], typer.Option(help="Learning rate [default: the seed's].")] = None,
    optimizer: Annotated[Optional[str], typer.Option(help="adam, adagrad or sgd [default: the seed's].")] = None,
    weight_decay: Annotated[Optional[float], typer.Option(help="L2 weight decay [default: the seed's].")] = None,
    select: Annotated[str, typer.Option(
        help="Checkpoint selection on validation: val_loss, val_f1, val_accuracy or last.")] = \
        field_default(TrainConfig, "select"),
    alpha: Annotated[float, typer.Option(help="Class weights w_c = 1/n_c^alpha (0 = unweighted).")] = \
        field_default(TrainConfig, "alpha"),
    strategy: Annotated[str, typer.Option(
        help="joint, crt_wfc (weighted then classifier re-training) or crt_wc (unweighted then "
             "classifier re-training, weighted).")] = field_default(TrainConfig, "strategy"),
    crt_epochs: Annotated[int, typer.Option(help="Epochs of classifier re-training (cRT).")] = \
        field_default(TrainConfig, "crt_epochs"),
    seed: Annotated[int, typer.Option(help="Seed of the first run.")] = field_default(TrainConfig, "seed"),
    runs: Annotated[int, typer.Option(help="Number of runs (seeds SEED, SEED+21, ...); reports mean, "
                                           "std and best.")] = 1,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = field_default(TrainConfig, "device"),
    precision: Annotated[str, typer.Option(
        help="auto (bf16 on CUDA, fp32 on CPU), fp32, bf16 (autocast, CPU or CUDA) or fp16 "
             "(autocast with gradient scaling, CUDA only).")] = field_default(TrainConfig, "precision"),
    workers: Annotated[Optional[int], typer.Option(
        help="DataLoader worker processes cutting training clips [default: 0 on CPU, up to 4 on "
             "CUDA, where batches are also pinned and prefetched].")] = None,
    compile_model: Annotated[bool, typer.Option(
        "--compile/--no-compile", help="Run training steps through torch.compile (slow to start; "
                                       "needs a C++ compiler on CPU).")] = \
        field_default(TrainConfig, "compile"),
    dist_backend: Annotated[Optional[str], typer.Option(
        help="Process-group backend under torchrun: gloo or nccl [default: nccl on CUDA, gloo on "
             "CPU]. Under torchrun --batch-size is the global batch, split among the processes; "
             "see docs/distributed.md.")] = None,
    precise_bn: Annotated[int, typer.Option(
        help="Classify objective: after every epoch, recompute BatchNorm statistics as averages "
             "over this many training clips before validating and saving; without a validation "
             "set, after the last epoch of each stage only (0: keep the running averages, which "
             "settle slowly on small data with the S1 models' Keras momentum).")] = \
        field_default(TrainConfig, "precise_bn"),
    label_smoothing: Annotated[float, typer.Option(
        help="Label smoothing e of the cross-entropy: targets (1 - e) one-hot + e / classes "
             "(0 = off).")] = field_default(TrainConfig, "label_smoothing"),
    augment_gain_db: Annotated[float, typer.Option(
        help="Augmentation: random gain up to +-this many dB (0 = off).")] = \
        field_default(AugmentConfig, "gain_db"),
    augment_shift_seconds: Annotated[float, typer.Option(
        help="Augmentation: circular time shift of up to +-this many seconds (0 = off).")] = \
        field_default(AugmentConfig, "shift_seconds"),
    augment_pitch_semitones: Annotated[float, typer.Option(
        help="Augmentation: pitch shift up to +-this many semitones by resampling the frequency "
             "axis (0 = off).")] = field_default(AugmentConfig, "pitch_semitones"),
    augment_noise_snr_db: Annotated[Optional[float], typer.Option(
        help="Augmentation: mix in white noise at an SNR drawn from [this, this + 20] dB "
             "[default: off].")] = field_default(AugmentConfig, "noise_snr_db"),
    augment_probability: Annotated[float, typer.Option(
        help="Augmentation: chance that each enabled transform is applied to a clip.")] = \
        field_default(AugmentConfig, "probability"),
    option: Annotated[Optional[list[str]], typer.Option(
        "--option", help="Model option KEY=VALUE (JSON value); repeatable.")] = None,
    name: Annotated[Optional[str], typer.Option(
        help="Register the model under this name [default: the output folder's name].")] = None,
    register: Annotated[bool, typer.Option("--register/--no-register",
                                           help="Add the model to the trained-model registry.")] = True,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads for torch [default: torch's].")] = None,
    max_epochs: Annotated[Optional[int], typer.Option(
        help="Stop after this many epochs in this call; run again to resume.")] = None,
    objective: Annotated[str, typer.Option(
        help="classify (cross-entropy on --target) or contrastive (S2's siamese embedding: "
             "contrastive loss, margin 1, same/different --target pairs 1:1, a 16-d linear "
             "output; use the model with 'vocaltools embed'). A pretrained encoder (--model "
             "ge2e) with classify trains a head on the frozen encoder (--option finetune=true "
             "trains both); with contrastive it fine-tunes the encoder.")] = "classify",
    pairs_per_epoch: Annotated[int, typer.Option(
        help="Contrastive objective: same/different pairs drawn per epoch (1:1).")] = \
        field_default(SiameseConfig, "pairs_per_epoch"),
    embedding_dim: Annotated[int, typer.Option(
        help="Contrastive objective: width of the linear embedding output.")] = EMBEDDING_DIM,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace the run in the output folder (a finished one, or one of "
                            "other settings) instead of refusing.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Train a classifier on a feature store; select on validation, report test metrics.

    Writes checkpoint.pt, labels.txt, split.jsonl, history.jsonl, training-curve.png, summary.json
    and run.json into the output folder (with --objective contrastive too). An interrupted run
    resumes when started again with the same settings; a finished one is left alone, and a folder
    that holds a run of other settings is refused (--overwrite replaces it). Started by torchrun (e.g. 'torchrun --standalone --nproc_per_node 2 -m
    vocaltools train ...') it trains with DistributedDataParallel and rank 0 writes the output.
    """
    from vocaltools.formats.store import FeatureStore
    from vocaltools.training.config import make_train_config
    from vocaltools.datasets.splits import SplitConfig, make_split, read_split, select_fold

    if objective == "contrastive":
        _refuse_contrastive_flags(ctx)
    feature_store = FeatureStore(store)
    feature_store.read_meta()
    if register:  # a bad name must not wait for the end of training
        from vocaltools.trained import check_name

        check_name(name or output.resolve().name)
    from vocaltools.models.pretrained import training_clip, training_model

    if training_model(model, objective=objective) != model:
        model = training_model(model, objective=objective)
        if not quiet:
            print(f"training {model}: a classifier head on the pretrained encoder", file=sys.stderr)
    if clip_seconds is None and training_clip(model) is not None:
        clip_seconds, default_hop = training_clip(model)
        hop_seconds = default_hop if hop_seconds is None else hop_seconds
    config = make_train_config(
        model=model, target=target, clip_seconds=clip_seconds, hop_seconds=hop_seconds,
        drop_last=drop_last_clip, pad_short=pad_short, epochs=epochs,
        patience=patience,
        batch_size=batch_size, lr=lr, optimizer=optimizer, weight_decay=weight_decay, select=select,
        alpha=alpha, strategy=strategy, crt_epochs=crt_epochs, device=device, precision=precision,
        model_options=_parse_options(option or []), max_epochs_this_call=max_epochs,
        threads=threads, workers=workers, compile=compile_model, precise_bn=precise_bn,
        label_smoothing=label_smoothing,
        augment=AugmentConfig(gain_db=augment_gain_db, shift_seconds=augment_shift_seconds,
                              pitch_semitones=augment_pitch_semitones,
                              noise_snr_db=augment_noise_snr_db, probability=augment_probability))
    if split is not None:
        item_split = select_fold(read_split(split), fold=fold, where=str(split))
    else:
        item_split = select_fold(make_split(feature_store.items(), SplitConfig(
            scheme="group", by=split_by, stratify=target, seed=split_seed,
            validation_fraction=validation_fraction, test_fraction=test_fraction)))
    from vocaltools.training import distributed

    context = distributed.init_from_environment(device=device, backend=dist_backend)
    try:
        from vocaltools.training.runs import run_seeds

        seeds = run_seeds(seed=seed, runs=max(1, runs))
        extra = ({"pairs_per_epoch": pairs_per_epoch, "embedding_dim": embedding_dim}
                 if objective == "contrastive" else {})
        status = _prepare_output(output, config=config, objective=objective, seeds=seeds,
                                 item_split=item_split, extra=extra, overwrite=overwrite,
                                 context=context)
        if status == "finished":
            if context.is_main:  # the answer of this call, even with --quiet
                print(f"{output}: already trained with these settings; --overwrite to replace it",
                      file=sys.stderr)
            return
        _train_classifier_or_embedding(
            feature_store, config=config, item_split=item_split, output=output, objective=objective,
            seed=seed, runs=runs, quiet=quiet or not context.is_main, register=register, name=name,
            main=context.is_main, distributed_run=context.is_distributed,
            pairs_per_epoch=pairs_per_epoch, embedding_dim=embedding_dim)
        # no rank tears the group down while another still receives (gloo aborts on a closed peer)
        distributed.barrier()
    finally:
        distributed.shutdown()


def _prepare_output(output: Path, *, config, objective: str, seeds, item_split, extra,
                    overwrite: bool, context) -> str:
    """Rank 0 decides what becomes of the output folder (``new``, ``resume``, ``finished``, or a
    refusal that every rank raises)."""
    from vocaltools.errors import ConfigError, VocaltoolsError
    from vocaltools.training import distributed
    from vocaltools.training.model_folder import prepare_model_folder, run_identity

    decision = None
    if context.is_main:
        identity = run_identity(objective=objective, config=config.to_dict(), seeds=seeds,
                                split=item_split, extra=extra)
        try:
            decision = ("ok", prepare_model_folder(output, identity, overwrite=overwrite))
        except VocaltoolsError as error:
            decision = ("error", str(error))
    decision = distributed.broadcast_object(decision, context=context)
    if decision[0] == "error":
        raise ConfigError(decision[1])
    return decision[1]


def _train_classifier_or_embedding(feature_store, *, config, item_split, output: Path, objective: str,
                                   seed: int, runs: int, quiet: bool, register: bool,
                                   name: str | None, main: bool, distributed_run: bool,
                                   pairs_per_epoch: int, embedding_dim: int) -> None:
    """Train and report; only the main process (rank 0 under torchrun) registers and prints."""
    import sys

    from vocaltools.errors import ConfigError
    from vocaltools.training.runs import run_seeds, train_runs

    if objective == "contrastive":
        if distributed_run:
            raise ConfigError("--objective contrastive runs in one process; start it without torchrun")
        _train_contrastive(feature_store, config=config, split=item_split, output=output,
                           seed=seed, quiet=quiet, register=register, name=name,
                           pairs_per_epoch=pairs_per_epoch, embedding_dim=embedding_dim,
                           device=config.device)
        return
    if objective != "classify":
        raise ConfigError(f"unknown objective {objective!r}; valid: classify, contrastive")
    seeds = run_seeds(seed=seed, runs=max(1, runs))
    reporter = _Reporter(quiet=quiet, n_runs=len(seeds))
    try:
        result = train_runs(store=feature_store, config=config, split=item_split, model_dir=output,
                            seeds=seeds, progress=reporter, name=name or output.resolve().name)
    finally:
        reporter.close()
    if not main:
        return
    if not result.finished:
        print(f"stopped after epoch {result.summary.get('epochs_done')}; run the same command again "
              "to resume", file=sys.stderr)
        return
    summary = result.summary
    if register:
        from vocaltools.trained import register as register_model

        entry = register_model(name=name or output.resolve().name, model_dir=output)
        registered = f"; registered as {entry.name!r}"
    else:
        registered = ""
    test = summary.get("test") or {}
    line = (f"{summary['model']} -> {summary['target']}: {summary['n_classes']} classes, "
            f"best epoch {summary['best_epoch']}")
    if test.get("n_clips"):
        line += f"; test clips {test['n_clips']}: accuracy {test['accuracy']:.3f}, weighted F1 {test['f1_weighted']:.3f}"
    if "aggregate" in summary and summary["aggregate"]["test"]:
        acc = summary["aggregate"]["test"].get("accuracy")
        f1 = summary["aggregate"]["test"].get("f1_weighted")
        if acc and f1:
            line += (f"; {len(seeds)} runs: accuracy {acc['mean']:.3f} +- {acc['std']:.3f} (best "
                     f"{acc['best']:.3f}), weighted F1 {f1['mean']:.3f} +- {f1['std']:.3f} (best {f1['best']:.3f})")
    print(f"{line}; wrote {output}{registered}", file=sys.stderr)


def _train_contrastive(feature_store, *, config, split, output: Path, seed: int, quiet: bool,
                       register: bool, name: str | None, pairs_per_epoch: int,
                       embedding_dim: int, device: str) -> None:
    """The siamese branch of ``train`` (vocaltools.training.siamese)."""
    import sys

    from vocaltools.training.siamese import train_siamese_store

    def on_epoch(stats) -> None:
        if not quiet:
            valid = "" if stats.valid_loss is None else f", validation loss {stats.valid_loss:.4f}"
            print(f"epoch {stats.epoch}: contrastive loss {stats.train_loss:.4f}{valid}",
                  file=sys.stderr)

    siamese = SiameseConfig.from_train_config(config.with_seed(seed),
                                              pairs_per_epoch=pairs_per_epoch)
    run = train_siamese_store(store=feature_store, model=config.model, target=config.target,
                              clip=config.clip, split=split, model_dir=output, config=siamese,
                              embedding_dim=embedding_dim, model_options=config.model_options,
                              threads=config.threads or 0, device=device, on_epoch=on_epoch)
    registered = ""
    if register:
        from vocaltools.trained import register as register_model

        entry = register_model(name=name or output.resolve().name, model_dir=output)
        registered = f"; registered as {entry.name!r}"
    print(f"{config.model} siamese embedding of {config.target}: wrote {run.model_dir}{registered}",
          file=sys.stderr)


class _Reporter:
    """A tqdm bar per epoch on a terminal (loss, validation metrics); one line per epoch otherwise."""

    def __init__(self, *, quiet: bool, n_runs: int):
        import sys

        self.quiet = quiet
        self.n_runs = n_runs
        self.terminal = sys.stderr.isatty()
        self.bar = None

    def __call__(self, seed: int, event) -> None:
        if self.quiet:
            return
        import sys

        prefix = f"seed {seed} " if self.n_runs > 1 else ""
        if event.batch is not None and self.terminal:
            if self.bar is None:
                from tqdm import tqdm

                self.bar = tqdm(total=event.n_batches, file=sys.stderr, leave=False,
                                desc=f"{prefix}epoch {event.epoch + 1}/{event.total_epochs}")
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{event.loss:.4f}")
            return
        if event.record is not None:
            self.close()
            r = event.record
            text = f"{prefix}epoch {r.epoch}/{event.total_epochs} [{r.stage}] loss {r.train_loss:.4f}"
            if r.val_loss is not None:
                text += f"  val loss {r.val_loss:.4f} acc {r.val_accuracy:.3f} F1 {r.val_f1:.3f}"
            text += f"  {r.seconds:.1f}s" + ("  *" if r.improved else "")
            print(text, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
