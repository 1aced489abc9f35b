"""Shape inference from the training script: each way labels and models are written, read back as the
shapes, dtypes and value domains the loss receives (or unknown, when the program does not say)."""

from __future__ import annotations

from pathlib import Path

import pytest

from loss_lsp.checker import analyze

HEAD = "import keras\nimport numpy as np\nimport pandas as pd\nimport tensorflow as tf\n\n" \
       "def loss(y_true, y_pred):\n    return tf.reduce_mean(tf.square(y_true - y_pred))\n\n"
DENSE1 = "model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(1)])\n"


def _info(body: str):  # type: ignore[no-untyped-def]
    [info] = analyze(HEAD + body, "train.py").losses
    return info


LABELS = [
    # (program that makes x and y, y_true as the loss's compile site sees it, domain)
    ("x = np.random.rand(64, 4)\ny = x.sum(axis=1)\n", (-1,), "continuous"),
    ("x = np.random.rand(64, 4)\ny = x.sum(axis=1, keepdims=True)\n", (-1, 1), "continuous"),
    ("x = np.random.rand(64, 4)\ny = x.max(axis=-1).reshape(-1, 1)\n", (-1, 1), "continuous"),
    ("x = np.random.rand(64, 4)\ny = np.expand_dims(x.mean(axis=1), -1)\n", (-1, 1), "continuous"),
    ("x = np.random.rand(64, 4)\nw = np.ones(4)\ny = x @ w\n", (-1,), "continuous"),
    ("x = np.random.rand(64, 4)\nw = np.ones((4, 1))\ny = np.dot(x, w)\n", (-1, 1), "continuous"),
    ("x = np.random.rand(64, 4)\ny = (x[:, 0] > 0.5).astype('float32')\n", (-1,), "binary"),
    ("x = np.random.rand(64, 4)\ny = x[:, :1]\n", (-1, 1), "continuous"),
    ("x = np.random.rand(64, 4)\ny = x[:, [0]]\n", (-1, 1), "continuous"),
    ("x = np.random.rand(64, 4)\ny = x[..., 0:1].ravel()\n", (-1,), "continuous"),
    ("x = np.random.rand(64, 4)\ny = np.squeeze(x[:, :1])\n", (-1,), "continuous"),
    ("x = np.random.rand(64, 4)\ny = np.concatenate([x[:, :1], x[:, 1:2]], axis=0)\n", (-1, 1), "continuous"),
    ("x = np.random.rand(64, 4)\ny = np.argmax(x, axis=1)\n", (-1,), "integer:4"),
    ("x = np.random.rand(64, 4)\ny = keras.utils.to_categorical(np.argmax(x, axis=1), 4)\n", (-1, 4), "one_hot:4"),
    ("x = np.random.rand(64, 4)\ny = np.random.randint(0, 2, size=(64, 1))\n", (-1, 1), "binary"),
    ("x = np.random.rand(64, 4)\nys = []\nfor row in x:\n    ys.append(float(row[0]))\ny = np.array(ys)\n",
     (-1,), None),
    ("x = np.random.rand(64, 4)\ny = np.array([[0.5]] * 64)\n", (-1, 1), None),
    ("x = np.random.rand(64, 4)\ny = np.array(load_targets())\n", None, None),
    ("df = pd.read_csv('data.csv')\nx = df.drop(columns=['price']).values\ny = df['price'].values\n", (-1,), None),
    ("df = pd.read_csv('data.csv')\nx = df.drop('price', axis=1).to_numpy()\ny = df[['price']].to_numpy()\n",
     (-1, 1), None),
    ("df = pd.read_csv('data.csv')\nx = df.iloc[:, :-1].values\ny = df.iloc[:, -1].values\n", (-1,), None),
    ("df = pd.read_csv('data.csv')\nx = df.values[:, :4]\ny = df.price.values\n", (-1,), None),
]


@pytest.mark.parametrize("program,y_true,domain", LABELS, ids=[p.splitlines()[-1] for p, _, _ in LABELS])
def test_labels_made_by_the_program(program: str, y_true: tuple | None, domain: str | None) -> None:
    info = _info(program + DENSE1 + "model.compile(optimizer='adam', loss=loss)\nmodel.fit(x, y)\n")
    assert info.y_true_shape == y_true
    assert info.y_true_domain == domain
    assert info.y_pred_shape == (-1, 1) and info.y_pred_range == "linear"


