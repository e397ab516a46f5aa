#!/usr/bin/env bash
# Installs everything the stack and the tests need, idempotently, so `npm start` and `npm test`
# work on a fresh clone:
#   1. npm dependencies (npm ci), when node_modules is missing or older than the lock file;
#   2. the Temporal CLI (dev server + UI): `temporal` from PATH, else built once with Go into a
#      cache outside the repo, keyed by version;
#   3. with --for-tests (what `npm test` runs), the tools only the tests use:
#      - the Temporal Java test server (time-skipping): its jars from Maven Central into the same
#        cache, with a launcher script;
#      - a local Kubernetes control plane (etcd, Kubernetes, kwok) built from Go modules into the
#        same cache (scripts/k8s/build-control-plane.sh);
#      - the Temporal server and its SQL schema tool, built from Go modules into the same cache
#        (with the PostgreSQL schema files of that release), and PostgreSQL itself (Debian's
#        package, installed with apt-get when missing) for the production tier (test/production);
#      - openssl (the production tier makes its own CA and certificates for mTLS);
#      - moto_server (AWS EKS, EC2 and STS for the EKS tests) from PyPI when it is missing;
#      - schemathesis (API fuzzing against the live OpenAPI document) from PyPI, at the pinned
#        version (its CLI flags and config format change between versions).
# So `npm start` needs neither Java, Maven nor Python.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/toolchain.env

log() { printf 'setup: %s\n' "$*" >&2; }

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund >&2
fi

ensure_temporal() {
  if [ -n "${TEMPORAL_CLI:-}" ]; then
    [ -x "$TEMPORAL_CLI" ] || { log "TEMPORAL_CLI=$TEMPORAL_CLI is not an executable"; exit 1; }
    return
  fi
  if command -v temporal >/dev/null 2>&1; then return; fi
  local target="$TOOLS_CACHE/temporal-$TEMPORAL_CLI_VERSION/temporal"
  if [ -x "$target" ]; then return; fi
  if ! command -v go >/dev/null 2>&1; then
    log "the Temporal CLI is missing and Go is not installed to build it."
    log "Either install Go (https://go.dev/dl) and run this again, or download the 'temporal' binary"
    log "for your platform from the Temporal CLI releases and put it on PATH (or set TEMPORAL_CLI)."
    exit 1
  fi
  log "building the Temporal CLI $TEMPORAL_CLI_VERSION with Go into $target (one time, a few minutes)"
  mkdir -p "$(dirname "$target")"
  GOBIN="$(dirname "$target")" GOFLAGS=-mod=mod go install "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_VERSION" >&2
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
  log "fetching the Temporal Java test server $TEMPORAL_TEST_SERVER_VERSION from Maven Central into $dir"
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp/lib"
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
  log "building the Temporal server $TEMPORAL_SERVER_VERSION and its SQL tool with Go into $dir (one time, a few minutes)"
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp/schema"
  local module="go.temporal.io/server@$TEMPORAL_SERVER_VERSION" work source
  work="$(mktemp -d)"
  source="$(cd "$work" && go mod download -json "$module" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
  rm -rf "$work"
  [ -d "$source/schema/postgresql/v12" ] || { log "no PostgreSQL schema in $source"; exit 1; }
  GOBIN="$dir.tmp/bin" GOFLAGS=-mod=mod CGO_ENABLED=0 go install -trimpath -ldflags='-s -w' \
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
  log "installing $* with apt-get"
  $sudo apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >&2
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

ensure_moto() {
  if command -v moto_server >/dev/null 2>&1; then return; fi
  log "installing moto_server $MOTO_VERSION with pip"
  python3 -m pip install --quiet "moto[server]==$MOTO_VERSION" >&2
}

ensure_schemathesis() {
  if [ "$(schemathesis --version 2>/dev/null)" = "schemathesis, version $SCHEMATHESIS_VERSION" ]; then return; fi
  log "installing schemathesis $SCHEMATHESIS_VERSION with pip"
  python3 -m pip install --quiet "schemathesis==$SCHEMATHESIS_VERSION" >&2
}

ensure_temporal
if [ "${1:-}" = "--for-tests" ]; then
  ensure_java_test_server
  bash scripts/k8s/build-control-plane.sh
  ensure_temporal_server
  ensure_postgresql
  ensure_openssl
  ensure_moto
  ensure_schemathesis
fi
