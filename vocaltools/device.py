"""Where torch runs and in which precision: one rule for the feature front ends, training and
inference.

- :func:`resolve_device`: ``"auto"`` (CUDA when available, else the CPU), ``"cpu"``, ``"cuda"``,
  ``"cuda:N"``, a ``torch.device`` or None (= auto). An unknown name, or a CUDA device this machine
  does not have, is a :class:`~vocaltools.errors.ConfigError`.
- :func:`resolve_precision`: ``"auto"`` is ``bf16`` on CUDA and ``fp32`` elsewhere; ``bf16``
  autocasts on CPU and CUDA; ``fp16`` (autocast with gradient scaling) needs CUDA.
- :func:`autocast`: the autocast context of a resolved precision (none for ``fp32``).

torch is imported inside the functions, so importing this module costs nothing.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, ContextManager

from vocaltools.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import torch

PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")


def resolve_device(device: "str | torch.device | None") -> "torch.device":
    """The ``torch.device`` that ``device`` names on this machine (see the module docstring)."""
    import torch

    if isinstance(device, torch.device):
        name = str(device)
    else:
        name = "auto" if device is None else str(device).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(name)
    except RuntimeError as error:
        raise ConfigError(f"unknown device {name!r}; expected cpu, cuda, cuda:N or auto") from error
    if resolved.type not in ("cpu", "cuda"):
        raise ConfigError(f"device {name!r} is not supported; expected cpu, cuda, cuda:N or auto")
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} was asked for but torch sees no CUDA GPU here; "
                              "use --device cpu (or auto)")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ConfigError(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s)")
    return resolved


def resolve_precision(precision: str, device: "torch.device") -> str:
    """``fp32``, ``bf16`` or ``fp16`` for ``precision`` (one of :data:`PRECISIONS`) on ``device``."""
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError("--precision fp16 needs a CUDA GPU (float16 autocast with a gradient "
                          "scaler); use --precision bf16 or fp32 on the CPU")
    return precision


def autocast(device: "torch.device", precision: str) -> ContextManager:
    """``torch.autocast`` to bfloat16 (``bf16``) or float16 (``fp16``) on ``device.type``; a no-op
    context for ``fp32``. ``precision`` is a resolved one (see :func:`resolve_precision`)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    import torch

    return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)
