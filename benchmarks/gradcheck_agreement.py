"""Agreement of the gradient check's verdicts with TensorFlow on realistic training programs.

    python benchmarks/gradcheck_agreement.py [--data tests/gradcheck/data/realistic]

Every finding the check reports on the programs (a static finding with its verdict, or an LL90x
finding, which is always "confirmed") is compared with a hand-written TensorFlow/Keras check of
the same problem at inputs the program can produce (its shapes, its labels, its model's output
range). A verdict agrees when it is "confirmed" and TensorFlow shows the problem, or it is not
"confirmed" and TensorFlow shows it cannot happen. A finding with no truth check is counted as a
disagreement (never silently dropped). Also listed: problems TensorFlow shows that got no finding.

To compare with another version of loss-lsp, run the script with that version first on
PYTHONPATH: the programs and the truth checks live here, not in the package.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent / "tests" / "gradcheck" / "data" / "realistic"
FIXTURES = HERE.parent / "tests" / "gradcheck" / "data"


def _tf() -> Any:
    import tensorflow as tf

    return tf


def _keras() -> Any:
    import keras

    return keras


@cache
def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"agreement_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)  # the program's own top level: data, model, a short fit
    return module


def tape(loss: Callable, y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray | None]:
    tf = _tf()
    y_pred = tf.constant(np.asarray(y_pred, dtype=np.float32))
    with tf.GradientTape() as g:
        g.watch(y_pred)
        value = loss(tf.constant(y_true), y_pred)
    grad = g.gradient(value, y_pred)
    return np.asarray(value), (None if grad is None else np.asarray(grad))


def finite(array: Any) -> bool:
    return array is not None and bool(np.all(np.isfinite(array)))


def fit_loss_matches(loss: Any, x: np.ndarray, y: np.ndarray, per_pair: Callable, per_sample: Callable,
                     activation: str | None = None, binary: bool = False) -> bool:
    """Keras's own evaluate of `loss` on the program's data: True when it equals the (B, B) pairing
    of labels with predictions rather than the per-sample loss (the silent broadcast)."""
    keras = _keras()
    model = keras.Sequential([keras.Input(shape=x.shape[1:]), keras.layers.Dense(1, activation=activation)])
    # predictions spread over the targets' range, so pairing and per-sample losses differ clearly
    model.layers[-1].set_weights([np.full((x.shape[1], 1), 2.0, "float32"), np.array([-2.0], "float32")])
    model.compile(optimizer="sgd", loss=loss)
    p = model.predict(x, verbose=0)
    # labels of the program's shape and dtype that the model nearly fits: a per-sample loss is then
    # small, a loss pairing every label with every prediction is not
    noise = np.random.default_rng(0).normal(scale=0.05, size=len(y))
    fitted = (p[:, 0] > np.median(p)) if binary else p[:, 0] + noise  # binary labels: the likelier class
    y = fitted.reshape(y.shape).astype(y.dtype)
    reported = model.evaluate(x, y, batch_size=len(y), verbose=0)
    pair, single = per_pair(y.reshape(1, -1), p.reshape(-1, 1)), per_sample(y.reshape(-1), p.reshape(-1))
    assert not np.isclose(pair, single, rtol=1e-2), (pair, single)  # the data tell the two apart
    if np.isclose(reported, pair, rtol=1e-4):
        return True
    assert np.isclose(reported, single, rtol=1e-4), (reported, pair, single)  # else the check itself is wrong
    return False


def huber(err: np.ndarray) -> np.ndarray:
    err = np.abs(err)
    return np.where(err < 1.0, 0.5 * err**2, err - 0.5)


def log_cosh(err: np.ndarray) -> np.ndarray:
    return np.log(np.cosh(err))


# --- truth checks: True when TensorFlow shows the problem at inputs the program can produce -------------
def triplet_pairs_on_purpose(m: ModuleType) -> bool:
    """LL904 on batch-hard mining: the (B, B) tensors pair labels with labels and embeddings with
    embeddings; the loss equals a NumPy batch-hard triplet loss, so no target/prediction broadcast."""
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(8, 16)).astype("float32")
    labels = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    value, _ = tape(m.batch_hard_triplet, labels, emb)
    d = np.sqrt(np.maximum(((emb[:, None, :] - emb[None, :, :]) ** 2).sum(-1), 0.0))
    same = labels[:, None] == labels[None, :]
    expected = np.mean(np.maximum((d * same).max(1) - (d + 1e6 * same).min(1) + 0.5, 0.0))
    return not np.isclose(float(value), expected, rtol=1e-3)


def triplet_nan_gradient(m: ModuleType) -> bool:
    """sqrt of pairwise distances: when the embedder collapses to one output for every sample (the
    classic plateau of triplet training, loss = margin), every distance is 0 and sqrt's gradient
    there is infinite. (With distinct embeddings, or a duplicate pair, the gradient stays finite.)"""
    emb = np.tile(np.random.default_rng(0).normal(size=(1, 16)).astype("float32"), (8, 1))
    labels = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    value, grad = tape(m.batch_hard_triplet, labels, emb)
    return finite(value) and not finite(grad)


def direct_mse_pairs(m: ModuleType) -> bool:
    preds = np.asarray(m.model(m.x[:16]))
    value, _ = tape(m.mse_direct, m.y[:16], preds)
    return np.isclose(float(value), np.mean((m.y[:16][None, :] - preds) ** 2), rtol=1e-5)


def dice_empty_mask(m: ModuleType) -> bool:
    """An empty mask and a fully saturated sigmoid (exact 0 below a logit of about -104)."""
    tf = _tf()
    empty = np.zeros((2, 16, 16, 1), "float32")
    saturated = np.asarray(tf.sigmoid(tf.fill((2, 16, 16, 1), -110.0)))
    assert float(saturated.max()) == 0.0
    value, _ = tape(m.dice_loss, empty, saturated)
    return not finite(value)


def sigmoid_log_zero(loss: Callable, y_true: np.ndarray) -> bool:
    """A positive whose sigmoid output saturates to exactly 0 (or a negative at exactly 1)."""
    tf = _tf()
    saturated = np.asarray(tf.sigmoid(tf.constant([[-110.0], [110.0]])))
    value, grad = tape(loss, y_true, saturated)
    return not (finite(value) and finite(grad))


def gaussian_variance_underflow(m: ModuleType) -> bool:
    """A linear log-variance output of -100: exp underflows to ~0 and the division overflows."""
    y_pred = np.array([[0.5, -100.0], [0.2, -100.0]], "float32")
    value, _ = tape(m.gaussian_nll, np.array([[1.0], [0.0]], "float32"), y_pred)
    return not finite(value)


def log_softmax_underflow(m: ModuleType) -> bool:
    """Linear class logits 120 apart: softmax gives an exact 0 for the target class."""
    y_pred = np.array([[0.3, 60.0, -60.0, 0.0, 0.0]], "float32")
    value, _ = tape(m.multitask_unstable, np.array([[0.3, 2.0]], "float32"), y_pred)
    return not finite(value)


def kl_one_hot(m: ModuleType) -> bool:
    """One-hot targets (what to_categorical gives) and ordinary softmax outputs: 0 * log(0 / p)."""
    probs = np.asarray(_tf().nn.softmax(np.random.default_rng(0).normal(size=(4, 3)).astype("float32")))
    value, _ = tape(m.kl_divergence, m.y[:4].astype("float32"), probs)  # compile converts labels to float32
    return not finite(value)


def unused_columns(m: ModuleType) -> bool:
    """Quantile columns 0 and 2 get an exactly-zero gradient whatever the targets."""
    p = m.forecaster.predict(m.x[:8], verbose=0)
    for y in (m.y[:8], np.zeros((8, 1), "float32"), np.ones((8, 1), "float32")):
        _, grad = tape(m.median_only, y, p)
        if grad is None or np.any(grad[:, [0, 2]] != 0):
            return False
    return True


def cross_entropy_dead(loss: Callable) -> bool:
    """LL902 on a cross-entropy over softmax outputs: is some entry's gradient zero for every label?"""
    probs = np.asarray(_tf().nn.softmax(np.random.default_rng(0).normal(size=(10, 10)).astype("float32")))
    alive = np.zeros((10, 10), bool)
    for cls in range(10):
        _, grad = tape(loss, np.full((10,), cls), probs)
        alive |= grad != 0
    return not alive.all()


