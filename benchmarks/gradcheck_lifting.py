"""The gradient check on training code (issue 10): how much is lifted into a (y_true, y_pred) function,
which verdicts come back, and whether they agree with TensorFlow running the original code.

    PYTHONPATH=$PWD python benchmarks/gradcheck_lifting.py [--no-corpus]

1. The sink fixtures (``fixtures/sinks/``, ``tests/gradcheck/data/training.py``): every computation found
   from a sink is checked by the real worker; counted: lifted or not (and why), and the verdicts of its
   findings.
2. Agreement: for the computations below, a direct TensorFlow run of the *original* code (the function,
   the ``train_step``/``compute_loss``/``add_loss`` model, the TF1 graph in ``tf.compat.v1`` graph mode)
   at inputs the program can produce (a saturated model: large weights or large inputs) says whether the
   problem happens. A verdict agrees when it is "confirmed" and TensorFlow shows the problem, or it is not
   "confirmed" (or the code is clean) and TensorFlow shows none.
3. Real programs of published loss bugs, buggy and fixed (the cache ``benchmarks/bug_programs.py`` fills, when
   present): the training code in them, how much lifts, the verdicts per file, and for TF1 scripts whose loss
   lifted, a direct run of the script's own graph in ``tf.compat.v1`` that the verdict must agree with.
4. The training-code corpus (``benchmarks/training_code.py``'s pinned wheels): how many computations lift,
   and why the others do not (no TensorFlow run: the packages' own imports are not installed).
"""

from __future__ import annotations

import argparse
import ast
import logging
import importlib.util
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from loss_lsp.checker import analyze  # noqa: E402
from loss_lsp.gradcheck import GradientChecker  # noqa: E402
from loss_lsp.gradcheck.checker import NOT_LIFTED  # noqa: E402
from loss_lsp.gradcheck.lifting import LiftError, lift  # noqa: E402
from loss_lsp.settings import Settings  # noqa: E402

SINKS = ROOT / "fixtures" / "sinks"
TRAINING = ROOT / "tests" / "gradcheck" / "data" / "training.py"
INLINED = TRAINING.with_name("inlined.py")  # the model output and the loss in other methods; decided branches
FILES = sorted(SINKS.glob("*.py")) + [TRAINING, TRAINING.with_name("training_script.py"), INLINED]
RNG = np.random.default_rng(0)
X = RNG.normal(size=(8, 4)).astype("float32")
Y = np.eye(3, dtype="float32")[RNG.integers(0, 3, size=8)]


# --- direct TensorFlow runs of the original code --------------------------------------------------------
def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"lifting_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _saturate(layer: Any, scale: float = 200.0) -> None:
    """Large weights: a confident model, whose softmax gives exact zeros in float32."""
    kernel, bias = layer.get_weights()
    signs = np.where(np.arange(kernel.size).reshape(kernel.shape) % 2 == 0, 1.0, -1.0)
    layer.set_weights([(signs * scale).astype("float32"), bias])


def _finite(values: Any) -> bool:
    import tensorflow as tf

    flat = tf.nest.flatten(values)
    return all(v is None or bool(np.all(np.isfinite(np.asarray(v)))) for v in flat)


def _none_gradients(values: Any) -> bool:
    import tensorflow as tf

    return all(v is None for v in tf.nest.flatten(values, expand_composites=False))


class _Minimizer:
    """What ``minimize(loss_fn, var_list)`` does in tf.keras 2 and tf.compat.v1 (Keras 3 optimizers have no
    ``minimize``: on Keras 3 the fixture's call raises AttributeError before any loss is computed)."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def minimize(self, loss: Callable[[], Any], var_list: Any) -> None:
        import tensorflow as tf

        with tf.GradientTape() as tape:
            value = loss()
        self.seen.append((value, tape.gradient(value, var_list)))


def function_nan(path: Path, function: str, model: str = "model", eager: bool = True) -> bool:
    """Call the training function with the module's model saturated: does it give a non-finite value?"""
    import tensorflow as tf

    module = _load(path)
    net = getattr(module, model)
    net(X)
    _saturate(net.layers[-1])
    module.optimizer = minimizer = _Minimizer() if function.startswith("by_minimize") else module.optimizer
    fn = getattr(module, function)
    out = fn(X, Y) if eager else tf.function(fn)(X, Y)
    if out is None:
        return not _finite(minimizer.seen)
    return not _finite(out)


def function_no_gradient(path: Path, function: str) -> bool:
    module = _load(path)
    return _none_gradients(getattr(module, function)(X, Y))


