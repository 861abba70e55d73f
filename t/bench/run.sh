#!/usr/bin/env bash
# ./build.sh bench: wrk against the module's endpoints, next to nginx's own
# `return 200` and raw pgbench on the same database, all in this one run.
# Runs inside pg_virtualenv (PG* set); prints a table and writes it to
# build/bench.md.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PREFIX="$ROOT/build/bench"
PORT=${LIAUTO_BENCH_PORT:-8090}
SECONDS_EACH=${LIAUTO_BENCH_SECONDS:-10}
CONNS=${LIAUTO_BENCH_CONNECTIONS:-64}
OUT="$ROOT/build/bench.md"
DSN="host=$PGHOST port=$PGPORT dbname=liauto_bench user=$PGUSER password=$PGPASSWORD"

log() { printf '==> %s\n' "$*" >&2; }

createdb liauto_bench
LIAUTO_DATABASE_URL="$DSN" "$ROOT/worker/liauto-worker" migrate >/dev/null 2>&1

log "fixtures: a client, an agent, a campaign with 10,000 leads"
read -r CLIENT_ID AGENT_ID CAMPAIGN_ID LEAD_ID < <(psql -qAt -F ' ' -d liauto_bench -v ON_ERROR_STOP=1 <<'SQL'
WITH c AS (INSERT INTO liauto.clients (name) VALUES ('bench') RETURNING id),
     u AS (INSERT INTO liauto.users (email, password_hash, role, client_id)
           SELECT 'agent@bench.test', liauto.hash_password('bench pass phrase'),
                  'agent', c.id FROM c RETURNING id),
     k AS (INSERT INTO liauto.campaigns (client_id, name)
           SELECT c.id, 'bench' FROM c RETURNING id, client_id),
     l AS (INSERT INTO liauto.leads (client_id, campaign_id, first_name,
                                     last_name, company, public_identifier)
           SELECT k.client_id, k.id, 'First' || g, 'Last' || g, 'Co' || g % 97,
                  'bench-lead-' || g
           FROM k, generate_series(1, 10000) AS g RETURNING id)
SELECT (SELECT id FROM c), (SELECT id FROM u), (SELECT id FROM k),
       (SELECT id FROM l LIMIT 1);
SQL
)
# plans as on a live database, not on a table the planner thinks is empty
psql -q -d liauto_bench -c ANALYZE
TOKEN=$(perl -I"$ROOT/t/lib" -MLiauto::Token=hs256 -e \
    'print hs256({sub => $ARGV[0], role => "agent", client_id => $ARGV[1],
                  exp => time + 3600})' "$AGENT_ID" "$CLIENT_ID")
AUTH="Authorization: Bearer $TOKEN"

log "pgbench fixtures (scale 10)"
pgbench -q -i -s 10 liauto_bench >/dev/null 2>&1

rm -rf "$PREFIX"
mkdir -p "$PREFIX"/{conf,logs,tmp}
export LIAUTO_BENCH_WEBHOOK_SECRET="bench-webhook-secret-$RANDOM$RANDOM"
export LIAUTO_BENCH_WEBHOOK_BODY="$ROOT/t/bench/message_received.json"
(umask 077; echo "$LIAUTO_BENCH_WEBHOOK_SECRET" >"$PREFIX/webhook-secret")
sed -e "s|@MODULE_SO@|$ROOT/build/ngx_liauto_module.so|" \
    -e "s|@PREFIX@|$PREFIX|g" -e "s|@PORT@|$PORT|" -e "s|@DSN@|$DSN|" \
    -e "s|@ROOT@|$ROOT|" -e "s|@POOL@|${LIAUTO_BENCH_POOL:-16}|" \
    "$ROOT/t/bench/nginx.conf.in" >"$PREFIX/conf/nginx.conf"
nginx -p "$PREFIX/" -c conf/nginx.conf
trap 'nginx -p "$PREFIX/" -c conf/nginx.conf -s stop 2>/dev/null || true' EXIT

for i in $(seq 1 50); do
    curl -fs "http://127.0.0.1:$PORT/api/v1/health" >/dev/null && break
    sleep 0.1