def softmax_log_zero(m: ModuleType) -> bool:
    """A saturated softmax (logits 120 apart) gives an exact 0 at the target class."""
    probs = np.asarray(_tf().nn.softmax(np.array([[120.0] + [0.0] * 9], "float32")))
    value, _ = tape(m.manual_sparse_ce, np.array([3]), probs)
    return not finite(value)


def clipped_focal_finite(m: ModuleType) -> bool:
    loss = m.clipped_focal(2.0)
    tf = _tf()
    saturated = np.asarray(tf.sigmoid(tf.constant([[-110.0], [110.0], [110.0], [-110.0]])))
    value, grad = tape(loss, np.array([[1.0], [0.0], [1.0], [0.0]], "float32"), saturated)
    return not (finite(value) and finite(grad))


def log_cosh_log_of_zero(loss: Callable) -> bool:
    """LL201 says the log may see 0; cosh is at least 1, so it never does: the loss is finite for
    every difference up to 80 (beyond about 89 cosh overflows, a different problem)."""
    errors = np.linspace(-80, 80, 161, dtype="float32")
    value, grad = tape(loss, np.zeros_like(errors), errors.reshape(-1, 1))
    return not (finite(value) and finite(grad))


def weighted_bce_squeeze_right(m: ModuleType) -> bool:
    """LL904 on the squeezing subclass: Keras's own per-sample loss on the program's (N,) labels is right."""
    keras = _keras()
    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss=m.SqueezedWeightedBCE(pos_weight=4.0))
    reported = model.evaluate(m.x, m.y, batch_size=len(m.y), verbose=0)
    p = np.clip(model.predict(m.x, verbose=0)[:, 0], 1e-7, 1 - 1e-7)
    expected = np.mean(-(4.0 * m.y * np.log(p) + (1 - m.y) * np.log(1 - p)))
    return not np.isclose(reported, expected, rtol=1e-4)


