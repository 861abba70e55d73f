#!/usr/bin/env bash
# ./build.sh bench-analytics: the analytics endpoints at 100 campaigns,
# 1,000,000 leads and 5,000,000 events (migration 0018).  Loads the data
# with generate_series through the real triggers (timed), then measures
# p50/p99 of LIAUTO_BENCH_REQUESTS (1,000) sequential requests per endpoint
# through nginx with curl (one keep-alive connection: latency, not
# throughput).
# Runs inside pg_virtualenv (PG* set); prints a table and writes it to
# build/bench-analytics.md.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PREFIX="$ROOT/build/bench-analytics"
PORT=${LIAUTO_BENCH_PORT:-8091}
REQUESTS=${LIAUTO_BENCH_REQUESTS:-1000}
OUT="$ROOT/build/bench-analytics.md"
DB=liauto_bench_analytics
DSN="host=$PGHOST port=$PGPORT dbname=$DB user=$PGUSER password=$PGPASSWORD"

log() { printf '==> %s\n' "$*" >&2; }

# seconds taken by "psql -c SQL" (or by stdin when SQL is -)
timed_psql() {
    local start end
    start=$(date +%s.%N)
    if [ "$1" = - ]; then
        psql -qX -v ON_ERROR_STOP=1 -d "$DB" >/dev/null
    else
        psql -qX -v ON_ERROR_STOP=1 -d "$DB" -c "$1" >/dev/null
    fi
    end=$(date +%s.%N)
    printf '%.1f' "$(echo "$end - $start" | bc -l)"
}

createdb "$DB"
LIAUTO_DATABASE_URL="$DSN" "$ROOT/worker/liauto-worker" migrate >/dev/null 2>&1

# 10 clients, one account each (five timezones); client 1 owns 50
# campaigns (the worst case of comparative and real-time), the others
# 5 or 6 each; every campaign 10,000 leads
log "clients, accounts, 100 campaigns, 1,000,000 leads"
t_leads=$(timed_psql - <<'SQL'
INSERT INTO liauto.clients (id, name)
SELECT ('00000000-0000-0000-0000-' || lpad(k::text, 12, '0'))::uuid,
       'bench client ' || k
FROM generate_series(1, 10) AS k;
INSERT INTO liauto.linkedin_accounts (id, client_id, name, unipile_account_id,
                                      timezone)
SELECT ('00000000-0000-0000-0001-' || lpad(k::text, 12, '0'))::uuid,
       ('00000000-0000-0000-0000-' || lpad(k::text, 12, '0'))::uuid,
       'account ' || k, 'bench-' || k,
       (ARRAY['Europe/London', 'America/New_York', 'Europe/Berlin',
              'Asia/Kolkata', 'UTC'])[1 + k % 5]
FROM generate_series(1, 10) AS k;
INSERT INTO liauto.campaigns (id, client_id, linkedin_account_id, name,
                              timezone)
SELECT ('00000000-0000-0000-0002-' || lpad(i::text, 12, '0'))::uuid,
       a.client_id, a.id, 'campaign ' || i, a.timezone
FROM generate_series(1, 100) AS i
JOIN liauto.linkedin_accounts AS a
  ON a.id = ('00000000-0000-0000-0001-'
             || lpad((CASE WHEN i <= 50 THEN 1 ELSE 2 + i % 9 END)::text,
                     12, '0'))::uuid;
INSERT INTO liauto.leads (client_id, campaign_id, public_identifier, status)
SELECT c.client_id, c.id, 'bench-' || g,
       (ARRAY['pending', 'invite_sent', 'connected', 'messaged',
              'responded', 'completed'])[1 + g % 6]
FROM generate_series(0, 999999) AS g
JOIN liauto.campaigns AS c
  ON c.id = ('00000000-0000-0000-0002-'
             || lpad((1 + g / 10000)::text, 12, '0'))::uuid;
INSERT INTO liauto.rate_usage (account_id, day, invites, messages)
SELECT a.id, current_date - d, 10 + d % 15, 40 + d % 60
FROM liauto.linkedin_accounts AS a, generate_series(0, 179) AS d;
SQL
)

# 5 events per lead over the last 180 days: invite; acceptance (every
# tenth historical); message step 1; message step 2; a reply for 30 % of
# leads, else message step 3.  One INSERT per campaign, as a backfill
# would, so the statement triggers count 50,000 rows at a time.
log "5,000,000 events (one INSERT per campaign, through the triggers)"
t_events=$(psql -qAtX -d "$DB" <<'SQL' | timed_psql -
SELECT format($f$
INSERT INTO liauto.events (client_id, lead_id, campaign_id, account_id, type,
                           occurred_at, meta)
SELECT l.client_id, l.id, l.campaign_id, %L, t.type,
       now() - interval '180 days'
       + (abs(hashtext(l.id::text)) %% 170) * interval '1 day'
       + t.k * interval '2 days'
       + (abs(hashtext(l.id::text || t.k)) %% 86400) * interval '1 second',
       CASE WHEN t.step IS NOT NULL
            THEN jsonb_build_object('step_index', t.step) ELSE '{}' END
FROM liauto.leads AS l
CROSS JOIN LATERAL (VALUES
    (0, 'connection_request_sent', 0),
    (1, CASE WHEN abs(hashtext(l.id::text)) %% 10 = 0
             THEN 'connection_accepted_historical'
             ELSE 'connection_accepted' END, NULL),
    (2, 'message_sent', 1),
    (3, 'message_sent', 2),
    (4, CASE WHEN abs(hashtext(l.id::text)) %% 10 < 3
             THEN 'message_received' ELSE 'message_sent' END,
        CASE WHEN abs(hashtext(l.id::text)) %% 10 < 3 THEN NULL ELSE 3 END))
    AS t (k, type, step)
WHERE l.campaign_id = %L;
$f$, c.linkedin_account_id, c.id)
FROM liauto.campaigns AS c ORDER BY c.id;
SQL
)
log "VACUUM ANALYZE"
t_vacuum=$(timed_psql "VACUUM ANALYZE")

