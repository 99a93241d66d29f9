"""S1 models (CRNN, CRNNM, FGNL and ablations): shapes, Keras counts, learning, FGNL maths."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vocaltools.errors import ConfigError, ModelError
from vocaltools.models.crnn import CRNN, build
from vocaltools.models.fgnl import FGNL, gaussian_kernel_1d, rolled_attention
from vocaltools.models.registry import build_model, count_params_keras, get_spec

S1_NAMES = ("crnn", "crnn_fgnl", "crnn_nl", "crnn_fgnl_light", "crnnm", "crnnm_fgnl")

KERAS_COUNTS = {"crnn": 394_516, "crnn_fgnl": 584_141, "crnnm": 778_772, "crnnm_fgnl": 1_175_381}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """The test machine is small and shared: intra-op threads only add contention here."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def naive_rolled_attention(theta, phi, g, *, n_rolls, softmax_axis="query"):
    """Reference: one full attention map per roll, in a Python loop (the authors' formulation)."""
    dim = 1 if softmax_axis == "query" else 2
    responses = []
    for k in range(n_rolls):
        scores = theta @ torch.roll(phi, k, dims=2).transpose(1, 2)  # [batch, Nq, Nk]
        responses.append(torch.softmax(scores, dim=dim) @ g)  # [batch, Nq, C']
    return torch.stack(responses, dim=1)


def naive_fgnl(module: FGNL, x, others=()):
    """The whole module written out with the naive loop and the Keras stacking order."""
    inputs = (x, *others)
    theta = module.theta(x)
    phi = torch.cat([p(t) for p, t in zip(module.phi, inputs)], dim=1)
    g = torch.cat([p(t) for p, t in zip(module.g, inputs)], dim=1)
    k_rolls = module.n_rolls
    responses = naive_rolled_attention(theta, phi, g, n_rolls=k_rolls,
                                       softmax_axis=module.softmax_axis)
    if module.mose is not None:
        summary = responses.mean(dim=(2, 3))  # [batch, K]
        hidden = torch.relu(summary[..., None] * module.mose.squeeze.weight[:, 0]
                            + module.mose.squeeze.bias)  # [batch, K, 16]
        scores = hidden @ module.mose.excite.weight[0] + module.mose.excite.bias
        weights = torch.softmax(scores, 1) if module.mose.gate == "softmax" else torch.sigmoid(scores)
    else:
        weights = torch.full(responses.shape[:2], 1.0 / k_rolls, dtype=x.dtype)
    batch, _, height, width = x.shape
    reduced = responses.shape[-1]
    stacked = torch.zeros(batch, reduced * k_rolls, height * width, dtype=x.dtype)
    for k in range(k_rolls):
        for c in range(reduced):
            stacked[:, c * k_rolls + k] = weights[:, k, None] * responses[:, k, :, c]
    return x + module.out(stacked.reshape(batch, -1, height, width))


