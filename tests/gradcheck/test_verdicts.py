"""Every static finding gets a verdict from a real TensorFlow run: buggy losses are confirmed
(with evidence naming what the probe saw), correct ones are not, and what no static rule
flagged is published as LL901-LL905 at the loss definition."""

from __future__ import annotations

import pytest

from tests.gradcheck.conftest import DATA, Checked, markers, run_check

FILES = ["flow.py", "numerics.py", "shapes.py", "objects.py"]


@pytest.fixture(scope="module")
def checked(checker) -> dict[str, Checked]:
    return {name: run_check(checker, DATA / name) for name in FILES}


def cases() -> list[tuple[str, int, str, frozenset[str]]]:
    out = []
    for name in FILES:
        for line, kind, codes in markers((DATA / name).read_text()):
            out.append((name, line, kind, frozenset(codes)))
    return out


@pytest.mark.parametrize(("name", "line", "kind", "codes"), cases(),
                         ids=[f"{c[0]}:{c[1] + 1}:{c[2]}" for c in cases()])
def test_marked_losses(checked: dict[str, Checked], name: str, line: int, kind: str, codes: frozenset[str]) -> None:
    run = checked[name]
    loss = run.loss_at(line)
    findings = run.findings_of(loss)
    report = run.report(loss)
    if kind == "confirms":
        for code in codes:
            static = [f for f in findings if f.code == code]
            assert static, f"the static rule {code} did not fire on {loss}"
            for finding in static:
                assert finding.verdict == "confirmed", (finding.code, finding.verdict, finding.evidence)
                assert finding.evidence and finding.probe
        # a confirmed static finding is not published again as LL90x
        assert not [f for f in findings if f.code.startswith("LL9")], [(f.code, f.evidence) for f in findings]
    elif kind == "refutes":
        assert report.status == "checked", report
        for code in codes:
            static = [f for f in findings if f.code == code]
            assert static, f"the static rule {code} did not fire on {loss}"
            for finding in static:
                assert finding.verdict == "not_reproduced", (finding.code, finding.verdict, finding.evidence)
                assert finding.evidence and finding.probe
        assert not [f for f in findings if f.verdict == "confirmed"], [(f.code, f.evidence) for f in findings]
    elif kind == "finds":
        assert report.status == "checked", report
        for code in codes:
            found = [f for f in findings if f.code == code]
            assert len(found) == 1, [(f.code, f.evidence) for f in findings]
            finding = found[0]
            loss_info = next(i for i in run.analysis.losses if i.name == loss)
            assert finding.span == loss_info.span  # at the loss definition
            assert finding.verdict == "confirmed" and finding.evidence and finding.probe
            assert finding.evidence in finding.message
    else:
        assert report.status == "checked", report
        assert not [f for f in findings if f.verdict == "confirmed"], [(f.code, f.evidence) for f in findings]


def test_evidence_names_what_the_probe_saw(checked: dict[str, Checked]) -> None:
    flow, numerics, shapes = checked["flow.py"], checked["numerics.py"], checked["shapes.py"]
    [rounded] = [f for f in flow.findings_of("rounded") if f.code == "LL103"]
    assert rounded.probe == "gradient" and "gradient is None" in rounded.evidence
    [signed] = [f for f in flow.findings_of("signed") if f.code == "LL103"]
    assert signed.probe == "zero-gradient" and "100%" in signed.evidence
    [branch] = [f for f in flow.findings_of("python_branch") if f.code == "LL105"]
    assert branch.probe == "graph" and "OperatorNotAllowedInGraphError" in branch.evidence
    # the NaN evidence names the op that first produced it and the user's line
    [dice] = [f for f in numerics.findings_of("dice") if f.code == "LL202"]
    assert "NaN" in dice.evidence and "RealDiv" in dice.evidence and f"line {dice.span.start_line + 1}" in dice.evidence
    [rmse] = numerics.findings_of("rmse")
    assert "gradient of Sqrt" in rmse.evidence and "loss is finite" in rmse.evidence
    [lgamma] = numerics.findings_of("log_gamma")
    assert "Lgamma" in lgamma.evidence and lgamma.related and lgamma.related[0].span.start_line == 36
    [plain] = shapes.findings_of("PlainMSE.call")
    assert "(8, 8)" in plain.evidence and "y_true (8,)" in plain.evidence


def test_call_path_decides_the_broadcast(checked: dict[str, Checked]) -> None:
    """The same arithmetic is right through compile's wrapper and wrong as a Loss subclass."""
    shapes = checked["shapes.py"]
    assert not shapes.findings_of("plain_in_compile")  # compile expands y_true to (B, 1) first
    [squeezed] = shapes.findings_of("squeezed_in_compile")  # the squeeze "fix" creates the bug there
    assert squeezed.verdict == "confirmed" and "(8, 8)" in squeezed.evidence
    assert not shapes.findings_of("SqueezedMSE.call")


def test_integer_labels_only_break_the_direct_path(checked: dict[str, Checked]) -> None:
    shapes = checked["shapes.py"]
    [direct] = shapes.findings_of("int_labels_direct")
    assert direct.verdict == "confirmed" and "int64" in direct.evidence  # NumPy's randint dtype
    assert shapes.report("int_labels_cast").status == "checked"
    assert not shapes.findings_of("int_labels_cast")


def test_every_finding_of_a_checked_loss_has_a_verdict(checked: dict[str, Checked]) -> None:
    for run in checked.values():
        checked_losses = {r.name for r in run.result.losses}
        static = [f for f in run.analysis.findings if f.loss in checked_losses or f.loss + ".call" in checked_losses]
        assert len([f for f in run.result.findings if not f.code.startswith("LL9")]) >= len(static)
        for finding in run.result.findings:
            assert finding.verdict in ("confirmed", "not_reproduced", "not_run")
            assert "\n" not in finding.evidence
