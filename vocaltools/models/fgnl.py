"""The fully generalized non-local (FGNL) module of S1 (AAAI-21) and its ablations.

Given the feature map of one layer (the queries, ``float32 [batch, C, F, T]``) and optionally maps of
other layers (extra keys/values), the module computes, with ``C' = C / reduction``::

    theta = G(conv1x1(x))                          # [batch, Nq, C']
    phi   = [G(conv1x1_l(x_l)) for each layer l]   # concatenated on positions: [batch, Nk, C']
    g     = [G(conv1x1_l(x_l)) for each layer l]   # [batch, Nk, C']
    f_k   = theta . roll(phi, k, channel axis)^T    # [batch, Nq, Nk], k = 0..K-1 (K = C' rolls)
    Y_k   = softmax(f_k) . g                        # [batch, Nq, C']
    w     = MoSE(Y_0..Y_K-1)                        # [batch, K], softmax over the rolls
    z     = conv1x1(stack_k(w_k Y_k)) + x           # [batch, C, F, T]

``G`` is a fixed depthwise 5x5 Gaussian (sigma 0.707), a frozen parameter so that the Keras count
includes it. The softmax runs over the query axis by default (the authors' code), or over the keys
(Wang et al.'s non-local block) with ``softmax_axis="key"``.

Efficiency: the K rolls are folded into one batched matrix product (rolling ``phi`` by ``k`` equals
rolling ``theta`` by ``-k``). The query-axis softmax (default) runs through
:class:`QuerySoftmaxAttention`, which works on chunks of keys (exact, because every key column is
normalised on its own), keeps no attention map for the backward pass and recomputes the chunks there;
the key-axis softmax goes through :func:`torch.nn.functional.scaled_dot_product_attention`, whose
fused kernels (where the device and dtype allow them) do not store the map either.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vocaltools.errors import ConfigError, ModelError

SOFTMAX_AXES = ("query", "key")
MOSE_KINDS = ("mose", "se", "none")

#: Largest attention chunk (elements of ``[batch, K, Nq, keys]``) materialised at once: 64 MiB fp32.
ATTENTION_CHUNK_ELEMENTS = 1 << 24


def _key_major_attention(q: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """Transposed attention map ``[batch, K, keys, Nq]``: every key's softmax over the queries.

    Kept key-major so that the softmax runs over the last (contiguous) axis; computed in at least
    fp32 for fp16/bf16 inputs.
    """
    scores = keys @ q.transpose(-1, -2)  # [batch, 1, c, D] @ [batch, K, D, Nq] -> [batch, K, c, Nq]
    accurate = torch.promote_types(scores.dtype, torch.float32)
    return torch.softmax(scores.to(accurate), dim=-1).to(scores.dtype)


def gaussian_kernel_1d(*, size: int = 5, sigma: float = 0.707) -> torch.Tensor:
    """Normalised 1-D Gaussian taps ``float64 [size]`` (as OpenCV's ``getGaussianKernel``)."""
    positions = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    taps = torch.exp(-positions**2 / (2 * sigma**2))
    return taps / taps.sum()


class GaussianSmoothing(nn.Module):
    """Depthwise ``size x size`` Gaussian filter, ``same`` padding, no bias; not trained.

    ``float32 [batch, channels, F, T] -> [batch, channels, F, T]``. The kernel is a parameter with
    ``requires_grad=False`` so that it is saved, moved with the model, and counted as Keras does.
    """

    def __init__(self, channels: int, *, size: int = 5, sigma: float = 0.707):
        super().__init__()
        taps = gaussian_kernel_1d(size=size, sigma=sigma)
        kernel = torch.outer(taps, taps).to(torch.float32)
        self.weight = nn.Parameter(kernel.expand(channels, 1, size, size).clone(), requires_grad=False)
        self.padding = size // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight.to(x.dtype), padding=self.padding, groups=x.shape[1])


class Projection(nn.Module):
    """1x1 convolution ``C -> C'`` followed (optionally) by the Gaussian smoothing ``G``.

    ``float32 [batch, C, F, T] -> [batch, F * T, C']`` (positions flattened frequency-major).
    """

    def __init__(self, in_channels: int, out_channels: int, *, gaussian: bool):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)
        self.smooth = GaussianSmoothing(out_channels) if gaussian else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.smooth(self.conv(x))
        return y.flatten(2).transpose(1, 2)  # [batch, C', F*T] -> [batch, F*T, C']


