"""`vocaltools predict`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vocaltools.cli.common import check_shard


def predict(
    inputs: Annotated[list[Path], typer.Argument(
        help="Audio files, folders (searched recursively), glob patterns (quoted), feature "
             "stores, or '-' to read newline-separated inputs from stdin.", show_default=False)],
    model: Annotated[Optional[str], typer.Option(
        "--model", "-m", help="Model folder or checkpoint file, registered model name, or "
                              "bundled model name (see 'vocaltools models') [default: the default "
                              "model, see 'vocaltools models --set-default'].")] = None,
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", help="Write JSONL here ('-' = stdout; .gz compresses). Without it, "
                               "a terminal gets one line per file and a pipe gets JSONL.")] = None,
    subset: Annotated[Optional[str], typer.Option(
        help="With a feature store: only its items on this side (train, validation, test) of the "
             "model's split (split.jsonl beside its checkpoint), e.g. to evaluate on test.")] = None,
    shard: Annotated[Optional[str], typer.Option(
        callback=check_shard, help="Only shard K of N of the inputs (K/N, 1-based; by a stable hash of the item id, as "
             "featurize --shard); join the outputs with cat.", show_default=False)] = None,
    top_k: Annotated[int, typer.Option(min=1, help="Labels listed in each record's 'top'.")] = 3,
    batch_size: Annotated[Optional[int], typer.Option(
        min=1, help="Clips per batch (across files) [default: the model's: 32, or 4 for oblong and aacnn, "
             "whose activations would exceed 2 GB].", show_default=False)] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    threads: Annotated[Optional[int], typer.Option(help="CPU threads for torch [default: torch's].")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Predict the label of every clip of audio files or feature-store items.

    Writes one vocaltools.prediction/1 JSONL record per clip (item_id, clip_index, start_s, end_s,
    top, probabilities, labels, target, true_label, fields, model). Audio is featurized with the
    model's own feature settings. Files that fail are reported at the end (exit status 1).
    """
    import sys

    from vocaltools.cli.common import stderr_is_terminal, stdout_is_terminal
    from vocaltools.formats.io import open_text_write
    from vocaltools.formats.jsonl import dumps_record
    from vocaltools.inference.predict import (Failure, collect_inputs, load_model, model_summary,
                                              predict_items, summarise_items)

    if threads:
        import torch

        torch.set_num_threads(threads)
    loaded = load_model(model, device=device)
    if batch_size is None:
        from vocaltools.models.registry import get_spec

        batch_size = get_spec(loaded.checkpoint.model).predict_batch
    model_summary(loaded)
    failures: list[Failure] = []  # inputs that yield nothing, then items that fail
    items = collect_inputs(inputs, failures=failures)
    n_inputs_failed = len(failures)
    if subset is not None:
        items = _subset(items, loaded, subset)
    if shard is not None:
        from vocaltools.sharding import select_shard

        items = select_shard(items, shard=shard, key=lambda item: item.item_id)
    bar = None
    if stderr_is_terminal() and not quiet and len(items) > 1:
        from tqdm import tqdm

        bar = tqdm(total=len(items), file=sys.stderr, unit="file", leave=False)

    def advance(_item) -> None:
        if bar is not None:
            bar.update(1)

    predictions = predict_items(loaded, items, batch_size=batch_size, failures=failures, on_item=advance)
    checkpoint = loaded.checkpoint
    try:
        if output is None and stdout_is_terminal():
            for answer in summarise_items(predictions, labels=checkpoint.labels):
                line = (f"{answer.name}: {answer.label} (mean probability "
                        f"{answer.confidence:.2f} over {answer.n_clips} clip"
                        f"{'s' if answer.n_clips != 1 else ''})")
                if bar is not None:
                    bar.write(line, file=sys.stdout)
                else:
                    print(line, flush=True)
        else:
            with open_text_write(output or "-") as handle:
                for prediction in predictions:
                    record = prediction.to_record(labels=checkpoint.labels, target=checkpoint.target,
                                                  model=loaded.name, top_k=top_k)
                    handle.write(dumps_record(record) + "\n")
    finally:
        if bar is not None:
            bar.close()
    if failures:
        for failure in failures:
            where = "" if failure.message.startswith(failure.source) else f"{failure.source}: "
            print(f"error: {where}{failure.message}", file=sys.stderr)
        n_failed = sum(failure.n_items for failure in failures)
        print(f"error: {n_failed} of {len(items) + n_inputs_failed} input(s) failed",
              file=sys.stderr)
        raise typer.Exit(1)


def _subset(items, loaded, subset: str):
    """The store items on side ``subset`` of the model's split."""
    from pathlib import Path

    from vocaltools.errors import InputError
    from vocaltools.datasets.splits import SPLIT_NAMES, read_split, select_fold

    if subset not in SPLIT_NAMES:
        raise InputError(f"--subset {subset!r}: choose one of {', '.join(SPLIT_NAMES)}")
    path = Path(loaded.path).parent / "split.jsonl"
    if not path.is_file():
        raise InputError(f"{path}: no split file beside the model's checkpoint for --subset")
    split = select_fold(read_split(path), where=str(path))
    if any(item.store is None for item in items):
        raise InputError("--subset selects feature-store items; give a feature store, not audio files")
    return [item for item in items if split.get(item.item_id) == subset]
