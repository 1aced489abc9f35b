"""Gradient-check speed, measured side by side with a reference in the same run.

    python benchmarks/gradcheck_speed.py [--repeat 3]

Prints:
  - cold: the first check of one loss with a fresh checker (worker start and TensorFlow import
    included) beside a bare `python -c "import tensorflow"`; target: at most 1.5 s more;
  - warm: time per loss once the worker runs (median over distinct losses, each checked once,
    so nothing comes from the cache); target: median at most 150 ms;
  - a 50-loss workspace (5 files x 10 losses) checked warm, analysis included; target: under 8 s;
  - the same workspace again (all cached).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from loss_lsp.engine import analyze
from loss_lsp.gradcheck import GradientChecker
from loss_lsp.settings import Settings

BODIES = [
    "tf.reduce_mean(tf.square(y_true - y_pred)) * {k}",
    "-tf.reduce_mean(y_true * tf.math.log(tf.clip_by_value(y_pred, 1e-7, 1.0)) * {k})",
    "tf.reduce_mean(tf.abs(y_true - y_pred)) + {k} * tf.reduce_mean(tf.square(y_pred))",
    "1.0 - (2.0 * tf.reduce_sum(y_true * y_pred) + {k}) / (tf.reduce_sum(y_true + y_pred) + {k})",
    "tf.reduce_mean(tf.maximum(0.0, 1.0 - y_true * y_pred * {k}))",
    "tf.reduce_mean(tf.math.log(tf.cosh(y_pred - y_true)) * {k})",
    "-tf.reduce_mean(y_true * tf.math.log(y_pred) * {k})",  # unguarded log: NaN located
    "tf.reduce_mean(tf.sqrt(tf.square(y_true - y_pred) + 1e-7)) * {k}",
    "tf.reduce_mean(tf.where(y_pred > 0.5, tf.square(y_true - y_pred), 0.5 * tf.square(y_true - y_pred))) * {k}",
    "tf.reduce_mean(tf.square(y_true - tf.round(y_pred))) * {k}",  # no gradient
]


def losses_source(offset: int, count: int = 10) -> str:
    lines = ["import tensorflow as tf", ""]
    for i in range(count):
        k = offset + i + 1
        lines += ["", f"def loss_{k}(y_true, y_pred):", f"    return {BODIES[i % len(BODIES)].format(k=float(k))}", ""]
    return "\n".join(lines)


def bare_import_seconds(interpreter: str) -> float:
    started = time.perf_counter()
    subprocess.run([interpreter, "-c", "import tensorflow"], check=True, capture_output=True,
                   env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"})
    return time.perf_counter() - started


def check_file(checker: GradientChecker, path: Path) -> tuple[float, list[float]]:
    source = path.read_text()
    started = time.perf_counter()
    analysis = analyze(source, str(path))
    result = checker.check(source, str(path), analysis)
    elapsed = time.perf_counter() - started
    bad = [r for r in result.losses if r.status == "not_run"]
    if bad:
        raise SystemExit(f"benchmark losses did not run: {bad}")
    return elapsed, [r.seconds for r in result.losses if r.status == "checked"]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="gradcheck-bench-"))
    (folder / "pyproject.toml").write_text("")
    settings = Settings()
    interpreter = settings.interpreter or sys.executable

    bare, cold = [], []
    for round_ in range(args.repeat):
        bare.append(bare_import_seconds(interpreter))
        path = folder / f"cold_{round_}.py"
        path.write_text(losses_source(1000 * (round_ + 1), count=1))
        checker = GradientChecker(settings)
        try:
            cold.append(check_file(checker, path)[0])
        finally:
            checker.close()

    checker = GradientChecker(settings)
    try:
        warm_up = folder / "warm_up.py"
        warm_up.write_text(losses_source(50_000, count=3))
        check_file(checker, warm_up)
        per_loss: list[float] = []
        for round_ in range(2):
            path = folder / f"warm_{round_}.py"
            path.write_text(losses_source(10_000 + 100 * round_))
            per_loss += check_file(checker, path)[1]
        workspace = []
        for index in range(5):
            path = folder / f"workspace_{index}.py"
            path.write_text(losses_source(20_000 + 100 * index))
            workspace.append(path)
        started = time.perf_counter()
        counted = sum(len(check_file(checker, path)[1]) for path in workspace)
        workspace_seconds = time.perf_counter() - started
        started = time.perf_counter()
        for path in workspace:
            check_file(checker, path)
        cached_seconds = time.perf_counter() - started
        versions = checker.client.versions
    finally:
        checker.close()

    bare_median, cold_median = statistics.median(bare), statistics.median(cold)
    warm_median = statistics.median(per_loss)
    print(f"TensorFlow {versions.get('tensorflow')}, Keras {versions.get('keras')}, Python {versions.get('python')}; "
          f"{args.repeat} cold rounds")
    print(f"{'measure':<46}{'value':>10}{'reference':>12}{'target':>12}")
    print(f"{'cold first check (worker + TF import + probes)':<46}{cold_median:>9.2f}s"
          f"{bare_median:>11.2f}s{'<= +1.50s':>12}   delta {cold_median - bare_median:+.2f}s")
    print(f"{'warm time per loss (median of ' + str(len(per_loss)) + ')':<46}{warm_median * 1000:>8.0f}ms"
          f"{'':>12}{'<= 150ms':>12}   p90 {sorted(per_loss)[int(0.9 * len(per_loss))] * 1000:.0f}ms")
    print(f"{f'{counted}-loss workspace, warm (analysis included)':<46}{workspace_seconds:>9.2f}s{'':>12}{'< 8s':>12}")
    print(f"{'the same workspace again (cached)':<46}{cached_seconds:>9.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
