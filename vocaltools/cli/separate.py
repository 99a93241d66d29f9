"""`vocaltools separate`: split audio files into vocals and accompaniment stems."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from vocaltools.cli.common import check_shard

def _expand(inputs: list[Path]) -> list[tuple[Path, str]]:
    """``(file, relpath)`` for every input: files as given, folders searched recursively for
    audio files (relpath = path under that folder without extension)."""
    from vocaltools.audio import AUDIO_EXTENSIONS
    from vocaltools.datasets.walk import find_files  # symlinked folders followed

    items: list[tuple[Path, str]] = []
    for path in inputs:
        if path.is_dir():
            found = sorted(p for p in find_files(path, extensions=AUDIO_EXTENSIONS) if p.is_file())
            items += [(p, p.relative_to(path).with_suffix("").as_posix()) for p in found]
        else:
            items.append((path, path.stem))
    return items


_WORKER_SEPARATOR = None


def _worker_init(method: str, weights: Optional[str], device: str, options: dict,
                 parent_pid: int) -> None:
    global _WORKER_SEPARATOR
    from vocaltools.processes import die_with_parent
    from vocaltools.separation import get_separator

    die_with_parent(parent_pid)

    if method in ("umx", "demucs"):  # one torch thread per worker process
        import torch

        torch.set_num_threads(1)
    _WORKER_SEPARATOR = get_separator(method, weights=weights, device=device, **options)


def _worker_run(path: str, relpath: str, out_dir: str, template: str, sources: tuple[str, ...],
                overwrite: bool, stem_rate: str) -> tuple[bool, Optional[str]]:
    """Separate one file in a worker: ``(skipped, error message or None)``."""
    from vocaltools.errors import VocaltoolsError, describe_os_error
    from vocaltools.separation import separate_file

    try:
        stems = separate_file(path, separator=_WORKER_SEPARATOR, out_dir=out_dir,
                              template=template, sources=sources, relpath=relpath,
                              overwrite=overwrite, stem_rate=stem_rate)
        return stems.skipped, None
    except VocaltoolsError as error:
        return False, str(error)
    except OSError as error:  # an input that cannot be read, a stem that cannot be written
        return False, describe_os_error(error)


def separate(
    inputs: Annotated[list[Path], typer.Argument(
        help="Audio files, or folders searched recursively for audio files.", show_default=False)],
    out_dir: Annotated[Path, typer.Option(
        "--out-dir", "-o", help="Folder for the stem files (created if needed).")] = Path("."),
    method: Annotated[str, typer.Option(
        "--method", "-m", help="Separation method: harmonic (default: pitch-informed harmonic "
        "masking, no weights), repet (REPET-SIM, no weights), hpss (baseline), umx (Open-Unmix) "
        "or demucs (these two need --weights).")] = "harmonic",
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

    from vocaltools.audio import AUDIO_EXTENSIONS
    from vocaltools.cli.common import stderr_is_terminal
    from vocaltools.errors import InputError, VocaltoolsError, describe_os_error
    from vocaltools.formats.io import check_folder_target
    from vocaltools.separation import get_separator, parse_options, separate_file
    from vocaltools.separation.files import (check_distinct_outputs, check_template, read_info,
                                             resolve_stem_rate)
    from vocaltools.sharding import parse_shard, select_shard

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
    items = _expand(inputs)
    if not items:
        raise InputError(f"no audio files found in {', '.join(map(str, inputs))} (looked for "
                         f"{', '.join(AUDIO_EXTENSIONS)})")
    # over the whole collection, so that every shard refuses a template whose files would collide
    check_distinct_outputs(items, out_dir=out_dir, template=template, method=separator.method,
                           sources=wanted)
    if selected is not None:
        items = select_shard(items, shard=selected, key=lambda item: item[1])

    failures: list[tuple[Path, str]] = []
    durations: dict[Path, float] = {}
    for path, _ in items:
        try:
            durations[path] = read_info(path).duration_s
        except VocaltoolsError:
            durations[path] = 0.0  # reported when it is processed
    bar = tqdm(total=round(sum(durations.values()), 1), unit="s", file=sys.stderr,
               disable=quiet or not stderr_is_terminal(), desc=f"separate ({method})",
               bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s audio [{elapsed}<{remaining}]")
    n_skipped = 0
    try:
        if jobs == 1 or len(items) == 1:
            for path, relpath in items:
                try:
                    stems = separate_file(path, separator=separator, out_dir=out_dir,
                                          template=template, sources=wanted, relpath=relpath,
                                          overwrite=overwrite, stem_rate=stem_rate,
                                          on_progress=bar.update)
                    n_skipped += stems.skipped
                    if stems.skipped:
                        bar.update(durations[path])
                except VocaltoolsError as error:
                    failures.append((path, str(error)))
                except OSError as error:  # the other files go on
                    failures.append((path, describe_os_error(error)))
        else:
            from concurrent.futures import ProcessPoolExecutor

            del separator  # each worker builds its own
            with ProcessPoolExecutor(max_workers=jobs, initializer=_worker_init,
                                     initargs=(method, str(weights) if weights else None, device,
                                               options, os.getpid())) as pool:
                futures = {pool.submit(_worker_run, str(path), relpath, str(out_dir), template,
                                       wanted, overwrite, stem_rate): path
                           for path, relpath in items}
                for future, path in futures.items():
                    skipped, message = future.result()
                    n_skipped += skipped
                    if message is not None:
                        failures.append((path, message))
                    bar.update(durations[path])
    finally:
        bar.close()

    n_done = len(items) - len(failures) - n_skipped
    if not quiet:
        print(f"separated {n_done} file(s) with {method} into {out_dir} ({rate_said})"
              + (f" (shard {selected})" if selected is not None else "")
              + (f", skipped {n_skipped} already done" if n_skipped else ""), file=sys.stderr)
    if failures:
        for path, message in failures:
            where = "" if str(path) in message else f"{path}: "
            print(f"failed: {where}{message}", file=sys.stderr)
        raise VocaltoolsError(f"{len(failures)} of {len(items)} file(s) failed (listed above)")