done

workers_rss_kb() {
    local pid sum=0
    for pid in $(pgrep -f "nginx: worker process" -P "$(cat "$PREFIX/logs/nginx.pid")"); do
        sum=$((sum + $(awk '/VmHWM/ {print $2}' "/proc/$pid/status")))
    done
    echo "$sum"
}

# wrk_run PATH [WRK OPTION...] -> "rps p50 p99 requests"
wrk_run() {
    local path=$1 out
    shift
    out=$(wrk -t2 -c"$CONNS" -d"${SECONDS_EACH}s" --latency "$@" \
              "http://127.0.0.1:$PORT$path")
    if echo "$out" | grep -q "Non-2xx"; then
        echo "$out" >&2
        echo "bench: $path answered non-2xx responses" >&2
        exit 1
    fi
    echo "$(echo "$out" | awk '/Requests\/sec/ {print $2}') \
$(echo "$out" | awk '$1 == "50%" {print $2}') \
$(echo "$out" | awk '$1 == "99%" {print $2}') \
$(echo "$out" | awk '/requests in/ {print $1}')"
}

pgbench_tps() {
    pgbench -n -S -c "$CONNS" -j 2 -T "$SECONDS_EACH" "$@" liauto_bench 2>/dev/null \
        | awk '/^tps/ {print $3; exit}'
}

log "nginx return 200"
read -r ret_rps ret_p50 ret_p99 _ <<<"$(wrk_run /bench/return200)"
log "pgbench -S ($CONNS clients)"
pg_tps=$(pgbench_tps)

declare -a rows
scenario() {
    local name=$1; shift
    log "$name"
    local rps p50 p99
    read -r rps p50 p99 REQUESTS <<<"$(wrk_run "$@")"
    LAST_RPS=$rps
    rows+=("$(printf '| %s | %s | %s | %s | %.1f %% | %.1f %% |' \
        "$name" "$rps" "$p50" "$p99" \
        "$(echo "100 * $rps / $ret_rps" | bc -l)" \
        "$(echo "100 * $rps / $pg_tps" | bc -l)")")
}

scenario "GET /api/v1/health (one query)" /api/v1/health
scenario "GET /api/v1/leads/{id} (JWT + tenant + PK)" "/api/v1/leads/$LEAD_ID" -H "$AUTH"
scenario "GET /api/v1/campaigns/{id} (JWT)" "/api/v1/campaigns/$CAMPAIGN_ID" -H "$AUTH"
scenario "GET /api/v1/leads?limit=50 (JWT, keyset page)" "/api/v1/leads?limit=50" -H "$AUTH"

# Webhook ingest: message_received deliveries with the secret, each a new
# message (stored, synchronous_commit on), next to pgbench inserting the
# same body into a table like webhook_events (same indexes) in this run
scenario "POST /api/v1/webhooks/unipile/messaging (secret + JSON + INSERT, new ids)" \
    /api/v1/webhooks/unipile/messaging -s "$ROOT/t/bench/webhook.lua"
webhook_requests=$REQUESTS
webhook_rps=$LAST_RPS
webhook_rows=$(psql -qAt -d liauto_bench -c "SELECT count(*) FROM liauto.webhook_events WHERE source = 'unipile_messaging'")
[ "$webhook_rows" -ge "$webhook_requests" ] \
    || { echo "bench: $webhook_requests deliveries answered, only $webhook_rows stored" >&2; exit 1; }
log "pgbench single-row INSERT ($CONNS clients)"
psql -q -d liauto_bench -c 'CREATE TABLE bench_webhook_events (LIKE liauto.webhook_events INCLUDING ALL)'
{
    echo "INSERT INTO bench_webhook_events (source, delivery_key, body, headers)"
    echo "VALUES ('unipile_messaging', 'messaging:message_received:' || gen_random_uuid(),"
    echo "        \$b\$$(cat "$LIAUTO_BENCH_WEBHOOK_BODY")\$b\$, '{\"liauto-auth\": \"secret\"}')"
    echo "ON CONFLICT (delivery_key) DO NOTHING;"
} >"$PREFIX/insert.sql"
insert_tps=$(pgbench -n -c "$CONNS" -j 2 -T "$SECONDS_EACH" -f "$PREFIX/insert.sql" liauto_bench 2>/dev/null \
    | awk '/^tps/ {print $3; exit}')

