# Shared by scripts/up.sh, scripts/down.sh and scripts/test.sh (sourced, not run).
# Installs what is missing on Debian 12, builds the Python environment, and finds or starts
# the PostgreSQL and Redis that the configured URLs point at.

AKIRA_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export AKIRA_RUN_DIR=${AKIRA_RUN_DIR:-$AKIRA_ROOT/.run}
VENV=$AKIRA_ROOT/.venv
DEBIAN_PACKAGES=(kamailio kamailio-python3-modules kamailio-redis-modules sip-tester
                 redis-server redis-tools nats-server
                 postgresql postgresql-client python3-venv procps
                 chromium)  # tests/e2e/test_browser.py: Playwright drives it, never downloads one

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

ensure_packages() {
    local missing=()
    for package in "${DEBIAN_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$package")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing Debian packages: ${missing[*]}"
        as_root apt-get update -q
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
    fi
}

# Debian's /usr/bin/python3 (3.11.2 on Debian 12) is the interpreter Kamailio embeds, so the
# engine's packages must be built for it: one venv from it serves Kamailio, the admin and tests.
ensure_venv() {
    local stamp=$VENV/.akira-installed
    local wanted
    wanted=$(sha256sum "$AKIRA_ROOT/pyproject.toml" | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
        return
    fi
    say "building the Python environment in .venv"
    [ -x "$VENV/bin/python" ] || /usr/bin/python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check --upgrade pip
    "$VENV/bin/pip" install -q --disable-pip-version-check -e "$AKIRA_ROOT[dev]"
    echo "$wanted" > "$stamp"
}

url_part() { # url_part URL host|port|dbname|user
    "$VENV/bin/python" - "$1" "$2" <<'PY'
import sys
from urllib.parse import urlsplit
url, part = sys.argv[1], sys.argv[2]
u = urlsplit(url)
print({"host": u.hostname or "127.0.0.1", "user": u.username or "postgres",
       "password": u.password or "",
       "port": u.port or (5432 if u.scheme.startswith("postgres")
                          else 4222 if u.scheme == "nats" else 6379),
       "dbname": u.path.lstrip("/")}[part])
PY
}

postgres_answers() { # URL
    pg_isready -q -h "$(url_part "$1" host)" -p "$(url_part "$1" port)" -t 3
}

# Start a private PostgreSQL cluster on the URL's port when nothing answers there.
ensure_postgres() { # URL
    local url=$1 port host bin data
    postgres_answers "$url" && return
    host=$(url_part "$url" host); port=$(url_part "$url" port)
    case "$host" in 127.0.0.1|localhost) ;; *) die "PostgreSQL at $host:$port does not answer";; esac
    bin=/usr/lib/postgresql/$(ls /usr/lib/postgresql | sort -V | tail -n 1)/bin
    if [ "$(id -u)" -eq 0 ]; then
        # PostgreSQL refuses to run as root: the cluster belongs to the postgres user, in a
        # folder it can reach (the checkout may sit under root's private home).
        data=/var/lib/akira/pg-$port
        mkdir -p "$data" && chown postgres:postgres "$data" && chmod 700 "$data"
        run_pg() { runuser -u postgres -- "$@"; }
    else
        data=$AKIRA_RUN_DIR/pg-$port
        mkdir -p "$data" && chmod 700 "$data"
        run_pg() { "$@"; }
    fi
    if [ ! -f "$data/PG_VERSION" ]; then
        say "creating a private PostgreSQL cluster in $data"
        run_pg "$bin/initdb" -D "$data" -U "$(url_part "$url" user)" -A trust >/dev/null
    fi
    say "starting a private PostgreSQL on 127.0.0.1:$port"
    run_pg "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -o \
        "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=/tmp" start >/dev/null
    echo "$data" > "$AKIRA_RUN_DIR/private-postgres-$port"
    postgres_answers "$url" || die "PostgreSQL did not start; see $data/server.log"
}

database_login_works() { # URL
    PGCONNECT_TIMEOUT=3 psql "$(maintenance_url "$1")" -Atqc 'SELECT 1' >/dev/null 2>&1
}

maintenance_url() { # URL -> the same server and credentials, database "postgres"
    "$VENV/bin/python" -c 'import sys, psycopg; print(psycopg.conninfo.make_conninfo(sys.argv[1], dbname="postgres"))' "$1"
}

# A fresh Debian cluster asks for passwords on TCP, so the URL's role may not exist or may
# lack one: create it (LOGIN CREATEDB, the URL's password) through a superuser session.
ensure_database_role() { # URL
    local url=$1 port user password sql
    database_login_works "$url" && return
    port=$(url_part "$url" port); user=$(url_part "$url" user); password=$(url_part "$url" password)
    [ -n "$password" ] || die "cannot log in to PostgreSQL with $url; put a password in the URL or fix pg_hba.conf"
    sql="SELECT format(CASE WHEN EXISTS (SELECT FROM pg_roles WHERE rolname = :'user')
                THEN 'ALTER ROLE %I LOGIN CREATEDB PASSWORD %L'
                ELSE 'CREATE ROLE %I LOGIN CREATEDB PASSWORD %L' END, :'user', :'password') \\gexec"
    say "creating the PostgreSQL role $user"
    for superuser in "psql -h 127.0.0.1 -U postgres" "as_root runuser -u postgres -- psql" \
                     "as_root runuser -u postgres -- psql -h /tmp"; do
        if echo "$sql" | $superuser -p "$port" -d postgres -v ON_ERROR_STOP=1 -q \
                -v user="$user" -v password="$password" >/dev/null 2>&1; then
            database_login_works "$url" && return
        fi
    done
    die "cannot create the PostgreSQL role $user on port $port; create it yourself (LOGIN CREATEDB)"
}

