"""Which Keras a file's project targets: Keras 2 (``tf.keras`` before TF 2.16, ``tf_keras``) or Keras 3.

Read from the requirements the project declares nearest to the file (``pyproject.toml`` [project]
dependencies or Poetry's, ``setup.cfg`` install_requires, ``setup.py`` install_requires as literals,
``requirements*.txt`` and ``requirements/*.txt`` with the files they include by ``-r`` / ``-c``, or the
``*.dist-info/METADATA`` of the installed wheel the file belongs to; their optional extras when the
required ones say nothing; a requirement whose environment marker does not hold for this interpreter
does not count);
failing that, from the versions installed in this interpreter (``importlib.metadata``: Keras and
TensorFlow are never imported). A declaration that allows both majors (``tensorflow>=2.10``) decides
nothing. Rules that depend on the answer stay quiet when it is unknown.

Pure and cheap: no TensorFlow, and results are cached per directory, checked against the mtimes of the
directory and of the files read (an edited ``pyproject.toml`` is seen on the next analysis).
"""

from __future__ import annotations

import ast
import os
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from loss_lsp.engine.chunks import parse_quietly

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


@dataclass(frozen=True)
class KerasTarget:
    major: int | None  # 2, 3, or None when unknown
    reason: str  # e.g. "pyproject.toml declares tensorflow<2.16"; "" when unknown


UNKNOWN = KerasTarget(None, "")

_TENSORFLOW = {"tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tensorflow-macos", "tensorflow-intel",
               "intel-tensorflow", "tensorflow-aarch64", "tf-nightly", "tf-nightly-cpu", "tf-nightly-gpu"}
# Released versions on each side of the line (TF 2.16 made tf.keras Keras 3): a declaration targets a
# major when it admits versions on that side only.
_TF_KERAS2 = ["1.15.5", "2.2.3", "2.4.4", "2.6.5", "2.8.4", "2.10.1", "2.11.0", "2.12.0", "2.13.1", "2.14.1",
              "2.15.0", "2.15.1"]
_TF_KERAS3 = ["2.16.1", "2.16.2", "2.17.1", "2.18.0", "2.19.0", "2.20.0", "2.21.0"]
_KERAS2 = ["2.4.3", "2.6.0", "2.9.0", "2.10.0", "2.11.0", "2.12.0", "2.13.1", "2.14.0", "2.15.0"]
_KERAS3 = ["3.0.0", "3.3.3", "3.5.0", "3.8.0", "3.10.0", "3.12.0", "3.15.1"]
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*\(?([^;()]*)\)?\s*(?:;(.*))?$")
_SPEC = re.compile(r"(===|==|!=|~=|<=|>=|<|>|\^|~)?\s*([0-9][0-9A-Za-z.*+!-]*)")
_DECLARATIONS = ("pyproject.toml", "setup.cfg", "setup.py")


def keras_target(path: str | None) -> KerasTarget:
    """The Keras the project of ``path`` targets (declared nearest to it, else installed here)."""
    path = _file_path(path)
    if path:
        directory, child = os.path.dirname(path), os.path.basename(path)
        for _ in range(40):
            declared = _declared_in(directory, child)  # child: the package a site-packages' dist-info owns
            if declared is not None:
                return declared if declared.major is not None else installed_target()
            parent = os.path.dirname(directory)
            if parent == directory:
                break
            directory, child = parent, os.path.basename(directory)
    return installed_target()


def _file_path(path: str | None) -> str | None:
    """An absolute filesystem path, or None for ``<stdin>`` and URIs (``untitled:``, notebook cells)."""
    if not path or path.startswith("<"):
        return None
    scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):", path)
    if scheme and len(scheme.group(1)) > 1:  # one letter: a Windows drive
        return None
    return os.path.abspath(path)