# before the import: the page the mix reads stays the fixtures' page
callgrind_out=$(DSN="$DSN" TOKEN="$TOKEN" LEAD_ID="$LEAD_ID" \
    CAMPAIGN_ID="$CAMPAIGN_ID" "$ROOT/t/bench/callgrind.sh")

log "CSV import of 50,000 rows"
perl -e 'print "First Name,Last Name,Company,Title,LinkedIn URL,Notes\r\n";
         print "Imp$_,Person$_,\"Company $_, Inc\",CTO,https://www.linkedin.com/in/bench-import-$_/,note $_\r\n"
             for 1 .. 50000' >"$PREFIX/import.csv"
import_out=$(curl -s -w '\n%{time_total}' -H "$AUTH" -H 'Content-Type: text/csv' \
    --data-binary @"$PREFIX/import.csv" \
    "http://127.0.0.1:$PORT/api/v1/campaigns/$CAMPAIGN_ID/leads/import")
import_time=$(echo "$import_out" | tail -1)
echo "$import_out" | head -1 | grep -q '"imported": 50000,' \
    || { echo "bench: the import did not import 50,000 rows: $import_out" >&2; exit 1; }

rss=$(workers_rss_kb)

log "engine: invites per second against the simulator (t/bench/engine.sh)"
engine_out=$("$ROOT/t/bench/engine.sh")

log "engine: plan_due with 1,000,000 leads (t/bench/plan_due.sql)"
createdb liauto_plan
LIAUTO_DATABASE_URL="${DSN/liauto_bench/liauto_plan}" \
    "$ROOT/worker/liauto-worker" migrate >/dev/null 2>&1
plan_out=$(psql -qAt -F ' ' -v ON_ERROR_STOP=1 -d liauto_plan \
                -f "$ROOT/t/bench/plan_due.sql" | grep -E 'plan_due|every lead')

{
    echo "# liauto bench — $(date -u +%FT%TZ), $(nproc) cores, ${SECONDS_EACH}s each, $CONNS connections"
    echo
    echo "| scenario | req/s | p50 | p99 | vs nginx return 200 | vs pgbench -S |"
    echo "|---|---|---|---|---|---|"
    echo "| nginx \`return 200\` (baseline) | $ret_rps | $ret_p50 | $ret_p99 | 100 % | |"
    echo "| pgbench -S, $CONNS clients (baseline) | $pg_tps tps | | | | 100 % |"
    printf '%s\n' "${rows[@]}"
    echo
    printf 'Webhook ingest: %s deliveries/s = %.1f %% of nginx `return 200`, %.1f %% of pgbench single-row INSERT (%s tps, same body, %s clients); %s deliveries answered, %s rows stored\n' \
        "$webhook_rps" "$(echo "100 * $webhook_rps / $ret_rps" | bc -l)" \
        "$(echo "100 * $webhook_rps / $insert_tps" | bc -l)" "$insert_tps" \
        "$CONNS" "$webhook_requests" "$webhook_rows"
    echo
    echo "CSV import, 50,000 rows ($(du -k "$PREFIX/import.csv" | cut -f1) KiB) in one request: ${import_time}s"
    echo
    echo "Peak RSS of the nginx workers (VmHWM, summed): $((rss / 1024)) MiB"
    echo
    echo "Instructions executed by nginx per request (callgrind, one process,"
    echo "t/bench/callgrind.sh; Postgres not counted) against"
    echo "t/bench/callgrind-baseline.txt:"
    echo
    echo "$callgrind_out"
    echo
    echo "Engine against the simulator (no latency, no pacing):"
    echo '```'
    echo "$engine_out"
    echo '```'
    echo
    echo "Planning with 1,000,000 leads, 300,000 of them waiting, nothing due"
    echo "(tick, plan_due(500)):"
    echo '```'
    echo "$plan_out"
    echo '```'
} | tee "$OUT"
