"""Enrolment: an index built from an embeddings file, with its centre, open-set threshold and meta.

:func:`enrol_embeddings` is what ``vocaltools knn build`` does:

1. the vectors at the chosen level (item means or clips);
2. the centre (:func:`vocaltools.index.embeddings.center_vectors`): the mean enrolled vector, by
   default when the embeddings are L2-normalised (``embed --normalize``); with it, the index
   centres and re-normalises the enrolled vectors and every query the same way;
3. the score: by default AS-norm (:mod:`vocaltools.index.score_norm`, the enrolled items of
   other labels as cohort), ``score_norm="none"`` the squared distance itself;
4. the open-set threshold (:func:`vocaltools.index.identify.calibrate_open_set`), calibrated on
   that score of the prepared vectors with known trials across the field ``calibrate_by`` names
   (``auto``: the first song field of :data:`~vocaltools.index.identify.SONG_FIELDS` the
   embeddings carry);
5. the index meta: level, the embeddings' producing meta, label field, centre, score
   normalisation and calibration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from vocaltools.errors import InputError, did_you_mean
from vocaltools.index.embeddings import EmbeddingSet, mean_vector, select_vectors
from vocaltools.index.faiss_index import EmbeddingIndex, IndexConfig, build_index
from vocaltools.index.identify import SONG_FIELDS, calibrate_open_set
from vocaltools.index.score_norm import DEFAULT_TOP, SCORE_NORMS

CALIBRATE_BY = ("auto", "none")  # besides a field name


@dataclass(frozen=True)
class Enrolment:
    """A built index and what to tell the user about it (warnings, the calibration line)."""

    index: EmbeddingIndex
    warnings: tuple[str, ...]

    @property
    def calibration(self) -> Mapping[str, Any] | None:
        return self.index.meta.get("calibration")


def default_center(meta: Mapping[str, Any]) -> bool:
    """Centre by default when the embeddings are L2-normalised (``embed --normalize``): on unit
    vectors centring and re-normalising is the standard mean and length normalisation; vectors of
    other scales (MFCC statistics) keep the metric their producer chose."""
    return bool(meta.get("normalize"))


def calibration_field(calibrate_by: str, *, fields: Sequence[str],
                      level: str) -> tuple[str | None, tuple[str, ...]]:
    """The field whose groups known calibration trials ignore (``--calibrate-by``), and warnings.

    ``none``: no field; ``auto``: the first of :data:`SONG_FIELDS` in ``fields`` (at clip level,
    without one, the clip's own item: other clips of one recording are not a new recording);
    anything else must be a field, ``item_id`` or ``label``."""
    if calibrate_by == "none":
        return None, ()
    if calibrate_by != "auto":
        if calibrate_by not in fields and calibrate_by not in ("item_id", "label"):
            raise InputError(f"--calibrate-by {calibrate_by!r}: no such field; the embeddings "
                             f"carry {', '.join(fields) or 'no fields'}"
                             f"{did_you_mean(calibrate_by, fields)}")
        return calibrate_by, ()
    found = next((name for name in SONG_FIELDS if name in fields), None)
    if found is None and level == "clip":
        return "item_id", ()
    if found is None:
        return None, ("the embeddings carry no song field (" + ", ".join(SONG_FIELDS) + "): the "
                      "threshold is calibrated on other recordings of a singer, whatever their "
                      "song; give --calibrate-by FIELD to name one",)
    return found, ()


def enrol_embeddings(source: EmbeddingSet, *, level: str = "item",
                     config: IndexConfig = IndexConfig(), calibrate: bool = True,
                     calibrate_by: str = "auto", center: bool | None = None,
                     score_norm: str = "as-norm", cohort_top: int = DEFAULT_TOP) -> Enrolment:
    """Build the index of ``source``'s vectors at ``level`` (see the module docstring).

    ``center``: None follows :func:`default_center`. ``score_norm``: ``as-norm`` (the top
    ``cohort_top`` cohort scores; with fewer than three labels, ``none`` and a warning) or
    ``none`` (squared distances). ``calibrate``: store an open-set threshold
    when the vectors carry labels; when calibration is impossible (one label, no label with two
    items) the index is built without one and a warning says why."""
    if score_norm not in SCORE_NORMS:
        raise InputError(f"--score-norm {score_norm!r}: valid: {', '.join(SCORE_NORMS)}"
                         f"{did_you_mean(score_norm, SCORE_NORMS)}")
    if cohort_top < 1:
        raise InputError(f"--cohort-top must be >= 1, got {cohort_top}")
    vectors = select_vectors(source, level=level)
    if center is None:
        center = default_center(source.meta)
    centre = mean_vector(vectors.vectors) if center and len(vectors.vectors) else None
    index = build_index(vectors.vectors, item_ids=vectors.ids, labels=vectors.labels,
                        fields=vectors.fields, config=config, center=centre)
    warnings: list[str] = []
    n_labels = len(set(vectors.labels))
    if score_norm == "as-norm" and n_labels < 3:
        # an unknown trial's cohort leaves out two labels: with fewer than three none is left
        # (with one label there is no threshold to calibrate, and that is what the user is told)
        if n_labels == 2:
            warnings.append(f"AS-norm needs at least 3 enrolled labels for its cohort, got "
                            f"{n_labels}: scoring by squared distance (--score-norm none)")
        score_norm = "none"
    calibration = None
    if calibrate and any(vectors.labels):
        group_field, notes = calibration_field(calibrate_by, fields=list(source.fields),
                                               level=level)
        warnings.extend(notes)
        groups = None
        if group_field is not None:
            groups = source.field(group_field) if level == "item" else source.clip_field(group_field)
        try:
            result = calibrate_open_set(index.prepare(vectors.vectors), labels=vectors.labels,
                                        groups=groups, group_field=group_field,
                                        score_norm=score_norm, cohort_top=cohort_top)
            warnings.extend(result.warnings)
            calibration = result.calibration.to_dict()
        except InputError as error:
            warnings.append(f"no open-set threshold stored: {error}")
    index.meta.update({
        "level": level,
        "embeddings": {k: v for k, v in source.meta.items() if k not in ("schema", "software")},
        "label_field": source.meta.get("label_field", "label"),
        "center": None if centre is None else {"source": f"mean of the enrolled {level} vectors",
                                               "n_vectors": len(vectors.vectors)},
        "score_norm": None if score_norm == "none" else {
            "method": score_norm, "top": cohort_top,
            "cohort": "the enrolled items of labels other than the scored item's"},
        "calibration": calibration})
    return Enrolment(index=index, warnings=tuple(warnings))


def describe_enrolment(enrolment: Enrolment, *, output: str) -> str:
    """The one-line summary ``knn build`` prints: size, centre, threshold and expected rates."""
    index = enrolment.index
    level, kind = index.meta.get("level", "item"), index.config.kind
    centred = ", centred" if index.center is not None else ""
    note = ""
    calibration = enrolment.calibration
    if calibration:
        across = (f"another {calibration['groups']} of the same label" if calibration["groups"]
                  else "another enrolled item of the same label")
        scale = ("AS-norm score" if index.meta.get("score_norm") else "squared distance")
        note = (f"; open-set threshold {calibration['threshold']:.4g} ({scale}), expected "
                f"rates: known accepted {calibration['known_accept_rate']:.2f}, unknown rejected "
                f"{calibration['unknown_reject_rate']:.2f} (leave-one-out trials: {across}; "
                "a label left out)")
    return f"indexed {len(index)} {level} vectors of dim {index.dim} ({kind}{centred}) -> {output}{note}"