@lru_cache(maxsize=1)
def installed_target() -> KerasTarget:
    """What ``tf.keras`` / ``keras`` are in this interpreter, from package metadata alone."""
    if os.environ.get("TF_USE_LEGACY_KERAS", "").lower() in ("1", "true", "yes") and _version("tf-keras"):
        return KerasTarget(2, "TF_USE_LEGACY_KERAS is set and tf_keras is installed")
    tf = next((v for v in map(_version, sorted(_TENSORFLOW)) if v), "")
    if tf and _version_tuple(tf) < (2, 16):
        return KerasTarget(2, f"tensorflow {tf} is installed")
    keras = _version("keras")
    if keras:
        return KerasTarget(3 if _version_tuple(keras) >= (3,) else 2, f"keras {keras} is installed")
    return UNKNOWN


@lru_cache(maxsize=1)
def installed_keras() -> tuple[int, ...]:
    """The version of the ``keras`` distribution in this interpreter (``()`` when there is none)."""
    return _version_tuple(_version("keras"))


def _version(name: str) -> str:
    import importlib.metadata  # costs more to import than a whole cold analysis of a small file

    try:
        return importlib.metadata.version(name)
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return ""


# --- declarations ------------------------------------------------------------------------------------
# (directory, dist-info) -> (mtimes of the directory and its declaration files, mtimes of the files they
# include with `-r`/`-c`, the answer)
_CACHE: dict[tuple[str, str], tuple[tuple[float, ...], tuple[tuple[str, float], ...], KerasTarget | None]] = {}


def _declared_in(directory: str, file_name: str) -> KerasTarget | None:
    """The target declared in this directory: None when nothing here mentions Keras or TensorFlow."""
    try:
        entries = os.scandir(directory)
        with entries:
            names = sorted(e.name for e in entries)
        stamp = (os.stat(directory).st_mtime,)
    except OSError:
        return None
    sources = [n for n in names if n in _DECLARATIONS or (n.startswith("requirements") and n.endswith(".txt"))]
    if "requirements" in names and os.path.isdir(os.path.join(directory, "requirements")):
        try:  # requirements/base.txt, requirements/prod.txt, ...: the folder's mtime sees files come and go
            folder = os.path.join(directory, "requirements")
            sources += sorted(f"requirements/{n}" for n in os.listdir(folder) if n.endswith(".txt"))
            stamp += (os.stat(folder).st_mtime,)
        except OSError:
            pass
    owner = _dist_info_owner(directory, names, file_name) if any(n.endswith(".dist-info") for n in names) else ""
    if owner:
        sources.append(os.path.join(owner, "METADATA"))
    try:
        stamp += tuple(os.stat(os.path.join(directory, s)).st_mtime for s in sources)
    except OSError:
        return None
    key = (directory, owner)
    hit = _CACHE.get(key)
    if hit is not None and hit[0] == stamp and all(_mtime(path) == mtime for path, mtime in hit[1]):
        return hit[2]
    included: list[str] = []
    declared = [(source, *_read_requirements(os.path.join(directory, source), included)) for source in sources]
    # Optional dependencies (extras) count only when the required ones say nothing: ivis, for one,
    # declares `tensorflow<2.16` only in its "cpu" and "gpu" extras.
    result = _first_decision([(source, required) for source, required, _ in declared], legacy=True)
    if result is None:
        result = _first_decision([(f"{source} (optional dependencies)", optional)
                                  for source, _, optional in declared], legacy=False)
    _CACHE[key] = (stamp, tuple((path, _mtime(path)) for path in included), result)
    return result


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return -1.0


def _first_decision(declared: list[tuple[str, list[str]]], legacy: bool) -> KerasTarget | None:
    result: KerasTarget | None = None
    for source, requirements in declared:
        decided = decide(requirements, source, legacy)
        if decided is not None:
            result = decided
            if decided.major is not None:
                break
    return result


def _dist_info_owner(directory: str, names: list[str], top: str) -> str:
    """The ``*.dist-info`` in ``directory`` (a site-packages) that installed the package ``top``."""
    if not top or top.endswith(".dist-info"):
        return ""
    wanted = _normalise(top.removesuffix(".py"))
    for name in names:
        if not name.endswith(".dist-info"):
            continue
        if _normalise(name.split("-", 1)[0]) == wanted:
            return name
        try:
            tops = Path(directory, name, "top_level.txt").read_text(encoding="utf-8").split()
        except OSError:
            continue
        if top.removesuffix(".py") in tops:
            return name
    return ""


