"""Scale-invariant signal-to-distortion ratio (SI-SDR, Le Roux et al. 2019) and its improvement
over the mixture, the figures the separation benchmark reports."""

from __future__ import annotations

import numpy as np

from vocaltools.errors import InputError

_EPS = 1e-12


def si_sdr(*, estimate: np.ndarray, reference: np.ndarray) -> float:
    """SI-SDR in dB of ``estimate`` against ``reference``, both ``float [n]`` of equal length.

    The reference is scaled by the projection ``alpha = <estimate, reference> / ||reference||^2``;
    the ratio is ``||alpha·reference||^2 / ||estimate - alpha·reference||^2``. Means are not removed
    (the signals are audio, zero-mean up to DC). An all-zero reference raises :class:`InputError`.

    >>> import numpy as np
    >>> x = np.sin(np.arange(1000) / 10.0)
    >>> round(si_sdr(estimate=0.5 * x, reference=x), 1) > 100
    True
    """
    estimate = np.asarray(estimate, dtype=np.float64).reshape(-1)
    reference = np.asarray(reference, dtype=np.float64).reshape(-1)
    if estimate.shape != reference.shape:
        raise InputError(f"SI-SDR needs signals of equal length, got {estimate.size} and "
                         f"{reference.size} samples")
    energy = float(np.dot(reference, reference))
    if energy <= _EPS:
        raise InputError("SI-SDR is undefined for a silent reference")
    alpha = float(np.dot(estimate, reference)) / energy
    target = alpha * reference
    noise = estimate - target
    return float(10.0 * np.log10((np.dot(target, target) + _EPS) / (np.dot(noise, noise) + _EPS)))


def si_sdr_improvement(*, estimate: np.ndarray, reference: np.ndarray,
                       mixture: np.ndarray) -> float:
    """``si_sdr(estimate) - si_sdr(mixture)`` in dB: what separation gained over doing nothing."""
    return si_sdr(estimate=estimate, reference=reference) - si_sdr(estimate=mixture,
                                                                 reference=reference)