# Debian starts its own kamailio service on install; it would hold port 5060.
ensure_sip_port_free() { # LISTEN like udp:127.0.0.1:5060
    local address=${1#udp:}
    if command -v systemctl >/dev/null && systemctl is-active --quiet kamailio 2>/dev/null; then
        say "stopping Debian's kamailio service (Akira runs its own Kamailio)"
        as_root systemctl stop kamailio
    fi
    "$VENV/bin/python" - "${address%:*}" "${address##*:}" <<'PY' || die "UDP $address is taken by another program; stop it or set AKIRA_SIP_LISTEN"
import socket, sys
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
    probe.bind((sys.argv[1], int(sys.argv[2])))
PY
}

redis_answers() { # URL
    redis-cli -h "$(url_part "$1" host)" -p "$(url_part "$1" port)" ping 2>/dev/null | grep -q PONG
}

# Start a private Redis on the URL's port when nothing answers there.
ensure_redis() { # URL
    local url=$1 port host dir
    redis_answers "$url" && return
    host=$(url_part "$url" host); port=$(url_part "$url" port)
    case "$host" in 127.0.0.1|localhost) ;; *) die "Redis at $host:$port does not answer";; esac
    dir=$AKIRA_RUN_DIR/redis-$port
    mkdir -p "$dir"
    say "starting a private Redis on 127.0.0.1:$port"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --dir "$dir" \
        --appendonly yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
    echo "$dir" > "$AKIRA_RUN_DIR/private-redis-$port"
    for _ in $(seq 50); do redis_answers "$url" && return; sleep 0.1; done
    die "Redis did not start; see $dir/redis.log"
}

nats_answers() { # URL
    "$VENV/bin/python" - "$1" <<'PY' 2>/dev/null
import asyncio, sys
import nats

async def main():
    nc = await nats.connect(sys.argv[1], allow_reconnect=False, connect_timeout=2)
    try:
        await nc.jetstream().account_info()  # JetStream on, not just NATS
    finally:
        await nc.close()

asyncio.run(main())
PY
}

# Start a private nats-server with JetStream (file store) on the URL's port when none answers.
ensure_nats() { # URL
    local url=$1 port host dir
    nats_answers "$url" && return
    host=$(url_part "$url" host); port=$(url_part "$url" port)
    case "$host" in 127.0.0.1|localhost) ;; *) die "NATS JetStream at $host:$port does not answer";; esac
    command -v nats-server >/dev/null || die "nats-server is not installed (Debian package nats-server)"
    dir=$AKIRA_RUN_DIR/nats-$port
    mkdir -p "$dir"
    say "starting a private nats-server with JetStream on 127.0.0.1:$port (store $dir)"
    nohup nats-server -a 127.0.0.1 -p "$port" -js -sd "$dir" -P "$dir/nats.pid" \
        -l "$dir/nats.log" >/dev/null 2>&1 &
    echo "$dir" > "$AKIRA_RUN_DIR/private-nats-$port"
    for _ in $(seq 50); do nats_answers "$url" && return; sleep 0.2; done
    die "nats-server did not start; see $dir/nats.log"
}

stop_private_services() {
    local marker dir port
    for marker in "$AKIRA_RUN_DIR"/private-nats-*; do
        [ -e "$marker" ] || continue
        port=${marker##*-}; dir=$(cat "$marker")
        say "stopping the private nats-server on port $port"
        [ -f "$dir/nats.pid" ] && kill -TERM "$(cat "$dir/nats.pid")" 2>/dev/null || true
        rm -f "$marker"
    done
    for marker in "$AKIRA_RUN_DIR"/private-redis-*; do
        [ -e "$marker" ] || continue
        port=${marker##*-}; dir=$(cat "$marker")
        say "stopping the private Redis on port $port"
        redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
        rm -f "$marker"
    done
    for marker in "$AKIRA_RUN_DIR"/private-postgres-*; do
        [ -e "$marker" ] || continue
        port=${marker##*-}; dir=$(cat "$marker")
        say "stopping the private PostgreSQL on port $port"
        local bin=/usr/lib/postgresql/$(ls /usr/lib/postgresql | sort -V | tail -n 1)/bin
        if [ "$(id -u)" -eq 0 ]; then
            runuser -u postgres -- "$bin/pg_ctl" -D "$dir" -m fast stop >/dev/null || true
        else
            "$bin/pg_ctl" -D "$dir" -m fast stop >/dev/null || true
        fi
        rm -f "$marker"
    done
}

# Background processes started by up.sh: NAME -> $AKIRA_RUN_DIR/NAME.pid
stop_process() { # NAME
    local pidfile=$AKIRA_RUN_DIR/$1.pid pid
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
        say "stopping $1 (pid $pid)"
        kill -TERM "$pid"
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
    rm -f "$pidfile"
}