def _read_requirements(path: str, included: list[str]) -> tuple[list[str], list[str]]:
    """(required, optional) requirement strings of one declaration file; ``included`` collects the files a
    requirements file pulls in with ``-r`` / ``-c``."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return [], []
    name = os.path.basename(path)
    if name == "pyproject.toml":
        return _pyproject(text)
    if name == "setup.cfg":
        return _setup_cfg(text)
    if name == "setup.py":
        return _setup_py(text)
    if name == "METADATA":
        requires = [line.split(":", 1)[1] for line in text.splitlines() if line.startswith("Requires-Dist:")]
        return [r for r in requires if "extra ==" not in r], [r for r in requires if "extra ==" in r]
    return _requirements_txt(path, text, included), []


_INCLUDE = re.compile(r"^\s*(?:-r|--requirement|-c|--constraint)(?:\s*=\s*|\s+|(?=[^\s=-]))(\S+)")


def _requirements_txt(path: str, text: str, included: list[str], depth: int = 0) -> list[str]:
    """The requirement lines of a pip requirements file, with those of the files it includes: ``-r base.txt``
    (more requirements) and ``-c constraints.txt`` (versions pip must respect: a pin there decides too)."""
    out: list[str] = []
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip() if not line.lstrip().startswith("#") else ""
        include = _INCLUDE.match(line)
        if include is not None:
            child = os.path.normpath(os.path.join(os.path.dirname(path), include.group(1)))
            if depth < 8 and child not in included and child != path:
                included.append(child)
                try:
                    child_text = Path(child).read_text(encoding="utf-8", errors="replace")
                except OSError:
                    continue
                out += _requirements_txt(child, child_text, included, depth + 1)
        elif line and not line.startswith("-"):
            out.append(line)
    return out


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _pyproject(text: str) -> tuple[list[str], list[str]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return [], []
    project = data.get("project", {})
    required = _strings(project.get("dependencies", []))
    extras = project.get("optional-dependencies", {})
    optional = [r for group in (extras.values() if isinstance(extras, dict) else ()) for r in _strings(group)]
    poetry = data.get("tool", {}).get("poetry", {}).get("dependencies", {})
    for name, spec in poetry.items() if isinstance(poetry, dict) else ():
        version = spec.get("version", "") if isinstance(spec, dict) else spec
        if isinstance(version, str):
            target = optional if isinstance(spec, dict) and spec.get("optional") else required
            target.append(f"{name} {'' if version.strip() == '*' else version}")
    return required, optional


def _setup_cfg(text: str) -> tuple[list[str], list[str]]:
    import configparser  # only projects with a setup.cfg need it

    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error:
        return [], []
    required = parser.get("options", "install_requires", fallback="").splitlines()
    optional = [line for _, value in (parser.items("options.extras_require")
                                      if parser.has_section("options.extras_require") else ())
                for line in value.splitlines()]
    return [r for r in required if r.strip()], [r for r in optional if r.strip()]


def _setup_py(text: str) -> tuple[list[str], list[str]]:
    """``install_requires`` / ``extras_require`` as literals (or module-level names bound to them): never run."""
    try:
        tree = parse_quietly(text)
    except (SyntaxError, ValueError):
        return [], []
    names = {t.id: node.value for node in tree.body if isinstance(node, ast.Assign)
             for t in node.targets if isinstance(t, ast.Name)}

    def literal(node: ast.expr) -> ast.expr:
        return names.get(node.id, node) if isinstance(node, ast.Name) else node

    def string_list(node: ast.expr) -> list[str]:
        node = literal(node)
        if not isinstance(node, (ast.List, ast.Tuple)):
            return []
        return [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]

    required: list[str] = []
    optional: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "install_requires":
            required += string_list(node.value)
        elif isinstance(node, ast.keyword) and node.arg == "extras_require":
            extras = literal(node.value)
            if isinstance(extras, ast.Dict):
                optional += [r for value in extras.values for r in string_list(value)]
    return required, optional


# --- deciding ----------------------------------------------------------------------------------------
def decide(requirements: list[str], source: str, legacy: bool = True) -> KerasTarget | None:
    """None: nothing about Keras or TensorFlow here; major None: mentioned, but both majors allowed.

    ``legacy``: a ``tf_keras`` requirement means Keras 2 (not for optional extras, where test or
    comparison extras often carry it beside Keras 3)."""
    parsed = [p for p in map(_parse, requirements) if p is not None]
    mentioned = False
    for name, specs, text in parsed:
        if name == "tf-keras" and legacy:
            return KerasTarget(2, f"{source} declares {text}")
    for names, keras2, keras3, line in (({"keras"}, _KERAS2, _KERAS3, (3,)),
                                        (_TENSORFLOW, _TF_KERAS2, _TF_KERAS3, (2, 16))):
        for name, specs, text in parsed:
            if name not in names:
                continue
            mentioned = True
            named = [v for _, v in specs if not v.endswith("*")]  # exact pins are tried too
            old = any(_admits(specs, v) for v in keras2 + [v for v in named if _version_tuple(v) < line])
            new = any(_admits(specs, v) for v in keras3 + [v for v in named if _version_tuple(v) >= line])
            if old != new:
                return KerasTarget(2 if old else 3, f"{source} declares {text}")
    return UNKNOWN if mentioned else None


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _parse(requirement: str) -> tuple[str, list[tuple[str, str]], str] | None:
    match = _REQUIREMENT.match(requirement.strip())
    if match is None:
        return None
    name, _, spec_text, marker = match.groups()
    if marker and not _marker_holds(marker):
        return None  # `tensorflow<2.16; python_version < "3.9"`: not what this interpreter installs
    specs = [(op or "==", version) for op, version in _SPEC.findall(spec_text or "")]
    return _normalise(name), specs, " ".join(requirement.split(";", 1)[0].split())


def _marker_holds(marker: str) -> bool:
    """Whether an environment marker holds for this interpreter (the one the project's code runs with when
    the server runs in the project's environment). ``extra == ...`` markers hold: extras are weighed apart.
    Without ``packaging``, or for a marker it cannot read, the requirement counts, as if it had none."""
    try:
        from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName
    except ImportError:  # pragma: no cover - packaging comes with pip and setuptools
        return True
    try:
        parsed = Marker(marker.strip())
    except InvalidMarker:
        return True
    if "extra" in marker:
        return True
    try:
        return parsed.evaluate()
    except (UndefinedComparison, UndefinedEnvironmentName):
        return True


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for part in version.split("."):
        digits = re.match(r"\d+", part)
        if digits is None:
            break
        parts.append(int(digits.group()))
    return tuple(parts)


def _admits(specs: list[tuple[str, str]], version: str) -> bool:
    v = _version_tuple(version)
    for op, text in specs:
        if text.endswith(".*"):  # ==2.15.* / !=2.*
            prefix = _version_tuple(text[:-2])
            same = v[:len(prefix)] == prefix
            if (op == "==" and not same) or (op == "!=" and same):
                return False
            continue
        w = _version_tuple(text)
        padded = v + (0,) * (len(w) - len(v))
        if op == "~=":  # compatible release: >= w and the same prefix up to the last component
            if padded < w or v[:len(w) - 1] != w[:len(w) - 1]:
                return False
        elif op == "^":  # Poetry caret: the same first non-zero component
            head = next((i for i, c in enumerate(w) if c), len(w) - 1)
            if padded < w or v[:head + 1] != w[:head + 1]:
                return False
        elif op == "~":  # Poetry tilde: the same major.minor (or major when only that is given)
            if padded < w or v[:min(len(w), 2)] != w[:min(len(w), 2)]:
                return False
        elif not _compare(op, padded, w):
            return False
    return True


def _compare(op: str, v: tuple[int, ...], w: tuple[int, ...]) -> bool:
    if op in ("==", "==="):
        return v[:len(w)] == w
    if op == "!=":
        return v[:len(w)] != w
    return {"<": v < w, "<=": v <= w, ">": v > w, ">=": v >= w}[op]
