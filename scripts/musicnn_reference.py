"""Write the fixtures of tests/test_musicnn.py with TensorFlow and the musicnn package itself.

Not run by the tests or CI (vocaltools never needs TensorFlow). In a separate environment::

    python -m venv /tmp/tfenv
    /tmp/tfenv/bin/pip install tensorflow-cpu tf-keras 'numpy<2.1'
    /tmp/tfenv/bin/pip install --no-deps musicnn==0.1.0
    TF_USE_LEGACY_KERAS=1 /tmp/tfenv/bin/python scripts/musicnn_reference.py tests/data

It writes ``musicnn-reference.npz`` (the logits and penultimate features of musicnn's own graph,
restored from the wheel's checkpoints, for the input the test rebuilds from seed 0) and
``tf-checkpoint/model.*`` (a small checkpoint of several dtypes and shapes, for the reader).
"""

from __future__ import annotations

import os
import sys

import numpy as np


def musicnn_input() -> np.ndarray:
    """Two patches of 64 frames x 96 compressed mel bands (tests/test_musicnn.py rebuilds it)."""
    return (np.random.default_rng(0).random((2, 64, 96)) * 3.0).astype(np.float32)


def main(out: str) -> None:
    import musicnn
    import tensorflow as tf
    from musicnn import models

    tf.compat.v1.disable_eager_execution()
    folder = os.path.dirname(musicnn.__file__)
    x_in = musicnn_input()
    reference = {}
    for dataset in ("MTT", "MSD"):
        tf.compat.v1.reset_default_graph()
        with tf.name_scope("model"):
            x = tf.compat.v1.placeholder(tf.float32, [None, x_in.shape[1], 96])
            is_training = tf.compat.v1.placeholder(tf.bool)
            logits, *_, penultimate = models.define_model(x, is_training, f"{dataset}_musicnn", 50)
        session = tf.compat.v1.Session()
        session.run(tf.compat.v1.global_variables_initializer())
        tf.compat.v1.train.Saver().restore(session, os.path.join(folder, f"{dataset}_musicnn") + "/")
        values = session.run([logits, penultimate], feed_dict={x: x_in, is_training: False})
        reference[f"{dataset}_logits"], reference[f"{dataset}_penultimate"] = values
    np.savez_compressed(os.path.join(out, "musicnn-reference.npz"), **reference)

    tf.compat.v1.reset_default_graph()
    for name, value in (("dense/kernel", np.arange(6, dtype=np.float32).reshape(2, 3)),
                        ("scope/long_name_for_prefix_sharing/a", np.array([1.5, -2.0])),
                        ("scope/long_name_for_prefix_sharing/b", np.array([[7]], np.int32)),
                        ("step", np.int64(42)),
                        ("half", np.array([0.25, 4.0], np.float16))):
        tf.compat.v1.get_variable(name, initializer=value)
    session = tf.compat.v1.Session()
    session.run(tf.compat.v1.global_variables_initializer())
    tf.compat.v1.train.Saver().save(session, os.path.join(out, "tf-checkpoint", "model"))
    os.remove(os.path.join(out, "tf-checkpoint", "model.meta"))
    os.remove(os.path.join(out, "tf-checkpoint", "checkpoint"))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data")
