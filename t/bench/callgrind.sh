#!/usr/bin/env bash
# The instruction-count check of ./build.sh bench: one nginx process (no
# master, no daemon) under valgrind --tool=callgrind answers a fixed mix of
# requests, one kind at a time; the instructions nginx executed for each
# kind, divided by its count, do not drift with machine noise the way
# req/s do.  Compared with t/bench/callgrind-baseline.txt: an increase of
# more than 5 % is flagged REGRESSION in the printed table (a report, not
# a test failure).  Only the nginx side is counted; Postgres is not.
#
# Called by t/bench/run.sh once its fixtures exist.  Environment: DSN,
# TOKEN (an agent's access token), LEAD_ID, CAMPAIGN_ID,
# LIAUTO_BENCH_WEBHOOK_SECRET, LIAUTO_BENCH_WEBHOOK_BODY.
# LIAUTO_CALLGRIND_UPDATE=1 rewrites the baseline with this run's figures.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PREFIX="$ROOT/build/callgrind"
BASELINE="$ROOT/t/bench/callgrind-baseline.txt"
PORT=${LIAUTO_CALLGRIND_PORT:-8091}
THRESHOLD=5

# kind, requests of it in the mix
MIX="health:200 lead:200 campaign:200 page:50 webhook:100"

log() { printf '==> %s\n' "$*" >&2; }

rm -rf "$PREFIX"
mkdir -p "$PREFIX"/{conf,logs,tmp,curl}
(umask 077; echo "$LIAUTO_BENCH_WEBHOOK_SECRET" >"$PREFIX/webhook-secret")
sed -e "s|@MODULE_SO@|$ROOT/build/ngx_liauto_module.so|" \
    -e "s|@PREFIX@|$PREFIX|g" -e "s|@PORT@|$PORT|" -e "s|@DSN@|$DSN|" \
    -e "s|@ROOT@|$ROOT|" -e "s|@POOL@|2|" \
    -e "s|^worker_processes .*|worker_processes 1;\nmaster_process off;\ndaemon off;|" \
    "$ROOT/t/bench/nginx.conf.in" >"$PREFIX/conf/nginx.conf"

URL="http://127.0.0.1:$PORT"

# one curl config per kind: its requests on one keep-alive connection
curl_config() {
    local kind=$1 n=$2 i body
    for i in $(seq 1 "$n"); do
        case $kind in
        health)   echo "url = \"$URL/api/v1/health\"" ;;
        lead)     echo "url = \"$URL/api/v1/leads/$LEAD_ID\"" ;;
        campaign) echo "url = \"$URL/api/v1/campaigns/$CAMPAIGN_ID\"" ;;
        page)     echo "url = \"$URL/api/v1/leads?limit=50\"" ;;
        webhook)
            body="$PREFIX/curl/webhook-$3-$i.json"
            sed "s/@ID@/callgrind-$3-$i/" "$LIAUTO_BENCH_WEBHOOK_BODY" >"$body"
            echo "url = \"$URL/api/v1/webhooks/unipile/messaging\""
            echo "data-binary = \"@$body\""
            echo "header = \"Unipile-Auth: $LIAUTO_BENCH_WEBHOOK_SECRET\""
            ;;
        esac
        case $kind in
        webhook|health) ;;
        *) echo "header = \"Authorization: Bearer $TOKEN\"" ;;
        esac
        echo "output = /dev/null"
        echo "write-out = \"%{http_code}\\n\""
        if [ "$i" -lt "$n" ]; then
            echo "next"
        fi
    done
}

# run_kind KIND N ROUND: N requests, each must answer 2xx
run_kind() {
    local codes
    curl_config "$1" "$2" "$3" >"$PREFIX/curl/$1-$3.conf"
    codes=$(curl -s --config "$PREFIX/curl/$1-$3.conf")
    if echo "$codes" | grep -qv '^2'; then
        echo "callgrind: $1 answered: $(echo "$codes" | sort | uniq -c)" >&2
        exit 1
    fi
}

# the "totals:" of the newest dump: instructions since the last zeroing
dump_total() {
    local before file
    before=$(ls "$PREFIX"/callgrind.out.* 2>/dev/null | wc -l)
    callgrind_control -d "$VG_PID" >/dev/null
    for _ in $(seq 1 100); do
        [ "$(ls "$PREFIX"/callgrind.out.* | wc -l)" -gt "$before" ] && break
        sleep 0.1
    done
    file=$(ls -t "$PREFIX"/callgrind.out.* | head -1)
    awk '/^(totals|summary):/ {print $2; exit}' "$file"
}

log "callgrind: nginx under valgrind (single process)"
valgrind --tool=callgrind --callgrind-out-file="$PREFIX/callgrind.out.%p" \
    --dump-instr=no --collect-atstart=yes \
    nginx -p "$PREFIX/" -c conf/nginx.conf \
    >"$PREFIX/logs/valgrind.log" 2>&1 &
VG_PID=$!
trap 'kill "$VG_PID" 2>/dev/null; wait "$VG_PID" 2>/dev/null || true' EXIT

for _ in $(seq 1 300); do
    curl -fs "$URL/api/v1/health" >/dev/null 2>&1 && break
    sleep 0.2
done

declare -A PER
for entry in $MIX; do
    kind=${entry%%:*}
    n=${entry##*:}
    # warm: pool connections open, caches (JWT, prepared statements) fill
    run_kind "$kind" 5 warm
    callgrind_control -z "$VG_PID" >/dev/null
    run_kind "$kind" "$n" measured
    PER[$kind]=$(( $(dump_total) / n ))
    log "callgrind: $kind: ${PER[$kind]} instructions/request"
done

kill "$VG_PID"
wait "$VG_PID" 2>/dev/null || true
trap - EXIT

if [ "${LIAUTO_CALLGRIND_UPDATE:-0}" = 1 ]; then
    {
        echo "# nginx instructions per request (t/bench/callgrind.sh),"
        echo "# written $(date -u +%FT%TZ) by LIAUTO_CALLGRIND_UPDATE=1"
        for entry in $MIX; do
            echo "${entry%%:*} ${PER[${entry%%:*}]}"
        done
    } >"$BASELINE"
    log "callgrind: baseline rewritten: $BASELINE"
fi

echo "| request (count) | nginx instructions/request | baseline | delta |"
echo "|---|---|---|---|"
for entry in $MIX; do
    kind=${entry%%:*}
    base=$(awk -v k="$kind" '$1 == k {print $2}' "$BASELINE" 2>/dev/null || true)
    if [ -z "$base" ]; then
        echo "| $kind (${entry##*:}) | ${PER[$kind]} | none | |"
        continue
    fi
    delta=$(echo "100 * (${PER[$kind]} - $base) / $base" | bc -l)
    flag=""
    if [ "$(echo "$delta > $THRESHOLD" | bc -l)" = 1 ]; then
        flag=" REGRESSION (> +$THRESHOLD %)"
    fi
    printf '| %s (%s) | %s | %s | %+.1f %%%s |\n' "$kind" "${entry##*:}" \
        "${PER[$kind]}" "$base" "$delta" "$flag"
done
