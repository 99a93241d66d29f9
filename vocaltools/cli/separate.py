"""`vocaltools separate`: split audio files into vocals and accompaniment stems."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from vocaltools.cli.common import check_shard
from vocaltools.separation.registry import DEFAULT_METHOD, list_methods

_METHOD_HELP = ("Separation method: " + ", ".join(
    spec.name for spec in list_methods() if not spec.needs_weights) + " (no weights); "
    + ", ".join(spec.name for spec in list_methods() if spec.needs_weights)
    + " (these need --weights).")


def separate(
    inputs: Annotated[list[Path], typer.Argument(
        help="Audio files, folders (searched recursively), glob patterns (quoted), or '-' to "
             "read newline-separated inputs from stdin.", show_default=False)],
    out_dir: Annotated[Path, typer.Option(
        "--out-dir", "-o", help="Folder for the stem files (created if needed).")] = Path("."),
    method: Annotated[str, typer.Option("--method", "-m", help=_METHOD_HELP)] = DEFAULT_METHOD,
    weights: Annotated[Optional[Path], typer.Option(
        "--weights", help="Local folder with the weights of umx (e.g. umxhq's vocals-*.pth) or "
        "demucs; nothing is downloaded.")] = None,
    template: Annotated[str, typer.Option(
        "--template", "-t",
        help="Output path under --out-dir. Fields: {name} (= {stem}) input name "
        "without extension, {relpath} path under the input folder, {parent}, {source} "
        "(vocals/accompaniment), {method}. The extension (.flac or .wav) sets the format.")
    ] = "{relpath}.{source}.flac",
    sources: Annotated[str, typer.Option(
        "--sources", help="Comma-separated stems to write: vocals, accompaniment.")
    ] = "vocals,accompaniment",
    option: Annotated[Optional[list[str]], typer.Option(
        "--option", "-O", help="A setting of the method as KEY=VALUE (repeatable), e.g. "
        "-O repet_weight=0 for harmonic; -O margin_vocals=3 for repet; -O niter=0 for umx.")] = None,
    stem_rate: Annotated[str, typer.Option(
        "--stem-rate", help="Sample rate of the stems: input (the input file's), processing (the "
        "method's, e.g. 22050 Hz for repet and harmonic) or a rate in Hz.")] = "input",
    jobs: Annotated[int, typer.Option(
        "--jobs", "-j", min=1, help="Files separated in parallel (processes).")] = 1,
    device: Annotated[str, typer.Option(
        "--device", help="Torch device for umx/demucs (cpu, cuda).")] = "cpu",
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Redo files whose stems exist already (default: skip them).")] = False,
    shard: Annotated[Optional[str], typer.Option(
        "--shard", callback=check_shard, help="Only shard K of N of the files (K/N, 1-based; by a stable hash of the "
        "path under the input folder, the {relpath} field). Shards may share one --out-dir: "
        "their stem files never collide.", show_default=False)] = None,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="No progress bar and no summary on stderr.")] = False,
) -> None:
    """Split audio files into vocals and accompaniment stems.

    Long files are processed in overlapping chunks, so memory stays bounded.

    Stem files are written atomically; inputs whose stems exist already are skipped.

    A bad input does not stop the batch: every failure is listed at the end, exit status 1.
    """
    from tqdm import tqdm

    from vocaltools.cli.common import stderr_is_terminal
    from vocaltools.errors import VocaltoolsError
    from vocaltools.formats.io import check_folder_target
    from vocaltools.separation import get_separator, parse_options
    from vocaltools.separation.batch import audio_durations, resolve_batch, separate_items
    from vocaltools.separation.files import check_template, resolve_stem_rate
    from vocaltools.sharding import parse_shard

    wanted = tuple(s.strip() for s in sources.split(",") if s.strip())
    options = parse_options(option or [], method=method)
    check_template(template)
    check_folder_target(out_dir, what="a folder for the stems")
    if stem_rate not in ("input", "processing"):
        resolve_stem_rate(stem_rate, separator=None, input_rate=0)  # a clear error before any work
    selected = parse_shard(shard) if shard is not None else None
    separator = get_separator(method, weights=weights, device=device, **options)
    rate_said = ("at each input's sample rate" if stem_rate == "input" else
                 f"at the separator's {separator.sample_rate} Hz"
                 if stem_rate == "processing" and separator.sample_rate else
                 "at each input's sample rate" if stem_rate == "processing" else
                 f"at {stem_rate} Hz")
    resolved = resolve_batch(inputs, out_dir=out_dir, method=separator.method, template=template,
                             sources=wanted, shard=selected)
    items = resolved.items

    durations = audio_durations(items)
    bar = tqdm(total=round(sum(durations.values()), 1), unit="s", file=sys.stderr,
               disable=quiet or not stderr_is_terminal(), desc=f"separate ({method})",
               bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s audio [{elapsed}<{remaining}]")
    try:
        results = list(separate_items(
            items, out_dir=out_dir, method=method, weights=weights, device=device,
            options=options, separator=separator, template=template, sources=wanted,
            overwrite=overwrite, stem_rate=stem_rate, jobs=jobs, on_progress=bar.update,
            durations=durations))
    finally:
        bar.close()

    failures = [(failure.path, failure.message) for failure in resolved.failures]
    failures += [(str(result.item.audio_path), result.error) for result in results
                 if not result.ok]
    n_skipped = sum(result.skipped for result in results)
    n_done = sum(result.ok and not result.skipped for result in results)
    if not quiet:
        print(f"separated {n_done} file(s) with {method} into {out_dir} ({rate_said})"
              + (f" (shard {selected})" if selected is not None else "")
              + (f", skipped {n_skipped} already done" if n_skipped else ""), file=sys.stderr)
    if failures:
        for path, message in failures:
            where = "" if path in message else f"{path}: "
            print(f"failed: {where}{message}", file=sys.stderr)
        raise VocaltoolsError(f"{len(failures)} of {len(results) + len(resolved.failures)} "
                              "file(s) failed (listed above)")
