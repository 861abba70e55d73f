#!/usr/bin/env bash
# ./build.sh soak-rss [MINUTES]: issue 9's "1 h soak at half capacity: RSS
# growth < 2 %, no fd growth, 0 errors".  Inside pg_virtualenv (PG* set) it
# starts a stack like ./build.sh bench does (nginx with the module, the
# simulator, one liauto-worker sending invites to it), measures the
# capacity of a mixed load (t/soak/mix.lua: lead reads, pages, health,
# campaign summary, lead creation, webhook ingest) for a few seconds, then
# drives that mix at half of it for MINUTES (default 60) while SSE
# subscribers stay connected to /api/v1/inbox/stream and the worker sends.
# Every minute: req/s, p99, statuses, nginx workers' RSS and fds, the
# worker daemon's RSS and fds, Postgres connections, invites sent, stream
# events.  Prints the table (also to build/soak-rss.md) and the growth
# from the end of the warm-up (a tenth of the run, at least a minute) to
# the end.  Exits non-zero on any non-2xx, socket error, restarted
# process or dropped subscriber.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MINUTES=${1:-60}
PREFIX="$ROOT/build/soak"
CONNS=${LIAUTO_SOAK_CONNECTIONS:-32}
SUBSCRIBERS=${LIAUTO_SOAK_SUBSCRIBERS:-4}
ACCOUNTS=${LIAUTO_SOAK_ACCOUNTS:-8}
OUT="$ROOT/build/soak-rss.md"
DB=liauto_soak
DSN="host=$PGHOST port=$PGPORT dbname=$DB user=$PGUSER password=$PGPASSWORD"
SIM_KEY=soak-sim-key

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'soak-rss: %s\n' "$*" >&2; exit 1; }

free_port() {
    local port
    for port in $(shuf -i 10000-19999 -n 50); do
        ss -Htan "sport = :$port" | grep -q . && continue
        echo "$port"
        return
    done
    die "no free port found"
}
PORT=$(free_port)
SIM_PORT=$(free_port)

rm -rf "$PREFIX"
mkdir -p "$PREFIX"/{conf,logs,tmp,sse}
createdb "$DB"
LIAUTO_DATABASE_URL="$DSN" "$ROOT/worker/liauto-worker" migrate >/dev/null 2>&1

