"""What the server offers and what it learned about the client (no engine import here)."""

from __future__ import annotations

from dataclasses import dataclass

from lsprotocol import types

SOURCE = "loss-lsp"  # diagnostics' source and the pull-diagnostics identifier
FIX_ALL = "source.fixAll.loss-lsp"
QUICKFIX = types.CodeActionKind.QuickFix.value
CODE_ACTION_KINDS = [QUICKFIX, FIX_ALL]


@dataclass(frozen=True)
class ClientSupport:
    lazy_edits: bool = False  # codeAction/resolve may fill in "edit"
    document_changes: bool = False  # versioned TextDocumentEdit in WorkspaceEdit
