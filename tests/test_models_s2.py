"""S2 networks (vocaltools.models.cnn, vocaltools.models.aggregation): parameter counts against the
paper's Table 1, the model contract, aggregation, heads, and training sanity."""

from __future__ import annotations

import pytest
import torch

from _model_checks import one_step_losses
from vocaltools.errors import ModelError
from vocaltools.models import cnn
from vocaltools.models.aggregation import FeedForwardAttention
from vocaltools.models.registry import build_model, count_params_keras, example_input, get_spec

S2_NAMES = ("cnn_shallow", "cnn_deep", "resnext_shallow", "resnext_deep")


def _meta_build(**options) -> cnn.SingerCNN:
    """Build without allocating weights (counts only)."""
    with torch.device("meta"):
        return cnn.build(n_classes=46, **options)


@pytest.mark.parametrize("variant, paper", [("cnn_shallow", 621_000), ("cnn_deep", 708_000),
                                            ("resnext_shallow", 54_000), ("resnext_deep", 172_000)])
def test_conv_params_within_two_percent_of_paper(variant, paper):
    model = _meta_build(variant=variant)
    assert abs(model.conv_params() - paper) / paper < 0.02, model.conv_params()


def test_conv_params_exact_values():
    # the checksum of the layer plan documented in vocaltools/models/cnn.py
    expected = {"cnn_shallow": 622_400, "cnn_deep": 708_560,
                "resnext_shallow": 54_208, "resnext_deep": 171_872}
    assert {v: _meta_build(variant=v).conv_params() for v in expected} == expected


@pytest.mark.parametrize("variant, aggregation, paper", [
    # (cnn_shallow/none "200000k" is rounded to one digit in the paper; we get 204.0M)
    ("cnn_shallow", "attention", 5_867_000),
    ("cnn_deep", "none", 28_000_000), ("cnn_deep", "max", 3_560_000),
    ("resnext_shallow", "average", 5_300_000), ("resnext_deep", "none", 52_600_000),
    ("resnext_deep", "attention", 3_844_000)])
def test_total_params_match_table_1(variant, aggregation, paper):
    """Table 1's totals exclude the output layer; they pin the pooling plan (aggregated width)."""
    model = _meta_build(variant=variant, aggregation=aggregation)
    total = count_params_keras(model) - sum(p.numel() for p in model.classifier.parameters())
    assert abs(total - paper) / paper < 0.02, total


@pytest.mark.parametrize("name", S2_NAMES)
def test_catalog_entries_follow_the_model_contract(name):
    torch.manual_seed(0)
    model = build_model(name).eval()
    x = example_input(get_spec(name), batch=2)
    assert tuple(x.shape) == (2, 1, 96, 256)
    with torch.no_grad():
        logits = model(x)
        features = model.forward_features(x)
    assert logits.shape == (2, 46)
    assert features.shape == (2, 1024)
    torch.testing.assert_close(model.classifier(features), logits)


@pytest.mark.parametrize("aggregation", ["none", "max", "average", "attention"])
def test_every_aggregation_gives_the_contract_shapes(aggregation):
    # a short input keeps the flatten of "none" small: 32 frames -> 4 after 3 pools
    model = cnn.build(n_classes=5, variant="cnn_deep", aggregation=aggregation,
                      input_shape=(1, 96, 32)).eval()
    with torch.no_grad():
        assert model(torch.randn(3, 1, 96, 32)).shape == (3, 5)


def test_sequence_reshape_is_time_by_channels_times_freq():
    model = cnn.build(n_classes=46, variant="resnext_deep").eval()
    with torch.no_grad():
        sequence = model.sequence(torch.randn(2, 1, 96, 256))
    # 3 pools: 256 frames -> 32, 96 mels -> 12, 128 channels
    assert sequence.shape == (2, 32, 128 * 12)


def test_attention_weights_sum_to_one_and_output_is_their_average():
    torch.manual_seed(0)
    attention = FeedForwardAttention(7)
    x = torch.randn(4, 9, 7)
    weights = attention.weights(x)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(4))
    assert (weights > 0).all()
    expected = (weights.unsqueeze(-1) * x).sum(dim=1)
    torch.testing.assert_close(attention(x), expected)


def test_embedding_head_outputs_16_dimensions():
    model = build_model("resnext_shallow", head="embed").eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, 96, 256)).shape == (2, 16)
    assert cnn.build(n_classes=46, variant="cnn_deep", head="embed", embedding_dim=8).classifier \
        .out_features == 8


def test_eval_mode_is_deterministic():
    model = build_model("resnext_deep").eval()
    x = torch.randn(1, 1, 96, 256)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x), rtol=0, atol=0)


def test_one_optimiser_step_lowers_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    model = cnn.build(n_classes=4, variant="resnext_shallow", dropout=0.0, input_shape=(1, 96, 64))
    x, y = torch.randn(4, 1, 96, 64), torch.tensor([0, 1, 2, 3])
    before, after = one_step_losses(model, x, y, lr=1e-4)
    assert after < before


@pytest.mark.parametrize("options, word", [({"variant": "vgg"}, "variant"),
                                           ({"aggregation": "sum"}, "aggregation"),
                                           ({"head": "regress"}, "head")])
def test_invalid_options_raise_model_error(options, word):
    with pytest.raises(ModelError, match=word):
        cnn.build(n_classes=3, **options)
