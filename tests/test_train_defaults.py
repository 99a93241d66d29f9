"""The command line's defaults are the config dataclasses' and registries' own, so they cannot
drift apart; mapping TrainConfig onto SiameseConfig is the library's."""

from __future__ import annotations

import dataclasses

import pytest
import typer

from vocaltools.cli.app import app
from vocaltools.features.presets import DEFAULT_PRESET, PRESETS
from vocaltools.segments import SEED_CLIPS
from vocaltools.training.augment import AugmentConfig
from vocaltools.training.config import EMBEDDING_DIM, SiameseConfig, TrainConfig, make_train_config

#: (command, flag parameter) -> (dataclass, field) whose default the flag takes
FLAG_FIELDS = {
    ("train", "select"): (TrainConfig, "select"),
    ("train", "alpha"): (TrainConfig, "alpha"),
    ("train", "strategy"): (TrainConfig, "strategy"),
    ("train", "crt_epochs"): (TrainConfig, "crt_epochs"),
    ("train", "seed"): (TrainConfig, "seed"),
    ("train", "device"): (TrainConfig, "device"),
    ("train", "precision"): (TrainConfig, "precision"),
    ("train", "precise_bn"): (TrainConfig, "precise_bn"),
    ("train", "label_smoothing"): (TrainConfig, "label_smoothing"),
    ("train", "compile_model"): (TrainConfig, "compile"),
    ("train", "augment_gain_db"): (AugmentConfig, "gain_db"),
    ("train", "augment_shift_seconds"): (AugmentConfig, "shift_seconds"),
    ("train", "augment_pitch_semitones"): (AugmentConfig, "pitch_semitones"),
    ("train", "augment_noise_snr_db"): (AugmentConfig, "noise_snr_db"),
    ("train", "augment_probability"): (AugmentConfig, "probability"),
    ("train", "pairs_per_epoch"): (SiameseConfig, "pairs_per_epoch"),
}


def _params(command: str) -> dict:
    click_command = typer.main.get_command(app).commands[command]
    return {param.name: param for param in click_command.params}


def _field_default(cls, name):
    field = {f.name: f for f in dataclasses.fields(cls)}[name]
    return field.default


@pytest.mark.parametrize(("command", "param"), sorted(FLAG_FIELDS))
def test_flag_default_is_the_dataclass_default(command, param):
    cls, name = FLAG_FIELDS[(command, param)]
    default = _params(command)[param].default
    expected = _field_default(cls, name)
    if isinstance(expected, float):
        assert default == pytest.approx(expected, abs=1e-12)
    else:
        assert default == expected
    assert expected is not dataclasses.MISSING


def test_embedding_width_and_baseline_clip_defaults():
    assert _params("train")["embedding_dim"].default == EMBEDDING_DIM
    embed = _params("embed")
    assert embed["clip_seconds"].default == pytest.approx(SEED_CLIPS["S2"].clip_seconds, abs=1e-12)
    assert embed["hop_seconds"].default == pytest.approx(SEED_CLIPS["S2"].hop_seconds, abs=1e-12)


def test_featurize_help_lists_every_preset():
    text = _params("featurize")["preset"].help
    for name in PRESETS:
        assert name in text
    assert f"{DEFAULT_PRESET} (default)" in text


def test_train_help_lists_the_seed_clip_lengths():
    text = _params("train")["clip_seconds"].help
    for seed, clip in SEED_CLIPS.items():
        if seed:
            assert f"{seed} {clip.clip_seconds:g}" in text


def test_siamese_config_from_train_config():
    config = make_train_config(model="cnn_shallow", target="singer", lr=3e-4, batch_size=8,
                               epochs=7, patience=0, weight_decay=1e-5).with_seed(5)
    siamese = SiameseConfig.from_train_config(config, pairs_per_epoch=64)
    assert siamese.learning_rate == pytest.approx(3e-4, rel=1e-12)
    assert siamese.weight_decay == pytest.approx(1e-5, rel=1e-12)
    assert (siamese.batch_size, siamese.epochs, siamese.pairs_per_epoch, siamese.seed) == (8, 7, 64, 5)
    assert siamese.patience is None  # patience 0 never stops early
    assert SiameseConfig.from_train_config(dataclasses.replace(config, patience=3)).patience == 3
    # the siamese-only fields keep their own defaults
    assert siamese.valid_pairs == _field_default(SiameseConfig, "valid_pairs")
    assert siamese.margin == pytest.approx(_field_default(SiameseConfig, "margin"), abs=1e-12)
