"""User settings as one typed object.

Sources, later ones winning: defaults, `[tool.loss-lsp]` in the workspace's
pyproject.toml, then editor settings (initializationOptions / workspace configuration).
Unknown keys and bad values never raise: they become warnings and the default stays.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SEVERITIES = ("error", "warning", "info", "hint")


@dataclass(frozen=True)
class Settings:
    select: tuple[str, ...] = ()  # rule codes or prefixes ("LL2"); empty = all
    ignore: tuple[str, ...] = ()
    severity: Mapping[str, str] = field(default_factory=dict)  # code -> severity
    not_reproduced_severity: str = "hint"  # a finding the gradient check did not reproduce
    epsilon: str = ""  # expression used by fixes; empty = keras.config.epsilon()/K.epsilon()/file's EPS
    default_shapes: Mapping[str, tuple[int, ...]] = field(default_factory=dict)  # y_true/y_pred
    check_gradients_on_save: bool = False
    gradient_timeout: float = 20.0  # seconds per loss
    gradient_memory_mb: int = 4096
    worker_idle_timeout: float = 600.0
    interpreter: str = ""  # python for the gradient-check worker; empty = the running one
    trusted: bool = True

    def enabled(self, code: str) -> bool:
        if self.select and not any(code.startswith(p) for p in self.select):
            return False
        return not any(code.startswith(p) for p in self.ignore)

    def severity_for(self, code: str, default: str) -> str:
        return self.severity.get(code, default)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = {k: list(v) if isinstance(v, tuple) else v for k, v in value.items()}
            out[f.name] = value
        return out


# Accept the editor spelling (camelCase), the TOML spelling (kebab-case) and snake_case.
_ALIASES = {
    "checkGradientsOnSave": "check_gradients_on_save",
    "defaultShapes": "default_shapes",
    "gradientCheck.timeout": "gradient_timeout",
    "gradientCheck.memoryMb": "gradient_memory_mb",
    "gradientCheck.idleTimeout": "worker_idle_timeout",
    "gradientCheck.interpreter": "interpreter",
    "gradient-timeout": "gradient_timeout",
    "gradient-memory-mb": "gradient_memory_mb",
    "worker-idle-timeout": "worker_idle_timeout",
    "check-gradients-on-save": "check_gradients_on_save",
    "default-shapes": "default_shapes",
    "notReproducedSeverity": "not_reproduced_severity",
}
_IGNORED_KEYS = {"trace", "trace.server", "enable"}  # client-side settings


def _flatten(raw: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and name in ("gradientCheck", "gradient-check", "trace"):
            out.update(_flatten(value, name.replace("gradient-check", "gradientCheck") + "."))
        else:
            out[name] = value
    return out


def _camel(key: str) -> str:
    """``gradientCheck.memory-mb`` -> ``gradientCheck.memoryMb`` (TOML spelling to editor spelling)."""
    return ".".join(part.split("-")[0] + "".join(w.title() for w in part.split("-")[1:]) for part in key.split("."))


def _codes(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError("expected a list of rule codes")
    return tuple(v.strip().upper() for v in value)


def _shapes(value: Any) -> dict[str, tuple[int, ...]]:
    if not isinstance(value, Mapping):
        raise ValueError("expected a table like {y_true = [8], y_pred = [8, 1]}")
    out = {}
    for key, shape in value.items():
        if key not in ("y_true", "y_pred"):
            raise ValueError(f"unknown shape key {key!r} (expected y_true or y_pred)")
        if not isinstance(shape, (list, tuple)) or not all(isinstance(d, int) and d > 0 for d in shape):
            raise ValueError(f"shape of {key} must be a list of positive integers")
        out[key] = tuple(shape)
    return out


def _severity(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ValueError("expected a table of rule code -> severity")
    out = {}
    for code, sev in value.items():
        if sev not in SEVERITIES:
            raise ValueError(f"severity of {code} must be one of {', '.join(SEVERITIES)}")
        out[str(code).upper()] = sev
    return out


def _one_severity(value: Any) -> str:
    if value not in SEVERITIES:
        raise ValueError(f"expected one of {', '.join(SEVERITIES)}")
    return value


def _positive(kind: type) -> Any:
    def convert(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ValueError("expected a positive number")
        return kind(value)

    return convert


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("expected true or false")
    return value


def _str(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return value


_CONVERTERS = {
    "select": _codes,
    "ignore": _codes,
    "severity": _severity,
    "not_reproduced_severity": _one_severity,
    "epsilon": _str,
    "default_shapes": _shapes,
    "check_gradients_on_save": _bool,
    "gradient_timeout": _positive(float),
    "gradient_memory_mb": _positive(int),
    "worker_idle_timeout": _positive(float),
    "interpreter": _str,
    "trusted": _bool,
}


def merge(base: Settings, raw: Mapping[str, Any] | None) -> tuple[Settings, list[str]]:
    """Overlay `raw` on `base`; returns the new settings and one warning per bad entry."""
    if not raw:
        return base, []
    if not isinstance(raw, Mapping):
        return base, [f"settings must be an object, got {type(raw).__name__}; using defaults"]
    changes: dict[str, Any] = {}
    warnings: list[str] = []
    for key, value in _flatten(raw).items():
        name = _ALIASES.get(key) or _ALIASES.get(_camel(key)) or key.replace("-", "_")
        if key in _IGNORED_KEYS or key.startswith("trace."):
            continue
        convert = _CONVERTERS.get(name)
        if convert is None:
            warnings.append(f"unknown setting {key!r} ignored")
            continue
        if value is None:
            continue
        try:
            changes[name] = convert(value)
            if name == "trusted":  # any source may withdraw trust; none may grant it back
                changes[name] = base.trusted and changes[name]
        except ValueError as exc:
            warnings.append(f"setting {key!r}: {exc}; keeping {getattr(base, name)!r}")
    return replace(base, **changes), warnings


def find_root(start: Path) -> Path:
    """The workspace root: nearest folder with pyproject.toml, setup.py or .git."""
    start = start.resolve()
    folder = start if start.is_dir() else start.parent
    for candidate in (folder, *folder.parents):
        if any((candidate / marker).exists() for marker in ("pyproject.toml", "setup.py", ".git")):
            return candidate
    return folder


def from_pyproject(root: Path) -> tuple[Settings, list[str]]:
    path = root / "pyproject.toml"
    if not path.is_file():
        return Settings(), []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return Settings(), [f"{path}: cannot read [tool.loss-lsp]: {exc}"]
    section = data.get("tool", {}).get("loss-lsp", {})
    settings, warnings = merge(Settings(), section)
    return settings, [f"{path}: {w}" for w in warnings]
