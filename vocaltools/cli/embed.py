"""`vocaltools embed`: clip and item embeddings of feature stores or audio files."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from vocaltools.cli.common import check_preset, check_shard
from vocaltools.segments import SEED_CLIPS

#: the MFCC baseline's clips: S2's, whose embedding it is compared with
BASELINE_CLIP = SEED_CLIPS["S2"]


def embed(
    inputs: Annotated[list[str], typer.Argument(
        help="Feature stores (from 'vocaltools featurize'), audio files and folders of audio "
             "files (searched recursively).")],
    output: Annotated[str, typer.Option(
        "-o", "--output", help="Embeddings NPZ to write ('-' = stdout).")],
    model: Annotated[Optional[str], typer.Option(
        "--model", "-m", help="Trained model: a checkpoint path, a registered name or a "
                              "bundled model's name; or a pretrained one (ge2e).")] = None,
    baseline: Annotated[Optional[str], typer.Option(
        "--baseline", help="Embed without a model: 'mfcc' (MFCC and delta statistics).")] = None,
    layer: Annotated[str, typer.Option(
        "--layer", help="auto (output of an embedding model, penultimate layer of a "
                        "classifier), output or features.")] = "auto",
    normalize: Annotated[bool, typer.Option(
        "--normalize", help="L2-normalise the clip and item embeddings.")] = False,
    label_field: Annotated[Optional[str], typer.Option(
        "--label-field", help="Item field stored as the label (default: the model's target, "
                              "or singer).")] = None,
    clip_seconds: Annotated[float, typer.Option(
        "--clip-seconds", help="Baseline only: clip length (S2's; models use their own).")] = \
        BASELINE_CLIP.clip_seconds,
    hop_seconds: Annotated[float, typer.Option(
        "--hop-seconds", help="Baseline only: clip hop (S2's).")] = BASELINE_CLIP.hop_seconds,
    input_name: Annotated[str, typer.Option(
        "--input-name", help="Baseline only: the dB mel feature array to read.")] = "logmel",
    preset: Annotated[str, typer.Option(
        "--preset", callback=check_preset, help="Baseline only: feature preset for audio-file inputs.")] = "wang2018",
    batch_size: Annotated[int, typer.Option("--batch-size", help="Clips per forward pass.")] = 64,
    device: Annotated[str, typer.Option(
        "--device", help="Model only: auto (CUDA when available), cpu, cuda or cuda:N; the "
                         "model runs in float32.")] = "auto",
    shard: Annotated[Optional[str], typer.Option(
        "--shard", callback=check_shard, help="Only shard K of N of the items (K/N, 1-based; by a stable hash of the "
        "item id, as featurize --shard); the meta records it. Join the files with 'vocaltools "
        "merge'.", show_default=False)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Embed items clip by clip with a trained model (or the MFCC baseline).

    A bad item does not stop the batch: the good items are written, every failure is listed at
    the end, one 'error: FILE: reason' line each, and the exit status is 1.
    """
    from vocaltools.errors import InputError
    from vocaltools.index.embeddings import save_embeddings
    from vocaltools.inference.embed import embed_inputs, mfcc_embedder, model_embedder
    from vocaltools.inference.predict import Failure
    from vocaltools.sharding import parse_shard

    if output == "-" and sys.stdout.isatty():
        raise InputError("-o -: refusing to write a binary NPZ to the terminal; redirect stdout "
                         "(-o - > emb.npz, or | vocaltools knn ...) or give -o FILE.npz")
    if shard is not None:
        shard = parse_shard(shard)  # a bad K/N fails before the model is loaded
    if (model is None) == (baseline is None):
        raise InputError("give exactly one of --model M or --baseline mfcc")
    if baseline is not None:
        from vocaltools.baselines import BASELINES

        if baseline not in BASELINES:
            raise InputError(f"unknown baseline {baseline!r}; valid: {', '.join(BASELINES)}")
        embedder = mfcc_embedder(clip_config={"clip_seconds": clip_seconds,
                                              "hop_seconds": hop_seconds},
                                 input_name=input_name, label_field=label_field or "singer")
    else:
        embedder = model_embedder(model, layer=layer, label_field=label_field,
                                  batch_size=batch_size, device=device)
    show = not quiet and sys.stderr.isatty()
    bar = None
    if show:
        from tqdm import tqdm

        bar = tqdm(desc="embed", unit="item", file=sys.stderr)
    failures: list[Failure] = []

    def report_failures() -> None:
        for failure in failures:  # one 'error:' line per failure, the file named first
            print(f"error: {failure.message}", file=sys.stderr)

    try:
        result = embed_inputs(inputs, embedder=embedder, normalize=normalize,
                              baseline_preset=preset, shard=shard, failures=failures,
                              on_item=(lambda _: bar.update(1)) if bar is not None else None)
    except InputError:
        if bar is not None:
            bar.close()
            bar = None
        report_failures()
        raise
    finally:
        if bar is not None:
            bar.close()
    save_embeddings(output, result)
    report_failures()
    print(f"embedded {result.n_items} items ({len(result.clip_embeddings)} clips, dim {result.dim})"
          + (f" of shard {shard}" if shard is not None else "") + f" -> {output}"
          + (f"; {len(failures)} failed" if failures else ""), file=sys.stderr)
    if failures:
        raise typer.Exit(code=1)
