#!/usr/bin/env bash
# shellcheck disable=SC2317 # cleanup is called by a trap
# Interoperability tests against a real `clavex serve`: the oauth4webapi relying-party library
# (client_credentials.mjs) and, in headless Chromium driven by playwright-core, the login and
# consent pages (login_consent.mjs) and oauth4webapi's authorization-code flow (full_flow.mjs).
# The two browser suites run in one node process (browser.mjs): one Chromium launch per server.
#
# Usage: tests/interop/run.sh [path/to/clavex]
#   The binary defaults to $CLAVEX_BIN, then <repo>/target/debug/clavex. This script builds
#   nothing and installs nothing: run `cargo build -p clavex` and `npm ci` (in tests/interop)
#   first, and have Debian's chromium at /usr/bin/chromium (.ci/run installs it).
#
# Environment:
#   INTEROP_PG=1        also run against PostgreSQL, in a fresh database clavex_interop_<random>
#                       that is dropped afterwards (psql must reach the server).
#   INTEROP_SQLITE=0    skip the SQLite run (default: run it).
#   INTEROP_BROWSER=0   skip the browser suites (default: run them).
#   INTEROP_CHROMIUM    the browser binary (default /usr/bin/chromium); never downloaded.
#   INTEROP_SCREENSHOT_DIR  keep the screenshots (login, consent, login with error, and any
#                       failure) there; by default they go to the temporary work directory.
#   INTEROP_PG_HOST / INTEROP_PG_PORT / INTEROP_PG_USER   (default 127.0.0.1 / 5432 / postgres)
#   INTEROP_READY_TIMEOUT   seconds to wait for /readyz (default 60).
#   INTEROP_SERVER_LOG      the server's CLAVEX_LOG filter (default info).
#
# Exit status: 0 when every run passed.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
CLAVEX_BIN="${1:-${CLAVEX_BIN:-$REPO_ROOT/target/debug/clavex}}"
PG_HOST="${INTEROP_PG_HOST:-127.0.0.1}"
PG_PORT="${INTEROP_PG_PORT:-5432}"
PG_USER="${INTEROP_PG_USER:-postgres}"
READY_TIMEOUT="${INTEROP_READY_TIMEOUT:-60}"

log() { printf '[interop] %s\n' "$*" >&2; }

if [[ ! -x "$CLAVEX_BIN" ]]; then
    log "clavex binary not found or not executable: $CLAVEX_BIN (run: cargo build -p clavex)"
    exit 2
fi
if [[ ! -d "$SCRIPT_DIR/node_modules/oauth4webapi" ]]; then
    log "node_modules missing: run 'npm ci' in $SCRIPT_DIR"
    exit 2
fi
command -v node >/dev/null || { log "node is not installed"; exit 2; }
RUN_BROWSER="${INTEROP_BROWSER:-1}"
if [[ "$RUN_BROWSER" != "0" ]]; then
    if [[ ! -d "$SCRIPT_DIR/node_modules/playwright-core" ]]; then
        log "node_modules/playwright-core missing: run 'npm ci' in $SCRIPT_DIR"
        exit 2
    fi
    CHROMIUM="${INTEROP_CHROMIUM:-/usr/bin/chromium}"
    if [[ ! -x "$CHROMIUM" ]]; then
        log "Chromium not found at $CHROMIUM: apt-get install chromium (or INTEROP_BROWSER=0 to skip the browser suites)"
        exit 2
    fi
fi

WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/clavex-interop.XXXXXX")"
SERVER_PID=""
PG_DB=""

psql_admin() {
    psql -X -q -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -v ON_ERROR_STOP=1 "$@"
}

stop_server() {
    if [[ -n "$SERVER_PID" ]]; then
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            kill -TERM "$SERVER_PID" 2>/dev/null || true
            for _ in $(seq 1 50); do
                kill -0 "$SERVER_PID" 2>/dev/null || break
                sleep 0.1
            done
            kill -KILL "$SERVER_PID" 2>/dev/null || true
        fi
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}

drop_pg_db() {
    if [[ -n "$PG_DB" ]]; then
        psql_admin -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null 2>&1 \
            || log "warning: could not drop database $PG_DB"
        PG_DB=""
    fi
}

cleanup() {
    local status=$?
    stop_server
    drop_pg_db
    rm -rf "$WORK_DIR"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    node -e '
        const s = require("net").createServer();
        s.listen(0, "127.0.0.1", () => { process.stdout.write(String(s.address().port)); s.close(); });
    '
}

