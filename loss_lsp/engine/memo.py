"""Results computed from a parsed tree, stored on the tree itself.

The parse cache (chunks.PARSE_CACHE, bounded by the size of the text it holds) decides how long a
tree lives; anything derived from the tree lives exactly as long, so no other cache can grow on
its own or keep an evicted tree alive.
"""

from __future__ import annotations

import ast
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")
_SLOT = "_loss_lsp_memo"


def on_node(node: ast.AST, key: object, compute: Callable[[], T]) -> T:
    """``compute()`` once per (node, key); later calls return the stored result."""
    store = node.__dict__.get(_SLOT)
    if store is None:
        store = node.__dict__[_SLOT] = {}
    if key not in store:
        store[key] = compute()
    return store[key]  # type: ignore[no-any-return]


def subtree(node: ast.AST) -> list[ast.AST]:
    """Every node under ``node`` in ``ast.walk`` order, listed once per tree: the passes that each walked a
    loss again (its size, its locals, its nested functions, its training calls) share this list."""
    return on_node(node, "subtree", lambda: list(ast.walk(node)))


K = TypeVar("K")
V = TypeVar("V")


class PinnedCache(Generic[K, V]):
    """A cache whose entries in use by the latest analysis of each file are kept (pinned), while
    everything else waits in a small least-recently-used spare pool.

    Memory is then set by the code currently open, not by how many edits were made.
    """

    def __init__(self, spare_size: int, max_files: int = 64, size_of: Callable[[K], int] = lambda _: 1) -> None:
        self._spare_limit = spare_size
        self._max_files = max_files
        self._size_of = size_of
        self._items: dict[K, V] = {}
        self._refs: dict[K, int] = {}  # key -> how many pinned files use it
        self._files: OrderedDict[str, frozenset[K]] = OrderedDict()
        self._spare: OrderedDict[K, None] = OrderedDict()
        self._spare_size = 0

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None and key in self._spare:
            self._spare.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        """Store a new entry; it is spare (evictable at the next pin) until a file pins it."""
        self._items[key] = value
        self._to_spare(key)

    def pin(self, path: str, keys: Iterable[K]) -> None:
        """These entries make up the file's current analysis: keep them; release its previous ones."""
        new = frozenset(keys)
        old = self._files.pop(path, frozenset())
        self._files[path] = new
        for key in new - old:
            self._refs[key] = self._refs.get(key, 0) + 1
            if key in self._spare:
                del self._spare[key]
                self._spare_size -= self._size_of(key)
        self._release(old - new)
        while len(self._files) > self._max_files:
            _, oldest = self._files.popitem(last=False)
            self._release(oldest)
        self._trim()

    def forget(self, path: str) -> None:
        self._release(self._files.pop(path, frozenset()))
        self._trim()

    def clear(self) -> None:
        self._items.clear()
        self._refs.clear()
        self._files.clear()
        self._spare.clear()
        self._spare_size = 0

    def __len__(self) -> int:
        return len(self._items)

    def _release(self, keys: frozenset[K]) -> None:
        for key in keys:
            count = self._refs.get(key, 0) - 1
            if count > 0:
                self._refs[key] = count
                continue
            self._refs.pop(key, None)
            if key in self._items:
                self._to_spare(key)

    def _to_spare(self, key: K) -> None:
        # No trimming here: entries made during an analysis must survive until it pins them.
        if key in self._refs or key in self._spare:
            return
        self._spare[key] = None
        self._spare_size += self._size_of(key)

    def _trim(self) -> None:
        while self._spare_size > self._spare_limit and self._spare:
            key, _ = self._spare.popitem(last=False)
            self._spare_size -= self._size_of(key)
            self._items.pop(key, None)
