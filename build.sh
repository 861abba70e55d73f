#!/usr/bin/env bash
# liauto — the one entry point: deps, build, up, down, status, test, bench.
# Run as root on Debian bookworm.  Every subcommand installs what it needs.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$ROOT"

BUILD="$ROOT/build"
VAR="$ROOT/var"
PG_VERSION=15
PG_CLUSTER=liauto
LIAUTO_PORT=${LIAUTO_PORT:-8080}
LIAUTO_PG_PORT=${LIAUTO_PG_PORT:-5440}
LIAUTO_SIM_PORT=${LIAUTO_SIM_PORT:-8081}
MODULE_SO="$BUILD/ngx_liauto_module.so"
WORKER_BIN="$ROOT/worker/liauto-worker"
LUA_MODULES="/usr/lib/nginx/modules/ndk_http_module.so /usr/lib/nginx/modules/ngx_http_lua_module.so"

DEB_PACKAGES=(
    build-essential pkg-config ca-certificates curl procps iproute2
    nginx nginx-dev libnginx-mod-http-lua
    postgresql-$PG_VERSION postgresql-client-$PG_VERSION postgresql-contrib
    postgresql-$PG_VERSION-pgtap
    libpq-dev libcurl4-openssl-dev libjansson-dev libjwt-dev libssl-dev
    libcsv-dev
    libxlsxwriter-dev unzip
    libtest-base-perl libwww-perl libhttp-message-perl libjson-pp-perl
    libyaml-libyaml-perl nodejs
    wrk bc python3 valgrind
    chromium clang llvm
)

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

cmd_deps() {
    local missing=() p
    [ "$(id -u)" = 0 ] || die "run as root (it installs Debian packages)"
    for p in "${DEB_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
            | grep -q "install ok installed" || missing+=("$p")
    done
    # Debian's npm is a package of its own; nodesource's nodejs carries one
    command -v npm >/dev/null || missing+=(npm)
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing Debian packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # the packages start their own services; ours run on other ports
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    openapi_deps
    nginx_upstream_source
}

# The OpenAPI linter (@redocly/cli) and the Swagger UI files nginx serves at
# /api/v1/docs (swagger-ui-dist), at the exact versions and hashes of
# openapi/package-lock.json, in build/node_modules.  --ignore-scripts: no
# install script runs (swagger-ui-dist's only one is usage analytics).
openapi_deps() {
    local stamp
    stamp="$BUILD/node_modules/.liauto-$(cat openapi/package.json \
        openapi/package-lock.json | sha256sum | cut -c1-16)"
    [ -f "$stamp" ] && return 0
    log "installing the OpenAPI tools (npm ci from openapi/package-lock.json)"
    mkdir -p "$BUILD"
    cp openapi/package.json openapi/package-lock.json "$BUILD/"
    npm ci --prefix "$BUILD" --ignore-scripts --no-audit --no-fund \
        >"$BUILD/npm.log" 2>&1 \
        || { tail -20 "$BUILD/npm.log"; die "npm ci failed (see build/npm.log)"; }
    touch "$stamp"
}

# Builds the module against Debian's own nginx source and flags, so the .so
# loads into /usr/sbin/nginx (same signature), and the worker.
cmd_build() {
    cmd_deps
    build_module
    log "building liauto-worker"
    make -s -C worker
}

# ---------------------------------------------------------------- hardening

SANITIZE_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer"
SANITIZER_LOGS="$BUILD/sanitizer-logs"

# ./build.sh test-asan [FILE.t ...]: the module and the worker built with
# AddressSanitizer + UBSan, every suite (or these .t files) run with them.
# Debian's nginx has no ASAN and preloading it (LD_PRELOAD, which
# Test::Nginx keeps in nginx's environment) reaches the psql a test starts
# from nginx, which then hangs at exit: the tests run the same nginx
# version built with ASAN and pool debugging (debug_palloc_nginx).  Reports go
# to build/sanitizer-logs/: nginx's ASAN ones tagged per test block, which
# the runner fails (must_die blocks excepted: stock nginx leaks its startup
# pool when the configuration is refused); the "sanitizers" suite fails on
# every other report (the worker, its tests, UBSan anywhere).
cmd_test_asan() {
    export LIAUTO_MODULE_CFLAGS="$SANITIZE_FLAGS"
    export LIAUTO_MODULE_LDFLAGS="-fsanitize=address,undefined"
    export LIAUTO_WORKER_CFLAGS="$SANITIZE_FLAGS"
    export LIAUTO_WORKER_LDFLAGS="-fsanitize=address,undefined"
    export LIAUTO_TEST_NGINX_BINARY="$BUILD/nginx-palloc/objs/nginx"
    nginx_upstream_source
    debug_palloc_nginx
    # every nginx dynamic module defines ngx_module_names and ngx_modules
    # like nginx itself: by design, not an ODR bug of ours
    export ASAN_OPTIONS="log_path=$SANITIZER_LOGS/asan,detect_leaks=1,detect_odr_violation=0"
    export UBSAN_OPTIONS="log_path=$SANITIZER_LOGS/ubsan,print_stacktrace=1"
    export LSAN_OPTIONS="suppressions=$ROOT/t/lsan-nginx-asan.supp,print_suppressions=0"
    export LIAUTO_SANITIZE=1
    rm -rf "$SANITIZER_LOGS"
    mkdir -p "$SANITIZER_LOGS"
    cmd_test "$@"
}

