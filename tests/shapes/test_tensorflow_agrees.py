"""The shape fixtures run in TensorFlow: what each loss really receives agrees with the engine.

``tf_runner.py`` (written for this test, not by the checker) executes every program of
``fixtures/shapes`` eagerly and records the concrete shapes each loss is called with and whether the
call raised. For every loss:
- shapes the engine inferred are the ones TensorFlow passes (batch dimension aside, after Keras's
  alignment on the compile path);
- LL301 (outside the compile path, where the bug is made inside the loss) means TensorFlow received
  shapes that broadcast to a bigger tensor; LL307 means (B, 1) ids met (B, K) predictions without an
  error; LL306 and LL302 mean the call raised;
- a loss with known shapes and no shape finding ran without a shape error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

pytest.importorskip("tensorflow")

from loss_lsp.checker import analyze  # noqa: E402
from loss_lsp.engine.shapes import as_received  # noqa: E402
from tests.expectations import FIXTURES  # noqa: E402

RUNNER = Path(__file__).with_name("tf_runner.py")
PROGRAMS = sorted((FIXTURES / "shapes").glob("*.py"))
ROOT = Path(__file__).resolve().parent.parent.parent


@lru_cache(maxsize=1)
def _tensorflow_results() -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, str(RUNNER), *map(str, PROGRAMS)], capture_output=True, text=True,
                          env=env, cwd=str(ROOT), timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _batchless(shape: list[int] | tuple) -> tuple:
    return tuple(shape[1:])


@pytest.mark.parametrize("program", PROGRAMS, ids=[p.name for p in PROGRAMS])
def test_tensorflow_passes_the_inferred_shapes_and_agrees_with_the_shape_findings(program: Path) -> None:
    result = _tensorflow_results()[str(program)]
    if "skipped" in result:
        pytest.skip(result["skipped"])
    analysis = analyze(program.read_text(encoding="utf-8"), str(program))
    findings: dict[str, set[str]] = {}
    for finding in analysis.findings:
        findings.setdefault(finding.loss, set()).add(finding.code)
    checked = 0
    for info in analysis.losses:
        calls = result["calls"].get(info.name, [])
        raised = result["errors"].get(info.name, [])
        codes = findings.get(info.name, set())
        if not calls:
            continue
        if info.y_true_shape is not None and info.y_pred_shape is not None:
            t, p = as_received(info.y_true_shape, info.y_pred_shape, info.call_path)
            for true_shape, pred_shape, _ in calls:
                assert (_batchless(t), _batchless(p)) == (_batchless(true_shape), _batchless(pred_shape)), (
                    f"{info.name}: engine {t} {p}, TensorFlow {true_shape} {pred_shape}")
            checked += 1
        outcomes = {outcome for _, _, outcome in calls}
        if "LL301" in codes and info.call_path != "compile":
            assert "broadcast" in outcomes, f"{info.name}: LL301 but TensorFlow received {calls}"
        if "LL307" in codes:  # (B, 1) ids stretched over (B, K): silent, nothing raises
            assert outcomes == {"expand"} and not raised, f"{info.name}: LL307 but TensorFlow received {calls}"
        if codes & {"LL306", "LL302"}:
            assert any("InvalidArgumentError" in message for message in raised), (
                f"{info.name}: {sorted(codes)} but the call did not raise: {calls}")
        if not codes & {"LL301", "LL302", "LL306", "LL307"} and info.y_true_shape is not None and (
                info.y_pred_shape is not None):
            assert not raised, f"{info.name}: quiet, yet TensorFlow raised {raised}"
    assert checked or program.name == "unknown_sources.py"