def check_shapes(name: str, n_frames_list: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    spec = get_spec(name)
    model = build_model(name).eval()
    for n_frames in n_frames_list:
        x = torch.randn(1, spec.input_shape[0], 128, n_frames)
        with torch.no_grad():
            logits = model(x)
            features = model.forward_features(x)
        assert logits.shape == (1, 20)
        assert features.shape == (1, 32)
        assert torch.allclose(model.classifier(features), logits, atol=1e-6)
        assert torch.isfinite(logits).all()


@pytest.mark.parametrize("name", S1_NAMES)
def test_shapes_at_the_catalog_size(name):
    """5 s clips (157 frames), the paper's main setting and the catalog's input shape."""
    assert get_spec(name).input_shape[1:] == (128, 157)
    check_shapes(name, (157,))


@pytest.mark.slow
@pytest.mark.parametrize("name", S1_NAMES)
def test_shapes_at_3_and_10_second_clips(name):
    check_shapes(name, (94, 313))


@pytest.mark.parametrize("name", ["crnn", "crnn_fgnl", "crnnm_fgnl"])
def test_odd_and_short_frame_counts(name):
    model = build_model(name, n_classes=5).eval()
    channels = get_spec(name).input_shape[0]
    for n_frames in (16, 37):
        with torch.no_grad():
            assert model(torch.randn(1, channels, 128, n_frames)).shape == (1, 5)


@pytest.mark.parametrize("name,count", sorted(KERAS_COUNTS.items()))
def test_keras_counts_match_the_paper(name, count):
    assert count_params_keras(build_model(name, n_classes=20)) == count


def test_ablations_count_what_they_drop():
    full = count_params_keras(build_model("crnn_fgnl"))
    light = count_params_keras(build_model("crnn_fgnl_light"))
    nl = count_params_keras(build_model("crnn_nl"))
    # light drops block 3's phi/g (2 x (128*4+4) + 2 x 100 Gaussian taps)
    assert full - light == 2 * 516 + 2 * 100
    # nl further drops the rolls (output conv from 4 instead of 16 channels) and MoSE (49)
    assert light - nl == 12 * 128 + 49
    no_gaussian = count_params_keras(build_model("crnn_fgnl", gaussian=False))
    assert full - no_gaussian == 5 * 4 * 25
    assert count_params_keras(build_model("crnn_fgnl", mose="none")) == full - 49
    assert count_params_keras(build_model("crnn_fgnl", mose="se")) == full
    assert count_params_keras(build_model("crnn_nl", mose="se")) == nl + 49  # explicit: honoured


def test_gaussian_is_frozen_and_matches_the_spec_taps():
    taps = gaussian_kernel_1d(size=5, sigma=0.707)
    expected = torch.tensor([0.010323, 0.207530, 0.564295, 0.207530, 0.010323], dtype=torch.float64)
    assert torch.allclose(taps, expected, atol=2e-6)
    model = build_model("crnn_fgnl")
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert len(frozen) == 5 and all(n.endswith("smooth.weight") for n in frozen)


@pytest.mark.parametrize("name", S1_NAMES)
def test_one_step_lowers_the_loss(name):
    torch.manual_seed(0)
    model = build_model(name, n_classes=4).train()
    for module in model.modules():  # a deterministic loss on the fixed batch (batch statistics)
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    channels = get_spec(name).input_shape[0]
    x = torch.randn(4, channels, 128, 24)
    y = torch.arange(4)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)

    def loss_of_batch():
        logits = model(x)
        return nn.functional.cross_entropy(logits, y) + model.regularization_loss(logits)

    before = loss_of_batch()
    optimizer.zero_grad()
    before.backward()
    optimizer.step()
    with torch.no_grad():
        assert loss_of_batch().item() < before.item()


@pytest.mark.parametrize("softmax_axis", ["query", "key"])
@pytest.mark.parametrize("n_rolls", [1, 4])
def test_rolled_attention_equals_the_naive_loop(softmax_axis, n_rolls):
    torch.manual_seed(1)
    theta = torch.randn(3, 12, 4, dtype=torch.float64)
    phi = torch.randn(3, 30, 4, dtype=torch.float64)
    g = torch.randn(3, 30, 4, dtype=torch.float64)
    expected = naive_rolled_attention(theta, phi, g, n_rolls=n_rolls, softmax_axis=softmax_axis)
    for chunk in (1 << 24, 7):  # one chunk of keys, and several uneven ones
        got = rolled_attention(theta, phi, g, n_rolls=n_rolls, softmax_axis=softmax_axis,
                               chunk_elements=chunk * 3 * n_rolls * 12)
        assert torch.allclose(got, expected, atol=1e-10)


@pytest.mark.parametrize("chunk_keys", [8, 3])
def test_query_softmax_gradients_equal_the_naive_loop(chunk_keys):
    torch.manual_seed(2)
    tensors = [torch.randn(2, n, 3, dtype=torch.float64, requires_grad=True) for n in (4, 8, 8)]
    args = dict(n_rolls=3, chunk_elements=chunk_keys * 2 * 3 * 4)
    assert torch.autograd.gradcheck(lambda *t: rolled_attention(*t, **args), tensors)
    weights = torch.randn(2, 3, 4, 3, dtype=torch.float64)
    fast = torch.autograd.grad((rolled_attention(*tensors, **args) * weights).sum(), tensors)
    slow = torch.autograd.grad(
        (naive_rolled_attention(*tensors, n_rolls=3) * weights).sum(), tensors)
    for a, b in zip(fast, slow):
        assert torch.allclose(a, b, atol=1e-10)


@pytest.mark.parametrize("options", [
    {}, {"mose": "se"}, {"mose": "none"}, {"gaussian": False}, {"softmax_axis": "key"},
    {"roll": False, "mose": "none"},
])
@pytest.mark.parametrize("two_layers", [True, False])
def test_fgnl_module_equals_the_naive_formulation(options, two_layers):
    torch.manual_seed(3)
    module = FGNL(64, other_channels=(64,) if two_layers else (), **options).double().eval()
    nn.init.normal_(module.out.weight)  # avoid a near-identity check
    x = torch.randn(2, 64, 4, 5, dtype=torch.float64)
    others = (torch.randn(2, 64, 8, 10, dtype=torch.float64),) if two_layers else ()
    got = module(x, others)
    assert got.shape == x.shape
    assert torch.allclose(got, naive_fgnl(module, x, others), atol=1e-9)


