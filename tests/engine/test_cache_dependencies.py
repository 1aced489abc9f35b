"""A cached per-loss result must be dropped when something it read changes, even outside the loss."""

from __future__ import annotations

from loss_lsp.checker import analyze, clear_caches

BEFORE = '''import keras
import tensorflow as tf


def build_encoder():
    enc = keras.Sequential([keras.layers.Dense(4)])
    return enc


encoder = build_encoder()


def encoded_distance(y_true, y_pred):
    return tf.reduce_mean(tf.square(encoder.output - y_pred))
'''


def _codes(source: str) -> list[tuple[int, str]]:
    return [(f.span.start_line, f.code) for f in analyze(source, "cached.py").findings]


def test_editing_the_function_a_module_level_value_comes_from_reaches_the_loss() -> None:
    after = BEFORE.replace("    enc = keras.Sequential([keras.layers.Dense(4)])\n", "")
    clear_caches()
    cold = _codes(after)
    clear_caches()
    assert any(code == "LL405" for _, code in _codes(BEFORE))  # warm the cache: encoder is a model
    assert _codes(after) == cold
