#!/usr/bin/env bash
# Slow-header and idle-connection floods (part of ./build.sh bench; alone:
# ./build.sh bench-floods).  Inside pg_virtualenv (PG* set): nginx with the
# deployed connection limits (t/bench/floods.conf.in), then wrk measures
# GET /api/v1/leads/{id} (JWT) and GET /api/v1/health with no flood, under
# a slowloris flood (t/bench/flood.py: connections trickling a header
# byte every few seconds) and under a flood of idle keep-alive
# connections.  Prints the table (also build/bench-floods.md): other
# requests' p99 under each flood against the baseline (goal: within 2x).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PREFIX="$ROOT/build/bench-floods"
SECONDS_EACH=${LIAUTO_BENCH_SECONDS:-10}
CONNS=${LIAUTO_FLOOD_WRK_CONNECTIONS:-16}
SLOW=${LIAUTO_FLOOD_SLOWLORIS:-2000}
IDLE=${LIAUTO_FLOOD_IDLE:-4000}
OUT="$ROOT/build/bench-floods.md"
DB=liauto_floods
DSN="host=$PGHOST port=$PGPORT dbname=$DB user=$PGUSER password=$PGPASSWORD"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'floods: %s\n' "$*" >&2; exit 1; }

# thousands of sockets on both ends (as many as the hard limit allows)
ulimit -n "$(ulimit -Hn)"

port() {
    local p
    for p in $(shuf -i 10000-19999 -n 50); do
        ss -Htan "sport = :$p" | grep -q . || { echo "$p"; return; }
    done
    die "no free port found"
}
PORT=${LIAUTO_FLOOD_PORT:-$(port)}

createdb "$DB"
LIAUTO_DATABASE_URL="$DSN" "$ROOT/worker/liauto-worker" migrate >/dev/null 2>&1
read -r CLIENT_ID AGENT_ID LEAD_ID < <(psql -qAt -F ' ' -d "$DB" -v ON_ERROR_STOP=1 <<'SQL'
WITH c AS (INSERT INTO liauto.clients (name) VALUES ('floods') RETURNING id),
     u AS (INSERT INTO liauto.users (email, password_hash, role, client_id)
           SELECT 'agent@floods.test', liauto.hash_password('floods pass'),
                  'agent', c.id FROM c RETURNING id),
     k AS (INSERT INTO liauto.campaigns (client_id, name)
           SELECT c.id, 'floods' FROM c RETURNING id, client_id),
     l AS (INSERT INTO liauto.leads (client_id, campaign_id, first_name,
                                     public_identifier)
           SELECT k.client_id, k.id, 'Lead', 'floods-lead' FROM k
           RETURNING id)
SELECT (SELECT id FROM c), (SELECT id FROM u), (SELECT id FROM l);
SQL
)
TOKEN=$(perl -I"$ROOT/t/lib" -MLiauto::Token=hs256 -e \
    'print hs256({sub => $ARGV[0], role => "agent", client_id => $ARGV[1],
                  exp => time + 3600})' "$AGENT_ID" "$CLIENT_ID")

rm -rf "$PREFIX"
mkdir -p "$PREFIX"/{conf,logs,tmp}
sed -e "s|@MODULE_SO@|$ROOT/build/ngx_liauto_module.so|" \
    -e "s|@PREFIX@|$PREFIX|g" -e "s|@PORT@|$PORT|" -e "s|@DSN@|$DSN|" \
    -e "s|@ROOT@|$ROOT|g" \
    "$ROOT/t/bench/floods.conf.in" >"$PREFIX/conf/nginx.conf"
nginx -p "$PREFIX/" -c conf/nginx.conf
FLOOD=
cleanup() {
    [ -z "$FLOOD" ] || kill "$FLOOD" 2>/dev/null || true
    nginx -p "$PREFIX/" -c conf/nginx.conf -s stop 2>/dev/null || true
}
trap cleanup EXIT
for i in $(seq 1 50); do
    curl -fs "http://127.0.0.1:$PORT/api/v1/health" >/dev/null && break
    sleep 0.1
done

# wrk_run PATH [WRK OPTION...] -> "rps p99 errors" (errors: non-2xx and
# socket errors)
wrk_run() {
    local path=$1 out
    shift
    out=$(wrk -t2 -c"$CONNS" -d"${SECONDS_EACH}s" --latency "$@" \
              "http://127.0.0.1:$PORT$path")
    echo "$(echo "$out" | awk '/Requests\/sec/ {print $2}') \
$(echo "$out" | awk '$1 == "99%" {print $2}') \
$(echo "$out" | awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(",", "");
                     n += $4 + $6 + $8 + $10} END {print n + 0}')"
}