def ranknet_differs(loss: Callable, relevance: np.ndarray) -> bool:
    """LL904 on RankNet: True unless the loss equals NumPy's RankNet over all pairs of the batch
    (pairs of predictions with predictions, on purpose)."""
    s = np.random.default_rng(0).normal(size=(8, 1)).astype("float32")
    value, _ = tape(loss, relevance, s)
    diff, target = s - s.T, 0.5 * (1 + np.sign(relevance - relevance.T))
    expected = np.mean(np.maximum(diff, 0) - diff * target + np.log1p(np.exp(-np.abs(diff))))
    return not np.isclose(float(value), expected, rtol=1e-4)


TRUTH: dict[tuple[str, str, str], Callable[[ModuleType], bool]] = {
    ("contrastive.py", "batch_hard_triplet", "LL904"): triplet_pairs_on_purpose,
    ("contrastive.py", "batch_hard_triplet", "LL301"): triplet_pairs_on_purpose,
    ("contrastive.py", "batch_hard_triplet", "LL203"): triplet_nan_gradient,
    ("custom_loop.py", "mse_direct", "LL301"): direct_mse_pairs,
    ("dice.py", "dice_loss", "LL202"): dice_empty_mask,
    ("focal.py", "binary_focal.<locals>.loss", "LL201"):
        lambda m: sigmoid_log_zero(m.binary_focal(2.0), np.array([[1.0], [0.0]], "float32")),
    ("focal.py", "clipped_focal.<locals>.loss", "LL201"): clipped_focal_finite,
    ("gaussian_nll.py", "gaussian_nll", "LL204"): gaussian_variance_underflow,
    ("multitask.py", "multitask_unstable", "LL205"): log_softmax_underflow,
    ("onehot_kl.py", "kl_divergence", "LL201"): kl_one_hot,
    ("onehot_kl.py", "kl_divergence", "LL202"): kl_one_hot,
    ("quantile.py", "median_only", "LL902"): unused_columns,
    ("ranknet.py", "ranknet_loss", "LL904"): lambda m: ranknet_differs(m.ranknet_loss, m.relevance[:8]),
    ("sparse_ce.py", "manual_sparse_ce", "LL902"): lambda m: cross_entropy_dead(m.manual_sparse_ce),
    ("sparse_ce.py", "manual_sparse_ce", "LL201"): softmax_log_zero,
    ("sparse_ce.py", "safe_sparse_ce", "LL902"): lambda m: cross_entropy_dead(m.safe_sparse_ce),
    ("squeeze_paths.py", "HuberLoss.call", "LL301"):
        lambda m: fit_loss_matches(m.HuberLoss(), m.x, m.y, lambda a, b: np.mean(huber(a - b)),
                                   lambda a, b: np.mean(huber(a - b))),
    ("squeeze_paths.py", "squeezed_log_cosh", "LL301"):
        lambda m: fit_loss_matches(m.squeezed_log_cosh, m.x, m.y, lambda a, b: np.mean(log_cosh(a - b)),
                                   lambda a, b: np.mean(log_cosh(a - b))),
    ("squeeze_paths.py", "squeezed_log_cosh", "LL201"): lambda m: log_cosh_log_of_zero(m.squeezed_log_cosh),
    ("squeeze_paths.py", "log_cosh", "LL201"): lambda m: log_cosh_log_of_zero(m.log_cosh),
    ("weighted_bce.py", "SqueezedWeightedBCE.call", "LL904"): weighted_bce_squeeze_right,
    # found only when the labels' shape (N,) is inferred from `(np.random.rand(128) > 0.8).astype(...)`
    ("weighted_bce.py", "WeightedBCE.call", "LL301"):
        lambda m: fit_loss_matches(m.WeightedBCE(pos_weight=4.0), m.x, m.y, _weighted_bce, _weighted_bce,
                                   activation="sigmoid", binary=True),
}


