"""S3: the modulated deformable convolution and the oblong CNN family."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vocaltools.errors import ModelError
from vocaltools.models.deformable import DeformConv2d, compare_with_torchvision, deform_conv2d
from vocaltools.models.oblong import OblongCNN
from vocaltools.models.registry import (build_model, count_params, count_params_keras,
                                        example_input, get_spec)

# paper Sec. 4.3, in parameters
PAPER_COUNTS = {
    "oblong": 337_500,
    "oblong_dc_all": 463_300,
    "oblong_dc_early": 362_200,
    "oblong_dc_late": 438_700,
    "oblong_dc_last": 435_700,
}
DEFORMABLE_LAYERS = {"oblong": (), "oblong_dc_all": (1, 2, 3, 4), "oblong_dc_early": (1, 2),
                     "oblong_dc_late": (3, 4), "oblong_dc_last": (4,)}

# (kernel, stride, padding, dilation): the paper's oblong kernels and a few general cases
CONV_CASES = [
    ((4, 1), 1, (2, 0), 1),
    ((16, 1), 1, (8, 0), 1),
    ((1, 4), 1, (0, 2), 1),
    ((1, 16), 1, "same", 1),
    ((4, 1), 1, "same", 2),
    ((3, 3), 2, 1, 1),
    ((3, 2), (2, 3), (1, 0), (2, 1)),
    ((1, 1), 1, 0, 1),
]


def _conv_with_same_weights(layer: DeformConv2d) -> nn.Conv2d:
    out_channels, in_channels = layer.weight.shape[:2]
    conv = nn.Conv2d(in_channels, out_channels, layer.kernel_size, stride=layer.stride,
                     padding=layer.padding, dilation=layer.dilation, bias=layer.bias is not None)
    with torch.no_grad():
        conv.weight.copy_(layer.weight)
        if layer.bias is not None:
            conv.bias.copy_(layer.bias)
    return conv


@pytest.mark.parametrize("name", sorted(PAPER_COUNTS))
def test_catalog_entry_counts_match_paper(name):
    model = build_model(name)
    assert model.deformable_layers == DEFORMABLE_LAYERS[name]
    # the trainable count is the paper's convention (the Keras count adds BN running stats)
    assert abs(count_params(model) / PAPER_COUNTS[name] - 1) < 0.001
    assert abs(count_params_keras(model) / PAPER_COUNTS[name] - 1) < 0.01


@pytest.mark.parametrize("name", sorted(PAPER_COUNTS))
def test_paper_input_shapes_and_feature_split(name):
    torch.manual_seed(0)
    spec = get_spec(name)
    model = build_model(name).eval()
    x = example_input(spec, batch=2)
    assert tuple(x.shape) == (2, 3, 1025, 259)
    with torch.no_grad():
        logits = model(x)
    assert logits.shape == (2, 10)
    assert torch.isfinite(logits).all()


def test_block_sizes_follow_the_code_padding():
    model = OblongCNN().eval()
    x = torch.zeros(1, 3, 1025, 259)
    sizes = []
    with torch.no_grad():
        for block in model.blocks:
            x = block(x)
            sizes.append(tuple(x.shape[1:]))
    assert sizes == [(32, 256, 64), (64, 64, 16), (128, 21, 5), (128, 10, 3)]
    same = OblongCNN(padding="same").eval()
    with torch.no_grad():
        assert tuple(same.blocks(torch.zeros(1, 3, 1025, 259)).shape) == (1, 128, 10, 2)


def _block_sizes(model: OblongCNN, n_frames: int) -> list[tuple[int, ...]]:
    x = torch.zeros(1, 3, 1025, n_frames)
    sizes = []
    with torch.no_grad():
        for block in model.blocks:
            x = block(x)
            sizes.append(tuple(x.shape[1:]))
    return sizes


@pytest.mark.parametrize("padding, three_s, one_s", [
    ("half", [(32, 256, 64), (64, 64, 16), (128, 21, 5), (128, 10, 3)],
     [(32, 256, 21), (64, 64, 5), (128, 21, 2), (128, 10, 1)]),
    ("same", [(32, 256, 64), (64, 64, 16), (128, 21, 5), (128, 10, 2)],
     [(32, 256, 21), (64, 64, 5), (128, 21, 1), (128, 10, 1)]),
])
def test_one_second_clips_are_valid_and_three_second_shapes_unchanged(padding, three_s, one_s):
    clamped = OblongCNN(padding=padding).eval()
    plain = OblongCNN(padding=padding, clamp_pool=False).eval()
    plain.load_state_dict(clamped.state_dict())  # pools hold no weights: the same state dict
    assert count_params(plain) == count_params(clamped)
    assert _block_sizes(clamped, 259) == _block_sizes(plain, 259) == three_s
    assert _block_sizes(clamped, 87) == one_s  # 1 s at 44.1 kHz, hop 512
    torch.manual_seed(0)
    x = torch.randn(2, 3, 1025, 259)
    with torch.no_grad():  # 3-s clips: the clamped pools are the plain ones
        assert torch.allclose(clamped(x), plain(x), atol=1e-6)
    if padding == "same":  # the plain 2x2 pool has no output for block 4's single frame
        with pytest.raises(RuntimeError):
            _block_sizes(plain, 87)


@pytest.mark.parametrize("name", sorted(PAPER_COUNTS))
def test_every_s3_model_classifies_one_second_clips(name):
    torch.manual_seed(0)
    model = build_model(name, n_classes=5).eval()
    with torch.no_grad():
        logits = model(torch.randn(2, 3, 1025, 87))
    assert logits.shape == (2, 5) and torch.isfinite(logits).all()


@pytest.mark.parametrize("kernel, stride, padding, dilation", CONV_CASES)
def test_zero_offsets_unit_mask_equal_regular_conv(kernel, stride, padding, dilation):
    torch.manual_seed(1)
    layer = DeformConv2d(3, 5, kernel, stride=stride, padding=padding, dilation=dilation)
    conv = _conv_with_same_weights(layer)
    x = torch.randn(2, 3, 19, 23)
    offset, mask = layer.offsets_and_mask(x)
    assert offset.abs().max() == 0 and torch.all(mask == 1)  # zero-initialised predictors
    expected = conv(x)
    assert torch.allclose(layer(x), expected, atol=1e-5)
    chunked = deform_conv2d(x, offset, layer.weight, bias=layer.bias, mask=mask, stride=stride,
                            padding=padding, dilation=dilation, tap_chunk=3)
    assert torch.allclose(chunked, expected, atol=1e-5)


@pytest.mark.parametrize("kernel, padding", [((4, 1), (2, 0)), ((1, 16), (0, 8)), ((3, 3), 1)])
@pytest.mark.parametrize("shift_rows, shift_cols", [(1, 0), (0, -1), (-1, 1)])
def test_integer_offset_equals_shifted_conv(kernel, padding, shift_rows, shift_cols):
    torch.manual_seed(2)
    weight = torch.randn(4, 3, *kernel, dtype=torch.float64)
    x = torch.randn(2, 3, 13, 21, dtype=torch.float64)
    expected_shape = F.conv2d(x, weight, padding=padding).shape
    n_taps = kernel[0] * kernel[1]
    offset = torch.zeros(2, 2 * n_taps, *expected_shape[2:], dtype=torch.float64)
    offset[:, 0::2] = shift_rows
    offset[:, 1::2] = shift_cols
    # reading x at (p + shift) == a valid conv over the zero-padded input cut out one shift away
    pad_h, pad_w = padding if isinstance(padding, tuple) else (padding, padding)
    h, w = x.shape[2:]
    wide = F.pad(x, (pad_w + 1, pad_w + 1, pad_h + 1, pad_h + 1))
    window = wide[:, :, 1 + shift_rows:1 + shift_rows + h + 2 * pad_h,
                  1 + shift_cols:1 + shift_cols + w + 2 * pad_w]
    expected = F.conv2d(window, weight)
    assert expected.shape == expected_shape
    got = deform_conv2d(x, offset, weight, padding=padding)
    assert torch.allclose(got, expected, atol=1e-10)


def test_fractional_offset_is_bilinear():
    torch.manual_seed(3)
    weight = torch.randn(4, 3, 1, 4, dtype=torch.float64)
    x = torch.randn(1, 3, 8, 12, dtype=torch.float64)
    out_shape = F.conv2d(x, weight, padding=(0, 2)).shape
    offset = torch.zeros(1, 8, *out_shape[2:], dtype=torch.float64)
    offset[:, 1::2] = 0.25  # a quarter pixel to the right
    wide = F.pad(x, (3, 3))  # the conv padding plus one column for the shifted read
    here = F.conv2d(wide[..., 1:17], weight)
    right = F.conv2d(wide[..., 2:18], weight)
    expected = 0.75 * here + 0.25 * right
    assert torch.allclose(deform_conv2d(x, offset, weight, padding=(0, 2)), expected, atol=1e-10)


def test_mask_scales_taps():
    torch.manual_seed(4)
    weight = torch.randn(2, 3, 4, 1)
    x = torch.randn(1, 3, 10, 7)
    out_shape = F.conv2d(x, weight, padding=(2, 0)).shape
    offset = torch.zeros(1, 8, *out_shape[2:])
    mask = torch.full((1, 4, *out_shape[2:]), 0.5)
    got = deform_conv2d(x, offset, weight, mask=mask, padding=(2, 0))
    assert torch.allclose(got, 0.5 * F.conv2d(x, weight, padding=(2, 0)), atol=1e-5)


def test_gradients_reach_offsets_mask_and_weights():
    torch.manual_seed(5)
    layer = DeformConv2d(3, 4, (1, 4), padding=(0, 2))
    x = torch.randn(2, 3, 9, 15, requires_grad=True)
    layer(x).pow(2).sum().backward()
    for name, parameter in (("offset_conv.weight", layer.offset_conv.weight),
                            ("offset_conv.bias", layer.offset_conv.bias),
                            ("mask_conv.weight", layer.mask_conv.weight),
                            ("weight", layer.weight), ("bias", layer.bias)):
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    assert x.grad.abs().sum() > 0


def test_offset_gradient_matches_finite_differences():
    torch.manual_seed(6)
    x = torch.randn(1, 2, 3, 4, dtype=torch.float64)
    weight = torch.randn(1, 2, 2, 2, dtype=torch.float64)
    offset = (torch.rand(1, 8, 4, 5, dtype=torch.float64) - 0.5) * 3
    mask = torch.rand(1, 4, 4, 5, dtype=torch.float64) * 2
    assert torch.autograd.gradcheck(
        lambda o, m, w: deform_conv2d(x, o, w, mask=m, padding=1, tap_chunk=2),
        (offset.requires_grad_(), mask.requires_grad_(), weight.requires_grad_()))


def test_tap_chunking_gives_the_same_output_and_gradients():
    torch.manual_seed(7)
    layer = DeformConv2d(3, 4, (1, 16), padding="same")
    nn.init.normal_(layer.offset_conv.weight, std=0.1)
    nn.init.normal_(layer.mask_conv.weight, std=0.1)
    x = torch.randn(2, 3, 5, 30)
    results = []
    for chunk in (None, 5):
        layer.tap_chunk = chunk
        layer.zero_grad()
        out = layer(x)
        out.sum().backward()
        results.append((out.detach(), layer.offset_conv.weight.grad.clone(), layer.weight.grad.clone()))
    for whole, chunked in zip(*results):
        assert torch.allclose(whole, chunked, atol=1e-4)


def test_one_optimiser_step_lowers_the_loss():
    torch.manual_seed(8)
    model = OblongCNN(n_classes=4, deformable_layers=(3, 4), conv_dropout=0.0, hidden_dropout=0.0)
    x = torch.randn(4, 3, 96, 96)
    y = torch.arange(4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    block4 = model.blocks[3].conv
    assert block4.offset_conv.weight.grad.abs().sum() > 0
    optimizer.step()
    with torch.no_grad():
        after = F.cross_entropy(model(x), y)
    assert after < loss.detach()


def test_eval_is_deterministic():
    torch.manual_seed(9)
    model = OblongCNN(deformable_layers=(1, 2, 3, 4), tap_chunk=4)
    for block in model.blocks:  # make the offsets non-trivial
        nn.init.normal_(block.conv.offset_conv.weight, std=0.05)
    model.eval()
    x = torch.randn(3, 3, 128, 64)
    with torch.no_grad():
        first, second = model(x), model(x)
    assert torch.equal(first, second)


def test_reset_classifier_only_touches_the_classifier():
    torch.manual_seed(10)
    model = OblongCNN(n_classes=5).eval()
    x = torch.randn(2, 3, 128, 96)
    with torch.no_grad():
        features = model.forward_features(x)
        assert features.shape == (2, 30)
        assert torch.allclose(model(x), model.classifier(features), atol=1e-6)
        weight = model.classifier.weight.clone()
    model.reset_classifier()
    assert not torch.equal(weight, model.classifier.weight)
    with torch.no_grad():
        assert torch.equal(features, model.forward_features(x))
    classifier_ids = {id(p) for p in model.classifier_parameters()}
    assert classifier_ids == {id(model.classifier.weight), id(model.classifier.bias)}
    assert not classifier_ids & {id(p) for p in model.feature_parameters()}
    assert len(model.feature_parameters()) + 2 == len(list(model.parameters()))


def test_code_variant_without_pooling_in_deformable_blocks():
    model = OblongCNN(deformable_layers=(4,), pool_deformable=False).eval()
    paper = OblongCNN(deformable_layers=(4,)).eval()
    x = torch.randn(1, 3, 200, 60)
    with torch.no_grad():
        assert model.blocks(x).shape[-2:] == (4, 2)  # block 4 keeps its 4x2 map
        assert paper.blocks(x).shape[-2:] == (2, 1)  # MP 2x2
    assert count_params(model) == count_params(paper)


@pytest.mark.parametrize("layers", [(0,), (5,), (3, 3)])
def test_bad_deformable_layers_are_refused(layers):
    with pytest.raises(ModelError, match="deformable_layers"):
        OblongCNN(deformable_layers=layers)


def test_bad_shapes_are_refused():
    x = torch.randn(1, 3, 8, 8)
    weight = torch.randn(2, 3, 3, 3)
    with pytest.raises(ModelError, match="offset must be"):
        deform_conv2d(x, torch.zeros(1, 18, 7, 7), weight, padding=1)
    with pytest.raises(ModelError, match="channels"):
        deform_conv2d(torch.randn(1, 4, 8, 8), torch.zeros(1, 18, 8, 8), weight, padding=1)
    with pytest.raises(ModelError, match="padding"):
        OblongCNN(padding="full")
    with pytest.raises(ModelError, match="n_bins"):
        OblongCNN()(torch.randn(3, 1025, 259))
    with pytest.raises(ModelError, match="3 input channels"):
        OblongCNN()(torch.randn(1, 1, 128, 96))


@pytest.mark.parametrize("kernel, stride, padding, dilation", [
    ((4, 1), 1, (2, 0), 1), ((1, 16), 1, (0, 8), 1), ((3, 3), 2, 1, 2)])
def test_matches_torchvision(kernel, stride, padding, dilation):
    try:
        import torchvision.ops  # noqa: F401
    except ImportError as error:
        pytest.skip(f"torchvision is not importable here ({error}); run this test where it is")
    diff = compare_with_torchvision(kernel_size=kernel, stride=stride, padding=padding,
                                    dilation=dilation, height=20, width=22)
    assert diff.worst < 1e-8, diff


def test_torchvision_comparison_says_when_torchvision_is_missing():
    try:
        import torchvision.ops  # noqa: F401
    except ImportError:
        with pytest.raises(ModelError, match="torchvision"):
            compare_with_torchvision()
    else:
        pytest.skip("torchvision is importable here; test_matches_torchvision covers it")


def test_torchvision_comparison_harness_runs(monkeypatch):
    """The harness itself, against a stand-in torchvision whose operator is ours (so the
    differences must be zero); the real comparison is test_matches_torchvision."""
    import sys
    import types

    def stand_in(input, offset, weight, bias=None, stride=1, padding=0, dilation=1, mask=None):
        return deform_conv2d(input, offset, weight, bias=bias, mask=mask, stride=stride,
                             padding=padding, dilation=dilation, tap_chunk=2)

    ops = types.ModuleType("torchvision.ops")
    ops.deform_conv2d = stand_in
    package = types.ModuleType("torchvision")
    package.ops = ops
    monkeypatch.setitem(sys.modules, "torchvision", package)
    monkeypatch.setitem(sys.modules, "torchvision.ops", ops)
    diff = compare_with_torchvision(kernel_size=(4, 1), padding=(2, 0), height=7, width=5)
    assert diff.worst < 1e-12
