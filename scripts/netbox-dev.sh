#!/usr/bin/env bash
# Local NetBox 4.7.3 for the end-to-end tests and the demo: install, up, down, seed-json, demo.
#
# Everything lives in a state directory outside the repository, so every clone on one machine
# shares the venvs, the database and the seeded tokens:
#   ${NBSP_NETBOX_HOME:-$HOME/.cache/netbox-secrets-proxy/netbox-4.7.3}
# Only loopback addresses are used: gunicorn on 127.0.0.1:${NBSP_NETBOX_PORT:-8001}, a private
# redis-server on 127.0.0.1:${NBSP_REDIS_PORT:-6389} and the Debian PostgreSQL cluster on
# 127.0.0.1:5432 (its cluster "main", of the version NBSP_PG_VERSION names if set).
set -euo pipefail

NETBOX_VERSION=4.7.3
STATE=${NBSP_NETBOX_HOME:-$HOME/.cache/netbox-secrets-proxy/netbox-$NETBOX_VERSION}
NETBOX_PORT=${NBSP_NETBOX_PORT:-8001}
REDIS_PORT=${NBSP_REDIS_PORT:-6389}
PROXY_LISTEN=${NBSP_PROXY_LISTEN:-127.0.0.1:8080}
DB_NAME=${NBSP_DB_NAME:-netbox_nbsp}
DB_USER=${NBSP_DB_USER:-netbox_nbsp}

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NB_VENV=$STATE/venv
TEST_VENV=$STATE/test-venv
NETBOX_ROOT=$STATE/root
NETBOX_URL=http://127.0.0.1:$NETBOX_PORT
SEED_JSON=$STATE/seed.json
MIGRATED_MARKER=$STATE/migrated-$NETBOX_VERSION
CONFIG_CHANGED=0

APT_PACKAGES=(postgresql redis-server libpq-dev gcc curl jq)

# Pinned test tools; all install as wheels on Python 3.12.
TEST_PACKAGES=(
    pytest==9.2.0
    pynetbox==7.9.0
    requests==2.34.2
    cryptography==50.0.2
    kubernetes-validate==1.37.0
)

# The proxy's command line for the demo. Kept in one place because its flags may still change.
proxy_args() {
    local data_dir=$1
    printf '%s\n' --upstream "$NETBOX_URL" --listen "$PROXY_LISTEN" --data-dir "$data_dir"
}

