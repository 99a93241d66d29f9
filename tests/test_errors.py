"""The unknown-name hint that every registry and config check appends to its message."""

from __future__ import annotations

import pytest

from vocaltools.errors import ConfigError, ModelError, did_you_mean


def test_did_you_mean_names_the_closest_valid_entry_or_nothing():
    assert did_you_mean("fgln", ("fgnl", "wang2018", "s3")) == "; did you mean 'fgnl'?"
    assert did_you_mean("zzzz", ("fgnl", "wang2018")) == ""
    assert did_you_mean("hsnw", {"flat": 1, "hnsw": 2}) == "; did you mean 'hnsw'?"  # mapping keys
    assert did_you_mean("x", ()) == ""


def test_registries_share_one_message_shape():
    from vocaltools.features import get_preset
    from vocaltools.index.faiss_index import IndexConfig
    from vocaltools.models.registry import get_spec

    with pytest.raises(ModelError, match=r"^unknown model 'tiny_cn'; valid models: .*tiny_cnn.*; "
                                         r"did you mean 'tiny_cnn'\?$"):
        get_spec("tiny_cn")
    with pytest.raises(ConfigError, match=r"^unknown index kind 'hsnw'; valid kinds: .*; did you "
                                          r"mean 'hnsw'\?$"):
        IndexConfig(kind="hsnw")
    with pytest.raises(ConfigError, match=r"; did you mean 'fgnl'\?$"):
        get_preset("fgln")