# For test-asan: the packaged nginx version built with AddressSanitizer and
# its pool debugging on (NGX_DEBUG_PALLOC: every ngx_palloc() is a malloc()
# of its own, so ASAN sees the bounds of what the module allocates from a
# pool).  Upstream sources with Debian's headers laid over them (their
# struct layout is the one Debian's lua module was built with) and Debian's
# configure flags, so the packaged dynamic modules load into it.
debug_palloc_nginx() {
    local src="$BUILD/nginx-palloc" version
    version=$(nginx -v 2>&1 | sed 's|.*/||')
    [ -x "$src/objs/nginx" ] && [ -f "$src/.liauto-asan-$version" ] && return 0
    log "building nginx $version with ASAN and NGX_DEBUG_PALLOC (once, for test-asan)"
    rm -rf "$src"
    cp -a "$BUILD/nginx-upstream" "$src"
    (cd /usr/share/nginx/src && find src -name '*.h' -exec cp --parents {} "$src" \;)
    (
        cd "$src"
        # shellcheck disable=SC1091
        . /usr/share/nginx/src/conf_flags
        # ASAN only (nginx's own code is not UBSan-clean); configure's test
        # programs need not free what they allocate
        export ASAN_OPTIONS=detect_leaks=0
        ./configure "${NGX_CONF_FLAGS[@]}" \
            --with-cc-opt="-g -O1 -fsanitize=address -fno-omit-frame-pointer -DNGX_DEBUG_PALLOC=1" \
            --with-ld-opt="-fsanitize=address" \
            >"$BUILD/configure-palloc.log" 2>&1
        make -s -f objs/Makefile binary >"$BUILD/make-palloc.log" 2>&1
    ) || { tail -20 "$BUILD/make-palloc.log"; die "building nginx with NGX_DEBUG_PALLOC failed"; }
    touch "$src/.liauto-asan-$version"
}

# nginx's own string and pool code for the fuzz harnesses (t/fuzz): nginx-dev
# ships only headers, so the upstream tarball of the packaged version comes
# from Debian's archive, by apt-get source (checked against the signed
# index), with a source list of its own in build/apt.
nginx_upstream_source() {
    local dir="$BUILD/nginx-upstream" apt="$BUILD/apt" version opts
    version=$(nginx -v 2>&1 | sed 's|.*/||')
    [ -f "$dir/.liauto-$version" ] && return 0
    log "fetching the nginx $version source tarball from Debian (apt-get source)"
    mkdir -p "$apt/lists/partial" "$apt/src"
    echo "deb-src http://deb.debian.org/debian bookworm main" >"$apt/sources.list"
    opts=(-q -o Dir::Etc::SourceList="$apt/sources.list"
          -o Dir::Etc::SourceParts=/nonexistent -o Dir::State::Lists="$apt/lists")
    apt-get "${opts[@]}" update >/dev/null
    (cd "$apt/src" && apt-get "${opts[@]}" source --download-only --tar-only nginx \
        >/dev/null 2>&1)
    rm -rf "$dir"
    mkdir -p "$dir"
    tar xzf "$apt/src/nginx_$version.orig.tar.gz" -C "$dir" --strip-components=1 \
        || die "no nginx_$version.orig.tar.gz from apt-get source"
    touch "$dir/.liauto-$version"
}

# ./build.sh fuzz [SECONDS]: every libFuzzer harness of t/fuzz for SECONDS
# (300 by default); ./build.sh test runs them for 10 s each.
cmd_fuzz() {
    cmd_build
    fuzz_run "${1:-300}"
}

fuzz_run() {
    log "building the fuzz harnesses (clang)"
    make -s -C t/fuzz || return 1
    t/fuzz/run.sh "$1"
}

sanitizer_reports() {
    local f found=
    for f in $(grep -lE 'Sanitizer|runtime error:' \
                   "$SANITIZER_LOGS"/asan.* "$SANITIZER_LOGS"/ubsan.* \
                   2>/dev/null); do
        found=1
        log "sanitizer report: $f"
        head -60 "$f" >&2
    done
    [ -z "$found" ]
}