# invites for the whole run at about one per 2 s per account, and a fifth
# more, so the worker never runs dry
LEADS=$((MINUTES * 60 * ACCOUNTS / 2 * 6 / 5 + 100))
log "fixtures: a client, an agent, a draft campaign of 10,000 leads to read,"
log "  $ACCOUNTS sending accounts with $LEADS leads to invite, an inbox account"
read -r CLIENT_ID AGENT_ID CAMPAIGN_ID LEAD_ID < <(
    PGOPTIONS="-c client_min_messages=warning" \
    psql -qAt -F ' ' -d "$DB" -v ON_ERROR_STOP=1 -v accounts="$ACCOUNTS" \
         -v leads="$LEADS" <<'SQL'
INSERT INTO liauto.clients (id, name)
VALUES ('00000000-0000-0000-005a-00000000000c', 'soak');
INSERT INTO liauto.users (email, password_hash, role, client_id)
VALUES ('agent@soak.test', liauto.hash_password('soak pass phrase'),
        'agent', '00000000-0000-0000-005a-00000000000c');
-- the account the webhook deliveries of mix.lua are for (its account_id)
INSERT INTO liauto.linkedin_accounts (client_id, name, unipile_account_id)
VALUES ('00000000-0000-0000-005a-00000000000c', 'inbox',
        'fFl27we2Rqa0eSbwIKX9hw');
INSERT INTO liauto.campaigns (id, client_id, name)
VALUES ('00000000-0000-0000-005a-0000000000c0',
        '00000000-0000-0000-005a-00000000000c', 'reads');
INSERT INTO liauto.leads (client_id, campaign_id, first_name, last_name,
                          company, public_identifier)
SELECT '00000000-0000-0000-005a-00000000000c',
       '00000000-0000-0000-005a-0000000000c0', 'First' || g, 'Last' || g,
       'Co' || g % 97, 'soak-read-' || g
FROM generate_series(1, 10000) AS g;
-- sending: paced 1-3 s per account, limits far above the run, 24/7
INSERT INTO liauto.linkedin_accounts
    (id, client_id, name, unipile_account_id, daily_invite_limit,
     weekly_invite_limit, daily_message_limit, spacing_min_seconds,
     spacing_max_seconds)
SELECT ('00000000-0000-0000-005a-a' || lpad(n::text, 11, '0'))::uuid,
       '00000000-0000-0000-005a-00000000000c', 'soak ' || n,
       'soak-acc-' || n, 100000, 100000, 100000, 1, 3
FROM generate_series(1, :accounts) AS n;
INSERT INTO liauto.campaigns (id, client_id, linkedin_account_id, name,
                              status, working_hours_start,
                              working_hours_end, working_days, sequence,
                              started_at)
SELECT ('00000000-0000-0000-005a-c' || lpad(n::text, 11, '0'))::uuid,
       '00000000-0000-0000-005a-00000000000c',
       ('00000000-0000-0000-005a-a' || lpad(n::text, 11, '0'))::uuid,
       'soak ' || n, 'active', '00:00', '24:00', '{1,2,3,4,5,6,7}',
       '[{"type": "invite", "note": "Hi {{first_name}}"}]',
       liauto.now() - interval '1 day'
FROM generate_series(1, :accounts) AS n;
INSERT INTO liauto.leads (client_id, campaign_id, first_name,
                          public_identifier, created_at)
SELECT '00000000-0000-0000-005a-00000000000c',
       ('00000000-0000-0000-005a-c'
        || lpad((g % :accounts + 1)::text, 11, '0'))::uuid,
       'Lead' || g, 'soak-send-' || g, liauto.now() - interval '1 day'
FROM generate_series(1, :leads) AS g;
ANALYZE;
SELECT '00000000-0000-0000-005a-00000000000c',
       (SELECT id FROM liauto.users WHERE email = 'agent@soak.test'),
       '00000000-0000-0000-005a-0000000000c0',
       (SELECT id FROM liauto.leads WHERE public_identifier = 'soak-read-1');
SQL
)
export LIAUTO_SOAK_TOKEN=$(perl -I"$ROOT/t/lib" -MLiauto::Token=hs256 -e \
    'print hs256({sub => $ARGV[0], role => "agent", client_id => $ARGV[1],
                  exp => time + 86400})' "$AGENT_ID" "$CLIENT_ID")
export LIAUTO_SOAK_LEAD=$LEAD_ID LIAUTO_SOAK_CAMPAIGN=$CAMPAIGN_ID
export LIAUTO_SOAK_WEBHOOK_SECRET="soak-webhook-secret-$RANDOM$RANDOM"
export LIAUTO_SOAK_WEBHOOK_BODY="$ROOT/t/bench/message_received.json"
(umask 077; echo "$LIAUTO_SOAK_WEBHOOK_SECRET" >"$PREFIX/webhook-secret")

SUBS=()
WORKER_PID=
cleanup() {
    local pid
    for pid in "${SUBS[@]}" $WORKER_PID; do kill "$pid" 2>/dev/null || true; done
    nginx -p "$PREFIX/" -c conf/nginx.conf -s stop 2>/dev/null || true
    nginx -p "$PREFIX/sim/" -c conf/nginx.conf -e "$PREFIX/sim/logs/error.log" \
        -s stop 2>/dev/null || true
}
trap cleanup EXIT

log "simulator on 127.0.0.1:$SIM_PORT"
"$ROOT/t/sim/render.sh" "$PREFIX/sim" "$SIM_PORT" "$SIM_KEY"
sed -i 's|access_log [^;]*;|access_log off;|' "$PREFIX/sim/conf/nginx.conf"
nginx -p "$PREFIX/sim/" -c conf/nginx.conf -e "$PREFIX/sim/logs/error.log"
for i in $(seq 1 50); do
    curl -fs "http://127.0.0.1:$SIM_PORT/_sim/calls" >/dev/null && break
    sleep 0.1