# run_once LABEL [DATABASE_URL]
run_once() {
    local label="$1" database_url="${2:-}"
    local data_dir="$WORK_DIR/$label" port base token log_file
    local server_log_level="${INTEROP_SERVER_LOG:-info}"
    mkdir -p "$data_dir"
    log_file="$data_dir/server.log"
    port="$(free_port)"
    base="http://127.0.0.1:$port"
    token="interop-admin-$(node -e 'process.stdout.write(require("crypto").randomBytes(24).toString("hex"))')"

    log "[$label] starting $CLAVEX_BIN serve on $base"
    (
        # Only CLAVEX_* settings of this run: drop any inherited ones.
        while IFS= read -r name; do unset "$name"; done < <(compgen -e | grep '^CLAVEX_' || true)
        export CLAVEX_LISTEN="127.0.0.1:$port"
        export CLAVEX_PUBLIC_URL="$base"
        export CLAVEX_DATA_DIR="$data_dir"
        export CLAVEX_BOOTSTRAP_ADMIN_TOKEN="$token"
        export CLAVEX_LOG="$server_log_level"
        if [[ -n "$database_url" ]]; then
            export CLAVEX_DATABASE_URL="$database_url"
        fi
        cd "$data_dir"
        exec "$CLAVEX_BIN" serve
    ) >"$log_file" 2>&1 &
    SERVER_PID=$!

    local deadline=$((SECONDS + READY_TIMEOUT)) ready=0
    while ((SECONDS < deadline)); do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            break
        fi
        if node -e '
            fetch(process.argv[1]).then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1));
        ' "$base/readyz"; then
            ready=1
            break
        fi
        sleep 0.2
    done
    if ((ready == 0)); then
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            log "[$label] server did not become ready within ${READY_TIMEOUT}s; its log:"
        else
            log "[$label] server exited before becoming ready; its log:"
        fi
        sed 's/^/    /' "$log_file" >&2 || true
        stop_server
        return 1
    fi
    log "[$label] server ready; running client_credentials.mjs"

    local status=0 shots="${INTEROP_SCREENSHOT_DIR:-$data_dir/screenshots}"
    (
        cd "$SCRIPT_DIR"
        CLAVEX_BASE_URL="$base" CLAVEX_ORG="acme" CLAVEX_ADMIN_TOKEN="$token" \
            INTEROP_LABEL="$label" node client_credentials.mjs
    ) || status=$?

    if [[ "$RUN_BROWSER" != "0" ]]; then
        log "[$label] running browser.mjs (login_consent.mjs, full_flow.mjs) in $CHROMIUM"
        local browser_status=0
        (
            cd "$SCRIPT_DIR"
            CLAVEX_BASE_URL="$base" CLAVEX_ORG="acme" CLAVEX_ADMIN_TOKEN="$token" \
                INTEROP_LABEL="$label" INTEROP_CHROMIUM="$CHROMIUM" INTEROP_SCREENSHOT_DIR="$shots" \
                node browser.mjs
        ) || browser_status=$?
        if ((browser_status != 0)); then
            [[ -n "${INTEROP_SCREENSHOT_DIR:-}" ]] ||
                log "[$label] rerun with INTEROP_SCREENSHOT_DIR=<dir> to keep the failure screenshots"
            ((status != 0)) || status=$browser_status
        fi
    else
        log "[$label] browser suites skipped (INTEROP_BROWSER=0)"
    fi

    stop_server
    if ((status != 0)); then
        log "[$label] FAILED (exit $status); server log:"
        sed 's/^/    /' "$log_file" >&2 || true
    else
        log "[$label] passed"
    fi
    return "$status"
}

overall=0
ran=0

if [[ "${INTEROP_SQLITE:-1}" != "0" ]]; then
    ran=$((ran + 1))
    run_once sqlite || overall=1
fi

if [[ "${INTEROP_PG:-0}" == "1" ]]; then
    ran=$((ran + 1))
    command -v psql >/dev/null || { log "INTEROP_PG=1 but psql is not installed"; exit 2; }
    PG_DB="clavex_interop_$(node -e 'process.stdout.write(require("crypto").randomBytes(6).toString("hex"))')"
    log "[postgres] creating database $PG_DB on $PG_HOST:$PG_PORT"
    if psql_admin -c "CREATE DATABASE \"$PG_DB\""; then
        run_once postgres "postgres://$PG_USER@$PG_HOST:$PG_PORT/$PG_DB" || overall=1
    else
        log "[postgres] could not create database $PG_DB"
        PG_DB=""
        overall=1
    fi
    drop_pg_db
fi

if ((ran == 0)); then
    log "nothing to run (INTEROP_SQLITE=0 and INTEROP_PG unset)"
    exit 2
fi
exit "$overall"
