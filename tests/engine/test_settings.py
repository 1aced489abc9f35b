"""Settings: one typed object; bad values never raise, they warn and keep the default."""

from __future__ import annotations

from pathlib import Path

from loss_lsp.checker import analyze
from loss_lsp.settings import Settings, find_root, from_pyproject, merge

SOURCE = ("import tensorflow as tf\n\n\ndef bce(y_true, y_pred):\n"
          "    return -tf.reduce_mean(y_true * tf.math.log(y_pred) / tf.reduce_sum(y_pred))\n")


def test_editor_spellings_and_bad_values() -> None:
    settings, warnings = merge(Settings(), {
        "select": ["LL2"], "severity": {"LL201": "error"}, "gradientCheck": {"timeout": 5},
        "defaultShapes": {"y_true": [8], "y_pred": [8, 1]}, "checkGradientsOnSave": "yes", "bogus": 1,
    })
    assert settings.select == ("LL2",) and settings.severity == {"LL201": "error"}
    assert settings.gradient_timeout == 5.0 and settings.default_shapes["y_pred"] == (8, 1)
    assert settings.check_gradients_on_save is False
    assert any("checkGradientsOnSave" in w for w in warnings) and any("bogus" in w for w in warnings)


def test_select_ignore_and_severity_change_the_findings() -> None:
    codes = {f.code for f in analyze(SOURCE, "x.py").findings}
    assert codes == {"LL201", "LL202"}
    only_log = analyze(SOURCE, "x.py", Settings(select=("LL201",))).findings
    assert {f.code for f in only_log} == {"LL201"}
    assert analyze(SOURCE, "x.py", Settings(ignore=("LL2",))).findings == []
    [log] = [f for f in analyze(SOURCE, "x.py", Settings(severity={"LL201": "hint"})).findings if f.code == "LL201"]
    assert log.severity == "hint"


def test_pyproject_section_and_root(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.loss-lsp]\nepsilon = "SMALL"\ngradient-check = {memory-mb = 512}\n')
    (tmp_path / "src").mkdir()
    assert find_root(tmp_path / "src") == tmp_path.resolve()
    settings, warnings = from_pyproject(tmp_path)
    assert settings.epsilon == "SMALL" and settings.gradient_memory_mb == 512 and warnings == []
    (tmp_path / "pyproject.toml").write_text("[tool.loss-lsp\n")
    settings, warnings = from_pyproject(tmp_path)
    assert settings == Settings() and "cannot read" in warnings[0]


def test_trust_can_be_withdrawn_but_never_granted_back() -> None:
    untrusted, _ = merge(Settings(), {"trusted": False})  # the editor says: untrusted workspace
    again, _ = merge(untrusted, {"trusted": True})  # a workspace's own settings claiming trust
    assert untrusted.trusted is False and again.trusted is False