done
sim() {
    curl -fsS -X POST "http://127.0.0.1:$SIM_PORT/_sim$1" \
         -H 'Content-Type: application/json' -d "$2" >/dev/null
}
sim /config '{"auto_people": true}'
# no weekly invitation cap for the hour (the simulator's is LinkedIn's 200)
for i in $(seq 1 "$ACCOUNTS"); do
    sim /accounts "{\"id\": \"soak-acc-$i\", \"weekly_invite_cap\": 1000000}"
done
# the inbox account of the webhook deliveries: the worker looks their
# senders up
sim /accounts '{"id": "fFl27we2Rqa0eSbwIKX9hw"}'

log "nginx on 127.0.0.1:$PORT (t/bench/nginx.conf.in)"
sed -e "s|@MODULE_SO@|$ROOT/build/ngx_liauto_module.so|" \
    -e "s|@PREFIX@|$PREFIX|g" -e "s|@PORT@|$PORT|" -e "s|@DSN@|$DSN|" \
    -e "s|@ROOT@|$ROOT|" -e "s|@POOL@|${LIAUTO_SOAK_POOL:-16}|" \
    "$ROOT/t/bench/nginx.conf.in" >"$PREFIX/conf/nginx.conf"
nginx -p "$PREFIX/" -c conf/nginx.conf
for i in $(seq 1 50); do
    curl -fs "http://127.0.0.1:$PORT/api/v1/health" >/dev/null && break
    sleep 0.1
done

log "liauto-worker sending to the simulator"
LIAUTO_DATABASE_URL="$DSN" LIAUTO_WORKER_ID=soak LIAUTO_LOG_LEVEL=warn \
UNIPILE_DSN="127.0.0.1:$SIM_PORT" UNIPILE_API_KEY="$SIM_KEY" \
    "$ROOT/worker/liauto-worker" run >>"$PREFIX/worker.log" 2>&1 &
WORKER_PID=$!

# SSE subscribers: each a curl holding the stream open; one that ends is
# restarted and counted
SUB_RESTARTS=0
subscribe() {
    curl -sN -H "Authorization: Bearer $LIAUTO_SOAK_TOKEN" \
         "http://127.0.0.1:$PORT/api/v1/inbox/stream" \
         >>"$PREFIX/sse/$1.txt" 2>/dev/null &
    SUBS[$1]=$!
}
for i in $(seq 0 $((SUBSCRIBERS - 1))); do subscribe "$i"; done

nginx_workers() { pgrep -P "$(cat "$PREFIX/logs/nginx.pid")" | sort -n | tr '\n' ' '; }
rss_kb() { awk '/^VmRSS/ {s += $2} END {print s + 0}' $(printf '/proc/%s/status ' "$@"); }
fds() { local p n=0; for p in "$@"; do n=$((n + $(ls "/proc/$p/fd" | wc -l))); done; echo "$n"; }
sql() { psql -qAt -d "$DB" -c "$1"; }

# wrk_mix SECONDS -> its output (latency, statuses, socket errors)
wrk_mix() {
    wrk -t2 -c"$CONNS" -d"$1s" --latency -s "$ROOT/t/soak/mix.lua" \
        "http://127.0.0.1:$PORT"
}

log "capacity of the mix (${LIAUTO_SOAK_CAPACITY_SECONDS:-15} s, $CONNS connections, as fast as it goes)"
LIAUTO_SOAK_DELAY_MS=0 wrk_mix "${LIAUTO_SOAK_CAPACITY_SECONDS:-15}" >"$PREFIX/capacity.txt"
CAPACITY=$(awk '/Requests\/sec/ {print $2}' "$PREFIX/capacity.txt")
# each connection waits this long before each request: CONNS of them give
# about half the capacity (less, by the time a request takes)
export LIAUTO_SOAK_DELAY_MS=$(echo "$CONNS * 1000 * 2 / $CAPACITY" | bc)
log "capacity $CAPACITY req/s; soak at half: $CONNS connections, one request per ${LIAUTO_SOAK_DELAY_MS} ms each"

