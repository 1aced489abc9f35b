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
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from loss_lsp.checker import analyze
from loss_lsp.gradcheck import GradientChecker
from loss_lsp.gradcheck.client import WorkerClient
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


def bare_import_seconds(interpreter: str, env: dict[str, str] | None = None) -> float:
    """`python -c "import tensorflow"`: as the user would type it (their environment), or with the
    worker's environment (which skips the CUDA probe and oneDNN setup)."""
    started = time.perf_counter()
    subprocess.run([interpreter, "-c", "import tensorflow"], check=True, capture_output=True, env=env)
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

    bare, bare_worker_env, cold, worker_import = [], [], [], []
    worker_env = WorkerClient(interpreter)._environment(tempfile.mkdtemp(prefix="gradcheck-bench-home-"))
    for round_ in range(args.repeat):
        path = folder / f"cold_{round_}.py"
        path.write_text(losses_source(1000 * (round_ + 1), count=1))

        def cold_check(path: Path = path) -> None:
            checker = GradientChecker(settings)
            try:
                cold.append(check_file(checker, path)[0])
                worker_import.append(checker.client.ready.get("import_seconds", float("nan")))
            finally:
                checker.close()

        def references() -> None:
            bare.append(bare_import_seconds(interpreter))
            bare_worker_env.append(bare_import_seconds(interpreter, worker_env))

        for step in ((references, cold_check) if round_ % 2 == 0 else (cold_check, references)):
            step()  # alternate the order, so the page cache favours neither

    checker = GradientChecker(settings)
    cpu: list[float] = []
    request = checker.client.request

    def measured(message, timeout, cancelled=None):  # the worker's CPU time per loss, from its reply
        answer = request(message, timeout, cancelled)
        if answer.message and "cpu_seconds" in answer.message:
            cpu.append(answer.message["cpu_seconds"])
        return answer

    checker.client.request = measured  # type: ignore[method-assign]
    try:
        warm_up = folder / "warm_up.py"
        warm_up.write_text(losses_source(50_000, count=3))
        check_file(checker, warm_up)
        per_loss: list[float] = []
        del cpu[:]
        for round_ in range(2):
            path = folder / f"warm_{round_}.py"
            path.write_text(losses_source(10_000 + 100 * round_))
            per_loss += check_file(checker, path)[1]
        warm_cpu = list(cpu)
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
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"TensorFlow {versions.get('tensorflow')}, Keras {versions.get('keras')}, Python {versions.get('python')}; "
          f"{args.repeat} cold rounds; {os.cpu_count()} CPUs, load average {load:.1f} at the end")
    print(f"{'measure':<46}{'value':>10}{'reference':>12}{'target':>12}")
    print(f"{'cold first check (worker + TF import + probes)':<46}{cold_median:>9.2f}s"
          f"{bare_median:>11.2f}s{'<= +1.50s':>12}   delta {cold_median - bare_median:+.2f}s")
    print(f"{'  same import, worker environment':<46}{'':>10}{statistics.median(bare_worker_env):>11.2f}s"
          f"{'':>12}   delta {cold_median - statistics.median(bare_worker_env):+.2f}s")
    print(f"{'  of which `import tensorflow` in the worker':<46}{statistics.median(worker_import):>9.2f}s")
    print(f"{'warm time per loss (median of ' + str(len(per_loss)) + ')':<46}{warm_median * 1000:>8.0f}ms"
          f"{'':>12}{'<= 150ms':>12}   p90 {sorted(per_loss)[int(0.9 * len(per_loss))] * 1000:.0f}ms")
    print(f"{'worker CPU time per loss (median, all threads)':<46}{statistics.median(warm_cpu) * 1000:>8.0f}ms")
    print(f"{f'{counted}-loss workspace, warm (analysis included)':<46}{workspace_seconds:>9.2f}s{'':>12}{'< 8s':>12}")
    print(f"{'the same workspace again (cached)':<46}{cached_seconds:>9.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