class QuerySoftmaxAttention(torch.autograd.Function):
    """``Y = softmax_over_queries(Q K^T) V`` without storing the attention map.

    ``q: [batch, K, Nq, D]``, ``k, v: [batch, Nk, D]`` -> ``[batch, K, Nq, D]``. Every key column is
    normalised over the queries on its own, so chunks of keys are exact and independent; the
    backward pass recomputes each chunk (flash-attention style). The softmax runs in at least fp32.
    """

    @staticmethod
    @torch.amp.custom_fwd(device_type="cuda")
    def forward(ctx, q, k, v, chunk: int):
        ctx.save_for_backward(q, k, v)
        ctx.chunk = chunk
        out = q.new_zeros(q.shape)
        for start in range(0, k.shape[1], chunk):
            keys = k[:, None, start:start + chunk]  # [batch, 1, c, D]
            values = v[:, None, start:start + chunk]
            attention_t = _key_major_attention(q, keys)  # [batch, K, c, Nq]
            out += attention_t.transpose(-1, -2) @ values
        return out

    @staticmethod
    @torch.amp.custom_bwd(device_type="cuda")
    def backward(ctx, grad_out):
        q, k, v = ctx.saved_tensors
        chunk = ctx.chunk
        grad_q = torch.zeros_like(q)
        grad_k = torch.empty_like(k)
        grad_v = torch.empty_like(v)
        for start in range(0, k.shape[1], chunk):
            stop = min(start + chunk, k.shape[1])
            keys = k[:, None, start:stop]  # [batch, 1, c, D]
            values = v[:, None, start:stop]
            attention_t = _key_major_attention(q, keys)  # [batch, K, c, Nq]
            grad_v_rolls = attention_t @ grad_out  # [batch, K, c, D]
            grad_v[:, start:stop] = grad_v_rolls.sum(1)
            # softmax over queries: dS = A * (dA - sum_q A dA), and sum_q A dA = V . dV per key
            column_dot = (grad_v_rolls * values).sum(-1, keepdim=True)  # [batch, K, c, 1]
            grad_scores_t = (values @ grad_out.transpose(-1, -2)).sub_(column_dot).mul_(attention_t)
            grad_q += grad_scores_t.transpose(-1, -2) @ keys
            grad_k[:, start:stop] = (grad_scores_t @ q).sum(1)
        return grad_q, grad_k, grad_v, None


