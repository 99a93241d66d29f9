"""S4 attention-augmented CNN (vocaltools.models.aacnn): parameter counts, the relative-logit
computation against a direct one, the model contract at both paper inputs, and training sanity."""

from __future__ import annotations

import pytest
import torch

from _model_checks import one_step_losses
from vocaltools.errors import ModelError
from vocaltools.models import aacnn
from vocaltools.models.registry import build_model, count_params_keras, example_input, get_spec

STFT, CQT = (1, 1025, 87), (1, 252, 87)
# Keras count (BN running statistics included) of the full-width networks, every ratio
EXPECTED_COUNTS = {
    (STFT, 0.0): 65_696_371, (STFT, 0.25): 63_044_051, (STFT, 0.5): 60_473_651,
    (STFT, 0.75): 57_985_171, (STFT, 1.0): 55_578_611,
    (CQT, 0.0): 26_374_771, (CQT, 0.25): 23_716_211, (CQT, 0.5): 21_139_571,
    (CQT, 0.75): 18_644_851, (CQT, 1.0): 16_232_051,
}


def _meta_count(**options) -> int:
    with torch.device("meta"):
        return count_params_keras(aacnn.build(**options))


@pytest.mark.parametrize("ratio", aacnn.RATIOS)
def test_stft_counts_are_in_the_papers_range(ratio):
    """Paper: "from 55 million to 65 million" (whole millions: ratio 0 is 65.7M, the same as the
    authors' Keras code gives)."""
    count = _meta_count(ratio=ratio, input_shape=STFT)
    assert 55_000_000 <= count < 66_000_000


def test_exact_counts_for_every_ratio_and_input():
    got = {(shape, ratio): _meta_count(ratio=ratio, input_shape=shape)
           for shape in (STFT, CQT) for ratio in aacnn.RATIOS}
    assert got == EXPECTED_COUNTS


def test_rel_to_abs_indexes_offsets():
    length = 5
    # x[i, m] = 100 i + (m - (L - 1)): the offset is readable from the value
    rows = torch.arange(length).unsqueeze(1) * 100.0
    offsets = torch.arange(2 * length - 1) - (length - 1.0)
    absolute = aacnn.rel_to_abs((rows + offsets).reshape(1, length, 2 * length - 1))[0]
    i, j = torch.meshgrid(torch.arange(length), torch.arange(length), indexing="ij")
    torch.testing.assert_close(absolute, (100 * i + (j - i)).float())


def test_relative_logits_equal_an_explicit_double_loop():
    torch.manual_seed(0)
    batch, heads, height, width, depth = 2, 3, 4, 6, 5
    q = torch.randn(batch, heads, height, width, depth)
    rel_h, rel_w = torch.randn(2 * height - 1, depth), torch.randn(2 * width - 1, depth)
    h_logits, w_logits = aacnn.relative_logits(q, rel_h, rel_w)
    for y in range(height):
        for x in range(width):
            for y2 in range(height):
                expected = (q[:, :, y, x] * rel_h[y2 - y + height - 1]).sum(-1)
                torch.testing.assert_close(h_logits[:, :, y, x, y2], expected)
            for x2 in range(width):
                expected = (q[:, :, y, x] * rel_w[x2 - x + width - 1]).sum(-1)
                torch.testing.assert_close(w_logits[:, :, y, x, x2], expected)