WORKERS0=$(nginx_workers)
BAD=0
rows=()
header="| min | req/s | p99 | non-2xx | socket errors | nginx workers RSS KiB | nginx fds | worker RSS KiB | worker fds | PG conns | invites sent | stream events |"
echo "$header"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for m in $(seq 1 "$MINUTES"); do
    out=$(wrk_mix 60)
    echo "$out" >"$PREFIX/minute-$m.txt"
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    non2xx=$(echo "$out" | awk '/^status / && ($2 < 200 || $2 > 299) {s += $3} END {print s + 0}')
    sockerr=$(echo "$out" | awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}')
    sockerr=${sockerr:-0}
    for i in "${!SUBS[@]}"; do
        kill -0 "${SUBS[$i]}" 2>/dev/null && continue
        SUB_RESTARTS=$((SUB_RESTARTS + 1))
        subscribe "$i"
    done
    workers=$(nginx_workers)
    [ "$workers" = "$WORKERS0" ] || { log "nginx workers changed: $WORKERS0-> $workers"; BAD=$((BAD + 1)); WORKERS0=$workers; }
    kill -0 "$WORKER_PID" 2>/dev/null || die "liauto-worker exited (see $PREFIX/worker.log)"
    # shellcheck disable=SC2086
    row=("$m" "$rps" "$p99" "$non2xx" "$sockerr" "$(rss_kb $workers)" \
         "$(fds $workers)" "$(rss_kb "$WORKER_PID")" "$(fds "$WORKER_PID")" \
         "$(sql "SELECT count(*) - 1 FROM pg_stat_activity WHERE datname = '$DB'")" \
         "$(sql "SELECT count(*) FROM liauto.actions WHERE status = 'sent'")" \
         "$(cat "$PREFIX"/sse/*.txt | grep -c '^event:' || true)")
    line="| $(IFS='|'; echo "${row[*]}" | sed 's/|/ | /g') |"
    echo "$line"
    rows+=("$line")
    BAD=$((BAD + non2xx + sockerr))
    [ "$non2xx" = 0 ] || echo "$out" | grep '^status' >&2
done

# growth from the end of the warm-up to the last minute
warm=$((MINUTES / 10)); [ "$warm" -ge 1 ] || warm=1
col() { printf '%s\n' "${rows[@]}" | awk -F'|' -v r="$1" -v c="$2" 'NR == r {gsub(/ /, "", $(c + 1)); print $(c + 1)}'; }
pct() { echo "scale=2; 100 * ($2 - $1) / $1" | bc; }
{
    echo "# liauto soak-rss — $(date -u +%FT%TZ), $(nproc) cores, $MINUTES min"
    echo
    echo "Mixed load (t/soak/mix.lua) at half of the measured capacity ($CAPACITY req/s):"
    echo "$CONNS connections, one request per $LIAUTO_SOAK_DELAY_MS ms each;"
    echo "$SUBSCRIBERS SSE subscribers; 1 liauto-worker inviting from $ACCOUNTS accounts (spacing 1-3 s)."
    echo
    echo "$header"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
    echo
    last=${#rows[@]}
    echo "Growth from minute $warm (end of warm-up) to minute $last:"
    echo "- nginx workers RSS: $(col "$warm" 6) → $(col "$last" 6) KiB ($(pct "$(col "$warm" 6)" "$(col "$last" 6)") %)"
    echo "- nginx workers fds: $(col "$warm" 7) → $(col "$last" 7)"
    echo "- liauto-worker RSS: $(col "$warm" 8) → $(col "$last" 8) KiB ($(pct "$(col "$warm" 8)" "$(col "$last" 8)") %)"
    echo "- liauto-worker fds: $(col "$warm" 9) → $(col "$last" 9)"
    echo "- Postgres connections: $(col "$warm" 10) → $(col "$last" 10)"
    echo "- non-2xx + socket errors + nginx worker restarts: $BAD; stream subscribers that dropped: $SUB_RESTARTS"
} | tee "$OUT"
[ "$BAD" = 0 ] && [ "$SUB_RESTARTS" = 0 ]
