"""The checker on published loss code must keep the verdicts recorded in benchmarks/triage/real_code.toml.

The pinned packages are downloaded from PyPI (``pip download --no-deps``) into ~/.cache/loss-lsp/corpus
when missing. A finding triaged false must not come back, a finding triaged true must not disappear, a
miss marked ``found_by`` must stay found, and every finding needs a verdict.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from benchmarks.real_code import PINS, TRIAGE, Key, check_package, load_misses, load_triage


def _entry(key: Key) -> str:
    return (f'[[finding]]\npackage = "{key.package}"\npath = "{key.path}"\nline = {key.line}\n'
            f'code = "{key.code}"\nverdict = "true|false|debatable"\nreason = "..."')


@pytest.fixture(scope="module")
def corpus_findings() -> dict[Key, str]:
    found: dict[Key, str] = {}
    for pin in PINS:
        try:
            run = check_package(pin)
        except (subprocess.SubprocessError, OSError) as error:
            if os.environ.get("CI"):
                raise
            pytest.skip(f"cannot fetch {pin} from PyPI ({error}); the triage test needs the pinned wheels")
        for key, finding in run.findings:
            found.setdefault(key, finding.message)
    return found


def test_no_finding_triaged_false_comes_back(corpus_findings: dict[Key, str]) -> None:
    triage = load_triage()
    back = [f"{k.package} {k.path}:{k.line} {k.code}: {triage[k]['reason']}"
            for k in corpus_findings if triage.get(k, {}).get("verdict") == "false"]
    assert not back, "findings triaged false are reported again:\n" + "\n".join(back)


def test_no_finding_triaged_true_disappears(corpus_findings: dict[Key, str]) -> None:
    lost = [f"{k.package} {k.path}:{k.line} {k.code}: {e['reason']}"
            for k, e in load_triage().items() if e["verdict"] == "true" and k not in corpus_findings]
    assert not lost, "real problems are no longer reported:\n" + "\n".join(lost)


def test_misses_marked_found_stay_found(corpus_findings: dict[Key, str]) -> None:
    lost = []
    for miss in load_misses():
        if miss.get("found_by"):
            key = Key(miss["package"], miss["path"], int(miss["line"]), miss["found_by"])
            if key not in corpus_findings:
                lost.append(f"{key.package} {key.path}:{key.line} {key.code}: {miss['reason']}")
    assert not lost, "misses recorded as found are missed again:\n" + "\n".join(lost)


def test_every_finding_has_a_verdict(corpus_findings: dict[Key, str]) -> None:
    triage = load_triage()
    new = [f"{k.package} {k.path}:{k.line} {k.code} {message}\n{_entry(k)}"
           for k, message in corpus_findings.items() if k not in triage]
    assert not new, (f"{len(new)} finding(s) on the pinned corpus have no verdict: read each one and add it "
                     f"to {TRIAGE.relative_to(TRIAGE.parents[2])}:\n\n" + "\n\n".join(new))


def test_the_installed_keras_and_tf_keras_loss_sources_stay_quiet() -> None:
    from benchmarks.real_code import loss_files
    from loss_lsp.checker import analyze

    found = [f"{path.name}:{f.span.start_line + 1} {f.code} {f.message}"
             for path in loss_files() for f in analyze(path.read_text(encoding="utf-8"), str(path)).findings]
    assert not found, "findings on Keras's own loss code (see benchmarks/real_code_report.md):\n" + "\n".join(found)