build_module() {
    local src="$BUILD/nginx-src" stamp sum cflags ldflags
    cflags="$(dpkg-buildflags --get CFLAGS) -fPIC $(dpkg-buildflags --get CPPFLAGS) -Wall -Wextra -Wno-unused-parameter -Werror ${LIAUTO_MODULE_CFLAGS:-}"
    ldflags="$(dpkg-buildflags --get LDFLAGS) -fPIC ${LIAUTO_MODULE_LDFLAGS:-}"
    mkdir -p "$BUILD"
    # one build at a time in build/ (test runs may overlap)
    exec 9>"$BUILD/.build.lock"
    flock 9
    sum=$( (cat config /usr/share/nginx/src/conf_flags; echo "$cflags $ldflags") \
              | sha256sum | cut -c1-16)
    stamp="$src/.liauto-configured-$sum"
    if [ ! -f "$stamp" ]; then
        log "configuring nginx $(nginx -v 2>&1 | sed 's/.*\///') for the module"
        rm -rf "$src"
        mkdir -p "$src"
        cp -a /usr/share/nginx/src/. "$src/"
        (
            cd "$src"
            # shellcheck disable=SC1091
            . ./conf_flags
            ./configure \
                --with-cc-opt="$cflags" \
                --with-ld-opt="$ldflags" \
                "${NGX_CONF_FLAGS[@]}" \
                --add-dynamic-module="$ROOT" >"$BUILD/configure.log" 2>&1
        ) || { tail -20 "$BUILD/configure.log"; die "nginx configure failed"; }
        touch "$stamp"
    fi
    log "building ngx_liauto_module.so"
    make -s -C "$src" -f objs/Makefile modules >"$BUILD/make.log" 2>&1 \
        || { grep -E 'error|Error' "$BUILD/make.log" | head -30; die "module build failed"; }
    cp "$src/objs/ngx_liauto_module.so" "$MODULE_SO.tmp"
    mv "$MODULE_SO.tmp" "$MODULE_SO"
    flock -u 9
}

# ---------------------------------------------------------------- the stack

pg_run() { runuser -u postgres -- "$@"; }

cluster_up() {
    if ! pg_lsclusters -h | awk '{print $1"/"$2}' | grep -qx "$PG_VERSION/$PG_CLUSTER"; then
        log "creating PostgreSQL cluster $PG_VERSION/$PG_CLUSTER on port $LIAUTO_PG_PORT"
        pg_createcluster "$PG_VERSION" "$PG_CLUSTER" -p "$LIAUTO_PG_PORT" >/dev/null
    fi
    pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" start 2>/dev/null || true
    pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" status >/dev/null \
        || die "PostgreSQL cluster $PG_VERSION/$PG_CLUSTER did not start"
    local port
    port=$(pg_conftool -s "$PG_VERSION" "$PG_CLUSTER" show port)
    LIAUTO_PG_PORT=$port

    mkdir -p "$VAR"
    [ -s "$VAR/db-password" ] || head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$VAR/db-password"
    chmod 600 "$VAR/db-password"
    local pw
    pw=$(cat "$VAR/db-password")
    pg_run psql -q -p "$port" -v ON_ERROR_STOP=1 -v pw="$pw" <<'SQL'
SELECT format('CREATE ROLE liauto LOGIN PASSWORD %L', :'pw')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'liauto') \gexec
SELECT format('ALTER ROLE liauto PASSWORD %L', :'pw') \gexec
SELECT 'CREATE DATABASE liauto OWNER liauto'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'liauto') \gexec
SQL
    pg_run psql -q -p "$port" -d liauto -c 'CREATE EXTENSION IF NOT EXISTS pgcrypto' >/dev/null
    export LIAUTO_DATABASE_URL=$(db_url)
}

# the local stack's database, as the worker and nginx reach it
db_url() {
    echo "host=127.0.0.1 port=$LIAUTO_PG_PORT dbname=liauto user=liauto password=$(cat "$VAR/db-password")"
}

admin_user() {
    local email=${LIAUTO_ADMIN_EMAIL:-admin@liauto.local} pw=${LIAUTO_ADMIN_PASSWORD:-}
    if [ -z "$pw" ]; then
        [ -s "$VAR/admin-password" ] || head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$VAR/admin-password"
        chmod 600 "$VAR/admin-password"
        pw=$(cat "$VAR/admin-password")
    fi
    psql "$LIAUTO_DATABASE_URL" -q -v ON_ERROR_STOP=1 -v email="$email" -v pw="$pw" <<'SQL' >/dev/null
INSERT INTO liauto.users (email, password_hash, role)
VALUES (:'email', liauto.hash_password(:'pw'), 'admin')
ON CONFLICT ((lower(email))) DO UPDATE
   SET password_hash = EXCLUDED.password_hash, role = 'admin',
       client_id = NULL;
SQL
    ADMIN_EMAIL=$email ADMIN_PASSWORD=$pw
}