def test_train_test_split_and_keras_datasets() -> None:
    info = _info("from sklearn.model_selection import train_test_split\n"
                 "x = np.random.rand(64, 4)\n"
                 "x_tr, x_te, y_tr, y_te = train_test_split(x, x.sum(axis=1), test_size=0.2)\n"
                 + DENSE1 + "model.compile(optimizer='adam', loss=loss)\nmodel.fit(x_tr, y_tr)\n")
    assert info.y_true_shape == (-1,) and "train_test_split" in info.source
    info = _info("(x, y), (xt, yt) = keras.datasets.cifar10.load_data()\n"
                 "model = keras.Sequential([keras.Input(shape=(32, 32, 3)), keras.layers.Flatten(),"
                 " keras.layers.Dense(10, activation='softmax')])\n"
                 "model.compile(optimizer='adam', loss=loss)\nmodel.fit(x, y)\n")
    assert (info.y_true_shape, info.y_true_domain, info.y_pred_shape, info.y_pred_range) == (
        (-1, 1), "integer:10", (-1, 10), "softmax")


MODELS = [
    ("keras.Sequential([keras.layers.Dense(8, input_shape=(4,)), keras.layers.Dense(3, activation='softmax')])",
     (-1, 3), "softmax"),
    ("keras.Sequential([keras.Input(shape=(28, 28, 1)), keras.layers.Conv2D(8, 3), keras.layers.MaxPooling2D(),"
     " keras.layers.Flatten(), keras.layers.Dense(1, activation='sigmoid')])", (-1, 1), "sigmoid"),
    ("keras.Sequential([keras.Input(shape=(28, 28, 1)), keras.layers.Conv2D(4, 3, padding='same'),"
     " keras.layers.Conv2D(1, 1, activation='sigmoid')])", (-1, 28, 28, 1), "sigmoid"),
    ("keras.Sequential([keras.Input(shape=(10, 3)), keras.layers.LSTM(16),"
     " keras.layers.Dense(1, activation='tanh')])", (-1, 1), "tanh"),
    ("keras.Sequential([keras.Input(shape=(8, 8, 3)), keras.layers.GlobalAveragePooling2D(),"
     " keras.layers.Dense(2), keras.layers.Activation('softmax')])", (-1, 2), "softmax"),
    ("keras.Sequential([keras.Input(shape=(6,)), keras.layers.Dense(6), keras.layers.Reshape((3, 2))])",
     (-1, 3, 2), "linear"),
    ("keras.Sequential([keras.Input(shape=(4,)), keras.layers.Lambda(lambda t: t * 2)])", None, None),
]


@pytest.mark.parametrize("model,y_pred,activation", MODELS, ids=[str(i) for i in range(len(MODELS))])
def test_what_the_model_outputs(model: str, y_pred: tuple | None, activation: str | None) -> None:
    info = _info(f"model = {model}\nmodel.compile(optimizer='adam', loss=loss)\n")
    assert info.y_pred_shape == y_pred and info.y_pred_range == activation


def test_functional_outputs_are_matched_by_name_and_position() -> None:
    program = ("inp = keras.Input(shape=(4,))\nh = keras.layers.Dense(8, activation='relu')(inp)\n"
               "a = keras.layers.Dense(1, name='a')(h)\nb = keras.layers.Dense(3, activation='softmax', name='b')(h)\n"
               "both = keras.layers.Concatenate()([a, b])\n"
               "model = keras.Model(inp, {'a': a, 'b': b})\nx = np.random.rand(64, 4)\n"
               "def other(y_true, y_pred):\n    return tf.reduce_mean(y_true * y_pred)\n\n")
    losses = {i.name: i for i in analyze(HEAD + program + "model.compile(optimizer='adam', loss={'b': loss, 'a': other})\n"
                                         "model.fit(x, {'a': x.sum(axis=1), 'b': x[:, :3]})\n", "t.py").losses}
    assert (losses["loss"].y_pred_shape, losses["loss"].y_true_shape) == ((-1, 3), (-1, 3))
    assert (losses["other"].y_pred_shape, losses["other"].y_true_shape) == ((-1, 1), (-1,))