log() { printf '[netbox-dev] %s\n' "$*" >&2; }
die() { printf '[netbox-dev] error: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

as_postgres() {
    if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

# ---------------------------------------------------------------------------------------------
# install

install_apt_packages() {
    local missing=() pkg
    for pkg in "${APT_PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$pkg")
        fi
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        log "apt packages already installed"
        return
    fi
    log "installing apt packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

python_is_new_enough() {
    "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null
}

find_python() {
    local candidate
    if [[ -n ${NBSP_BASE_PYTHON:-} ]]; then
        python_is_new_enough "$NBSP_BASE_PYTHON" || die "NBSP_BASE_PYTHON=$NBSP_BASE_PYTHON is not Python >= 3.12"
        echo "$NBSP_BASE_PYTHON"
        return
    fi
    for candidate in $(ls -d "$HOME"/.pyenv/versions/3.12.*/bin/python 2>/dev/null | sort -V -r); do
        if python_is_new_enough "$candidate"; then echo "$candidate"; return; fi
    done
    for candidate in python3.12 python3.13 python3.14 python3; do
        if command -v "$candidate" >/dev/null && python_is_new_enough "$candidate"; then
            command -v "$candidate"
            return
        fi
    done
    die "NetBox $NETBOX_VERSION needs Python >= 3.12 with its headers (pyenv or python3.12-dev); none found. Set NBSP_BASE_PYTHON=/path/to/python3.12"
}

make_venv() {
    local venv=$1 python=$2
    shift 2
    local stamp="$venv/.nbsp-installed"
    local want="$*"
    if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
        log "venv $venv is up to date"
        return
    fi
    log "creating venv $venv with $python"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
    "$venv/bin/pip" install -q "$@"
    echo "$want" >"$stamp"
}

cmd_install() {
    local started=$SECONDS python
    mkdir -p "$STATE"
    chmod 700 "$STATE"
    install_apt_packages
    python=$(find_python)
    log "using $python ($("$python" --version))"
    make_venv "$NB_VENV" "$python" "netbox==$NETBOX_VERSION"
    make_venv "$TEST_VENV" "$python" "${TEST_PACKAGES[@]}"
    log "install done in $((SECONDS - started)) s"
}

# ---------------------------------------------------------------------------------------------
# up

random_string() {
    "$NB_VENV/bin/python" -c 'import secrets, string, sys
alphabet = string.ascii_letters + string.digits
print("".join(secrets.choice(alphabet) for _ in range(int(sys.argv[1]))))' "$1"
}

# Creates a file holding a generated value once; later runs reuse it.
ensure_secret_file() {
    local path=$1 length=$2
    if [[ ! -s $path ]]; then
        (umask 077 && random_string "$length" >"$path")
    fi
}

# Picks the Debian cluster "main" of the installed PostgreSQL, creating it when apt did not.
postgres_cluster_version() {
    local version
    version=$(pg_lsclusters -h 2>/dev/null | awk '$2 == "main" { print $1; exit }')
    if [[ -z $version ]]; then
        version=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1)
        [[ -n $version ]] || die "no PostgreSQL server found under /usr/lib/postgresql; run '$0 install'"
        log "creating PostgreSQL cluster $version/main"
        as_root pg_createcluster "$version" main >/dev/null
    fi
    echo "$version"
}

start_postgres() {
    local version
    version=${NBSP_PG_VERSION:-$(postgres_cluster_version)}
    if pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" && $4 == "online"' | grep -q .; then
        log "PostgreSQL $version/main already running"
    else
        log "starting PostgreSQL $version/main"
        as_root pg_ctlcluster "$version" main start
    fi
    local i
    for i in $(seq 1 30); do
        if as_postgres psql -qAtc 'select 1' >/dev/null 2>&1; then return; fi
        sleep 1
    done
    die "PostgreSQL $version/main did not accept connections"
}

ensure_database() {
    local password
    password=$(cat "$STATE/db_password")
    if ! as_postgres psql -qAtc "select 1 from pg_roles where rolname = '$DB_USER'" | grep -q 1; then
        log "creating database role $DB_USER"
        as_postgres psql -q -v ON_ERROR_STOP=1 -c "create role $DB_USER login password '$password'"
    else
        as_postgres psql -q -v ON_ERROR_STOP=1 -c "alter role $DB_USER password '$password'" >/dev/null
    fi
    if ! as_postgres psql -qAtc "select 1 from pg_database where datname = '$DB_NAME'" | grep -q 1; then
        log "creating database $DB_NAME"
        as_postgres psql -q -v ON_ERROR_STOP=1 -c "create database $DB_NAME owner $DB_USER"
        rm -f "$MIGRATED_MARKER"
    fi
}

pid_alive() {
    local pidfile=$1 pid
    [[ -s $pidfile ]] || return 1
    pid=$(cat "$pidfile")
    kill -0 "$pid" 2>/dev/null
}

start_redis() {
    local pidfile=$STATE/redis.pid
    if pid_alive "$pidfile"; then
        log "redis already running (pid $(cat "$pidfile"))"
        return
    fi
    mkdir -p "$STATE/redis"
    log "starting redis-server on 127.0.0.1:$REDIS_PORT"
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes \
        --pidfile "$pidfile" --logfile "$STATE/redis.log" --dir "$STATE/redis" \
        --save '' --appendonly no
    local i
    for i in $(seq 1 50); do
        if redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; then return; fi
        sleep 0.1
    done
    die "redis-server did not respond to PING on 127.0.0.1:$REDIS_PORT (see $STATE/redis.log)"
}

write_configuration() {
    mkdir -p "$NETBOX_ROOT/conf" "$NETBOX_ROOT/media" "$NETBOX_ROOT/reports" "$NETBOX_ROOT/scripts"
    touch "$NETBOX_ROOT/conf/__init__.py"
    if [[ ! -s $STATE/secret_key ]]; then
        (umask 077 && "$NB_VENV/bin/netbox" secret-key >"$STATE/secret_key")
    fi
    ensure_secret_file "$STATE/pepper" 64
    local conf=$NETBOX_ROOT/conf/configuration.py
    (
        umask 077
        cat >"$conf.new" <<EOF
# Written by scripts/netbox-dev.sh; regenerated on every 'up'.
ALLOWED_HOSTS = ['*']

DATABASES = {
    'default': {
        'ENGINE': 'django.db.backends.postgresql',
        'NAME': '$DB_NAME',
        'USER': '$DB_USER',
        'PASSWORD': '$(cat "$STATE/db_password")',
        'HOST': '127.0.0.1',
        'PORT': '5432',
        'CONN_MAX_AGE': 300,
    }
}

REDIS = {
    'tasks': {'HOST': '127.0.0.1', 'PORT': $REDIS_PORT, 'DATABASE': 0, 'SSL': False},
    'caching': {'HOST': '127.0.0.1', 'PORT': $REDIS_PORT, 'DATABASE': 1, 'SSL': False},
}

SECRET_KEY = '$(cat "$STATE/secret_key")'
API_TOKEN_PEPPERS = {1: '$(cat "$STATE/pepper")'}

DEBUG = False
# LOGIN_REQUIRED keeps its default, True: NetBox 4.7 deprecates setting it and warns when it is set.
TIME_ZONE = 'UTC'
EOF
    )
    if cmp -s "$conf.new" "$conf"; then
        rm -f "$conf.new"
    else
        mv "$conf.new" "$conf"
        CONFIG_CHANGED=1
    fi
}

netbox_cmd() {
    NETBOX_ROOT=$NETBOX_ROOT "$NB_VENV/bin/netbox" "$@"
}

migrate_once() {
    if [[ -f $MIGRATED_MARKER ]]; then
        log "database already migrated for NetBox $NETBOX_VERSION"
        return
    fi
    log "running 'netbox upgrade --no-input' (about 6 minutes on an empty database)"
    local started=$SECONDS
    netbox_cmd upgrade --no-input >"$STATE/upgrade.log" 2>&1 ||
        { tail -n 30 "$STATE/upgrade.log" >&2; die "netbox upgrade failed (see $STATE/upgrade.log)"; }
    log "upgrade done in $((SECONDS - started)) s"
    echo "$DB_NAME" >"$MIGRATED_MARKER"
}

seed() {
    log "seeding"
    NETBOX_ROOT=$NETBOX_ROOT DJANGO_SETTINGS_MODULE=netbox.settings \
        "$NB_VENV/bin/python" "$REPO_ROOT/scripts/netbox_seed.py" \
        --state "$STATE" --base-url "$NETBOX_URL" --output "$SEED_JSON"
}

start_gunicorn() {
    local pidfile=$STATE/gunicorn.pid
    if pid_alive "$pidfile"; then
        if [[ $CONFIG_CHANGED -eq 1 ]]; then
            log "configuration changed: reloading gunicorn (pid $(cat "$pidfile"))"
            kill -HUP "$(cat "$pidfile")"
            sleep 2
        else
            log "gunicorn already running (pid $(cat "$pidfile"))"
        fi
        return
    fi
    log "starting gunicorn on 127.0.0.1:$NETBOX_PORT"
    NETBOX_ROOT=$NETBOX_ROOT "$NB_VENV/bin/gunicorn" netbox.wsgi \
        --bind "127.0.0.1:$NETBOX_PORT" --workers 2 --threads 2 --timeout 120 \
        --control-socket "$STATE/gunicorn.ctl" --pid "$pidfile" --daemon \
        --error-logfile "$STATE/gunicorn.log" --access-logfile "$STATE/gunicorn-access.log"
}

wait_for_netbox() {
    local i
    for i in $(seq 1 120); do
        if curl -fsS -o /dev/null "$NETBOX_URL/login/" 2>/dev/null; then return; fi
        if [[ $i -gt 5 ]] && ! pid_alive "$STATE/gunicorn.pid"; then
            tail -n 30 "$STATE/gunicorn.log" >&2 || true
            die "gunicorn exited (see $STATE/gunicorn.log)"
        fi
        sleep 1
    done
    tail -n 30 "$STATE/gunicorn.log" >&2 || true
    die "NetBox did not respond on $NETBOX_URL/login/ within 120 s (see $STATE/gunicorn.log)"
}

cmd_up() {
    local started=$SECONDS
    [[ -x $NB_VENV/bin/netbox ]] || die "NetBox venv missing: run '$0 install' first"
    mkdir -p "$STATE"
    chmod 700 "$STATE"
    ensure_secret_file "$STATE/db_password" 32
    start_postgres
    ensure_database
    start_redis
    write_configuration
    migrate_once
    seed
    start_gunicorn
    wait_for_netbox
    log "up done in $((SECONDS - started)) s"
    echo "NetBox $NETBOX_VERSION: $NETBOX_URL  (seed: $SEED_JSON)"
}

# ---------------------------------------------------------------------------------------------
# down

stop_pidfile() {
    local name=$1 pidfile=$2 pid i
    if ! pid_alive "$pidfile"; then
        log "$name not running"
        rm -f "$pidfile"
        return
    fi
    pid=$(cat "$pidfile")
    log "stopping $name (pid $pid)"
    kill -TERM "$pid"
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name still running, sending KILL"
        kill -KILL "$pid" || true
    fi
    rm -f "$pidfile"
}

cmd_down() {
    stop_pidfile gunicorn "$STATE/gunicorn.pid"
    stop_pidfile redis "$STATE/redis.pid"
}

# ---------------------------------------------------------------------------------------------
# demo

cmd_demo() {
    cmd_install
    cmd_up
    local data_dir=$STATE/demo-data args
    mkdir -p "$data_dir"
    mapfile -t args < <(proxy_args "$data_dir")
    log "building the proxy (release)"
    (cd "$REPO_ROOT" && cargo build --release --quiet)
    local target=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
    "$target/release/netbox-secrets-proxy" "${args[@]}" >"$STATE/demo-proxy.log" 2>&1 &
    local proxy_pid=$!
    echo "$proxy_pid" >"$STATE/demo-proxy.pid"
    local i
    for i in $(seq 1 50); do
        if curl -fsS -o /dev/null "http://$PROXY_LISTEN/login/" 2>/dev/null; then break; fi
        kill -0 "$proxy_pid" 2>/dev/null || die "the proxy exited (see $STATE/demo-proxy.log)"
        sleep 0.2
    done
    local token dev1_id
    token=$(jq -r .tokens.ADMIN_V2 "$SEED_JSON")
    dev1_id=$(jq -r '.devices["ref-dev-1"].id' "$SEED_JSON")
    cat <<EOF

Proxy:   http://$PROXY_LISTEN   (pid $proxy_pid, log $STATE/demo-proxy.log; stop with: kill $proxy_pid)
NetBox:  $NETBOX_URL
Admin:   admin / $(jq -r .users.admin.password "$SEED_JSON")
Token:   $token

Try the secrets API (copy and paste):

  P=http://$PROXY_LISTEN
  AUTH="Authorization: Bearer $token"
  curl -s -H "\$AUTH" \$P/api/plugins/secrets/ | jq .

  # A key pair for admin (generated by the proxy here; openssl works too). Keep demo.key private.
  curl -s -H "\$AUTH" \$P/api/plugins/secrets/generate-rsa-key-pair/ > demo-pair.json
  jq -r .private_key demo-pair.json > demo.key && chmod 600 demo.key
  curl -s -H "\$AUTH" -H 'Content-Type: application/json' \\
       -d "\$(jq '{public_key}' demo-pair.json)" \$P/api/plugins/secrets/user-keys/ | jq .

  # Trade the private key for a session key.
  SK=\$(curl -s -H "\$AUTH" -H 'Content-Type: application/json' \\
       -d "\$(jq -n --rawfile k demo.key '{private_key: \$k}')" \\
       \$P/api/plugins/secrets/session-key/ | jq -r .session_key)

  # A secret role, then a secret on device ref-dev-1, then read it back decrypted.
  curl -s -H "\$AUTH" -H 'Content-Type: application/json' \\
       -d '{"name": "Demo", "slug": "demo"}' \$P/api/plugins/secrets/secret-roles/ | jq .
  curl -s -H "\$AUTH" -H "X-Session-Key: \$SK" -H 'Content-Type: application/json' \\
       -d '{"assigned_object_type": "dcim.device", "assigned_object_id": $dev1_id, "role": {"slug": "demo"}, "name": "enable", "plaintext": "s3cret"}' \\
       \$P/api/plugins/secrets/secrets/ | jq .
  curl -s -H "\$AUTH" -H "X-Session-Key: \$SK" \$P/api/plugins/secrets/secrets/ | jq '.results[] | {name, plaintext}'
EOF
}

# ---------------------------------------------------------------------------------------------

usage() {
    cat <<EOF
usage: $0 {install|up|down|seed-json|test-python|state-dir|demo}
  install      apt packages, Python >= 3.12, NetBox $NETBOX_VERSION venv and test venv
  up           PostgreSQL, redis, migrations (first time only), seed, gunicorn on $NETBOX_URL
  down         stop gunicorn and the redis this script started
  seed-json    print the path of the seed file
  test-python  print the test venv's python
  state-dir    print the state directory
  demo         install + up, then build and start the proxy on $PROXY_LISTEN
state directory: $STATE
EOF
}

main() {
    case ${1:-} in
        install) cmd_install ;;
        up) cmd_up ;;
        down) cmd_down ;;
        seed-json) echo "$SEED_JSON" ;;
        test-python) echo "$TEST_VENV/bin/python" ;;
        state-dir) echo "$STATE" ;;
        demo) cmd_demo ;;
        -h | --help | help) usage ;;
        *) usage >&2; exit 2 ;;
    esac
}

# exit on the same line: bash then never reads past it, so editing this file while it runs is safe.
main "$@"; exit $?
