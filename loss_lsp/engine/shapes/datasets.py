"""``tf.data`` pipelines on abstract values: the structure and shapes of one element.

``from_tensor_slices`` takes the first dimension off every array; ``batch`` puts a ``None`` back;
``map`` runs a visible function on the element (the caller interprets it); generators are unknown.
"""

from __future__ import annotations

from collections.abc import Callable

from loss_lsp.engine.shapes.arrays import to_array
from loss_lsp.engine.shapes.values import Arr, Dataset, DictV, Frame, Series, Tup

_SAME = {"shuffle", "prefetch", "repeat", "cache", "take", "skip", "filter", "with_options", "shard",
         "apply_options", "ignore_errors", "enumerate_off"}


def _map_structure(value: object, fn: Callable[[Arr], object]) -> object:
    if isinstance(value, Tup):
        return Tup(tuple(_map_structure(item, fn) for item in value.items))
    if isinstance(value, DictV):
        return DictV(tuple((key, _map_structure(item, fn)) for key, item in value.items))
    array = to_array(value) if isinstance(value, (Arr, Series, Frame)) else None
    return fn(array) if array is not None else None


def _slice(array: Arr) -> object:
    if array.shape is None or not array.shape:
        return None
    return array.but(shape=array.shape[1:])


def _batch(array: Arr) -> object:
    return None if array.shape is None else array.but(shape=(None, *array.shape))


def _unbatch(array: Arr) -> object:
    return None if not array.shape else array.but(shape=array.shape[1:])


def from_tensor_slices(value: object) -> Dataset:
    return Dataset(_map_structure(value, _slice))


def zip_datasets(value: object) -> Dataset | None:
    parts = value.items if isinstance(value, Tup) else None
    if not parts or not all(isinstance(p, Dataset) for p in parts):
        return None
    batched = {p.batched for p in parts}  # type: ignore[union-attr]
    return Dataset(Tup(tuple(p.element for p in parts)), batched.pop() if len(batched) == 1 else False)  # type: ignore[union-attr]


def method(dataset: Dataset, name: str, args: list[object],
           call: Callable[[object, object], object]) -> object:
    """``ds.batch(32)``, ``ds.map(fn)``...; ``call(fn_value, element)`` interprets a mapped function."""
    if name in _SAME:
        return dataset
    if name in ("batch", "padded_batch"):
        return Dataset(_map_structure(dataset.element, _batch), True)
    if name == "unbatch":
        return Dataset(_map_structure(dataset.element, _unbatch), False)
    if name == "map" and args:
        return Dataset(call(args[0], dataset.element), dataset.batched)
    return None


def iterate(value: object) -> object:
    """What ``for item in value`` binds: a dataset's element, an array's row."""
    if isinstance(value, Dataset):
        return value.element
    array = to_array(value) if isinstance(value, (Arr, Series, Frame)) else None
    if array is not None and array.shape:
        return array.but(shape=array.shape[1:], origin="")
    return None
