"""`vocaltools featurize`: audio files -> a feature store (thin client of
:func:`vocaltools.features.pipeline.featurize_inputs`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from vocaltools.cli.common import check_preset, check_shard
from vocaltools.features.presets import DEFAULT_PRESET, PRESETS


def _complete_preset(incomplete: str) -> list[str]:
    return [name for name in PRESETS if name.startswith(incomplete)]


def _complete_labels(incomplete: str) -> list[str]:
    from vocaltools.datasets.inputs import label_choices

    return [name for name in label_choices() if name.startswith(incomplete)]


def featurize(
    inputs: Annotated[Optional[list[str]], typer.Argument(
        help="Audio files, folders (searched recursively, symlinked folders followed), glob "
             "patterns (quoted), or '-' to read newline-separated inputs from stdin. With "
             "--labels csv:FILE and no inputs, the CSV's rows.", show_default=False)] = None,
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Feature store folder to create or resume.",
        show_default=False)] = ...,
    preset: Annotated[Optional[str], typer.Option(
        "--preset", "-p", callback=check_preset, help="Feature preset: " + ", ".join(
            f"{name} (default)" if name == DEFAULT_PRESET else name for name in PRESETS) + ".",
        autocompletion=_complete_preset,
        show_default=False)] = None,
    config: Annotated[Optional[Path], typer.Option(
        "--config", help="JSON feature config (FeatureConfig.to_dict) instead of --preset.",
        show_default=False)] = None,
    labels: Annotated[str, typer.Option(
        "--labels", "-l", help="Where labels come from: 'dirname' (the file's folder), "
        "'csv:FILE' (CSV with a 'path' column relative to the CSV, other columns become fields: "
        "its rows, or the listed files among the inputs), "
        "a dataset layout name (options as NAME:KEY=VALUE,...), or 'none'.", autocompletion=_complete_labels)] = "dirname",
    jobs: Annotated[int, typer.Option(
        "--jobs", "-j", min=1, help="Worker processes (files are featurized in parallel).")] = 1,
    block_seconds: Annotated[float, typer.Option(
        "--block-seconds", min=1.0, help="Decode long files in blocks of this many seconds.")] = 60.0,
    min_seconds: Annotated[float, typer.Option(
        "--min-seconds", min=0.0, help="Reject files shorter than this.")] = 0.1,
    separate: Annotated[Optional[str], typer.Option(
        "--separate", help="Featurize the vocal stem of a separation method (harmonic, repet, "
        "hpss, umx, demucs; see 'vocaltools separate --help') instead of the mixture; stems are cached under "
        "$VOCALTOOLS_HOME/cache. Models trained on the store separate their inputs the same way.",
        show_default=False)] = None,
    melody_tracker: Annotated[Optional[str], typer.Option(
        "--melody-tracker", help="Pitch tracker of the melody front end (fgnl-melody): pyin "
        "(default, fast), crepe (S1's: CREPE full capacity with Viterbi; slow on a CPU) or "
        "crepe-tiny.", show_default=False)] = None,
    device: Annotated[Optional[str], typer.Option(
        "--device", help="Compute the front ends in torch on cpu, cuda or auto (files batched; "
        "--jobs does not apply) [default: the NumPy engine].", show_default=False)] = None,
    shard: Annotated[Optional[str], typer.Option(
        "--shard", callback=check_shard, help="Only shard K of N (K/N, 1-based; items chosen by a stable hash of their "
        "id) for a SLURM array or GNU parallel; join the stores with 'vocaltools merge'.",
        show_default=False)] = None,
    strict: Annotated[bool, typer.Option(
        "--strict", help="With --labels csv:FILE, fail the files of the inputs that the CSV does "
        "not list [default: leave them out and say how many].")] = False,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="No progress bar and no summary line.")] = False,
) -> None:
    """Compute features of audio files into a resumable feature store.

    Finished items of an existing store are skipped when their audio file is the one they were
    made from (another file under a finished item's id is an error; a damaged NPZ is redone).
    One featurize at a time writes to a store. A bad file does not stop the batch: every
    failure is listed at the end, one 'error: FILE: reason' line each, followed by a one-line
    summary, and the exit status is 1.
    """
    import json

    if not inputs and not labels.startswith("csv:"):
        raise typer.BadParameter("give audio files, folders or '-' (or --labels csv:FILE to "
                                 "featurize the rows of a metadata CSV)", param_hint="INPUTS")
    from vocaltools.cli.common import stderr_is_terminal
    from vocaltools.errors import ConfigError
    from vocaltools.features.config import FeatureConfig
    from vocaltools.features.pipeline import featurize_inputs
    from vocaltools.features.presets import get_preset
    from vocaltools.formats.store import FeatureStore

    if config is not None and preset is not None:
        raise ConfigError("give either --preset or --config, not both")
    if config is not None:
        try:
            feature_config = FeatureConfig.from_dict(json.loads(config.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError) as error:
            raise ConfigError(f"{config}: cannot read a JSON feature config ({error})") from error
    else:
        feature_config = get_preset(preset or DEFAULT_PRESET)
    if melody_tracker is not None:
        from vocaltools.features.config import with_melody_tracker

        feature_config = with_melody_tracker(feature_config, melody_tracker)
    if separate is not None:
        import dataclasses

        from vocaltools.separation.registry import get_method

        get_method(separate)  # an unknown method fails before any work
        feature_config = dataclasses.replace(feature_config, separation=separate)

    bar = None
    show_bar = not quiet and stderr_is_terminal()

    def on_progress(event) -> None:
        nonlocal bar
        if not show_bar:
            return
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=event.total, unit="file", file=sys.stderr, desc="featurize")
        bar.update(1)

    store = FeatureStore(output)
    try:
        summary = featurize_inputs(inputs or [], store=store, config=feature_config, labels=labels,
                                   jobs=jobs, stdin=sys.stdin, on_progress=on_progress,
                                   block_seconds=block_seconds, min_seconds=min_seconds,
                                   device=device, shard=shard, strict=strict)
    finally:
        if bar is not None:
            bar.close()
    for failure in summary.failures:  # one 'error:' line per failure, the file named first
        print(f"error: {failure.message}", file=sys.stderr)
    if summary.unlisted and not quiet:
        print(f"featurize: {summary.unlisted} file(s) of the inputs are not listed in "
              f"{labels[len('csv:'):]} and were left out (--strict to fail them)", file=sys.stderr)
    if not quiet:
        speed = (f"; {summary.audio_seconds:.1f} s of audio in {summary.wall_seconds:.1f} s "
                 f"({summary.real_time_factor:.{0 if summary.real_time_factor >= 10 else 1}f}x "
                 "real time)" if summary.written else "")
        print(f"featurize: {summary.written} written, {summary.skipped} skipped (already in "
              f"{output}), {summary.failed} failed{speed}", file=sys.stderr)
    if summary.failures:
        raise typer.Exit(code=1)
