"""Puts the server into the extension: `loss_lsp` and its pure-Python dependencies in bundled/libs.

The extension runs `<user's python> -m loss_lsp serve` with bundled/libs first on PYTHONPATH, so
installing the .vsix is enough: the user's interpreter only has to provide TensorFlow, and only for
the gradient check. Run by `npm run package` (python3 on PATH); takes a few seconds.

The dependencies are the ones `pyproject.toml` declares, pinned to the versions installed where
this runs (the versions the test suite ran against), with the wheels for Python 3.10 — the oldest
the server supports — and its back-ports (tomli, exceptiongroup). A dependency
that is not pure Python would tie the .vsix to one platform: the script refuses it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # loss-lsp depends on tomli there
    import tomli as tomllib

EXTENSION = Path(__file__).resolve().parent
ROOT = EXTENSION.parents[1]
LIBS = EXTENSION / "bundled" / "libs"
OLDEST_PYTHON = "3.10"
# pip evaluates environment markers for the running interpreter, not for --python-version: the
# back-ports that cattrs needs on 3.10 (`exceptiongroup; python_version < '3.11'`) are named here.
# (pyproject's own markers are dropped below, which brings tomli.)
BACKPORTS = ["exceptiongroup"]


def pinned_requirements() -> list[str]:
    """pyproject's runtime dependencies, pinned to the installed version when there is one."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    out = []
    for line in declared:
        requirement = Requirement(line)
        try:
            out.append(f"{requirement.name}=={metadata.version(requirement.name)}")
        except metadata.PackageNotFoundError:  # e.g. tomli on 3.11+: the declared range
            out.append(f"{requirement.name}{requirement.specifier}")
    return out


def copy_server() -> None:
    shutil.copytree(ROOT / "loss_lsp", LIBS / "loss_lsp",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def main() -> int:
    shutil.rmtree(LIBS, ignore_errors=True)
    LIBS.mkdir(parents=True)
    requirements = pinned_requirements() + BACKPORTS
    # --python-version needs --only-binary: wheels only, markers evaluated for the oldest Python.
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--target", str(LIBS),
               "--only-binary", ":all:", "--python-version", OLDEST_PYTHON, *requirements]
    print("bundle_python:", " ".join(command[3:]))
    subprocess.run(command, check=True)
    native = [str(p.relative_to(LIBS)) for p in LIBS.rglob("*") if p.suffix in (".so", ".pyd", ".dylib")]
    if native:
        print(f"bundle_python: not pure Python, refusing to bundle: {native}", file=sys.stderr)
        return 1
    shutil.rmtree(LIBS / "bin", ignore_errors=True)  # console scripts point at this machine's python
    # jedi only resolves imports inside the workspace (engine/workspace.py): the stubs of 4,300
    # third-party packages (25 MB) are never read; its stdlib stubs stay.
    shutil.rmtree(LIBS / "jedi" / "third_party" / "typeshed" / "stubs", ignore_errors=True)
    copy_server()
    size = sum(p.stat().st_size for p in LIBS.rglob("*") if p.is_file())
    packages = sorted(p.name for p in LIBS.iterdir() if not p.name.endswith(".dist-info"))
    print(f"bundle_python: {len(packages)} entries, {size / 1e6:.1f} MB in {LIBS.relative_to(EXTENSION)}: "
          + ", ".join(packages))
    return 0


if __name__ == "__main__":
    sys.exit(main())
