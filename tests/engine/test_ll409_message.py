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


def test_an_init_that_does_not_take_the_saved_reduction_makes_loading_fail() -> None:
    source = ('import keras\n\n\nclass Sequence(keras.losses.Loss):\n'
              '    def __init__(self, average=False, name=None):\n'
              '        super().__init__(reduction="none", name=name)\n        self.average = average\n\n'
              '    def call(self, y_true, y_pred):\n        return keras.ops.square(y_true - y_pred)\n')
    [finding] = [f for f in analyze(source, "l.py").findings if f.code == "LL409"]
    assert "TypeError" in finding.message and "passes `reduction`" in finding.message
    assert "silently" not in finding.message


def test_a_private_loss_class_is_reported_only_where_it_is_compiled() -> None:
    body = ('class _Wrapper(keras.losses.Loss):\n    def __init__(self, fn, weight=1.0, name="w"):\n'
            '        super().__init__(name=name)\n        self.fn, self.weight = fn, weight\n\n'
            '    def call(self, y_true, y_pred):\n        return self.weight * self.fn(y_true, y_pred)\n')
    internal = f"import keras\n\n\n{body}\n\nclass Trainer:\n    def __init__(self, fn):\n" \
               "        self.losses = [_Wrapper(fn)]\n"
    assert [f for f in analyze(internal, "l.py").findings if f.code == "LL409"] == []
    compiled = f"import keras\n\n\n{body}\n\nmodel = keras.Sequential([keras.layers.Dense(1)])\n" \
               "model.compile(loss=_Wrapper(keras.losses.mean_squared_error))\n"
    assert [f.code for f in analyze(compiled, "l.py").findings if f.code == "LL409"] == ["LL409"]
