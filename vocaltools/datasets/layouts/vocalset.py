"""VocalSet (Wilkins et al., ISMIR 2018): 20 singers, 17 techniques, 4 contexts.

Two layouts are read:

- the full release (v1.2, zenodo 1442513)::

    VocalSet/FULL/<singer>/<context>/<technique>/<file>.wav
    VocalSet/train_singers_technique.txt, test_singers_technique.txt   (official S3 split)

  ROOT may be the folder holding ``FULL/`` (or ``data_by_singer/``) or that folder itself;
- excerpts cut from it, one folder per singer, every label in the file name (the shared data's
  ``vocalset-excerpts/``)::

    ROOT/audio/<singer>/<singer>_<context>_<technique>_<vowel>_<low|high>Pitch_<start>.flac

  ROOT may be the folder holding ``audio/`` or that folder itself. A ``metadata.csv`` beside it is
  not needed (its columns say what the names say).

Files may be WAV, FLAC or MP3. Fields: ``singer`` (f1..f9, m1..m11), ``gender``, ``context``
(arpeggios, long_tones, scales, excerpts), ``technique``, ``vowel`` (a/e/i/o/u or ''), ``key``
(c/f of the fast/slow exercises or ''), ``excerpt`` (caro/dona/row or ''), ``pitch_range``
(low/high of the excerpts, else ''), ``start_s`` (an excerpt's start in its source recording,
else '') and ``official_split`` (train/test by singer).

Naming quirks handled (see docs/datasets.md):

- the folders, not the file names, give singer, context and technique: some files lack the singer
  prefix (``arpeggios_straight_a.wav``, ``lip_trill_arps.wav``), some put the vowel before the
  technique (``f1_arpeggios_a_straight.wav``) or a key letter in between (``m10_scales_c_fast_piano_a``);
- singer folders are ``female1``/``male3`` in some releases and ``f1``/``m3`` in others: both map to
  ``f1``/``m3``; context and technique folder names are normalised (case, spaces, hyphens, and
  aliases such as ``vocal fry``, ``liptrill``, ``inhaled_singing``, ``arps``, ``long``);
- duplicate downloads such as ``f2_scales_vibrato_a(1).wav`` are skipped when the file without the
  ``(1)`` exists beside them (option ``drop_duplicates``);
- dot files and macOS ``._*.wav`` copies are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from vocaltools.datasets.items import AudioItem
from vocaltools.datasets.layouts.base import Layout, Skipped, item_id_of, iter_files
from vocaltools.errors import ConfigError, InputError

#: the 10 techniques classified in S3 (Yamamoto et al. 2022)
S3_TECHNIQUES: tuple[str, ...] = ("belt", "breathy", "inhaled", "lip_trill", "spoken", "straight",
                                  "trill", "trillo", "vibrato", "vocal_fry")
#: all 17 VocalSet techniques
ALL_TECHNIQUES: tuple[str, ...] = S3_TECHNIQUES + ("fast_forte", "fast_piano", "forte", "messa",
                                                   "pp", "slow_forte", "slow_piano")
#: the official technique test singers (test_singers_technique.txt; SEEDS.md S3)
OFFICIAL_TEST_SINGERS: tuple[str, ...] = ("f2", "f8", "m3", "m5", "m10")
ALL_SINGERS: tuple[str, ...] = tuple(f"f{i}" for i in range(1, 10)) + tuple(
    f"m{i}" for i in range(1, 12))

CONTEXTS: tuple[str, ...] = ("arpeggios", "long_tones", "scales", "excerpts")
_CONTEXT_ALIASES = {"arpeggio": "arpeggios", "arps": "arpeggios", "arp": "arpeggios",
                    "long": "long_tones", "longtones": "long_tones", "long_tone": "long_tones",
                    "scale": "scales", "excerpt": "excerpts", "songs": "excerpts",
                    "song": "excerpts"}
_TECHNIQUE_ALIASES = {"vocalfry": "vocal_fry", "fry": "vocal_fry", "liptrill": "lip_trill",
                      "lip_trills": "lip_trill", "inhaled_singing": "inhaled", "inhale": "inhaled",
                      "straight_tone": "straight", "spoken_excerpt": "spoken", "speech": "spoken",
                      "vibrado": "vibrato", "belted": "belt", "belting": "belt",
                      "trills": "trill", "messa_di_voce": "messa", "pianissimo": "pp",
                      "fastforte": "fast_forte", "fastpiano": "fast_piano",
                      "slowforte": "slow_forte", "slowpiano": "slow_piano"}
_SINGER = re.compile(r"^(female|male|f|m)[ _-]?(\d+)$", re.IGNORECASE)
_DUPLICATE = re.compile(r"^(.*?)\s*\(\d+\)$")
#: an excerpt's name: <singer>_<context>_<technique>_<vowel>_<low|high>Pitch_<start seconds>
_EXCERPT_NAME = re.compile(
    r"^(?P<singer>[fm]\d+)_(?P<context>long_tones|[a-z]+)_(?P<technique>[a-z_]+?)_"
    r"(?P<vowel>[aeiou])_(?P<pitch>low|high)pitch_(?P<start>\d+(?:\.\d+)?)$", re.IGNORECASE)
AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".flac", ".mp3")
_EXCERPTS = ("caro", "dona", "row")


def normalize_singer(text: str) -> str | None:
    """``female3``/``Female 3``/``f3`` -> ``f3``; ``male11``/``m11`` -> ``m11``; else None."""
    match = _SINGER.match(text.strip())
    if not match:
        return None
    return f"{match.group(1)[0].lower()}{int(match.group(2))}"


def _slug(text: str) -> str:
    return re.sub(r"[\s\-]+", "_", text.strip().lower())


def normalize_context(text: str) -> str:
    slug = _slug(text)
    return _CONTEXT_ALIASES.get(slug, slug)


def normalize_technique(text: str) -> str:
    slug = _slug(text)
    return _TECHNIQUE_ALIASES.get(slug, _TECHNIQUE_ALIASES.get(slug.replace("_", ""), slug))


def read_singer_list(path: Path) -> list[str]:
    """Singer ids of an official list file (one a line or comma-separated; ``female1`` or ``f1``)."""
    singers = []
    for token in re.split(r"[\s,]+", path.read_text(encoding="utf-8")):
        if not token:
            continue
        singer = normalize_singer(token)
        if singer is None:
            raise InputError(f"{path}: {token!r} is not a VocalSet singer id (f1..f9, m1..m11)")
        singers.append(singer)
    return singers


def _parse_excerpt_name(stem: str) -> dict[str, str] | str:
    """The labels of an excerpt's name (``f3_arpeggios_vocal_fry_a_lowPitch_0.52``), or the
    reason it is not one."""
    match = _EXCERPT_NAME.match(stem)
    if not match:
        return ("name is not <singer>_<context>_<technique>_<vowel>_<low|high>Pitch_<start> "
                "(e.g. f3_arpeggios_belt_u_highPitch_2.6006)")
    technique = normalize_technique(match.group("technique"))
    if technique not in ALL_TECHNIQUES:
        return f"technique {match.group('technique')!r} is not a VocalSet technique"
    return {"singer": normalize_singer(match.group("singer")) or "",
            "context": normalize_context(match.group("context")), "technique": technique,
            "vowel": match.group("vowel").lower(), "pitch_range": match.group("pitch").lower(),
            "start_s": match.group("start")}


def _parse_file_name(stem: str) -> dict[str, str]:
    tokens = [t for t in stem.lower().split("_") if t]
    if tokens and normalize_singer(tokens[0]):
        tokens = tokens[1:]  # the singer prefix; the folder is authoritative
    vowel = next((t for t in reversed(tokens) if t in ("a", "e", "i", "o", "u")), "")
    key = next((t for t in tokens if t in ("c", "f")), "")
    excerpt = next((t for t in tokens if t in _EXCERPTS), "")
    return {"vowel": vowel, "key": key, "excerpt": excerpt}


@dataclass(frozen=True)
class VocalSetLayout(Layout):
    """VocalSet: ``[FULL/]<singer>/<context>/<technique>/<file>.wav``."""

    name: ClassVar[str] = "vocalset"
    description: ClassVar[str] = ("VocalSet: [FULL/]<singer>/<context>/<technique>/*.wav, or "
                                  "excerpts [audio/]<singer>/<singer>_<context>_<technique>_"
                                  "<vowel>_<low|high>Pitch_<start>.flac (S3 technique "
                                  "classification; official singer split)")
    field_names: ClassVar[tuple[str, ...]] = ("singer", "gender", "context", "technique", "vowel",
                                              "key", "excerpt", "pitch_range", "start_s",
                                              "official_split")
    option_help: ClassVar[dict[str, str]] = {
        "audio_dir": "sub-folder of ROOT holding the singer folders; '' = FULL, data_by_singer "
                     "or audio when ROOT contains one, else ROOT",
        "techniques": "techniques to keep: 'all' (17), 's3' (the 10 of S3) or a comma list",
        "test_singers": "official test singers; empty = read test_singers_technique.txt when "
                        "present, else f2,f8,m3,m5,m10",
        "drop_duplicates": "skip 'name(1).wav' copies whose original is beside them",
    }

    audio_dir: str = ""
    techniques: tuple[str, ...] = ("all",)
    test_singers: tuple[str, ...] = ()
    drop_duplicates: bool = True

    def _technique_filter(self) -> frozenset[str] | None:
        wanted = tuple(t.lower() for t in self.techniques)
        if wanted in ((), ("all",)):
            return None
        if wanted == ("s3",):
            return frozenset(S3_TECHNIQUES)
        chosen = frozenset(normalize_technique(t) for t in wanted)
        unknown = sorted(chosen - set(ALL_TECHNIQUES))
        if unknown:
            raise ConfigError(f"layout vocalset: unknown techniques {', '.join(unknown)}; "
                              f"choose from all, s3, {', '.join(ALL_TECHNIQUES)}")
        return chosen

    def _official_test_singers(self, root: Path, base: Path) -> frozenset[str]:
        if self.test_singers:
            singers = [normalize_singer(s) for s in self.test_singers]
            if None in singers:
                raise ConfigError(f"layout vocalset: test_singers must be ids like f2 or m10, "
                                  f"got {', '.join(self.test_singers)}")
            return frozenset(s for s in singers if s)
        for folder in (root, base.parent):
            listed = folder / "test_singers_technique.txt"
            if listed.is_file():
                return frozenset(read_singer_list(listed))
        return frozenset(OFFICIAL_TEST_SINGERS)

    def _scan(self, root: Path) -> tuple[list[AudioItem], list[Skipped]]:
        base = root / self.audio_dir if self.audio_dir else root
        if not self.audio_dir:
            for candidate in ("FULL", "data_by_singer", "audio"):
                if (root / candidate).is_dir():
                    base = root / candidate
                    break
        keep = self._technique_filter()
        test_singers = self._official_test_singers(root, base)
        items: list[AudioItem] = []
        skipped: list[Skipped] = []
        for path in iter_files(base, extensions=AUDIO_EXTENSIONS):
            where = path.relative_to(root).as_posix()
            parts = path.relative_to(base).parts
            if len(parts) == 2:  # an excerpt: <singer>/<name carrying every label>
                parsed = _parse_excerpt_name(path.stem)
                if isinstance(parsed, str):
                    skipped.append(Skipped(where, parsed))
                    continue
                folder_singer = normalize_singer(parts[0])
                if folder_singer != parsed["singer"]:
                    skipped.append(Skipped(where, f"name says singer {parsed['singer']} but the "
                                                  f"folder is {parts[0]!r}"))
                    continue
                singer, context, technique = parsed["singer"], parsed["context"], parsed["technique"]
                name_fields = {"vowel": parsed["vowel"], "key": "", "excerpt": "",
                               "pitch_range": parsed["pitch_range"], "start_s": parsed["start_s"]}
            elif len(parts) == 4:
                singer = normalize_singer(parts[0])
                if singer is None:
                    skipped.append(Skipped(where, f"singer folder {parts[0]!r} is not "
                                                  "f1..f9/m1..m11 (or female1/male1)"))
                    continue
                context, technique = normalize_context(parts[1]), normalize_technique(parts[2])
                name_fields = {**_parse_file_name(path.stem), "pitch_range": "", "start_s": ""}
            else:
                skipped.append(Skipped(where, "not at <singer>/<context>/<technique>/<file> nor "
                                              "<singer>/<excerpt name>"))
                continue
            if keep is not None and technique not in keep:
                skipped.append(Skipped(where, f"technique {technique} not selected"))
                continue
            duplicate = _DUPLICATE.match(path.stem)
            if (self.drop_duplicates and duplicate
                    and (path.parent / f"{duplicate.group(1)}{path.suffix}").exists()):
                skipped.append(Skipped(where, f"duplicate of {duplicate.group(1)}{path.suffix}"))
                continue
            fields = {"singer": singer, "gender": "female" if singer[0] == "f" else "male",
                      "context": context, "technique": technique, **name_fields,
                      "official_split": "test" if singer in test_singers else "train"}
            items.append(AudioItem(item_id=item_id_of(path, root), audio_path=path,
                                   fields=fields))
        return items, skipped
