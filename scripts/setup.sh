#!/usr/bin/env bash
# Installs everything the stack and the tests need, idempotently, so `npm start` and `npm test`
# work on a fresh clone:
#   1. npm dependencies (npm ci), when node_modules is missing or older than the lock file;
#   2. the Temporal CLI (dev server + UI): `temporal` from PATH, else built once with Go into a
#      cache outside the repo, keyed by version.
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

ensure_temporal