nginx_conf() {
    local dir=$1 port=$2 dsn=$3
    mkdir -p "$dir"/{conf,logs,tmp}
    if [ ! -s "$VAR/jwt-hs256.key" ]; then
        (umask 077; head -c 48 /dev/urandom | base64 -w0 >"$VAR/jwt-hs256.key")
    fi
    sed -e "s|@MODULE_SO@|$MODULE_SO|g" \
        -e "s|@PREFIX@|$dir|g" \
        -e "s|@PORT@|$port|g" \
        -e "s|@DSN@|$dsn|g" \
        -e "s|@ROOT@|$ROOT|g" \
        conf/nginx.conf.in >"$dir/conf/nginx.conf"
    cp conf/liauto-api.conf conf/liauto-connections.conf "$dir/conf/"
}

pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# nginx_stop PREFIX: graceful stop, waiting until the master is gone
nginx_stop() {
    local i
    pid_alive "$1/logs/nginx.pid" || return 0
    log "stopping nginx ($1)"
    nginx -p "$1/" -c conf/nginx.conf -s quit
    for i in $(seq 1 100); do
        pid_alive "$1/logs/nginx.pid" || return 0
        sleep 0.1
    done
}

worker_stop() {
    local i
    pid_alive "$VAR/run/worker.pid" || return 0
    log "stopping liauto-worker"
    kill -TERM "$(cat "$VAR/run/worker.pid")"
    for i in $(seq 1 100); do
        pid_alive "$VAR/run/worker.pid" || break
        sleep 0.1
    done
    rm -f "$VAR/run/worker.pid"
}