def test_attention_equals_a_direct_computation_over_all_position_pairs():
    torch.manual_seed(0)
    height, width, heads, depth = 3, 5, 2, 4
    layer = aacnn.AttentionAugmentedConv2d(6, 8, ratio=0.5, heads=heads, height=height,
                                           width=width)
    x = torch.randn(2, 6, height, width)
    q, k, v = layer.qkv(x).split(depth, dim=1)
    head_dim = depth // heads
    # channels are grouped heads-outer: [b, heads, head_dim, y, x]
    q, k, v = (t.reshape(2, heads, head_dim, height, width) for t in (q, k, v))
    q = q * head_dim ** -0.5
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    ys, xs = ys.flatten(), xs.flatten()
    # rel[p, p2, :] = rel_h[y2 - y + H - 1] + rel_w[x2 - x + W - 1] for every position pair
    rel = (layer.rel_h[ys[None, :] - ys[:, None] + height - 1]
           + layer.rel_w[xs[None, :] - xs[:, None] + width - 1])
    qf, kf, vf = (t.flatten(3) for t in (q, k, v))  # [b, heads, head_dim, HW]
    logits = torch.einsum("bndp,bndr->bnpr", qf, kf) + torch.einsum("bndp,prd->bnpr", qf, rel)
    out = torch.einsum("bnpr,bndr->bndp", logits.softmax(-1), vf).reshape(2, depth, height, width)
    torch.testing.assert_close(layer.attention(x), out)


@pytest.mark.parametrize("name, shape", [
    pytest.param("aacnn", STFT, marks=pytest.mark.slow),  # 60M parameters, 1419-position attention
    ("aacnn_cqt", CQT)])
def test_catalog_entries_run_at_full_width(name, shape):
    torch.manual_seed(0)
    model = build_model(name).eval()
    x = example_input(get_spec(name), batch=1)
    assert tuple(x.shape[1:]) == shape
    with torch.no_grad():
        assert model(x).shape == (1, 19)
    assert model.classifier.in_features == 64


def test_forward_is_classifier_of_forward_features():
    model = aacnn.build(ratio=0.25, input_shape=CQT, width_multiplier=0.25).eval()
    x = torch.randn(2, *CQT)
    with torch.no_grad():
        features = model.forward_features(x)
        torch.testing.assert_close(model.classifier(features), model(x))
    assert features.shape == (2, 16)


@pytest.mark.parametrize("ratio", aacnn.RATIOS)
def test_every_ratio_runs_at_a_narrow_width(ratio):
    model = aacnn.build(ratio=ratio, input_shape=CQT, width_multiplier=0.25).eval()
    with torch.no_grad():
        assert model(torch.randn(2, *CQT)).shape == (2, 19)
        assert model.forward_features(torch.randn(2, *CQT)).shape == (2, 16)


def test_full_attention_has_no_conv_path_and_ratio_zero_no_attention():
    full = aacnn.AttentionAugmentedConv2d(16, 16, ratio=1.0, height=3, width=4)
    assert full.conv is None and full.depth_v == 16
    model = aacnn.build(ratio=0.0, input_shape=CQT, width_multiplier=0.25)
    assert not any(isinstance(m, aacnn.AttentionAugmentedConv2d) for m in model.modules())


def test_eval_mode_is_deterministic():
    model = aacnn.build(ratio=0.25, input_shape=CQT, width_multiplier=0.25).eval()
    x = torch.randn(1, *CQT)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x), rtol=0, atol=0)


def test_one_optimiser_step_lowers_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    model = aacnn.build(n_classes=4, ratio=0.25, input_shape=CQT, width_multiplier=0.25)
    x, y = torch.randn(4, *CQT), torch.tensor([0, 1, 2, 3])
    before, after = one_step_losses(model, x, y, lr=1e-4)
    assert after < before


def test_wrong_input_shape_raises_model_error():
    model = aacnn.build(ratio=0.25, input_shape=CQT, width_multiplier=0.25)
    with pytest.raises(ModelError, match="input_shape"):
        model(torch.randn(1, *STFT))


@pytest.mark.parametrize("options, word", [({"ratio": 1.5}, "ratio"),
                                           ({"ratio": 0.1}, "heads"),
                                           ({"init": "xavier"}, "init")])
def test_invalid_options_raise_model_error(options, word):
    with pytest.raises(ModelError, match=word):
        with torch.device("meta"):
            aacnn.build(input_shape=CQT, **options)