def rolled_attention(theta: torch.Tensor, phi: torch.Tensor, g: torch.Tensor, *, n_rolls: int,
                     softmax_axis: str = "query",
                     chunk_elements: int = ATTENTION_CHUNK_ELEMENTS) -> torch.Tensor:
    """The K responses of the FGNL operation, all rolls at once.

    Parameters
    ----------
    theta : float32 [batch, Nq, C']
    phi, g : float32 [batch, Nk, C']
    n_rolls : K; response k uses ``roll(phi, k)`` along the channel axis (1 = plain non-local).
    softmax_axis : "query" (normalise every key column over the queries) or "key".

    Returns
    -------
    float32 [batch, K, Nq, C']
    """
    n_channels = theta.shape[-1]
    # theta . roll(phi, k)^T == roll(theta, -k) . phi^T: index[k, c] = (c + k) mod C'
    index = (torch.arange(n_channels, device=theta.device)[None, :]
             + torch.arange(n_rolls, device=theta.device)[:, None]) % n_channels
    queries = theta[:, :, index].permute(0, 2, 1, 3)  # [batch, Nq, K, C'] -> [batch, K, Nq, C']
    phi, g = phi.to(theta.dtype), g.to(theta.dtype)
    if softmax_axis == "key":
        keys = phi[:, None].expand(-1, n_rolls, -1, -1)  # [batch, K, Nk, C'] (a view)
        values = g[:, None].expand(-1, n_rolls, -1, -1)
        return F.scaled_dot_product_attention(queries, keys, values, scale=1.0)
    if softmax_axis != "query":
        raise ConfigError(f"softmax_axis {softmax_axis!r} is not one of {SOFTMAX_AXES}")
    per_key = theta.shape[0] * n_rolls * theta.shape[1]
    chunk = max(1, min(phi.shape[1], chunk_elements // max(per_key, 1)))
    return QuerySoftmaxAttention.apply(queries.contiguous(), phi.contiguous(), g.contiguous(), chunk)


class MoSE(nn.Module):
    """Modified squeeze-and-excitation over the K responses.

    Each response is averaged to one scalar, passed through shared 1x1 convolutions ``1 -> hidden``
    (ReLU) ``-> 1`` and normalised over the responses with a softmax (``gate="softmax"``, MoSE) or
    gated one by one with a sigmoid (``gate="sigmoid"``, the SE ablation).
    ``float32 [batch, K, Nq, C'] -> weights [batch, K]``.
    """

    def __init__(self, *, hidden: int = 16, gate: str = "softmax"):
        super().__init__()
        # a 1x1 convolution on a single-channel scalar map is a Linear(1, hidden)
        self.squeeze = nn.Linear(1, hidden)
        self.excite = nn.Linear(hidden, 1)
        self.gate = gate

    def forward(self, responses: torch.Tensor) -> torch.Tensor:
        summary = responses.mean(dim=(2, 3))[..., None]  # [batch, K, 1]
        scores = self.excite(torch.relu(self.squeeze(summary)))[..., 0]  # [batch, K]
        return torch.softmax(scores, dim=1) if self.gate == "softmax" else torch.sigmoid(scores)


class FGNL(nn.Module):
    """Fully generalized non-local module (and its NL / FGNL_LIGHT ablations).

    Parameters
    ----------
    channels : C, channels of the query layer (the module's input and output).
    other_channels : channels of the further layers whose positions join the keys/values
        (``(128,)`` for block 3 in CRNN_FGNL; ``()`` for the single-layer ablations).
    reduction : m; ``C' = C // m``.
    roll : K = C' rolled responses (FGNL) or a single unrolled one (plain non-local, K = 1).
    mose : "mose" (softmax over the rolls), "se" (sigmoid gate per roll) or "none" (equal weights
        1/K).
    gaussian : apply the fixed Gaussian smoothing after every 1x1 projection.
    softmax_axis : "query" (authors' code) or "key" (Wang et al.).

    Shapes: ``forward(x: [batch, C, F, T], others: [[batch, C_l, F_l, T_l], ...]) -> [batch, C, F, T]``.
    """

    def __init__(self, channels: int, *, other_channels: tuple[int, ...] = (), reduction: int = 32,
                 roll: bool = True, mose: str = "mose", gaussian: bool = True,
                 softmax_axis: str = "query", chunk_elements: int = ATTENTION_CHUNK_ELEMENTS):
        super().__init__()
        if mose not in MOSE_KINDS:
            raise ConfigError(f"mose {mose!r} is not one of {MOSE_KINDS}; use 'mose' (paper), "
                              "'se' (sigmoid gate) or 'none' (equal weights)")
        if softmax_axis not in SOFTMAX_AXES:
            raise ConfigError(f"softmax_axis {softmax_axis!r} is not one of {SOFTMAX_AXES}")
        if reduction < 1 or channels % reduction:
            raise ConfigError(f"FGNL reduction {reduction} must divide the {channels} channels")
        reduced = channels // reduction
        self.reduced_channels = reduced
        self.n_rolls = reduced if roll else 1
        self.softmax_axis = softmax_axis
        self.chunk_elements = chunk_elements
        layers = (channels, *other_channels)
        self.theta = Projection(channels, reduced, gaussian=gaussian)
        self.phi = nn.ModuleList(Projection(c, reduced, gaussian=gaussian) for c in layers)
        self.g = nn.ModuleList(Projection(c, reduced, gaussian=gaussian) for c in layers)
        gate = {"mose": "softmax", "se": "sigmoid"}.get(mose)
        self.mose = MoSE(gate=gate) if gate else None
        self.out = nn.Conv2d(reduced * self.n_rolls, channels, kernel_size=1)

    def forward(self, x: torch.Tensor, others: tuple[torch.Tensor, ...] | list = ()) -> torch.Tensor:
        inputs = (x, *others)
        if len(inputs) != len(self.phi):
            raise ModelError(f"FGNL expects {len(self.phi) - 1} extra layer(s) besides the query "
                             f"layer, got {len(others)}")
        theta = self.theta(x)  # [batch, Nq, C']
        phi = torch.cat([proj(t) for proj, t in zip(self.phi, inputs)], dim=1)  # [batch, Nk, C']
        g = torch.cat([proj(t) for proj, t in zip(self.g, inputs)], dim=1)
        responses = rolled_attention(theta, phi, g, n_rolls=self.n_rolls,
                                     softmax_axis=self.softmax_axis,
                                     chunk_elements=self.chunk_elements)  # [batch, K, Nq, C']
        if self.mose is not None:
            weights = self.mose(responses)
        else:
            weights = responses.new_full(responses.shape[:2], 1.0 / self.n_rolls)
        responses = responses * weights[:, :, None, None]
        batch, _, height, width = x.shape
        # stack as the Keras code does: channel index c * K + k
        stacked = responses.permute(0, 3, 1, 2).reshape(batch, -1, height, width)
        return x + self.out(stacked)


__all__ = ["FGNL", "GaussianSmoothing", "MoSE", "Projection", "QuerySoftmaxAttention",
           "gaussian_kernel_1d", "rolled_attention"]
