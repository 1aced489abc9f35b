"""The rule pages are generated from the rule metadata and shipped up to date."""

from __future__ import annotations

import pytest

from loss_lsp.cli import main
from loss_lsp.rules import RULES
from loss_lsp.rules.docs import render


def test_committed_rule_pages_match_the_metadata() -> None:
    assert main(["docs", "--check"]) == 0, "run `loss-lsp docs` and commit the pages"


@pytest.mark.parametrize("code", list(RULES))
def test_each_rule_page_explains_and_shows_the_fix(code: str) -> None:
    rule = RULES[code]
    page = render(rule)
    assert page.startswith(f"# {code} {rule.name}")
    assert rule.why in page and rule.fixed.strip() in page and rule.doc_path.is_file()
    assert rule.url.startswith("file://") and rule.url.endswith(f"/{code}.md")


def test_rule_command_prints_the_page(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rule", "ll203"]) == 0
    assert "# LL203 unguarded-sqrt" in capsys.readouterr().out
    assert main(["rule", "LL999"]) == 2
