"""Run a fixture program in TensorFlow and report what each of its losses really receives.

Usage: python tests/shapes/tf_runner.py FIXTURE.py ...  ->  JSON on the last line of stdout, per fixture:
{"calls": {loss: [[y_true shape, y_pred shape, outcome], ...]}, "errors": {loss: [message, ...]},
 "failures": [[line, message], ...]}  (or {"skipped": reason} when an import fails)

Written for the tests, independent of the checker: every loss function (parameters y_true, y_pred)
gets a first statement that records the concrete shapes it is called with (eager mode) and what
NumPy broadcasting makes of them: "same", "expand" (one side stretched to the other's shape),
"broadcast" (a bigger result than either, e.g. (B,) with (B, 1) -> (B, B)) or "crash".
Each top-level statement runs on its own, so one failing fit does not hide the next ones.
"""

from __future__ import annotations

import ast
import json
import os
import sys
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _losses(tree: ast.Module) -> list[tuple[str, ast.FunctionDef]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and [a.arg for a in item.args.args][1:3] == ["y_true", "y_pred"]:
                    found.append((f"{node.name}.{item.name}", item))
    methods = {id(fn) for _, fn in found}
    for node in ast.walk(tree):
        if (isinstance(node, ast.FunctionDef) and id(node) not in methods
                and [a.arg for a in node.args.args][:2] == ["y_true", "y_pred"]):
            found.append((node.name, node))
    return found


def run(path: str) -> dict:
    import numpy as np
    import tensorflow as tf

    tf.config.run_functions_eagerly(True)  # concrete shapes inside the loss, batch size included
    source = open(path, encoding="utf-8").read()
    tree = ast.parse(source)
    calls: dict[str, list] = {}
    errors: dict[str, list] = {}
    failures: list = []
    current: list[str] = []

    def record(name: str, y_true: object, y_pred: object) -> None:
        t = tuple(int(d) for d in np.shape(y_true))
        p = tuple(int(d) for d in np.shape(y_pred))
        try:
            out = np.broadcast_shapes(t, p)
            outcome = "same" if t == p else "expand" if out in (t, p) else "broadcast"
        except ValueError:
            outcome = "crash"
        entry = [list(t), list(p), outcome]
        if entry not in calls.setdefault(name, []):
            calls[name].append(entry)
        current.append(name)

    for name, fn in _losses(tree):
        fn.body.insert(0, ast.parse(f"__record__({name!r}, y_true, y_pred)").body[0])
    body = []
    for stmt in tree.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)) or (
                isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)):
            body.append(stmt)
            continue
        guarded = ast.parse(f"try:\n    pass\nexcept Exception as __e:\n    __failed__({stmt.lineno}, __e)").body[0]
        guarded.body = [stmt]  # type: ignore[attr-defined]
        body.append(guarded)
    tree.body = body
    ast.fix_missing_locations(tree)

    def failed(line: int, exc: BaseException) -> None:
        message = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
        failures.append([line, message])
        frames = [f.name for f in traceback.extract_tb(exc.__traceback__)]
        if current and current[-1].rsplit(".", 1)[-1] in frames:  # raised inside the loss running last
            errors.setdefault(current[-1], []).append(message)
        current.clear()

    namespace = {"__record__": record, "__failed__": failed, "__name__": "__main__", "__file__": path}
    exec(compile(tree, path, "exec"), namespace)  # noqa: S102 - the fixture is ours
    return {"calls": calls, "errors": errors, "failures": failures}


if __name__ == "__main__":
    results = {}
    for fixture in sys.argv[1:]:
        try:
            results[fixture] = run(fixture)
        except ImportError as exc:  # a library the fixture needs is not installed (pandas, scikit-learn)
            results[fixture] = {"skipped": str(exc)}
    print(json.dumps(results))