def test_tf_data_map_batch_and_custom_loop() -> None:
    program = ("x = np.random.rand(64, 4).astype('float32')\ny = np.random.randint(0, 5, size=(64,))\n"
               "def prep(f, t):\n    return f, tf.one_hot(t, 5)\n\n"
               "ds = tf.data.Dataset.from_tensor_slices((x, y)).map(prep).shuffle(64).batch(16).repeat()\n"
               + DENSE1 +
               "for xb, yb in ds:\n    with tf.GradientTape() as tape:\n        value = loss(yb, model(xb))\n")
    info = _info(program)
    assert (info.call_path, info.y_true_shape, info.y_true_domain, info.y_pred_shape) == (
        "direct", (-1, 5), "one_hot:5", (-1, 1))


def test_unknown_stays_unknown() -> None:
    # a generator, a function nobody can see into, a model from disk: nothing is guessed
    info = _info("def gen():\n    yield None\n\nds = tf.data.Dataset.from_generator(gen)\n"
                 "model = keras.models.load_model('m.keras')\nmodel.compile(optimizer='adam', loss=loss)\n"
                 "model.fit(ds)\n")
    assert (info.y_true_shape, info.y_pred_shape, info.y_true_domain, info.y_pred_range) == (None, None, None, None)
    info = _info("import mylib\nx, y = mylib.load()\n" + DENSE1 +
                 "model.compile(optimizer='adam', loss=loss)\nmodel.fit(x, y)\n")
    assert info.y_true_shape is None and info.y_pred_shape == (-1, 1)


def test_training_inside_a_function_that_is_never_called() -> None:
    info = _info("def train(path):\n    x = np.random.rand(64, 4)\n    y = x.sum(axis=1)\n"
                 "    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(1)])\n"
                 "    model.compile(optimizer='adam', loss=loss)\n    model.fit(x, y)\n")
    assert (info.y_true_shape, info.y_pred_shape) == ((-1,), (-1, 1))


def test_text_tables_series_and_image_generators() -> None:
    # np.loadtxt gives one or two dimensions; `table[:, 8]` runs only on two, so the labels are (N,)
    info = _info("data = np.loadtxt('pima.csv', delimiter=',')\nx = data[:, 0:8]\ny = data[:, 8]\n"
                 "model = keras.Sequential([keras.layers.Dense(1, input_shape=(8,), activation='sigmoid')])\n"
                 "model.compile(optimizer='adam', loss=loss)\nmodel.fit(x, y)\n")
    assert (info.y_true_shape, info.y_pred_shape, info.y_pred_range) == ((-1,), (-1, 1), "sigmoid")
    info = _info("df = pd.read_csv('h.csv')\n" + DENSE1 +
                 "model.compile(optimizer='adam', loss=loss)\nmodel.fit(df[['a', 'b', 'c', 'd']], df['price'])\n")
    assert info.y_true_shape == (-1,)
    info = _info("from keras.preprocessing.image import ImageDataGenerator\n"
                 "x = np.random.rand(64, 4)\ngen = ImageDataGenerator(rotation_range=10)\n" + DENSE1 +
                 "model.compile(optimizer='adam', loss=loss)\nmodel.fit(gen.flow(x, x[:, :1], batch_size=8))\n")
    assert info.y_true_shape == (-1, 1)
    info = _info("data = np.loadtxt('one_column.csv')\n" + DENSE1 +
                 "model.compile(optimizer='adam', loss=loss)\nmodel.fit(data, data)\n")
    assert info.y_true_shape is None  # one or two dimensions: not known


def test_dataset_zip_and_concatenated_heads() -> None:
    program = ("x = np.random.rand(64, 4).astype('float32')\n"
               "features = tf.data.Dataset.from_tensor_slices(x)\n"
               "targets = tf.data.Dataset.from_tensor_slices(x.sum(axis=1))\n"
               "train = tf.data.Dataset.zip((features, targets)).batch(8)\n"
               "inp = keras.Input(shape=(4,))\n"
               "merged = keras.layers.Concatenate()([keras.layers.Dense(2)(inp), keras.layers.Dense(3)(inp)])\n"
               "model = keras.Model(inp, keras.layers.Dense(1, activation='relu')(merged))\n"
               "model.compile(optimizer='adam', loss=loss)\nmodel.fit(train, epochs=1)\n")
    info = _info(program)
    assert (info.y_true_shape, info.y_pred_shape, info.y_pred_range) == ((-1,), (-1, 1), "relu")


