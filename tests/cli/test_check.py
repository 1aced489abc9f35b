"""``loss-lsp check`` as a user runs it: output formats, exit codes, fixes, bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from loss_lsp.cli import main
from tests.expectations import FIXTURES, expected

ROOT = FIXTURES.parent
SNAPSHOTS = Path(__file__).parent / "snapshots"

BROKEN = """import tensorflow as tf


def bce(y_true, y_pred):
    return -tf.reduce_mean(y_true * tf.math.log(y_pred))
"""
CLEAN = """import tensorflow as tf


def mse(y_true, y_pred):
    return tf.reduce_mean(tf.square(y_true - y_pred))
"""


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_text_output_matches_snapshot(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    code, out, _ = run(["check", "fixtures/"], capsys)
    assert code == 1
    snapshot = SNAPSHOTS / "check_fixtures.txt"
    if os.environ.get("UPDATE_SNAPSHOTS"):
        snapshot.write_text(out, encoding="utf-8")
    assert out == snapshot.read_text(encoding="utf-8"), "run with UPDATE_SNAPSHOTS=1 to accept a new snapshot"


def test_every_expected_finding_is_printed_at_its_line(capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    _, out, _ = run(["check", "fixtures/rules/"], capsys)
    printed = {(line.split(":")[0], int(line.split(":")[1]), line.split(": ")[1].split()[0])
               for line in out.splitlines() if line.startswith("fixtures/")}
    for path in sorted((FIXTURES / "rules").glob("*.py")):
        rel = str(path.relative_to(ROOT))
        for line, code in expected(path.read_text(encoding="utf-8")):
            assert (rel, line, code) in printed


def test_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clean, broken = tmp_path / "clean.py", tmp_path / "broken.py"
    clean.write_text(CLEAN)
    broken.write_text(BROKEN)
    assert run(["check", str(clean)], capsys)[0] == 0
    assert run(["check", str(broken)], capsys)[0] == 1
    code, _, err = run(["check", str(tmp_path / "missing.py")], capsys)
    assert code == 2 and "no such file" in err
    assert run(["check", "--format", "xml", str(clean)], capsys)[0] == 2


def test_json_has_the_documented_fields_one_based(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.py"
    path.write_text(BROKEN)
    code, out, _ = run(["check", "--format", "json", str(path)], capsys)
    assert code == 1
    [item] = json.loads(out)
    assert item["code"] == "LL201" and item["name"] == "unguarded-log" and item["severity"] == "warning"
    assert item["filename"] == str(path)
    # `tf.math.log(y_pred)` starts on line 5, column 37 (1-based), as an editor shows it
    assert item["location"] == {"row": 5, "column": 37}
    line = BROKEN.splitlines()[4]
    assert line[36:].startswith("tf.math.log(y_pred)")
    assert item["end_location"] == {"row": 5, "column": 37 + len("tf.math.log(y_pred)")}
    assert item["fix"]["applicability"] == "safe"
    assert "clip_by_value(y_pred" in item["fix"]["edits"][0]["content"]
    assert item["url"].startswith("file://") and Path(item["url"][7:]).is_file()


def test_sarif_is_a_2_1_0_log_with_rules_and_results(capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    _, out, _ = run(["check", "--format", "sarif", "fixtures/rules/LL201_unguarded_log.py"], capsys)
    log = json.loads(out)
    assert log["version"] == "2.1.0"
    run_ = log["runs"][0]
    rule_ids = [r["id"] for r in run_["tool"]["driver"]["rules"]]
    assert "LL201" in rule_ids
    results = run_["results"]
    assert len(results) == 4 and {r["ruleId"] for r in results} == {"LL201"}
    region = results[0]["locations"][0]["physicalLocation"]["region"]
    assert region["startLine"] == 11 and results[0]["level"] == "warning"
    assert rule_ids[results[0]["ruleIndex"]] == "LL201"


def test_fix_applies_safe_fixes_and_keeps_the_file_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.py"
    path.write_text(BROKEN.replace("\n", "\r\n"))
    code, out, _ = run(["check", "--fix", str(path)], capsys)
    assert code == 0, out
    fixed = path.read_bytes().decode()
    assert "tf.clip_by_value(y_pred, 1e-7, 1.0 - 1e-7)" in fixed
    assert "\r\n" in fixed and "\n" not in fixed.replace("\r\n", "")  # line endings kept
    assert run(["check", str(path)], capsys)[0] == 0


def test_unsafe_fixes_only_when_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "step.py"
    path.write_text("import tensorflow as tf\n\n\ndef f(y_true, y_pred):\n"
                    "    return tf.reduce_mean(tf.cast(y_pred > 0.5, tf.float32) - y_true)\n")
    assert run(["check", "--fix", str(path)], capsys)[0] == 1
    assert "y_pred > 0.5" in path.read_text()
    assert run(["check", "--fix", "--unsafe-fixes", str(path)], capsys)[0] == 0
    assert "tf.sigmoid((y_pred - 0.5) * 50.0)" in path.read_text()


def test_statistics_counts_per_rule(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    _, out, _ = run(["check", "--statistics", "fixtures/rules/LL201_unguarded_log.py"], capsys)
    assert "    4  LL201  [*] unguarded-log" in out.splitlines()


def test_bad_inputs_get_one_clear_line_and_the_rest_is_checked(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "binary.py").write_bytes(b"\x7fELF\x00\x00\x01")
    (tmp_path / "latin1.py").write_bytes("x = 'caf\xe9'\n".encode("latin-1"))
    (tmp_path / "empty.py").write_text("")
    (tmp_path / "huge.py").write_text("x = 1\n" * 1_800_000)
    (tmp_path / "nested.py").write_text("x = " + "(" * 1000 + "1" + ")" * 1000 + "\n")
    (tmp_path / "typing.py").write_text(BROKEN + "\n\ndef half_typed(y_true, y_pred:\n    return\n")
    code, out, err = run(["check", str(tmp_path)], capsys)
    assert code == 2
    lines = err.splitlines()
    assert any("binary.py: error: binary file" in line for line in lines)
    assert any("latin1.py: error: not UTF-8" in line for line in lines)
    assert any("huge.py: error: file too large" in line for line in lines)
    assert any("nested.py" in line and "error:" in line for line in lines)
    assert any("typing.py:8:" in line and "syntax error" in line for line in lines)
    assert not any("empty.py" in line for line in lines)
    assert "typing.py:5:" in out  # the intact function of the half-typed file is still checked


def test_cross_file_from_another_folder(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(FIXTURES / "crossfile", project / "pkg")
    (project / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    result = subprocess.run([sys.executable, "-m", "loss_lsp", "check", str(project / "pkg" / "train.py")],
                            capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stdout.splitlines() if ": LL" in line]
    assert [line.split(": ")[1].split()[0] for line in lines] == ["LL203", "LL201"]
    assert all("pkg/losses.py:" in line for line in lines)


def test_settings_from_pyproject(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.loss-lsp]\nseverity = { LL201 = "error" }\nepsilon = "1e-6"\nunknown-key = 1\n')
    path = tmp_path / "broken.py"
    path.write_text(BROKEN)
    code, out, err = run(["check", "--format", "json", str(path)], capsys)
    [item] = json.loads(out)
    assert item["severity"] == "error"
    assert "1e-6" in item["fix"]["edits"][0]["content"]
    assert "unknown setting 'unknown-key'" in err
    (tmp_path / "pyproject.toml").write_text('[tool.loss-lsp]\nignore = ["LL2"]\n')
    assert run(["check", str(path)], capsys)[0] == 0


def test_suppression_comment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "quiet.py"
    path.write_text(BROKEN.replace("(y_pred))", "(y_pred))  # loss-lsp: ignore[LL201]"))
    assert run(["check", str(path)], capsys)[0] == 0
    path.write_text(BROKEN.replace("(y_pred))", "(y_pred))  # loss-lsp: ignore[LL999]"))
    assert run(["check", str(path)], capsys)[0] == 1


def test_gradients_give_every_finding_a_verdict_in_json(tmp_path: Path) -> None:
    path = tmp_path / "losses.py"
    path.write_text(BROKEN + "\n\ndef rmse(y_true, y_pred):\n"
                    "    return tf.sqrt(tf.reduce_mean(tf.square(y_true - y_pred)) + 1e-9)\n"
                    "\n\ndef step(y_true, y_pred):\n"
                    "    return tf.reduce_mean(tf.round(y_pred) - y_true)\n")
    result = subprocess.run([sys.executable, "-m", "loss_lsp", "check", "--gradients", "--format", "json", str(path)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr
    items = {item["code"]: item for item in json.loads(result.stdout)}
    assert set(items) == {"LL201", "LL103"}
    assert items["LL201"]["verdict"] == "confirmed" and "y_pred=0" in items["LL201"]["evidence"]
    assert items["LL103"]["verdict"] == "confirmed" and "None" in items["LL103"]["evidence"]
    assert all(item["evidence"] and "\n" not in item["evidence"] for item in items.values())