def function_distance_at_zero(path: Path, function: str) -> bool:
    """guarded_distance_step at pred == y (sq == 0): is the gradient non-finite?"""
    module = _load(path)
    net = module.logits_model
    net(X)
    net.layers[-1].set_weights([np.zeros((4, 3), "float32"), np.zeros(3, "float32")])
    return not _finite(getattr(module, function)(X, np.zeros((8, 3), "float32")))


def model_nan(path: Path, class_name: str, how: str) -> bool:
    """Run the model class's own train_step / compute_loss / add_loss on a saturated head."""
    import keras

    base = getattr(_load(path), class_name)
    has_head = "head" in base.__init__.__code__.co_names

    class Harness(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__()
            if not has_head:
                self.head = keras.layers.Dense(3, activation="softmax")

        if how != "add_loss":
            def call(self, x: Any, training: bool = False) -> Any:
                return self.head(x)

    model = Harness()
    if how == "add_loss":
        model(X, Y)
        _saturate(model.head)
        model(X, Y)
        return not _finite(model.losses)
    model.compile(optimizer="sgd")
    model(X)
    _saturate(model.head)
    model.optimizer.build(model.trainable_variables)
    if how == "compute_loss":  # what fit's train_step calls
        return not _finite(model.compute_loss(x=X, y=Y, y_pred=model(X), training=True))
    return not _finite(model.train_step((X, Y))["loss"])  # fit's history reports Keras's own loss tracker


def graph_nan(path: Path, fetch: str, scale: float = 100.0) -> bool:
    """The TF1 script's graph, built by its own top-level statements under tf.compat.v1 in graph mode,
    fed large inputs (a confident model): is the loss or its gradient non-finite?"""
    import tensorflow as tf

    tree = ast.parse(path.read_text().replace("import tensorflow as tf", "import tensorflow.compat.v1 as tf"))
    tree.body = [s for s in tree.body if not isinstance(s, (ast.With, ast.For, ast.While, ast.Expr))]
    graph = tf.Graph()
    with graph.as_default():
        namespace: dict[str, Any] = {}
        exec(compile(tree, str(path), "exec"), namespace)  # noqa: S102 - our own fixture
        loss = namespace[fetch]
        grads = [g for g in tf.compat.v1.gradients(loss, tf.compat.v1.trainable_variables()) if g is not None]
        feeds = {}
        for op in graph.get_operations():
            if op.type == "Placeholder":
                tensor = op.outputs[0]
                shape = [8 if d is None else d for d in tensor.shape.as_list()]
                if tensor.dtype.is_integer:
                    feeds[tensor] = RNG.integers(0, 2, size=shape)
                elif shape[-1] > 1 and op.name.startswith("Placeholder_1"):  # the one-hot labels
                    feeds[tensor] = np.eye(shape[-1], dtype="float32")[RNG.integers(0, shape[-1], size=shape[0])]
                else:
                    feeds[tensor] = (RNG.normal(size=shape) * scale).astype("float32")
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            value, gradients = session.run([loss, grads], feed_dict=feeds)
    return not (np.all(np.isfinite(value)) and all(np.all(np.isfinite(g)) for g in gradients))


_NOT_BUILDING = {"read_data_sets", "Session", "InteractiveSession", "run", "load_data", "set_random_seed"}


def _builds_graph(stmt: ast.stmt) -> bool:
    """A top-level statement that builds the graph (not one that loads data or opens a session)."""
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return "examples" not in ast.unparse(stmt) and "input_data" not in ast.unparse(stmt)
    if not isinstance(stmt, (ast.Assign, ast.FunctionDef, ast.ClassDef)):
        return False
    return not any(isinstance(n, ast.Call) and ast.unparse(n.func).rsplit(".", 1)[-1] in _NOT_BUILDING
                   for n in ast.walk(stmt))


def script_nan(path: Path, fetch: str, labels: str, scale: float = 100.0) -> bool:
    """A TF1 script's own graph (its top-level assignments, under tf.compat.v1 in graph mode; data loading,
    sessions, loops and prints left out), with non-zero weights (as training leaves them) and fed large
    inputs and one-hot labels: is the loss or a gradient of it non-finite?"""
    import tensorflow as tf

    text = path.read_text(encoding="utf-8", errors="replace")
    tree = ast.parse(text.replace("import tensorflow as tf", "import tensorflow.compat.v1 as tf"))
    tree.body = [stmt for stmt in tree.body if _builds_graph(stmt)]
    graph = tf.Graph()
    with graph.as_default():
        namespace: dict[str, Any] = {}
        exec(compile(tree, str(path), "exec"), namespace)  # noqa: S102 - a cached bug program's graph, never trained
        loss = namespace[fetch]
        grads = [g for g in tf.compat.v1.gradients(loss, tf.compat.v1.trainable_variables()) if g is not None]
        feeds = {}
        for op in graph.get_operations():
            if op.type != "Placeholder":
                continue
            tensor = op.outputs[0]
            shape = [8 if d is None else d for d in tensor.shape.as_list()] if tensor.shape.rank is not None else []
            if tensor is namespace.get(labels):
                feeds[tensor] = np.eye(shape[-1], dtype="float32")[RNG.integers(0, shape[-1], size=shape[0])] \
                    if len(shape) == 2 else RNG.integers(0, 2, size=shape).astype(tensor.dtype.as_numpy_dtype)
            elif not shape:
                feeds[tensor] = 1.0  # keep_prob and other scalar switches (an undeclared shape too)
            else:
                feeds[tensor] = (RNG.normal(size=shape) * scale).astype(tensor.dtype.as_numpy_dtype)
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            for variable in tf.compat.v1.trainable_variables():  # a trained model's weights: not all zero
                shape = variable.shape.as_list()
                variable.load(RNG.normal(size=shape).astype(variable.dtype.as_numpy_dtype), session)
            value, gradients = session.run([loss, grads], feed_dict=feeds)
    return not (np.all(np.isfinite(value)) and all(np.all(np.isfinite(g)) for g in gradients))


EACH = SINKS / "each_sink.py"
LOOPS = SINKS / "custom_loops.py"
# (file, computation, rule or "" for a clean computation, the TensorFlow run: True = the problem happens)
TRUTH: list[tuple[Path, str, str, Callable[[], bool]]] = [
    (EACH, "by_tape", "LL201", lambda: function_nan(EACH, "by_tape")),
    (EACH, "by_jacobian", "LL201", lambda: function_nan(EACH, "by_jacobian")),
    (EACH, "by_minimize.<locals>.loss_fn", "LL201", lambda: function_nan(EACH, "by_minimize")),
    (EACH, "by_graph_gradients", "LL201", lambda: function_nan(EACH, "by_graph_gradients", eager=False)),
    (EACH, "ByTrainStep.train_step", "LL201", lambda: model_nan(EACH, "ByTrainStep", "train_step")),
    (EACH, "ByComputeLoss.compute_loss", "LL201", lambda: model_nan(EACH, "ByComputeLoss", "compute_loss")),
    (EACH, "ByAddLoss.call", "LL201", lambda: model_nan(EACH, "ByAddLoss", "add_loss")),
    (LOOPS, "train_step", "LL201", lambda: function_nan(LOOPS, "train_step")),
    (LOOPS, "step_with_hard_threshold", "LL103", lambda: function_no_gradient(LOOPS, "step_with_hard_threshold")),
    (LOOPS, "clipped_step", "", lambda: function_nan(LOOPS, "clipped_step")),
    (LOOPS, "correct_train_step", "", lambda: function_nan(LOOPS, "correct_train_step", model="logits_model",
                                                          eager=False)),
    (TRAINING, "clipped_tape_step", "", lambda: function_nan(TRAINING, "clipped_tape_step")),
    (TRAINING, "logits_step", "", lambda: function_nan(TRAINING, "logits_step", model="logits_model")),
    (TRAINING, "guarded_distance_step", "LL206", lambda: function_distance_at_zero(TRAINING, "guarded_distance_step")),
    (TRAINING, "ComputeLossModel.compute_loss", "LL201", lambda: model_nan(TRAINING, "ComputeLossModel", "compute_loss")),
    (TRAINING, "ClippedComputeLossModel.compute_loss", "",
     lambda: model_nan(TRAINING, "ClippedComputeLossModel", "compute_loss")),
    (INLINED, "LogOfSoftmaxModel.train_step", "LL201", lambda: model_nan(INLINED, "LogOfSoftmaxModel", "train_step")),
    (INLINED, "ClippedModel.train_step", "", lambda: model_nan(INLINED, "ClippedModel", "train_step")),
    (INLINED, "FlagModel.train_step", "LL201", lambda: model_nan(INLINED, "FlagModel", "train_step")),
    (SINKS / "tf1_graph_buggy.py", "<module>", "LL205", lambda: graph_nan(SINKS / "tf1_graph_buggy.py", "cross_entropy")),
    (SINKS / "tf1_graph_fixed.py", "<module>", "", lambda: graph_nan(SINKS / "tf1_graph_fixed.py", "cross_entropy")),
]


_CATEGORIES = [  # (words in the reason, the category printed)
    ("returns from inside an `if`", "control flow: a called method returns from an `if` the program does not decide"),
    ("a value computed when the program runs", "control flow: an `if` on a value computed at run time (data, shapes)"),
    ("whoever builds the object decides", "control flow: an `if` on a constructor argument"),
    ("its callers decide", "control flow: an `if` on a function argument"),
    ("places", "control flow: an `if` on a value the program sets in several places"),
    ("not guess a branch", "control flow: an `if` on a value the program does not state"),
    ("a generator", "a called method the lift does not enter (generator)"),
    ("inside it: a call", "a called method the lift does not enter (defines a function inside)"),
    ("does not end in its only `return`", "a called method the lift does not enter (several returns)"),
    ("*args or **kwargs", "a called method the lift does not enter (*args/**kwargs)"),
    ("a call the lift does not enter", "the model is inside a call the lift does not enter (a method, a closure)"),
    ("no model output", "no model output, variable or watched tensor on the path"),
    ("inside an `if`", "control flow: the value is set inside an `if`"),
    ("loop", "control flow: the value is set inside or carried around a loop"),
    ("more than one place", "control flow: returned from more than one place"),
    ("several", "several model outputs reach the loss"),
    ("from the model object", "reads an attribute of the model object"),
    ("more data than one label", "reads more data than one label tensor"),
    ("side effect", "a Python side effect on a value of the path"),
    ("another file", "differentiated in another file"),
    ("constructor or build method", "reads an argument of the model's constructor (a hyperparameter)"),
]


def category(reason: str) -> str:
    reason = reason.removeprefix(NOT_LIFTED + ": ")
    return next((name for words, name in _CATEGORIES if words in reason), reason[:90])


# --- the check over the fixtures -------------------------------------------------------------------------
def check_fixtures(checker: GradientChecker) -> dict[tuple[str, str], tuple[str, list[Any]]]:
    """(file name, computation) -> (report status/reason, its findings), printing the counts."""
    out: dict[tuple[str, str], tuple[str, list[Any]]] = {}
    lifted = not_lifted = 0
    reasons: Counter[str] = Counter()
    verdicts: Counter[str] = Counter()
    for path in FILES:
        source = path.read_text()
        analysis = analyze(source, str(path), checker.settings)
        computations = {info.name for info in analysis.losses if info.kind == "computation"}
        if not computations:
            continue
        result = checker.check(source, str(path), analysis, loss_names=sorted(computations))
        for report in result.losses:
            findings = [f for f in result.findings if f.loss == report.name]
            out[(path.name, report.name)] = (f"{report.status}: {report.reason}", findings)
            if report.reason.startswith(NOT_LIFTED):
                not_lifted += 1
                reasons[category(report.reason)] += 1
            else:
                lifted += 1
            verdicts.update(f.verdict for f in findings)
    total = lifted + not_lifted
    print(f"fixtures: {total} computations in {len(FILES)} files: {lifted} lifted, {not_lifted} not lifted")
    for reason, count in reasons.most_common():
        print(f"  not lifted, {count}: {reason}")
    print("  verdicts of their findings: " + ", ".join(f"{k} {v}" for k, v in sorted(verdicts.items())))
    return out


def agreement(results: dict[tuple[str, str], tuple[str, list[Any]]]) -> None:
    print(f"\n{'computation':52} {'rule':6} {'verdict':15} {'TensorFlow':10} agrees")
    agree = 0
    for path, name, code, truth in TRUTH:
        status, findings = results.get((path.name, name), ("missing", []))
        if code:
            mine = [f for f in findings if f.code == code]
            verdict = mine[0].verdict if mine else "no finding"
        else:
            confirmed = [f for f in findings if f.verdict == "confirmed"]
            verdict = "confirmed" if confirmed else ("clean" if status.startswith(("checked", "cached")) else "not_run")
        try:
            happens = truth()
            shown = "problem" if happens else "none"
        except Exception as exc:  # a truth run that cannot be written for this code counts against us
            happens, shown = None, f"error {type(exc).__name__}"
        ok = happens is not None and (verdict == "confirmed") == happens and verdict != "not_run"
        agree += ok
        print(f"{path.name + ':' + name:52} {code or '-':6} {verdict:15} {shown:10} {'yes' if ok else 'NO'}")
    print(f"agreement with TensorFlow: {agree}/{len(TRUTH)}")


def corpus() -> None:
    from benchmarks.training_code import sources

    outcomes: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    started = time.perf_counter()
    for source in sources():
        analysis = analyze(source.text, source.path)
        for info in analysis.losses:
            if info.kind != "computation":
                continue
            try:
                lift(source.text, source.path, info)
                outcomes["lifted"] += 1
            except LiftError as exc:
                outcomes["not lifted"] += 1
                reasons[category(str(exc))] += 1
    total = sum(outcomes.values())
    print(f"\ntraining-code corpus: {total} computations: {outcomes['lifted']} lifted, "
          f"{outcomes['not lifted']} not lifted ({time.perf_counter() - started:.1f}s)")
    for reason, count in reasons.most_common():
        print(f"  not lifted, {count}: {reason}")


BUGSETS = Path.home() / ".cache" / "loss-lsp" / "bugsets"  # filled by benchmarks/bug_programs.py (not read here)


def version_of(path: Path) -> str:
    parts = [part.lower() for part in path.parts]
    if any(p.endswith("buggy") or p.startswith("buggy") for p in parts):
        return "buggy"
    if any(p.endswith(("fix", "fixed")) or p.startswith("correct") for p in parts):
        return "fixed"
    return "?"


def _script_truth(path: Path, source: str, analysis: Any) -> bool | None:
    """The direct TensorFlow run of a TF1 script whose module-level loss lifted (None: none written)."""
    module = next((info for info in analysis.losses if info.kind == "computation" and info.name == "<module>"), None)
    if module is None:
        return None
    try:
        [lifted, *_], _errors = lift(source, str(path), module)
    except (LiftError, ValueError):
        return None
    target = lifted.sink.target
    if not isinstance(target, ast.Name) or not lifted.target:
        return None
    try:
        return script_nan(path, target.id, lifted.target)
    except Exception as exc:  # noqa: BLE001 - the script's graph does not build in TF2's compat.v1
        print(f"  (no TensorFlow run of {path.name}: {type(exc).__name__}: {str(exc)[:80]})")
        return None


def bug_programs(checker: GradientChecker) -> None:
    """Real programs of published loss bugs (buggy and fixed versions), where that cache exists: the
    training code found in them, how much lifts, and the verdicts."""
    files = sorted(BUGSETS.rglob("*.py")) if BUGSETS.is_dir() else []
    if not files:
        print(f"\nbug programs: none cached in {BUGSETS} (run benchmarks/bug_programs.py first)")
        return
    print(f"\nbug programs in {BUGSETS}: {len(files)} files")
    counts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for path in files:
        source = path.read_text(encoding="utf-8", errors="replace")
        analysis = analyze(source, str(path), checker.settings)
        computations = sorted(info.name for info in analysis.losses if info.kind == "computation")
        if not computations:
            continue
        version = version_of(path)
        result = checker.check(source, str(path), analysis, loss_names=computations)
        for report in result.losses:
            counts["computations"] += 1
            if report.reason.startswith(NOT_LIFTED):
                counts["not lifted"] += 1
                reasons[category(report.reason)] += 1
            else:
                counts["lifted"] += 1
                counts[f"lifted, {report.status}"] += 1
        verdicts = Counter(f.verdict for f in result.findings)
        confirmed = verdicts.get("confirmed", 0)
        truth = _script_truth(path, source, analysis)
        if truth is not None:
            agrees = truth == bool(confirmed)
            counts["TensorFlow runs of the script"] += 1
            counts["verdicts agreeing with them"] += agrees
            verdicts[f"TensorFlow: {'NaN/Inf' if truth else 'finite'}{'' if agrees else ' (DISAGREES)'}"] += 1
        counts[f"{version} files with training code"] += 1
        counts[f"{version} files with a confirmed finding"] += bool(confirmed)
        shown = ", ".join(f"{k} {v}" for k, v in sorted(verdicts.items())) or "no findings"
        print(f"  {str(path.relative_to(BUGSETS))[:78]:78} {version:5} {shown}")
    print("  " + ", ".join(f"{k}: {v}" for k, v in counts.items()))
    for reason, count in reasons.most_common():
        print(f"  not lifted, {count}: {reason}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-corpus", action="store_true", help="skip the training-code corpus")
    args = parser.parse_args()
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # TF1 deprecation notices of the scripts' graphs
    checker = GradientChecker(Settings())
    try:
        results = check_fixtures(checker)
        bug_programs(checker)
    finally:
        checker.close()
    agreement(results)
    if not args.no_corpus:
        corpus()


if __name__ == "__main__":
    main()
