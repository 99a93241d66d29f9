"""The tag prior: a classifier joined with musicnn's instrument tags as a product of experts, and
mel_cnn's power-mel input that lets it share the tagger's front end."""

import numpy as np
import pytest

from vocaltools.errors import ModelError

LABELS = ("cello", "clarinet", "flute", "guitar", "violin")


def _base(tmp_path, *, preset="musicnn", seed=0):
    import torch

    from vocaltools.checkpoint import Checkpoint
    from vocaltools.models.registry import build_model

    torch.manual_seed(seed)
    options = {"widths": [4, 8], "power_db": True}
    model = build_model("mel_cnn", n_classes=len(LABELS), **options).eval()
    return Checkpoint(model="mel_cnn", model_options=options, n_classes=len(LABELS),
                      task="classify", inputs=("logmel",), labels=LABELS, target="instrument",
                      feature_config={"preset": preset}, clip_config={"clip_seconds": 1.0,
                                                                      "hop_seconds": 0.5},
                      state_dict=model.state_dict())


def test_the_join_is_the_renormalised_product_and_keeps_no_tagger_weights(tmp_path):
    import torch

    from vocaltools.checkpoint import build_from_checkpoint, load_checkpoint, save_checkpoint
    from vocaltools.models.musicnn import TAGS
    from vocaltools.models.tagprior import tag_prior_checkpoint

    base = _base(tmp_path)
    joined = tag_prior_checkpoint(base, weight=1.0)
    assert joined.model == "tag_prior" and joined.clip_config["clip_seconds"] == 3.0
    assert set(joined.state_dict) == {f"base.{k}" for k in base.state_dict}
    save_checkpoint(tmp_path / "joined.pt", joined)
    model = build_from_checkpoint(load_checkpoint(tmp_path / "joined.pt"))
    assert not any(k.startswith("tagger.") for k in model.state_dict())
    assert not any(p.requires_grad for p in model.tagger.parameters())

    x = torch.rand(3, 1, 96, 187) ** 4
    with torch.no_grad():
        p = torch.softmax(build_from_checkpoint(base)(x), dim=1)
        tags = torch.sigmoid(model.tagger(x))
        e = torch.empty_like(p)
        columns = [TAGS["MTT"].index(c) for c in ("cello", "flute", "guitar", "violin")]
        median = torch.from_numpy(np.median(tags[:, columns].numpy(), axis=1))
        for k, label in enumerate(LABELS):
            e[:, k] = tags[:, TAGS["MTT"].index(label)] if label != "clarinet" else median
        expected = p * e / (p * e).sum(dim=1, keepdim=True)
        torch.testing.assert_close(torch.softmax(model(x), dim=1), expected, atol=1e-5, rtol=1e-4)
        model.weight = 0.0  # no tags: the base model's probabilities
        torch.testing.assert_close(torch.softmax(model(x), dim=1), p, atol=1e-6, rtol=1e-5)


def test_the_join_refuses_another_preset_and_classes_it_lacks(tmp_path):
    from vocaltools.models.registry import build_model
    from vocaltools.models.tagprior import tag_prior_checkpoint

    with pytest.raises(ModelError, match="must be trained on the 'musicnn' preset"):
        tag_prior_checkpoint(_base(tmp_path, preset="instruments"))
    with pytest.raises(ModelError, match="tags name classes the model lacks: oboe"):
        build_model("tag_prior", n_classes=2, labels=["cello", "flute"], tags={"oboe": "flute"})
    with pytest.raises(ModelError, match="not among musicnn's MTT tags"):
        build_model("tag_prior", n_classes=2, labels=["cello", "flute"], tags={"cello": "bowed"})


def test_mel_cnn_power_db_reads_the_power_mel_as_the_instruments_preset_reads_db():
    import torch

    from vocaltools.models.registry import build_model

    torch.manual_seed(0)
    power = torch.rand(2, 1, 96, 62) ** 6 + 1e-12
    db = 20 * torch.log10(power)
    db = torch.maximum(db, db.amax(dim=(2, 3), keepdim=True) - 80.0)
    from_power = build_model("mel_cnn", n_classes=4, power_db=True).eval()
    from_db = build_model("mel_cnn", n_classes=4).eval()
    from_db.load_state_dict(from_power.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(from_power(power), from_db(db), atol=1e-5, rtol=1e-5)
        # the level does not matter: clip_norm removes it, and the floor follows the maximum
        torch.testing.assert_close(from_power(power * 1e3), from_power(power), atol=1e-4, rtol=1e-4)
    assert np.isfinite(from_power(torch.zeros(1, 1, 96, 62)).detach().numpy()).all()
