"""The gradient check over the rule fixtures (fixtures/rules/LLxxx_*.py): every `# expect: LLxxx`
finding a runtime probe can check is confirmed by a real TensorFlow run, and the losses the
fixtures mark as correct are neither confirmed nor reported as LL901-LL905.

Where TensorFlow disagrees with a fixture, or a case cannot be run from the file alone, the
case is listed below with the reason (strict xfail: it fails loudly once it starts passing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from loss_lsp.gradcheck import GradientChecker
from loss_lsp.gradcheck.registry import RULES
from loss_lsp.gradcheck.verdicts import GRADIENT_CODES
from loss_lsp.settings import Settings
from tests.expectations import FIXTURES, expected
from tests.gradcheck.conftest import Checked, run_check

RULE_FIXTURES = sorted((FIXTURES / "rules").glob("LL*.py")) if (FIXTURES / "rules").is_dir() else []
# Rules no runtime probe can decide: their findings must come back `not_run`, with a reason.
NO_PROBE = {code for code, rule in RULES.items() if rule.decide == "none"}
KNOWN = {
    ("LL105_python_branch_on_tensor.py", 8, "LL105"):
        "no compile() uses it: a custom loop runs it eagerly or under autograph, where the branch works; "
        "only fit's tf.function (autograph off) fails",
    ("LL105_python_branch_on_tensor.py", 15, "LL105"):
        "shapes not known: at batch 1 the comparison is one boolean and the loss runs, so the check does not "
        "confirm it at every shape it tries",
    ("LL206_nan_gradient_guard.py", 13, "LL206"):
        "TensorFlow 2.21 gives a zero (not NaN) gradient for tf.where(sq > 0, tf.sqrt(sq), 0) at sq == 0",
    ("LL308_logits_wiring.py", 36, "LL308"):
        "Keras 3 takes the logits back from keras.activations.softmax (`_keras_logits`) and only warns: the loss "
        "keeps growing, so the run finds the double softmax harmless (not_reproduced)",
    ("LL308_logits_wiring.py", 74, "LL308"):
        "Keras 3 takes the logits back from keras.activations.softmax: not_reproduced, as for line 36",
    ("LL308_logits_wiring.py", 55, "LL308"):
        "class_ids' shape is not known: the assumed one-hot (8, 3) y_true makes the sparse loss raise, so not_run",
    ("LL308_logits_wiring.py", 89, "LL308"):
        "class_ids' shape is not known: the assumed one-hot (8, 3) y_true makes the sparse loss raise, so not_run",
    ("LL308_logits_wiring.py", 67, "LL308"):
        "an @tf.function step: in a graph Keras takes the logits back from the Sigmoid op (no saturation), eagerly "
        "it saturates; the check says not_run rather than guess how the step runs",
    ("LL308_logits_wiring.py", 107, "LL308"):
        "train_step runs in fit's tf.function, where Keras takes the logits back from the Softmax op; eagerly it "
        "saturates: not_run",
    ("LL308_logits_wiring.py", 116, "LL308"):
        "y_pred's shape is assumed (8, 1): the sparse loss rejects class id 1, so not_run",
    ("LL308_logits_wiring.py", 123, "LL308"): "the model returns several outputs: the check lifts a loss of one",
    ("LL308_logits_wiring.py", 124, "LL308"): "the model returns several outputs: the check lifts a loss of one",
    ("LL401_variable_in_loss.py", 20, "LL401"):
        "keras.losses.Loss has no add_weight: building the loss fails before any probe runs",
    ("LL401_variable_in_loss.py", 32, "LL401"): "a factory's closure with no call site cannot be built",
    ("LL402_bad_return.py", 31, "LL402"): "the None-returning branch needs a `mode` no call site passes",
    ("LL402_bad_return.py", 40, "LL402"): "the 0.0 fallback needs `enabled=False`, which no call site passes",
    ("LL402_bad_return.py", 45, "LL402"):
        "the returned dict makes the loss raise (ValueError: Attempt to convert a value ({'loss': ...})), "
        "which the check reports as not_run instead of confirming",
    ("LL405_symbolic_tensor_in_loss.py", 48, "LL405"): "a factory's closure with no call site cannot be built",
    ("LL405_symbolic_tensor_in_loss.py", 54, "LL405"): "needs a `probe` layer no call site in the file provides",
    ("LL406_removed_keras_api.py", 28, "LL406"): "a module-level Keras loss, not a loss the check runs",
    ("LL406_removed_keras_api.py", 29, "LL406"): "a module-level Keras loss, not a loss the check runs",
    ("LL406_removed_keras_api.py", 55, "LL406"): "a module-level Keras loss, not a loss the check runs",
    ("LL409_missing_get_config.py", 20, "LL409"): "the class needs `class_weights` to be built",
}
# Losses the fixtures call correct where the run finds a real problem anyway.
KNOWN_QUIET = {
    ("LL402_bad_return.py", "parts_by_name"):
        "called directly, the check differentiates the whole dict (no gradient); its caller indexes one entry",
}


@pytest.fixture(scope="module")
def checker():
    instance = GradientChecker(Settings())
    yield instance
    instance.close()


@pytest.fixture(scope="module")
def checked(checker: GradientChecker):
    cache: dict[Path, Checked] = {}

    def get(path: Path) -> Checked:
        if path not in cache:
            cache[path] = run_check(checker, path)
        return cache[path]
    return get


def expectation_cases() -> list:
    cases = []
    for path in RULE_FIXTURES:
        for line, code in sorted(expected(path.read_text())):
            reason = KNOWN.get((path.name, line, code))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            cases.append(pytest.param(path, line, code, marks=marks, id=f"{path.stem}:{line}:{code}"))
    return cases


@pytest.mark.parametrize(("path", "line", "code"), expectation_cases())
def test_expected_finding_gets_its_verdict(checked, path: Path, line: int, code: str) -> None:
    run = checked(path)
    findings = [f for f in run.result.findings if f.span.start_line + 1 == line and f.code == code]
    static = sorted({f.code for f in run.analysis.findings})
    assert findings, f"no {code} finding on line {line} (static findings: {static})"
    for finding in findings:
        if code in NO_PROBE:
            assert finding.verdict == "not_run" and finding.evidence
        else:
            assert finding.verdict == "confirmed", (finding.verdict, finding.evidence)
            assert finding.evidence and finding.probe


def quiet_cases() -> list:
    cases = []
    for path in RULE_FIXTURES:
        if path.stem.split("_", 1)[0] in NO_PROBE:
            continue
        cases.append(pytest.param(path, id=path.stem))
    return cases


@pytest.mark.parametrize("path", quiet_cases())
def test_correct_losses_are_not_confirmed(checked, path: Path) -> None:
    run = checked(path)
    flagged = {f.loss for f in run.analysis.findings if f.loss}
    quiet = [loss.name for loss in run.analysis.losses
             if loss.name not in flagged and loss.name.split(".", 1)[0] not in flagged]
    problems = []
    for name in quiet:
        if (path.name, name) in KNOWN_QUIET:
            continue
        for finding in run.findings_of(name):
            if finding.verdict == "confirmed" or finding.code in GRADIENT_CODES:
                problems.append((name, finding.code, finding.evidence))
    assert not problems


def test_known_quiet_exceptions_still_hold(checked) -> None:
    """The listed disagreements are real: the run does find those problems."""
    for (name, loss), _reason in KNOWN_QUIET.items():
        path = FIXTURES / "rules" / name
        if not path.is_file():
            continue
        run = checked(path)
        assert [f for f in run.findings_of(loss) if f.code in GRADIENT_CODES]