def test_softmax_axes_differ_and_each_is_normalised():
    torch.manual_seed(4)
    theta, phi = torch.randn(2, 6, 4), torch.randn(2, 9, 4)
    # values = one-hot positions of the keys: the response is then the attention map itself
    keys_eye = torch.eye(9).expand(2, 9, 9)
    theta9 = nn.functional.pad(theta, (0, 5))
    phi9 = nn.functional.pad(phi, (0, 5))
    by_query = rolled_attention(theta9, phi9, keys_eye, n_rolls=1, softmax_axis="query")[:, 0]
    by_key = rolled_attention(theta9, phi9, keys_eye, n_rolls=1, softmax_axis="key")[:, 0]
    # [batch, Nq, Nk]: the query softmax sums to one over queries (per key), the key one over keys
    assert torch.allclose(by_query.sum(dim=1), torch.ones(2, 9), atol=1e-5)
    assert torch.allclose(by_key.sum(dim=2), torch.ones(2, 6), atol=1e-5)
    assert not torch.allclose(by_query, by_key, atol=1e-3)
    assert (by_query >= 0).all() and (by_key >= 0).all()
    model_q = build_model("crnn_fgnl", softmax_axis="query").eval()
    model_k = build_model("crnn_fgnl", softmax_axis="key").eval()
    model_k.load_state_dict(model_q.state_dict())
    nn.init.normal_(model_q.attention.out.weight)
    model_k.attention.out.weight.data.copy_(model_q.attention.out.weight)
    x = torch.randn(2, 1, 128, 16)
    with torch.no_grad():
        assert not torch.allclose(model_q(x), model_k(x), atol=1e-4)


@pytest.mark.parametrize("name", S1_NAMES)
def test_eval_mode_is_deterministic(name):
    model = build_model(name).eval()
    x = torch.randn(2, get_spec(name).input_shape[0], 128, 24)
    with torch.no_grad():
        assert torch.equal(model(x), model(x))
    model.train()
    torch.manual_seed(0)
    a = model(x)
    torch.manual_seed(1)
    assert not torch.equal(a, model(x))  # dropout is live in train mode


@pytest.mark.parametrize("name,options", [
    *(("crnn_fgnl", o) for o in ({"gaussian": False}, {"mose": "none"}, {"mose": "se"},
                                 {"softmax_axis": "key"}, {"init": "torch"},
                                 {"dense_l2": 0.0, "dense_l1_activity": 0.0})),
    ("crnn_fgnl_light", {"mose": "se", "gaussian": False}),
    ("crnn_nl", {"softmax_axis": "key"}),
    ("crnnm_fgnl", {"mose": "none", "softmax_axis": "key", "gaussian": False}),
])
def test_ablation_switches_build_and_run(name, options):
    model = build_model(name, n_classes=3, **options)
    x = torch.randn(2, get_spec(name).input_shape[0], 128, 16)
    logits = model(x)
    loss = logits.sum() + model.regularization_loss(logits)
    loss.backward()
    assert logits.shape == (2, 3)
    grads = [p.grad for p in model.attention.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_regularisation_follows_the_reference_code():
    logits = torch.tensor([[1.0, -2.0], [0.5, 0.5]])
    fgnl = build(n_classes=2, variant="crnn_fgnl")
    expected = 0.01 * fgnl.classifier.weight.pow(2).sum() + 0.01 * (3.0 + 1.0) / 2
    assert torch.allclose(fgnl.regularization_loss(logits), expected)
    for variant in ("crnn", "crnnm", "crnnm_fgnl"):
        assert build(n_classes=2, variant=variant).regularization_loss(logits).item() == 0.0


def test_bad_inputs_and_options_raise_clear_errors():
    model = build_model("crnn")
    with pytest.raises(ModelError, match=r"expected input \[batch, 1, 128"):
        model(torch.randn(1, 2, 128, 50))
    with pytest.raises(ModelError, match="too few"):
        model(torch.randn(1, 1, 128, 8))
    with pytest.raises(ConfigError, match="mose"):
        build_model("crnn_fgnl", mose="sigmoid")
    with pytest.raises(ConfigError, match="softmax_axis"):
        build_model("crnn_fgnl", softmax_axis="rows")
    with pytest.raises(ConfigError, match="unknown S1 variant"):
        CRNN(3, variant="crnnx")