def test_the_interpreter_runs_every_fixture_without_an_internal_error() -> None:
    # program_facts contains interpreter errors (a gap must not cost the file its findings); here they must not occur
    from loss_lsp.engine.chunks import split_blocks, split_lines
    from loss_lsp.engine.module import build_module
    from loss_lsp.engine.shapes.wiring import Interpreter
    from tests.expectations import fixture_files

    for path in fixture_files():
        lines = split_lines(path.read_text(encoding="utf-8"))
        Interpreter(build_module(str(path), lines, split_blocks(lines))).run()


def test_loops_that_carry_a_tensor_keep_only_what_every_iteration_agrees_on() -> None:
    program = ("inp = keras.Input(shape=(32, 32, 3))\nh = inp\n"
               "for _ in range(3):\n    h = keras.layers.MaxPooling2D()(h)\n"
               "model = keras.Model(inp, keras.layers.Conv2D(1, 1)(h))\n"
               "model.compile(optimizer='adam', loss=loss)\n")
    assert _info(program).y_pred_shape == (-1, None, None, 1)  # not (B, 16, 16, 1): pooled an unknown number of times
    program = ("inp = keras.Input(shape=(4,))\nh = inp\n"
               "for units in [8, 16]:\n    h = keras.layers.Dense(units)(h)\n"
               "model = keras.Model(inp, keras.layers.Dense(1)(h))\nmodel.compile(optimizer='adam', loss=loss)\n")
    assert _info(program).y_pred_shape == (-1, 1)


def test_sequential_without_input_takes_the_fit_data_and_random_batches_keep_the_label_shape() -> None:
    info = _info("x = np.random.rand(64, 4)\ny = x.sum(axis=1)\n"
                 "model = keras.Sequential([keras.layers.Dense(8, activation='relu'), keras.layers.Dense(1)])\n"
                 "model.compile(optimizer='adam', loss=loss)\nmodel.fit(x, y)\n")
    assert (info.y_true_shape, info.y_pred_shape) == ((-1,), (-1, 1))
    info = _info("x = np.random.rand(64, 4).astype('float32')\ny = x[:, :1]\n" + DENSE1 +
                 "for step in range(100):\n    idx = np.random.choice(64, 16)\n"
                 "    with tf.GradientTape() as tape:\n        value = loss(y[idx], model(x[idx]))\n")
    assert (info.call_path, info.y_true_shape, info.y_pred_shape) == ("direct", (-1, 1), (-1, 1))


def test_shapes_follow_edits_of_the_loss_and_of_the_data() -> None:
    """Typing in a loss the program calls keeps its inferred shapes (the interpretation of the script is
    reused between edits); editing the line that makes the labels changes them. Each warm result equals
    a cold analysis of the same text."""
    from loss_lsp.checker import clear_caches

    source = (Path(__file__).resolve().parents[2] / "fixtures" / "shapes" / "custom_loop.py").read_text(
        encoding="utf-8")
    path = "edited_custom_loop.py"

    def broadcasts(text: str) -> list[int]:
        return [f.span.start_line for f in analyze(text, path).findings if f.code == "LL301"]

    def cold(text: str) -> list[int]:
        clear_caches()
        return broadcasts(text)

    assert broadcasts(source) == [8]
    edited_loss = source.replace("tf.square(y_true - y_pred))  # expect", "tf.square(y_true - y_pred)) * 2.0  # expect")
    assert edited_loss != source and broadcasts(edited_loss) == [8]
    renamed = edited_loss.replace("def mse(y_true, y_pred):", "def mse(labels, y_pred):").replace(
        "tf.square(y_true - y_pred)) * 2.0", "tf.square(labels - y_pred)) * 2.0")
    warm = broadcasts(renamed)
    assert warm == cold(renamed)
    broadcasts(edited_loss)
    fixed_data = edited_loss.replace("y = np.mean(x, axis=1)  # (256,)", "y = np.mean(x, axis=1, keepdims=True)")
    assert fixed_data != edited_loss
    warm = broadcasts(fixed_data)
    assert 8 not in warm and warm == cold(fixed_data)  # (y[:, None] is now (N, 1, 1): that one broadcasts)
    assert broadcasts(source) == [8]
