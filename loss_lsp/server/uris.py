"""URIs <-> filesystem paths, one spelling for both directions."""

from __future__ import annotations

import os

from pygls import uris


def uri_to_path(uri: str) -> str | None:
    """The normalised filesystem path of a ``file:`` URI (None for other schemes)."""
    if not uri.startswith("file:"):
        return None
    path = uris.to_fs_path(uri)
    return os.path.normpath(path) if path else None


def path_to_uri(path: str) -> str:
    if "://" in path or path.startswith("untitled:"):
        return path
    return uris.from_fs_path(os.path.abspath(path)) or path