# the Unipile/Resend simulator (t/sim), for when no real keys are set
sim_key() {
    [ -s "$VAR/sim-api-key" ] \
        || (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$VAR/sim-api-key")
    cat "$VAR/sim-api-key"
}

# the Unipile webhooks' shared secret (header Unipile-Auth), in
# var/webhook-secret for nginx: LIAUTO_WEBHOOK_SECRET, else the random one
# made at the first up
webhook_secret() {
    mkdir -p "$VAR"
    if [ -n "${LIAUTO_WEBHOOK_SECRET:-}" ]; then
        (umask 077; printf '%s\n' "$LIAUTO_WEBHOOK_SECRET" >"$VAR/webhook-secret")
    elif [ ! -s "$VAR/webhook-secret" ]; then
        (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$VAR/webhook-secret")
    fi
    chmod 600 "$VAR/webhook-secret"
    head -n 1 "$VAR/webhook-secret"
}

# it delivers its webhooks to our nginx, with our secret
sim_up() {
    # the same key for its Resend (/emails): a local stand-in only
    t/sim/render.sh "$VAR/sim" "$LIAUTO_SIM_PORT" "$(sim_key)" \
        "http://127.0.0.1:$LIAUTO_PORT/api/v1/webhooks/unipile" \
        "$(webhook_secret)" "$(sim_key)" >/dev/null
    if pid_alive "$VAR/sim/logs/nginx.pid"; then
        nginx -p "$VAR/sim/" -c conf/nginx.conf -s reload
    else
        log "starting the Unipile/Resend simulator on 127.0.0.1:$LIAUTO_SIM_PORT"
        nginx -p "$VAR/sim/" -c conf/nginx.conf
    fi
}

cmd_up() {
    cmd_build
    cluster_up
    log "applying migrations"
    "$WORKER_BIN" migrate
    admin_user

    mkdir -p "$VAR/log" "$VAR/run"
    local simulated=
    if [ -z "${UNIPILE_API_KEY:-}" ]; then
        # no real Unipile: the worker talks to the simulator
        simulated=1
        export UNIPILE_DSN="http://127.0.0.1:$LIAUTO_SIM_PORT"
        export UNIPILE_API_KEY=$(sim_key)
        # notifications too, unless a real Resend key is given
        if [ -z "${RESEND_API_KEY:-}" ]; then
            export RESEND_BASE_URL="http://127.0.0.1:$LIAUTO_SIM_PORT"
            export RESEND_API_KEY=$(sim_key)
        fi
    fi
    # the worker registers and repairs Unipile's webhooks (admin runs):
    # our URL and the secret the module checks
    local secret_given=${LIAUTO_WEBHOOK_SECRET:-} webhook_secret
    webhook_secret=$(webhook_secret)
    export LIAUTO_WEBHOOK_URL="${LIAUTO_WEBHOOK_URL:-http://127.0.0.1:$LIAUTO_PORT/api/v1/webhooks/unipile}"
    export LIAUTO_WEBHOOK_SECRET=$webhook_secret
    # outbound webhooks (SSRF guard, 0038): the local stack may subscribe
    # receivers on this machine; a deployment leaves both unset
    export LIAUTO_WEBHOOK_ALLOW_NETS="${LIAUTO_WEBHOOK_ALLOW_NETS-127.0.0.0/8,::1}"
    # (a setting of our own: only a superuser may put it on the database)
    pg_run psql -q -p "$LIAUTO_PG_PORT" -d liauto -v ON_ERROR_STOP=1 \
        -v nets="$LIAUTO_WEBHOOK_ALLOW_NETS" <<'SQL'
SELECT format('ALTER DATABASE liauto SET liauto.webhook_allow_nets = %L',
              :'nets') \gexec
SQL
    # restarted, so that it runs what was just built
    worker_stop
    log "starting liauto-worker"
    setsid "$WORKER_BIN" run >>"$VAR/log/worker.log" 2>&1 </dev/null &
    echo $! >"$VAR/run/worker.pid"

    [ -n "$simulated" ] && sim_up

    nginx_conf "$VAR/nginx" "$LIAUTO_PORT" "$LIAUTO_DATABASE_URL"
    nginx -t -q -p "$VAR/nginx/" -c conf/nginx.conf
    # a reload would keep the module already loaded (dlopen of the same
    # path): restart, so nginx runs the module just built
    nginx_stop "$VAR/nginx"
    log "starting nginx on 127.0.0.1:$LIAUTO_PORT"
    nginx -p "$VAR/nginx/" -c conf/nginx.conf

    local i
    for i in $(seq 1 50); do
        curl -fs "http://127.0.0.1:$LIAUTO_PORT/api/v1/health" >/dev/null && break
        sleep 0.1
    done

    cat <<EOF

liauto is up.
  API        http://127.0.0.1:$LIAUTO_PORT/api/v1/health
  admin      $ADMIN_EMAIL / $ADMIN_PASSWORD$( [ -z "${LIAUTO_ADMIN_PASSWORD:-}" ] && echo "   (saved in var/admin-password)")
  database   $LIAUTO_DATABASE_URL
  webhooks   http://127.0.0.1:$LIAUTO_PORT/api/v1/webhooks/unipile/{users,messaging,account-status}
             header Unipile-Auth: $webhook_secret$( [ -z "$secret_given" ] && echo "   (saved in var/webhook-secret)")
  Unipile    ${UNIPILE_DSN:-} $( [ -s "$VAR/sim/logs/nginx.pid" ] && echo "(the simulator; control API at /_sim/, see t/sim/README.md)")
  logs       var/nginx/logs/error.log, var/log/worker.log
  stop       ./build.sh down      status: ./build.sh status

$(curl -s "http://127.0.0.1:$LIAUTO_PORT/api/v1/health")
EOF
}

cmd_down() {
    if pid_alive "$VAR/sim/logs/nginx.pid"; then
        log "stopping the simulator"
        nginx -p "$VAR/sim/" -c conf/nginx.conf -s quit
    fi
    nginx_stop "$VAR/nginx"
    worker_stop
    if pg_lsclusters -h 2>/dev/null | awk '{print $1"/"$2}' | grep -qx "$PG_VERSION/$PG_CLUSTER"; then
        log "stopping PostgreSQL $PG_VERSION/$PG_CLUSTER (data kept)"
        pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" stop 2>/dev/null || true
    fi
}

cmd_status() {
    local s
    pid_alive "$VAR/nginx/logs/nginx.pid" && s="running (pid $(cat "$VAR/nginx/logs/nginx.pid"))" || s="stopped"
    echo "nginx        $s"
    pid_alive "$VAR/run/worker.pid" && s="running (pid $(cat "$VAR/run/worker.pid"))" || s="stopped"
    echo "worker       $s"
    pid_alive "$VAR/sim/logs/nginx.pid" && s="running on 127.0.0.1:$LIAUTO_SIM_PORT" || s="stopped"
    echo "simulator    $s"
    pg_lsclusters -h 2>/dev/null | awk -v c="$PG_CLUSTER" '$2==c {print "postgres     "$4" (cluster "$1"/"$2", port "$3")"; f=1} END {if (!f) print "postgres     not created"}'
    if curl -fs "http://127.0.0.1:$LIAUTO_PORT/api/v1/health" -o /tmp/liauto-health.$$ 2>/dev/null; then
        echo "health       $(cat /tmp/liauto-health.$$)"
    else
        echo "health       not answering on 127.0.0.1:$LIAUTO_PORT"
    fi
    rm -f /tmp/liauto-health.$$
}

# ---------------------------------------------------------------- tests

# a port no Postgres (or anything else) uses, so that several throwaway
# clusters and test nginxes can run side by side
free_port() {
    local port
    for port in $(shuf -i 20000-29999 -n 50); do
        [ -e "/var/run/postgresql/.s.PGSQL.$port" ] && continue
        ss -Hltn "sport = :$port" | grep -q . && continue
        echo "$port"
        return
    done
    die "no free port found"
}

# runs "$@" inside a throwaway cluster (pg_virtualenv exports PGHOST, ...)
with_throwaway_pg() {
    pg_virtualenv -t -v "$PG_VERSION" -c "-p $(free_port)" "$@"
}

# ./build.sh test [FILE.t ...]: every suite, or just these Test::Nginx files
cmd_test() {
    cmd_build
    with_throwaway_pg "$ROOT/build.sh" __suites "$@"
}

openapi_lint() {
    REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
        "$BUILD/node_modules/.bin/redocly" lint \
        --config openapi/redocly.yaml openapi/openapi.yaml
}

suite() {
    local name=$1; shift
    log "suite: $name"
    if "$@"; then
        PASSED+=("$name")
    else
        FAILED+=("$name")
    fi
}

# a throwaway database migrated, and the environment every suite gets
suites_env() {
    PASSED=() FAILED=()
    export LIAUTO_TEST_DSN="host=$PGHOST port=$PGPORT dbname=liauto_test user=$PGUSER password=$PGPASSWORD"
    export LIAUTO_DATABASE_URL="$LIAUTO_TEST_DSN"
    createdb liauto_test
    psql -q -d liauto_test -c 'CREATE EXTENSION pgtap' >/dev/null
    "$WORKER_BIN" migrate || die "migrations failed"

    export TEST_NGINX_BINARY=${LIAUTO_TEST_NGINX_BINARY:-/usr/sbin/nginx}
    export TEST_NGINX_LOAD_MODULES="$LUA_MODULES $MODULE_SO"
    export TEST_NGINX_LIAUTO_DSN="$LIAUTO_TEST_DSN"
    export TEST_NGINX_LIAUTO_ROOT="$ROOT"
    # nginx clears its workers' environment: carry the cluster's location
    export TEST_NGINX_LIAUTO_PGCTL="env PG_CLUSTER_CONF_ROOT=${PG_CLUSTER_CONF_ROOT:-/etc/postgresql} pg_ctlcluster $PG_VERSION regress"
    # a port and server root of its own, so test runs may overlap
    export TEST_NGINX_PORT=$(free_port)
    export TEST_NGINX_SERVROOT="$BUILD/t-servroot-$TEST_NGINX_PORT"
}

cmd___suites() {
    suites_env

    if [ $# -gt 0 ]; then
        suite "${*}" prove ${LIAUTO_PROVE_FLAGS:-} -It/compat "$@"
        [ -z "${LIAUTO_SANITIZE:-}" ] || suite sanitizers sanitizer_reports
        summarize
        return
    fi

    suite pgtap pg_prove -q -d liauto_test sql/tests/*.sql
    suite worker prove worker/tests/
    suite test-nginx-compat env -u TEST_NGINX_LOAD_MODULES prove -It/compat t/compat/selftest.t
    suite openapi openapi_lint
    suite fuzz fuzz_run "${LIAUTO_FUZZ_SECONDS:-10}"
    suite test-nginx prove -It/compat t/
    [ -n "${LIAUTO_SANITIZE:-}" ] || suite contract contract_check
    [ -z "${LIAUTO_SANITIZE:-}" ] || suite sanitizers sanitizer_reports
    summarize
}

# ./build.sh contract [FILE.t ...]: the contract suite alone
cmd_contract() {
    cmd_build
    with_throwaway_pg "$ROOT/build.sh" __contract "$@"
}

cmd___contract() {
    suites_env
    suite contract contract_check "$@"
    summarize
}

# The contract suite: the API .t files again (or the given ones), their
# requests sent through a prism proxy (@stoplight/prism-cli, --errors=false)
# in front of the test nginx: TEST_NGINX_CLIENT_PORT, which the real
# Test::Nginx honours too (and t/lib/liauto/http.lua, for the requests the
# tests make from inside nginx).  A plain nginx before prism records each
# exchange with prism's verdict (t/contract/recorder.conf.in);
# t/contract/check.pl fails on any response off openapi/openapi.yaml.  The
# files' own assertions are the test-nginx suite's (a proxy in between
# rewrites Connection, re-serializes JSON, buffers streams): here only
# prism's verdict counts.  Prism reads the spec through
# t/contract/spec-for-prism.pl (it ignores 2020-12's prefixItems).  Skipped: files without API traffic through the
# client port (the configuration's refusals, the simulator, the browser
# page, raw SSE streams).
CONTRACT_SKIP=" t/003-config.t t/050-simulator.t t/070-inbox-page.t t/071-stream.t "
contract_check() {
    local dir files=() f pid prism rec rc=0 i
    if [ $# -eq 0 ]; then
        for f in t/*.t; do
            [[ "$CONTRACT_SKIP" == *" $f "* ]] || files+=("$f")
        done
    else
        files=("$@")
    fi
    prism=$(free_port)
    rec=$(free_port)
    dir="$BUILD/contract-$rec"
    rm -rf "$dir"
    mkdir -p "$dir"
    t/contract/spec-for-prism.pl openapi/openapi.yaml >"$dir/openapi.json"
    "$BUILD/node_modules/.bin/prism" proxy "$dir/openapi.json" \
        "http://127.0.0.1:$TEST_NGINX_PORT" -p "$prism" --errors=false \
        --cors=false >"$dir/prism.log" 2>&1 &
    pid=$!
    sed -e "s|@DIR@|$dir|g" -e "s|@PORT@|$rec|" -e "s|@PRISM_PORT@|$prism|" \
        t/contract/recorder.conf.in >"$dir/nginx.conf"
    nginx -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log"
    for i in $(seq 1 600); do
        grep -q 'Prism is listening' "$dir/prism.log" && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if grep -q 'Prism is listening' "$dir/prism.log"; then
        TEST_NGINX_CLIENT_PORT=$rec prove -It/compat "${files[@]}" \
            >"$dir/prove.log" 2>&1 || true
        t/contract/check.pl "$dir/exchanges.log" openapi/openapi.yaml || rc=1
    else
        cat "$dir/prism.log"
        rc=1
    fi
    nginx -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" -s stop
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    [ "$rc" = 1 ] || rm -rf "$dir"
    return "$rc"
}

summarize() {
    # a failed run keeps its nginx logs for reading
    [ ${#FAILED[@]} -gt 0 ] || rm -rf "$TEST_NGINX_SERVROOT"
    echo
    echo "suites passed: ${PASSED[*]:-none}"
    echo "suites failed: ${FAILED[*]:-none}"
    echo "${#PASSED[@]} passed, ${#FAILED[@]} failed"
    [ ${#FAILED[@]} -eq 0 ]
}

# ---------------------------------------------------------------- soak

# ./build.sh soak: the fault-injection suite with its large numbers
# (LIAUTO_SOAK=1 in worker/tests/faults_*.t and pacing_days.t: more
# leads, kills, restarts and simulated days) against a throwaway Postgres
cmd_soak() {
    cmd_build
    export LIAUTO_SOAK=1
    with_throwaway_pg prove -v worker/tests/faults_kill.t \
        worker/tests/faults_pg_restart.t worker/tests/faults_leader.t \
        worker/tests/pacing_days.t
}

# ./build.sh soak-rss [MINUTES]: a stack under a mixed load at half its
# measured capacity for MINUTES (default 60), RSS/fds/connections sampled
# every minute (t/soak/rss.sh; table in build/soak-rss.md)
cmd_soak_rss() {
    cmd_build
    with_throwaway_pg "$ROOT/t/soak/rss.sh" "$@"
}

# ---------------------------------------------------------------- bench

cmd_bench() {
    cmd_build
    with_throwaway_pg "$ROOT/t/bench/run.sh"
    with_throwaway_pg "$ROOT/t/bench/floods.sh"
}

# ./build.sh bench-floods: the slow-header and idle-connection floods alone
cmd_bench_floods() {
    cmd_build
    with_throwaway_pg "$ROOT/t/bench/floods.sh"
}

# analytics at 1,000,000 leads / 5,000,000 events (t/bench/analytics.sh);
# a server sized for that data rather than pg_virtualenv's defaults
cmd_bench_analytics() {
    cmd_build
    with_throwaway_pg -o shared_buffers=1GB -o work_mem=32MB \
        -o max_wal_size=4GB "$ROOT/t/bench/analytics.sh"
}

# ---------------------------------------------------------------- demo

# json_get KEY: a top-level string/number field of the JSON on stdin
json_get() {
    perl -MJSON::PP -e 'local $/; my $v = decode_json(<STDIN>)->{$ARGV[0]};
        print defined $v ? $v : ""' "$1"
}

# api METHOD PATH [BODY [CONTENT-TYPE]]: the running stack's API as admin
api() {
    curl -fsS -X "$1" "http://127.0.0.1:$LIAUTO_PORT/api/v1$2" \
         -H "Authorization: Bearer $DEMO_TOKEN" \
         -H "Content-Type: ${4:-application/json}" ${3:+--data-binary "$3"}
}

sim() {
    curl -fsS -X "$1" "http://127.0.0.1:$LIAUTO_SIM_PORT/_sim$2" ${3:+-d "$3"}
}

# ./build.sh demo: on the stack `up` started (with the simulator), a demo
# client, sender and campaign whose steps are minutes apart; run it again
# to see the leads move.
cmd_demo() {
    curl -fs "http://127.0.0.1:$LIAUTO_PORT/api/v1/health" >/dev/null \
        || die "the stack is not up: ./build.sh up first"
    pid_alive "$VAR/sim/logs/nginx.pid" \
        || die "the demo needs the simulator (UNIPILE_API_KEY unset at up)"

    DEMO_TOKEN=$(curl -fsS "http://127.0.0.1:$LIAUTO_PORT/api/v1/auth/login" \
        -H 'Content-Type: application/json' \
        -d "{\"email\":\"${LIAUTO_ADMIN_EMAIL:-admin@liauto.local}\",\"password\":\"${LIAUTO_ADMIN_PASSWORD:-$(cat "$VAR/admin-password")}\"}" \
        | json_get access_token)

    if [ ! -s "$VAR/demo-campaign" ]; then
        log "creating the demo: client, sender, campaign, 8 leads"
        # people accept 20 s after the invite and never reply by themselves
        sim POST /config '{"auto_people":true,"accept_after_ms":20000,"reply_after_ms":-1}' >/dev/null
        local sim_account client account campaign
        sim_account=$(sim POST /accounts '{"name":"Demo Sender"}' | json_get id)
        client=$(api POST /clients '{"name":"Demo agency","timezone":"UTC"}' | json_get id)
        account=$(api POST /linkedin-accounts "{\"client_id\":\"$client\",\"name\":\"Demo Sender\",\"unipile_account_id\":\"$sim_account\",\"timezone\":\"UTC\"}" | json_get id)
        # human pacing is tens of seconds to minutes; the demo goes faster
        psql "$(db_url)" -qc "UPDATE liauto.linkedin_accounts SET spacing_min_seconds = 2, spacing_max_seconds = 5 WHERE id = '$account'"
        campaign=$(api POST /campaigns "{\"client_id\":\"$client\",\"name\":\"Demo campaign\",\"linkedin_account_id\":\"$account\",\"timezone\":\"UTC\",\"working_hours_start\":\"00:00\",\"working_hours_end\":\"23:59\",\"working_days\":[1,2,3,4,5,6,7]}" | json_get id)
        api PUT "/campaigns/$campaign/sequence" '{"steps":[
            {"type":"invite","note":"Hi {{first_name}}, I help teams like {{company|yours}} book meetings.","delay_days":0},
            {"type":"message","text":"Thanks for connecting, {{first_name|there}}!","delay_minutes":1},
            {"type":"message","text":"{{first_name}}, worth a 15-minute call next week?","delay_minutes":2}]}' >/dev/null
        api POST "/campaigns/$campaign/leads/import" "First Name,Last Name,Company,Title,LinkedIn URL
Ada,Lovelace,Analytical Engines,Countess,https://www.linkedin.com/in/demo-ada-lovelace/
Grace,Hopper,US Navy,Rear Admiral,https://www.linkedin.com/in/demo-grace-hopper/
Alan,Turing,Bletchley Park,Cryptanalyst,https://www.linkedin.com/in/demo-alan-turing/
Katherine,Johnson,NASA,Mathematician,https://www.linkedin.com/in/demo-katherine-johnson/
Edsger,Dijkstra,,Professor,https://www.linkedin.com/in/demo-edsger-dijkstra/
Margaret,Hamilton,MIT,Director,https://www.linkedin.com/in/demo-margaret-hamilton/
Linus,Torvalds,Linux Foundation,Fellow,https://www.linkedin.com/in/demo-linus-torvalds/
Barbara,Liskov,MIT,Institute Professor,https://www.linkedin.com/in/demo-barbara-liskov/" text/csv >/dev/null
        api POST /automation/scheduler/actions/start >/dev/null
        api POST "/campaigns/$campaign/actions/start" >/dev/null
        echo "$campaign" >"$VAR/demo-campaign"
        echo "demo campaign $campaign started; run ./build.sh demo again to follow it"
    fi

    local campaign
    campaign=$(cat "$VAR/demo-campaign")
    echo
    api GET "/campaigns/$campaign/status"
    echo
    echo
    api GET "/campaigns/$campaign/leads?limit=50" | perl -MJSON::PP -0777 -ne '
        for my $l (@{decode_json($_)->{data}}) {
            printf "%-10s %-10s %-12s step %d\n", $l->{first_name},
                   $l->{last_name}, $l->{status}, $l->{current_step};
        }'
    echo
    echo "why each lead waits: GET /api/v1/leads/{id}/schedule; what the"
    echo "simulator received: curl 127.0.0.1:$LIAUTO_SIM_PORT/_sim/sent"
}

usage() {
    cat <<'EOF'
usage: ./build.sh <command>
  deps     install every Debian package the project needs
  build    build ngx_liauto_module.so (against Debian's nginx) and liauto-worker
  up       start Postgres, migrations, worker and nginx on 127.0.0.1:$LIAUTO_PORT
  down     stop what up started (the database keeps its data)
  status   say what runs
  test     run every test suite against a throwaway Postgres
  test-asan  the same with the module and worker built with ASAN + UBSan
  soak     the fault-injection suite with large numbers (long)
  contract [FILE.t ...]  the API tests through prism against openapi/openapi.yaml
  soak-rss [M]  M minutes (default 60) of mixed load at half capacity: RSS, fds, errors
  fuzz [S] each libFuzzer harness (t/fuzz) for S seconds (default 300)
  bench    wrk against the module next to nginx's return 200 and pgbench
  bench-floods  other requests' p99 under slow-header and idle-connection floods
  bench-analytics  analytics latency at 1M leads / 5M events
  demo     on a running stack with the simulator: a demo campaign, then its progress
EOF
}

case "${1:-}" in
    deps|build|up|down|status|test|test-asan|contract|soak|soak-rss|fuzz|bench|bench-floods|bench-analytics|demo|__suites|__contract)
        cmd="cmd_${1//-/_}"; shift; "$cmd" "$@" ;;
    -h|--help|help|"") usage ;;
    *) usage; exit 2 ;;
esac