def _weighted_bce(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(np.mean(-(4.0 * y * np.log(p) + (1 - y) * np.log(1 - p))))


# --- the gradient-check fixtures (tests/gradcheck/data): confirmed verdicts have hand-written
# reproductions in tests/gradcheck/test_reproduced.py; these are the rest ---------------------------------
def python_branch_in_a_custom_loop(m: ModuleType) -> bool:
    """No compile() uses it: a custom loop runs it eagerly or in a tf.function with autograph on."""
    tf = _tf()
    y_true, y_pred = tf.constant([[1.0], [0.0]]), tf.constant([[0.7], [0.2]])
    try:
        m.python_branch(y_true, y_pred)
        tf.function(m.python_branch)(y_true, y_pred)
    except Exception:  # noqa: BLE001 - any failure means the custom loop hits it
        return True
    return False


def guarded_sqrt_perfect_fit(m: ModuleType) -> bool:
    value, grad = tape(m.guarded_sqrt, np.array([[0.3], [0.6]], "float32"), np.array([[0.3], [0.6]]))
    return not (finite(value) and finite(grad))


def smoothed_dice_empty(m: ModuleType) -> bool:
    value, grad = tape(m.smooth_factory(1.0), np.zeros((4, 1), "float32"), np.zeros((4, 1)))
    return not (finite(value) and finite(grad))


def nll_dead_gradient(m: ModuleType) -> bool:
    """At the two columns its slices need, the NLL's gradient is not zero."""
    _, grad = tape(m.gaussian_nll, np.array([[0.5], [0.1]], "float32"), np.array([[0.2, 0.1], [0.4, -0.3]]))
    return grad is None or bool(np.all(grad == 0))


def nll_overflow(m: ModuleType) -> bool:
    value, _ = tape(m.gaussian_nll, np.array([[0.5]], "float32"), np.array([[0.2, -100.0]]))
    return not finite(value)


def fixture_truth() -> dict[tuple[str, str, str], Callable[[ModuleType], bool]]:
    from tests.gradcheck.test_reproduced import REPRODUCTIONS

    truth = dict(REPRODUCTIONS)
    truth.update({
        ("flow.py", "python_branch", "LL105"): python_branch_in_a_custom_loop,
        ("numerics.py", "guarded_sqrt", "LL206"): guarded_sqrt_perfect_fit,
        ("objects.py", "smooth_factory.<locals>.dice", "LL202"): smoothed_dice_empty,
        ("program_shapes.py", "ranknet", "LL904"):
            lambda m: ranknet_differs(m.ranknet, np.arange(8, dtype="float32").reshape(8, 1) % 3),
        ("program_shapes.py", "gaussian_nll", "LL902"): nll_dead_gradient,
        ("program_shapes.py", "gaussian_nll", "LL204"): nll_overflow,
        ("program_shapes.py", "batch_hard_triplet", "LL904"): triplet_pairs_on_purpose,
        # No program feeds it: right for (B,) labels, a broadcast for (B, 1) ones; nothing shows which.
        ("program_shapes.py", "SqueezeUnknown.call", "LL904"): lambda m: False,
    })
    return truth


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--fixtures", action="store_true",
                        help="measure tests/gradcheck/data (the check's own fixtures) instead")
    args = parser.parse_args()
    sys.path.append(str(HERE.parent))  # the fixtures' reproductions live in the test suite (after PYTHONPATH)
    truth = TRUTH
    paths = sorted(args.data.glob("*.py"))
    if args.fixtures:  # faults.py (crashing, forking, looping losses) is about containment, not verdicts
        from tests.gradcheck.test_reproduced import FILES

        args.data = FIXTURES
        truth = fixture_truth()
        paths = [FIXTURES / name for name in FILES]
    from loss_lsp.checker import analyze
    from loss_lsp.gradcheck import GradientChecker
    from loss_lsp.settings import Settings

    checker = GradientChecker(Settings())
    rows = []
    reported: set[tuple[str, str, str]] = set()
    try:
        for path in paths:
            source = path.read_text()
            analysis = analyze(source, str(path), Settings())
            result = checker.check(source, str(path), analysis)
            for finding in result.findings:
                key = (path.name, finding.loss or "", finding.code)
                if key in reported:
                    continue
                reported.add(key)
                if key in truth:
                    real: bool | None = bool(truth[key](load(path)))
                else:
                    real = None
                agrees = real is not None and (finding.verdict == "confirmed") == real
                rows.append((key, finding.verdict, real, agrees, finding.evidence))
    finally:
        checker.close()
    width = max(len(" ".join(key)) for key, *_ in rows) if rows else 10
    for key, verdict, real, agrees, evidence in rows:
        shown = {True: "real", False: "not real", None: "no truth check"}[real]
        print(f"{'agree' if agrees else 'DIFFER':6} {' '.join(key):{width}} {verdict:15} TF: {shown:14} {evidence[:90]}")
    missed = []  # real problems (by their truth check) that got no finding at all
    for key, check in truth.items():
        if key not in reported and (args.data / key[0]).is_file() and check(load(args.data / key[0])):
            missed.append(key)
    agree = sum(1 for row in rows if row[3])
    confirmed_wrong = sum(1 for _, verdict, real, _, _ in rows if verdict == "confirmed" and real is False)
    print(f"\nverdicts agreeing with TensorFlow: {agree} / {len(rows)}")
    print(f"confirmed on a problem TensorFlow shows cannot happen: {confirmed_wrong}")
    print(f"real problems with no finding: {len(missed)} {missed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
