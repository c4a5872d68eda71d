#!/usr/bin/env bash
# The project's test command: formatting, lints, Rust tests, then the end-to-end tests of the
# release build in front of a real local NetBox 4.7.3 (set up by scripts/netbox-dev.sh).
#
#   scripts/test.sh            everything
#   scripts/test.sh --e2e      only NetBox + proxy + pytest (skips fmt, clippy and cargo test)
#   scripts/test.sh --rust     only fmt, clippy and cargo test
#
# Any failure, including a NetBox that cannot start, makes the script exit non-zero.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO_ROOT"

NETBOX_DEV=$REPO_ROOT/scripts/netbox-dev.sh
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
PROXY_BIN=$TARGET_DIR/release/netbox-secrets-proxy

RUN_RUST=1
RUN_E2E=1
case ${1:-} in
    "") ;;
    --e2e) RUN_RUST=0 ;;
    --rust) RUN_E2E=0 ;;
    *) echo "usage: $0 [--e2e|--rust]" >&2; exit 2 ;;
esac

step() { printf '\n=== %s\n' "$*" >&2; }

# The proxy's command line. Kept in one place because its flags may still change.
# tests/e2e/proxy.toml contains the policy the end-to-end tests expect (group grants).
proxy_args() {
    local upstream=$1 listen=$2 data_dir=$3
    printf '%s\n' --upstream "$upstream" --listen "$listen" --data-dir "$data_dir"
    if [[ -f $REPO_ROOT/tests/e2e/proxy.toml ]]; then
        printf '%s\n' --config "$REPO_ROOT/tests/e2e/proxy.toml"
    fi
}

free_port() {
    "$1" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

PROXY_PID=
WORK_DIR=
cleanup() {
    if [[ -n $PROXY_PID ]] && kill -0 "$PROXY_PID" 2>/dev/null; then
        kill -TERM "$PROXY_PID" 2>/dev/null || true
        wait "$PROXY_PID" 2>/dev/null || true
    fi
    if [[ -n $WORK_DIR ]]; then
        rm -rf "$WORK_DIR"
    fi
}
trap cleanup EXIT

main() {
    step "netbox-dev.sh install"
    "$NETBOX_DEV" install
    TEST_PYTHON=$("$NETBOX_DEV" test-python)

    if [[ $RUN_RUST -eq 1 ]]; then
        step "cargo fmt --check"
        cargo fmt --all --check

        step "cargo clippy --all-targets -- -D warnings"
        cargo clippy --all-targets -- -D warnings

        step "cargo test --all-targets"
        NBSP_PYTHON=$TEST_PYTHON cargo test --all-targets
    fi

    if [[ $RUN_E2E -eq 1 ]]; then
        step "netbox-dev.sh up"
        "$NETBOX_DEV" up
        NETBOX_URL=http://127.0.0.1:${NBSP_NETBOX_PORT:-8001}
        SEED=$("$NETBOX_DEV" seed-json)

        step "cargo build --release"
        cargo build --release

        step "starting the proxy"
        WORK_DIR=$(mktemp -d -t nbsp-e2e.XXXXXX)
        PORT=$(free_port "$TEST_PYTHON")
        PROXY_URL=http://127.0.0.1:$PORT
        mapfile -t ARGS < <(proxy_args "$NETBOX_URL" "127.0.0.1:$PORT" "$WORK_DIR/data")
        mkdir -p "$WORK_DIR/data"
        echo "$PROXY_BIN ${ARGS[*]}" >&2
        RUST_LOG=${RUST_LOG:-info} "$PROXY_BIN" "${ARGS[@]}" >"$WORK_DIR/proxy.log" 2>&1 &
        PROXY_PID=$!

        ready=0
        for _ in $(seq 1 100); do
            if ! kill -0 "$PROXY_PID" 2>/dev/null; then
                break
            fi
            code=$(curl -s -o /dev/null -w '%{http_code}' "$PROXY_URL/login/" || true)
            if [[ $code != 000 ]]; then
                ready=1
                break
            fi
            sleep 0.2
        done
        if [[ $ready -ne 1 ]]; then
            echo "the proxy did not start; its log:" >&2
            cat "$WORK_DIR/proxy.log" >&2
            exit 1
        fi

        step "pytest tests/e2e"
        status=0
        NBSP_PROXY_URL=$PROXY_URL NBSP_NETBOX_URL=$NETBOX_URL NBSP_SEED=$SEED \
            "$TEST_PYTHON" -m pytest -v -p no:cacheprovider tests/e2e || status=$?
        if [[ $status -ne 0 ]]; then
            echo "pytest failed ($status); last lines of the proxy log:" >&2
            tail -n 50 "$WORK_DIR/proxy.log" >&2
            exit "$status"
        fi
    fi

    echo "all tests passed" >&2
}

# exit on the same line: bash then never reads past it, so editing this file while it runs is safe.
main; exit $?
