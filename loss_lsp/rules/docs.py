"""Rule pages generated from the rule metadata (one Markdown file per rule)."""

from __future__ import annotations

import sys

from loss_lsp.rules import RULES
from loss_lsp.rules.rule import DOCS_DIR, Rule

_SEVERITY = {"error": "Error", "warning": "Warning", "info": "Information", "hint": "Hint"}


def render(rule: Rule) -> str:
    found_by = ("the gradient check (`loss-lsp check --gradients`, `loss-lsp.checkGradients`)"
                if rule.scope == "gradient-check" else "static analysis")
    return "\n".join([
        f"# {rule.code} {rule.name}",
        "",
        f"**{rule.summary}**",
        "",
        f"Default severity: {_SEVERITY[rule.severity]}. Found by {found_by}.",
        "",
        "## Why it breaks training",
        "",
        rule.why,
        "",
        "## Example",
        "",
        "```python",
        rule.example.rstrip(),
        "```",
        "",
        "## Fix",
        "",
        rule.fix_title + ".",
        "",
        "```python",
        rule.fixed.rstrip(),
        "```",
        "",
        "## Silence it",
        "",
        f"Add `# loss-lsp: ignore[{rule.code}]` to the line, or list `{rule.code}` in `ignore` under "
        "`[tool.loss-lsp]` in pyproject.toml.",
        "",
    ])


def write_docs(check_only: bool = False) -> int:
    """Write (or with ``check_only`` compare) every rule page and the index."""
    pages = {rule.doc_path: render(rule) for rule in RULES.values()}
    index = ["# loss-lsp rules", "", "| code | name | severity | what it flags |", "|---|---|---|---|"]
    for rule in RULES.values():
        index.append(f"| [{rule.code}]({rule.code}.md) | {rule.name} | {rule.severity} | {rule.summary} |")
    pages[DOCS_DIR / "README.md"] = "\n".join(index) + "\n"
    stale = [path for path, text in pages.items()
             if not path.is_file() or path.read_text(encoding="utf-8") != text]
    if check_only:
        for path in stale:
            print(f"out of date: {path}", file=sys.stderr)
        return 1 if stale else 0
    DOCS_DIR.mkdir(parents=True, exist_ok=True)
    for path in stale:
        path.write_text(pages[path], encoding="utf-8")
    print(f"wrote {len(stale)} of {len(pages)} pages to {DOCS_DIR}")
    return 0
