"""LL409 says what a save / load round trip does to *this* class (measured with Keras 3.15's
``load_model``: a parameter with a default comes back as the default; a required one makes loading fail)."""

from __future__ import annotations

from loss_lsp.checker import analyze

HEAD = "import keras\n\n\nclass {name}(keras.losses.Loss):\n    def __init__(self, {params}, **kwargs):\n" \
       "        super().__init__(**kwargs)\n{stores}\n    def call(self, y_true, y_pred):\n" \
       "        return keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1)\n"


def message(name: str, params: str, stored: list[str]) -> str:
    stores = "".join(f"        self.{p} = {p}\n" for p in stored)
    [finding] = [f for f in analyze(HEAD.format(name=name, params=params, stores=stores), "l.py").findings
                 if f.code == "LL409"]
    return finding.message


def test_quotes_the_class_s_own_parameter_and_default() -> None:
    text = message("Huber", "delta=1.5", ["delta"])
    assert "`delta` comes back as 1.5" in text and "gamma" not in text


def test_a_required_parameter_makes_loading_fail() -> None:
    text = message("Weighted", "weights, scale=2.0", ["weights", "scale"])
    assert "TypeError" in text and "`weights` is required" in text and "gamma" not in text


def test_a_default_that_is_not_a_literal_is_described_without_a_value() -> None:
    text = message("Scaled", "scale=keras.config.epsilon()", ["scale"])
    assert "rebuilds the loss with its defaults" in text and "comes back as" not in text
