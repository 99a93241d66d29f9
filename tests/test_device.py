"""vocaltools.device: the one rule for devices, precision and autocast."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from vocaltools.device import autocast, resolve_device, resolve_precision  # noqa: E402
from vocaltools.errors import ConfigError  # noqa: E402


def test_resolve_device_names():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected and resolve_device(None).type == expected
    with pytest.raises(ConfigError, match="unknown device 'tpu'.*cuda:N"):
        resolve_device("tpu")
    with pytest.raises(ConfigError, match="'meta' is not supported"):
        resolve_device("meta")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_cuda_is_refused_without_a_gpu():
    for name in ("cuda", "cuda:1"):
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            resolve_device(name)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
def test_cuda_device_index_is_checked():
    assert resolve_device("cuda:0").type == "cuda"
    with pytest.raises(ConfigError, match="CUDA device"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")


def test_resolve_precision():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_precision("auto", cpu) == "fp32" and resolve_precision("auto", cuda) == "bf16"
    assert resolve_precision("bf16", cpu) == "bf16" and resolve_precision("fp16", cuda) == "fp16"
    with pytest.raises(ConfigError, match="fp16 needs a CUDA GPU"):
        resolve_precision("fp16", cpu)
    with pytest.raises(ConfigError, match="unknown precision 'half'"):
        resolve_precision("half", cpu)


def test_autocast_computes_in_the_resolved_precision():
    layer = torch.nn.Linear(4, 3)
    x = torch.randn(2, 4)
    with autocast(torch.device("cpu"), "bf16"):
        assert layer(x).dtype == torch.bfloat16
    with autocast(torch.device("cpu"), "fp32"):
        assert layer(x).dtype == torch.float32


def test_embed_device_is_checked_before_the_model_is_loaded(tmp_path):
    from vocaltools.inference.embed import embed_batch, model_embedder

    with pytest.raises(ConfigError, match="unknown device 'tpu'"):
        model_embedder(str(tmp_path / "no-such-model"), device="tpu")
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 2))
    clips = torch.randn(3, 1, 2, 4).numpy()
    on_cpu = embed_batch(model, clips, device="cpu")
    assert on_cpu.shape == (3, 2) and on_cpu.dtype.name == "float32"
    expected = model(torch.from_numpy(clips)).detach().numpy()
    assert abs(on_cpu - expected).max() < 1e-6