read -r n_leads n_events n_daily n_milestones < <(psql -qAtX -F ' ' -d "$DB" -c \
    "SELECT (SELECT count(*) FROM liauto.leads),
            (SELECT count(*) FROM liauto.events),
            (SELECT count(*) FROM liauto.campaign_daily_stats),
            (SELECT count(*) FROM liauto.lead_milestones)")
[ "$n_events" -eq 5000000 ] || { echo "bench: $n_events events" >&2; exit 1; }

# a viewer of client 1 (50 campaigns)
VIEWER_ID=$(psql -qAtX -d "$DB" -c "INSERT INTO liauto.users
    (email, password_hash, role, client_id)
    VALUES ('viewer@bench.test', liauto.hash_password('bench pass phrase'),
            'viewer', '00000000-0000-0000-0000-000000000001')
    RETURNING id")
TOKEN=$(perl -I"$ROOT/t/lib" -MLiauto::Token=hs256 -e \
    'print hs256({sub => $ARGV[0], role => "viewer", client_id => $ARGV[1],
                  exp => time + 7200})' "$VIEWER_ID" \
    00000000-0000-0000-0000-000000000001)
AUTH="Authorization: Bearer $TOKEN"

rm -rf "$PREFIX"
mkdir -p "$PREFIX"/{conf,logs,tmp}
sed -e "s|@MODULE_SO@|$ROOT/build/ngx_liauto_module.so|" \
    -e "s|@PREFIX@|$PREFIX|g" -e "s|@PORT@|$PORT|" -e "s|@DSN@|$DSN|" \
    -e "s|@ROOT@|$ROOT|" -e "s|@POOL@|4|" \
    "$ROOT/t/bench/nginx.conf.in" >"$PREFIX/conf/nginx.conf"
nginx -p "$PREFIX/" -c conf/nginx.conf
trap 'nginx -p "$PREFIX/" -c conf/nginx.conf -s stop 2>/dev/null || true' EXIT

for i in $(seq 1 50); do
    curl -fs "http://127.0.0.1:$PORT/api/v1/health" >/dev/null && break
    sleep 0.1
done

# latency NAME PATH... -> a table row "| NAME | n | p50 | p99 | max |":
# $REQUESTS sequential requests cycling over the paths, on one keep-alive
# connection of one curl (time_total per request: no process start in it),
# failing on any answer but 200.
latency() {
    local name=$1 i=0 times
    shift
    local paths=("$@")
    log "$name"
    while [ "$i" -lt "$REQUESTS" ]; do
        printf 'url = "http://127.0.0.1:%s%s"\noutput = /dev/null\n' \
            "$PORT" "${paths[i % ${#paths[@]}]}"
        i=$((i + 1))
    done >"$PREFIX/urls"
    times=$(curl -s -K "$PREFIX/urls" -H "$AUTH" \
                 -w '%{http_code} %{time_total}\n')
    if echo "$times" | grep -qv '^200 '; then
        echo "bench: $name answered non-200" >&2
        exit 1
    fi
    echo "$times" | awk '{print $2 * 1000}' | sort -n | awk -v name="$name" '
        { ms[NR] = $1 }
        END { printf "| %s | %d | %.1f ms | %.1f ms | %.1f ms |\n", name, NR,
                     ms[int(NR * 0.50 + 0.5)], ms[int(NR * 0.99 + 0.5)],
                     ms[NR] }'
}

# the ten first campaigns of client 1, in turn
campaigns() {
    local i
    for i in $(seq 1 10); do
        printf '%s ' "$(printf "$1" "00000000-0000-0000-0002-$(printf '%012d' "$i")")"
    done
}

rows=(
    "$(latency "summary (days=30)" \
        $(campaigns '/api/v1/campaigns/%s/analytics/summary'))"
    "$(latency "timeseries (days=90)" \
        $(campaigns '/api/v1/campaigns/%s/analytics/timeseries?days=90'))"
    "$(latency "funnel (10,000 leads, percentiles)" \
        $(campaigns '/api/v1/analytics/campaigns/%s/funnel'))"
    "$(latency "comparative (50 campaigns, days=30)" \
        /api/v1/analytics/clients/00000000-0000-0000-0000-000000000001/comparative)"
    "$(latency "rate-usage (days=7)" \
        /api/v1/analytics/accounts/00000000-0000-0000-0001-000000000001/rate-usage)"
    "$(latency "real-time (client of 500,000 leads)" /api/v1/analytics/real-time)"
    "$(latency "export timeseries CSV (days=365)" \
        $(campaigns '/api/v1/analytics/export?view=timeseries&days=365&id=%s'))"
)

{
    echo "# liauto analytics bench — $(date -u +%FT%TZ), $(nproc) cores"
    echo
    echo "Data: $n_leads leads, $n_events events in 100 campaigns of 10"
    echo "clients; aggregates: $n_daily campaign_daily_stats rows,"
    echo "$n_milestones lead_milestones rows."
    echo
    echo "Load: clients/campaigns/1,000,000 leads/rate usage ${t_leads}s;"
    echo "5,000,000 events through the triggers ${t_events}s (100 INSERTs);"
    echo "VACUUM ANALYZE ${t_vacuum}s."
    echo
    echo "Latency through nginx, one connection, $REQUESTS sequential requests each:"
    echo
    echo "| endpoint | requests | p50 | p99 | max |"
    echo "|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
} | tee "$OUT"
