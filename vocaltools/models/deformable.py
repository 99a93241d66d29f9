"""Modulated deformable 2-D convolution (DCNv2, Zhu et al. 2019) in plain torch.

torchvision's ``deform_conv2d`` is not importable in this project's environment, so the operator
is written with :func:`torch.nn.functional.grid_sample` (bilinear, zeros outside the input), which
has fast CPU and CUDA kernels and differentiates with respect to the sampling positions. Semantics
follow ``torchvision.ops.deform_conv2d`` exactly (same offset layout, same treatment of samples
that fall outside the input), and :func:`compare_with_torchvision` checks that where torchvision
exists.

For output position ``p0`` and kernel tap ``k`` (row-major over ``(kernel_h, kernel_w)``)::

    y(p0) = sum_k w_k * mask_k(p0) * x(p0 * stride - pad + k * dilation + offset_k(p0))

with ``offset[:, 2k]`` the vertical (row) and ``offset[:, 2k + 1]`` the horizontal (column)
displacement, in pixels, and ``x`` read by bilinear interpolation (zero outside the input).

Memory: the sampled "columns" hold ``batch * in_channels * n_taps * out_h * out_w`` values (the
same as an im2col convolution). ``tap_chunk`` splits the taps into groups; with it, each group is
recomputed in the backward pass (activation checkpointing), so peak memory is one group's columns
instead of all of them, at the cost of a second sampling pass.

Precision: ``grid_sample`` takes positions normalised to [-1, 1], so in float32 a position on an
axis of ``n`` pixels carries a rounding error of about ``n * 6e-8`` pixels. At the S3 input
(1025 bins) a zero-offset layer differs from the regular convolution by about 2e-5 of the output
scale (measured: 2.2e-3 on outputs of magnitude 100 for noise input); in float64 the difference is
at rounding level.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vocaltools.errors import ModelError

_Pair = tuple[int, int]


def _pair(value: int | tuple[int, int], name: str) -> _Pair:
    if isinstance(value, int):
        return (value, value)
    if len(value) != 2:
        raise ModelError(f"{name} must be an int or a pair (height, width); got {value!r}")
    return (int(value[0]), int(value[1]))


def _resolve_padding(padding: int | tuple[int, int] | str, kernel_size: _Pair, stride: _Pair,
                     dilation: _Pair) -> tuple[int, int, int, int]:
    """``(top, bottom, left, right)``. ``"same"`` follows :class:`torch.nn.Conv2d`: the total
    ``dilation * (kernel - 1)`` is split with the smaller half first (stride 1 only)."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding != "same":
            raise ModelError(f"padding must be an int, a pair, 'same' or 'valid'; got {padding!r}")
        if stride != (1, 1):
            raise ModelError(f"padding='same' needs stride 1 (as in torch.nn.Conv2d); got {stride}")
        total_h = dilation[0] * (kernel_size[0] - 1)
        total_w = dilation[1] * (kernel_size[1] - 1)
        return (total_h // 2, total_h - total_h // 2, total_w // 2, total_w - total_w // 2)
    pad_h, pad_w = _pair(padding, "padding")
    return (pad_h, pad_h, pad_w, pad_w)


def _output_size(size: int, kernel: int, stride: int, pad_before: int, pad_after: int,
                 dilation: int) -> int:
    return (size + pad_before + pad_after - dilation * (kernel - 1) - 1) // stride + 1


def _sample_taps(x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor | None,
                 base_y: torch.Tensor, base_x: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of ``x`` at the deformed positions of a group of taps.

    Parameters
    ----------
    x : float [batch, in_channels, height, width]
    offset : float [batch, 2 * taps, out_h, out_w] (dy, dx per tap)
    mask : float [batch, taps, out_h, out_w] or None
    base_y, base_x : float [taps, out_h, out_w], the undeformed sampling positions in pixels

    Returns
    -------
    float [batch, in_channels, taps, out_h, out_w]
    """
    batch, _, height, width = x.shape
    taps, out_h, out_w = base_y.shape
    pos_y = base_y + offset[:, 0::2]  # [batch, taps, out_h, out_w]
    pos_x = base_x + offset[:, 1::2]
    # grid_sample with align_corners=False puts pixel i at normalised (2i + 1) / size - 1; this
    # mapping stays finite for size 1, and 'zeros' padding reads zero outside, as torchvision does
    grid = torch.stack(((2 * pos_x + 1) / width - 1, (2 * pos_y + 1) / height - 1), dim=-1)
    grid = grid.reshape(batch, taps * out_h, out_w, 2)  # taps stacked along the rows
    columns = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    columns = columns.reshape(batch, x.shape[1], taps, out_h, out_w)
    if mask is not None:
        columns = columns * mask.unsqueeze(1)
    return columns


def _tap_group_conv(x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor | None,
                    weight: torch.Tensor, base_y: torch.Tensor, base_x: torch.Tensor) -> torch.Tensor:
    """One group of taps; ``weight`` float [out_channels, in_channels, taps].

    Returns float [batch, out_channels, out_h, out_w].
    """
    columns = _sample_taps(x, offset, mask, base_y, base_x)
    return torch.einsum("bckhw,ock->bohw", columns, weight)


class _RecomputedTapGroup(torch.autograd.Function):
    """:func:`_tap_group_conv` that keeps only its inputs and resamples in backward.

    (``torch.utils.checkpoint`` does the same but costs seconds of imports on its first call.)
    """

    @staticmethod
    def forward(ctx, x, offset, mask, weight, base_y, base_x):
        ctx.save_for_backward(x, offset, mask, weight, base_y, base_x)
        with torch.no_grad():
            return _tap_group_conv(x, offset, mask, weight, base_y, base_x)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        saved = ctx.saved_tensors
        inputs = [t.detach().requires_grad_(need) if t is not None else None
                  for t, need in zip(saved, ctx.needs_input_grad)]
        wanted = [t for t, need in zip(inputs, ctx.needs_input_grad) if need and t is not None]
        with torch.enable_grad():
            out = _tap_group_conv(*inputs)
        grads = iter(torch.autograd.grad(out, wanted, grad_out, allow_unused=True))
        return tuple(next(grads) if need and t is not None else None
                     for t, need in zip(inputs, ctx.needs_input_grad))


def deform_conv2d(x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor, *,
                  bias: torch.Tensor | None = None, mask: torch.Tensor | None = None,
                  stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] | str = 0,
                  dilation: int | tuple[int, int] = 1, tap_chunk: int | None = None) -> torch.Tensor:
    """Modulated deformable convolution, same semantics as ``torchvision.ops.deform_conv2d``
    (one offset group, one weight group).

    Parameters
    ----------
    x : float [batch, in_channels, height, width]
    offset : float [batch, 2 * kernel_h * kernel_w, out_h, out_w]
        ``offset[:, 2k]`` is the row and ``offset[:, 2k + 1]`` the column shift of tap ``k``.
    weight : float [out_channels, in_channels, kernel_h, kernel_w]
    bias : float [out_channels] or None
    mask : float [batch, kernel_h * kernel_w, out_h, out_w] or None (no modulation)
    stride, padding, dilation : as in :func:`torch.nn.functional.conv2d`; ``padding="same"``
        pads like :class:`torch.nn.Conv2d` (asymmetric for even kernels).
    tap_chunk : int or None
        Process the taps in groups of this size and recompute each group in backward (saves
        memory; first-order gradients only); None processes all taps at once.

    Returns
    -------
    float [batch, out_channels, out_h, out_w]
    """
    if x.dim() != 4 or weight.dim() != 4:
        raise ModelError(f"deform_conv2d expects a 4-D input and weight; got {tuple(x.shape)} and "
                         f"{tuple(weight.shape)}")
    out_channels, in_channels, kernel_h, kernel_w = weight.shape
    if x.shape[1] != in_channels:
        raise ModelError(f"deform_conv2d: input has {x.shape[1]} channels but the weight expects "
                         f"{in_channels}")
    stride_hw = _pair(stride, "stride")
    dilation_hw = _pair(dilation, "dilation")
    top, bottom, left, right = _resolve_padding(padding, (kernel_h, kernel_w), stride_hw, dilation_hw)
    batch, _, height, width = x.shape
    out_h = _output_size(height, kernel_h, stride_hw[0], top, bottom, dilation_hw[0])
    out_w = _output_size(width, kernel_w, stride_hw[1], left, right, dilation_hw[1])
    n_taps = kernel_h * kernel_w
    if out_h < 1 or out_w < 1:
        raise ModelError(f"deform_conv2d: input {height}x{width} is too small for kernel "
                         f"{kernel_h}x{kernel_w} with this padding/dilation")
    if tuple(offset.shape) != (batch, 2 * n_taps, out_h, out_w):
        raise ModelError(f"deform_conv2d: offset must be {(batch, 2 * n_taps, out_h, out_w)}; got "
                         f"{tuple(offset.shape)}")
    if mask is not None and tuple(mask.shape) != (batch, n_taps, out_h, out_w):
        raise ModelError(f"deform_conv2d: mask must be {(batch, n_taps, out_h, out_w)}; got "
                         f"{tuple(mask.shape)}")

    factory = {"device": x.device, "dtype": x.dtype}
    rows = torch.arange(out_h, **factory) * stride_hw[0] - top  # [out_h]
    cols = torch.arange(out_w, **factory) * stride_hw[1] - left  # [out_w]
    tap_rows = torch.arange(kernel_h, **factory).repeat_interleave(kernel_w) * dilation_hw[0]
    tap_cols = torch.arange(kernel_w, **factory).repeat(kernel_h) * dilation_hw[1]  # [n_taps]
    base_y = (tap_rows[:, None, None] + rows[None, :, None]).expand(n_taps, out_h, out_w)
    base_x = (tap_cols[:, None, None] + cols[None, None, :]).expand(n_taps, out_h, out_w)
    flat_weight = weight.reshape(out_channels, in_channels, n_taps)

    chunk = n_taps if tap_chunk is None else max(1, int(tap_chunk))
    recompute = chunk < n_taps and torch.is_grad_enabled()
    out = None
    for start in range(0, n_taps, chunk):
        stop = min(start + chunk, n_taps)
        args = (x, offset[:, 2 * start:2 * stop],
                None if mask is None else mask[:, start:stop],
                flat_weight[:, :, start:stop], base_y[start:stop], base_x[start:stop])
        if recompute:
            part = _RecomputedTapGroup.apply(*args)
        else:
            part = _tap_group_conv(*args)
        out = part if out is None else out + part
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out


class DeformConv2d(nn.Module):
    """Modulated deformable convolution whose offsets and mask are predicted from its input.

    ``offset_conv`` (``2 * kernel_h * kernel_w`` outputs) and ``mask_conv``
    (``kernel_h * kernel_w`` outputs) are regular convolutions with the same kernel, stride,
    padding and dilation, weights and biases initialised to zero, so that at initialisation the
    offsets are 0 and ``mask = 2 * sigmoid(0) = 1``: the layer starts as the regular convolution
    ``weight``. (One conv with ``3 * kernel_h * kernel_w`` outputs has the same parameters; two
    follow the seed authors' code.)

    ``float [batch, in_channels, height, width] -> [batch, out_channels, out_h, out_w]``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int], *,
                 stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] | str = 0,
                 dilation: int | tuple[int, int] = 1, bias: bool = True, modulated: bool = True,
                 tap_chunk: int | None = None):
        super().__init__()
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = _pair(stride, "stride")
        self.dilation = _pair(dilation, "dilation")
        self.padding = padding if isinstance(padding, str) else _pair(padding, "padding")
        _resolve_padding(self.padding, self.kernel_size, self.stride, self.dilation)  # validate
        self.modulated = modulated
        self.tap_chunk = tap_chunk
        n_taps = self.kernel_size[0] * self.kernel_size[1]
        # weight and bias initialised as nn.Conv2d initialises them
        reference = nn.Conv2d(in_channels, out_channels, self.kernel_size, bias=bias)
        self.weight = nn.Parameter(reference.weight.detach().clone())
        self.bias = nn.Parameter(reference.bias.detach().clone()) if bias else None
        conv_kwargs = {"kernel_size": self.kernel_size, "stride": self.stride,
                       "padding": self.padding, "dilation": self.dilation, "bias": True}
        self.offset_conv = nn.Conv2d(in_channels, 2 * n_taps, **conv_kwargs)
        self.mask_conv = nn.Conv2d(in_channels, n_taps, **conv_kwargs) if modulated else None
        self.reset_offsets()

    def reset_offsets(self) -> None:
        """Zero the offset and mask predictors (offsets 0, mask 1: a regular convolution)."""
        for conv in (self.offset_conv, self.mask_conv):
            if conv is not None:
                nn.init.zeros_(conv.weight)
                nn.init.zeros_(conv.bias)

    def offsets_and_mask(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``offset`` float [batch, 2 * taps, out_h, out_w] and ``mask`` float
        [batch, taps, out_h, out_w] in (0, 2) (None when not modulated)."""
        offset = self.offset_conv(x)
        mask = 2.0 * torch.sigmoid(self.mask_conv(x)) if self.mask_conv is not None else None
        return offset, mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        offset, mask = self.offsets_and_mask(x)
        return deform_conv2d(x, offset, self.weight, bias=self.bias, mask=mask, stride=self.stride,
                             padding=self.padding, dilation=self.dilation, tap_chunk=self.tap_chunk)

    def extra_repr(self) -> str:
        return (f"{self.weight.shape[1]}, {self.weight.shape[0]}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, "
                f"bias={self.bias is not None}, modulated={self.modulated}")


@dataclass(frozen=True)
class TorchvisionComparison:
    """Largest absolute differences between :func:`deform_conv2d` and torchvision's."""

    output: float
    grad_input: float
    grad_offset: float
    grad_mask: float
    grad_weight: float

    @property
    def worst(self) -> float:
        return max(self.output, self.grad_input, self.grad_offset, self.grad_mask, self.grad_weight)


def compare_with_torchvision(*, batch: int = 2, in_channels: int = 3, out_channels: int = 4,
                             height: int = 9, width: int = 11, kernel_size: tuple[int, int] = (3, 3),
                             stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 1,
                             dilation: int | tuple[int, int] = 1, offset_scale: float = 2.0,
                             seed: int = 0, dtype: torch.dtype = torch.float64,
                             device: str = "cpu") -> TorchvisionComparison:
    """Run :func:`deform_conv2d` and ``torchvision.ops.deform_conv2d`` on the same random input,
    offsets (uniform in ``+-offset_scale`` pixels, so that samples leave the input) and mask, and
    return the largest absolute differences of the outputs and of all gradients.

    Raises :class:`ModelError` when torchvision cannot be imported.
    """
    try:
        from torchvision.ops import deform_conv2d as tv_deform_conv2d
    except ImportError as error:  # torchvision absent or built against another torch
        raise ModelError(f"torchvision.ops.deform_conv2d is not importable ({error}); install a "
                         "torchvision that matches this torch to run the comparison") from error
    generator = torch.Generator().manual_seed(seed)
    kh, kw = kernel_size
    stride_hw, dilation_hw = _pair(stride, "stride"), _pair(dilation, "dilation")
    pad_hw = _pair(padding, "padding")
    out_h = _output_size(height, kh, stride_hw[0], pad_hw[0], pad_hw[0], dilation_hw[0])
    out_w = _output_size(width, kw, stride_hw[1], pad_hw[1], pad_hw[1], dilation_hw[1])

    def rand(*shape):
        return torch.rand(*shape, generator=generator, dtype=dtype)

    tensors = {
        "x": rand(batch, in_channels, height, width) * 2 - 1,
        "offset": (rand(batch, 2 * kh * kw, out_h, out_w) * 2 - 1) * offset_scale,
        "mask": rand(batch, kh * kw, out_h, out_w) * 2,
        "weight": rand(out_channels, in_channels, kh, kw) - 0.5,
        "bias": rand(out_channels) - 0.5,
    }
    results = []
    for implementation in ("ours", "torchvision"):
        leaves = {k: v.to(device).clone().requires_grad_(True) for k, v in tensors.items()}
        if implementation == "ours":
            out = deform_conv2d(leaves["x"], leaves["offset"], leaves["weight"], bias=leaves["bias"],
                                mask=leaves["mask"], stride=stride_hw, padding=pad_hw,
                                dilation=dilation_hw)
        else:
            out = tv_deform_conv2d(leaves["x"], leaves["offset"], leaves["weight"],
                                   bias=leaves["bias"], stride=stride_hw, padding=pad_hw,
                                   dilation=dilation_hw, mask=leaves["mask"])
        ramp = torch.linspace(-1, 1, out.numel(), dtype=dtype, device=device).view_as(out)
        (out * ramp).sum().backward()  # a non-uniform upstream gradient
        results.append((out.detach(), {k: v.grad.detach() for k, v in leaves.items()}))
    (ours, ours_grad), (theirs, theirs_grad) = results

    def diff(a, b):
        return float((a - b).abs().max())

    return TorchvisionComparison(
        output=diff(ours, theirs), grad_input=diff(ours_grad["x"], theirs_grad["x"]),
        grad_offset=diff(ours_grad["offset"], theirs_grad["offset"]),
        grad_mask=diff(ours_grad["mask"], theirs_grad["mask"]),
        grad_weight=diff(ours_grad["weight"], theirs_grad["weight"]))