# wrk's latency ("850.00us", "1.20ms", "2.00s") in ms
ms() {
    echo "$1" | awk '/us$/ {print $1 / 1000; next} /ms$/ {print $1 + 0; next}
                     /s$/ {print $1 * 1000}'
}

# flood_open: the connections the flood holds open now
flood_open() { tail -1 "$PREFIX/flood.log" | awk '{print $2}'; }

# measure NAME HELD: a row; a "no flood" row (HELD 0) is the baseline of
# the flood rows after it (each flood has one just before it: the machine
# may be busy, a baseline from minutes earlier would say little)
declare -a rows
BASE_LEADS= BASE_HEALTH=
measure() {
    local name=$1 held=$2 l_rps l_p99 l_err h_rps h_p99 h_err
    read -r l_rps l_p99 l_err <<<"$(wrk_run "/api/v1/leads/$LEAD_ID" \
        -H "Authorization: Bearer $TOKEN")"
    read -r h_rps h_p99 h_err <<<"$(wrk_run /api/v1/health)"
    [ "$held" != 0 ] || { BASE_LEADS=$(ms "$l_p99"); BASE_HEALTH=$(ms "$h_p99"); }
    [ -z "$FLOOD" ] || held="$held (held $(flood_open) at the end)"
    rows+=("$(printf '| %s | %s | %s | %s | %.2fx | %s | %s | %.2fx | %s |' \
        "$name" "$held" "$l_rps" "$l_p99" \
        "$(echo "$(ms "$l_p99") / $BASE_LEADS" | bc -l)" "$h_rps" "$h_p99" \
        "$(echo "$(ms "$h_p99") / $BASE_HEALTH" | bc -l)" \
        "$((l_err + h_err))")")
    ERRORS=$((ERRORS + l_err + h_err))
}
ERRORS=0

# flood MODE N [INTERVAL]: starts it and waits until it holds 90 % of N
flood() {
    local want=$(($2 * 9 / 10)) i
    "$ROOT/t/bench/flood.py" "$1" 127.0.0.1 "$PORT" "$2" ${3:-} \
        >"$PREFIX/flood.log" &
    FLOOD=$!
    for i in $(seq 1 300); do
        [ "$(flood_open 2>/dev/null || echo 0)" -ge "$want" ] 2>/dev/null && return
        sleep 0.1
    done
    log "the $1 flood holds only $(flood_open) of $2 connections"
}

flood_stop() {
    kill "$FLOOD"
    wait "$FLOOD" 2>/dev/null || true
    FLOOD=
}

log "no flood ($CONNS wrk connections, ${SECONDS_EACH}s each)"
measure "no flood (baseline)" 0
log "slowloris: $SLOW connections, a header byte every 5 s"
flood slowloris "$SLOW" 5
measure "slow-header flood (a byte / 5 s)" "$SLOW"
slow_reconnects=$(tail -1 "$PREFIX/flood.log" | awk '{print $4}')
flood_stop
log "no flood again"
measure "no flood (baseline)" 0
log "idle keep-alive: $IDLE connections"
flood idle "$IDLE"
measure "idle keep-alive flood" "$IDLE"
idle_reconnects=$(tail -1 "$PREFIX/flood.log" | awk '{print $4}')
flood_stop

{
    echo "# liauto floods — $(date -u +%FT%TZ), $(nproc) cores, ${SECONDS_EACH}s each, $CONNS wrk connections"
    echo
    echo "| scenario | flood connections | leads/{id} req/s | p99 | vs baseline above | health req/s | p99 | vs baseline above | errors |"
    echo "|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
    echo
    echo "Connections nginx closed and the flood reopened during the measurement:"
    echo "slow-header $slow_reconnects (client_header_timeout), idle $idle_reconnects (keepalive_timeout)."
    echo "Settings: conf/liauto-connections.conf, worker_connections 8192 x 2 workers."
    echo "The flood client (t/bench/flood.py) runs on the same cores as nginx and wrk."
} | tee "$OUT"
[ "$ERRORS" = 0 ] || die "$ERRORS requests failed (non-2xx or socket errors)"
