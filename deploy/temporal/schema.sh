#!/usr/bin/env bash
# Creates or upgrades the Temporal server's PostgreSQL schemas (the `temporal` and
# `temporal_visibility` databases), idempotently: run it before the first start and after
# every server upgrade. It applies the versioned schema files of the same release as the server.
#
#   POSTGRES_HOST=db.internal POSTGRES_PORT=5432 POSTGRES_USER=temporal POSTGRES_PASSWORD=... \
#   TEMPORAL_SQL_TOOL=/path/to/temporal-sql-tool TEMPORAL_SCHEMA_DIR=/path/to/schema/postgresql \
#     deploy/temporal/schema.sh
#
# `npm run setup -- --for-tests` builds both (into the tools cache, see scripts/toolchain.env);
# the `temporalio/admin-tools` image of the same version carries them too
# (/usr/local/bin/temporal-sql-tool, /etc/temporal/schema/postgresql).
set -euo pipefail

: "${TEMPORAL_SQL_TOOL:?set TEMPORAL_SQL_TOOL to the temporal-sql-tool binary}"
: "${TEMPORAL_SCHEMA_DIR:?set TEMPORAL_SCHEMA_DIR to the release schema/postgresql folder}"
host="${POSTGRES_HOST:-127.0.0.1}"
port="${POSTGRES_PORT:-5432}"
user="${POSTGRES_USER:-temporal}"
# The tool reads the password from SQL_PASSWORD, so it never shows in the process list.
export SQL_PASSWORD="${POSTGRES_PASSWORD:-}"

sql() {
  "$TEMPORAL_SQL_TOOL" --plugin postgres12 --ep "$host" -p "$port" -u "$user" "$@"
}

# <database> <versioned schema folder>
apply() {
  local db="$1" versioned="$2"
  # create-database fails when it exists: that is the idempotent case, not an error.
  sql --db "$db" create-database >/dev/null 2>&1 || true
  # setup-schema -v 0.0 creates the version table on a fresh database and is a no-op otherwise;
  # update-schema then applies every versioned step above the recorded version.
  sql --db "$db" setup-schema -v 0.0
  sql --db "$db" update-schema -d "$versioned"
  echo "schema: $db is up to date" >&2
}

apply "${POSTGRES_DB:-temporal}" "$TEMPORAL_SCHEMA_DIR/v12/temporal/versioned"
apply "${POSTGRES_VISIBILITY_DB:-temporal_visibility}" "$TEMPORAL_SCHEMA_DIR/v12/visibility/versioned"
