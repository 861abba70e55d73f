#!/usr/bin/env bash
# Engine throughput against the simulator (part of ./build.sh bench, also
# runnable alone inside pg_virtualenv): invites sent per second by 1 and
# by 4 `liauto-worker run` processes with nothing holding them back — zero
# simulator latency, no pacing (spacing 0), limits far above the run, 24/7
# working hours. Each invite is a profile lookup and the invitation, two
# Unipile calls. Prints one line per worker count.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PREFIX=${LIAUTO_BENCH_PREFIX:-$ROOT/build/bench}/engine
LEADS=${LIAUTO_BENCH_ENGINE_LEADS:-6000}
ACCOUNTS=${LIAUTO_BENCH_ENGINE_ACCOUNTS:-64}
SIM_PORT=${LIAUTO_BENCH_SIM_PORT:-8093}
SIM_KEY=bench-sim-key
DB=liauto_engine_bench

log() { printf '==> %s\n' "$*" >&2; }

rm -rf "$PREFIX"
mkdir -p "$PREFIX"
"$ROOT/t/sim/render.sh" "$PREFIX/sim" "$SIM_PORT" "$SIM_KEY"
# the simulator's access log would be written once per call
sed -i 's|access_log [^;]*;|access_log off;|' "$PREFIX/sim/conf/nginx.conf"
nginx -p "$PREFIX/sim/" -c conf/nginx.conf -e "$PREFIX/sim/logs/error.log"
WORKERS=()
cleanup() {
    local pid
    for pid in "${WORKERS[@]}"; do kill "$pid" 2>/dev/null || true; done
    nginx -p "$PREFIX/sim/" -c conf/nginx.conf -e "$PREFIX/sim/logs/error.log" \
        -s stop 2>/dev/null || true
}
trap cleanup EXIT
for i in $(seq 1 50); do
    curl -fs "http://127.0.0.1:$SIM_PORT/_sim/calls" >/dev/null && break
    sleep 0.1
done

# CPU seconds (user + system) used so far by the given processes
cpu_s() {
    local pid ticks=0 hz
    hz=$(getconf CLK_TCK)
    for pid in "$@"; do
        [ -r "/proc/$pid/stat" ] || continue
        ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
    done
    echo "scale=1; $ticks / $hz" | bc -l
}

sim_pids() { pgrep -P "$(cat "$PREFIX/sim/logs/nginx.pid")"; }

sim() {
    curl -fsS -X "$1" "http://127.0.0.1:$SIM_PORT/_sim$2" \
         -H 'Content-Type: application/json' ${3:+-d "$3"} >/dev/null
}

DSN="host=$PGHOST port=$PGPORT dbname=$DB user=$PGUSER password=$PGPASSWORD"
dropdb --if-exists "$DB"
createdb "$DB"
LIAUTO_DATABASE_URL="$DSN" "$ROOT/worker/liauto-worker" migrate >/dev/null 2>&1

# one round: $1 workers send $LEADS invites from $ACCOUNTS accounts
round() {
    local n=$1 i start end sent=0

    sim POST /reset
    sim POST /config '{"auto_people": true}'
    for i in $(seq 1 "$ACCOUNTS"); do
        sim POST /accounts "{\"id\": \"bench-acc-$i\"}"
    done
    PGOPTIONS="-c client_min_messages=warning" \
    psql -qAt -v ON_ERROR_STOP=1 -d "$DB" -v accounts="$ACCOUNTS" \
         -v leads="$LEADS" >/dev/null <<'SQL'
TRUNCATE liauto.clients CASCADE;
TRUNCATE liauto.rate_usage, liauto.worker_heartbeats;
INSERT INTO liauto.clients (id, name)
VALUES ('00000000-0000-0000-00be-00000000000c', 'engine bench');
INSERT INTO liauto.linkedin_accounts
    (id, client_id, name, unipile_account_id, daily_invite_limit,
     weekly_invite_limit, daily_message_limit, spacing_min_seconds,
     spacing_max_seconds)
SELECT ('00000000-0000-0000-00be-a' || lpad(n::text, 11, '0'))::uuid,
       '00000000-0000-0000-00be-00000000000c', 'bench ' || n,
       'bench-acc-' || n, 100000, 100000, 100000, 0, 0
FROM generate_series(1, :accounts) AS n;
INSERT INTO liauto.campaigns (id, client_id, linkedin_account_id, name,
                              status, working_hours_start,
                              working_hours_end, working_days, sequence,
                              started_at)
SELECT ('00000000-0000-0000-00be-c' || lpad(n::text, 11, '0'))::uuid,
       '00000000-0000-0000-00be-00000000000c',
       ('00000000-0000-0000-00be-a' || lpad(n::text, 11, '0'))::uuid,
       'bench ' || n, 'active', '00:00', '24:00', '{1,2,3,4,5,6,7}',
       '[{"type": "invite", "note": "Hi {{first_name}}"}]',
       liauto.now() - interval '1 day'
FROM generate_series(1, :accounts) AS n;
INSERT INTO liauto.leads (client_id, campaign_id, first_name,
                          public_identifier, created_at)
SELECT '00000000-0000-0000-00be-00000000000c',
       ('00000000-0000-0000-00be-c'
        || lpad((g % :accounts + 1)::text, 11, '0'))::uuid,
       'Lead' || g, 'bench-lead-' || g, liauto.now() - interval '1 day'
FROM generate_series(1, :leads) AS g;
-- planned up front, with statistics, as on a database that has been
-- sending for a while: this measures claiming and sending (planning at
-- scale is t/bench/plan_due.sql)
SELECT engine.plan_due(:leads);
ANALYZE;
SELECT pg_stat_reset();
SQL

    sim_cpu0=$(cpu_s $(sim_pids))
    start=$(date +%s.%N)
    WORKERS=()
    for i in $(seq 1 "$n"); do
        LIAUTO_DATABASE_URL="$DSN" LIAUTO_WORKER_ID="bench-$n-$i" \
        LIAUTO_ENGINE_TICK_MS=50 LIAUTO_LOG_LEVEL=warn \
        PGOPTIONS="-c track_functions=all" \
        UNIPILE_DSN="127.0.0.1:$SIM_PORT" UNIPILE_API_KEY="$SIM_KEY" \
            "$ROOT/worker/liauto-worker" run >>"$PREFIX/worker-$n.log" 2>&1 &
        WORKERS+=($!)
    done
    for i in $(seq 1 1200); do
        sent=$(psql -qAt -d "$DB" -c \
            "SELECT count(*) FROM liauto.actions WHERE status = 'sent'")
        [ "$sent" -ge "$LEADS" ] && break
        sleep 0.1
    done
    end=$(date +%s.%N)
    # where the time went: CPU of the workers, of their Postgres
    # backends and of the simulator's nginx worker over the round
    cpu_workers=$(cpu_s "${WORKERS[@]}")
    cpu_pg=$(cpu_s $(psql -qAt -d "$DB" -c "SELECT pid FROM pg_stat_activity
        WHERE application_name <> 'psql' AND datname = current_database()
          AND pid <> pg_backend_pid()"))
    cpu_sim=$(echo "$(cpu_s $(sim_pids)) - $sim_cpu0" | bc -l)
    for i in "${WORKERS[@]}"; do kill "$i"; wait "$i" || true; done
    WORKERS=()

    [ "$sent" -ge "$LEADS" ] \
        || { echo "bench: $n worker(s) sent $sent of $LEADS" >&2; exit 1; }
    # the simulator agrees: one invitation per lead, none twice
    curl -fsS "http://127.0.0.1:$SIM_PORT/_sim/calls" \
        | perl -MJSON::PP -e 'my $c = decode_json(join "", <STDIN>);
              die "bench: $c->{q(users.invite)} invitations for $ARGV[0] leads\n"
                  unless $c->{q(users.invite)} == $ARGV[0]' "$LEADS"
    printf 'engine, %d worker(s): %d invites from %d accounts in %.2f s = %.0f sends/s\n' \
        "$n" "$LEADS" "$ACCOUNTS" "$(echo "$end - $start" | bc -l)" \
        "$(echo "$LEADS / ($end - $start)" | bc -l)"
    printf '    CPU over the round: workers %s s, their Postgres backends %s s, simulator %s s (%s s wall, %s cores)\n' \
        "$cpu_workers" "$cpu_pg" "$cpu_sim" \
        "$(printf '%.1f' "$(echo "$end - $start" | bc -l)")" "$(nproc)"
    # per send: comparable across runs on a shared machine, where the
    # rate is not
    printf '    CPU per send: workers %.2f ms, Postgres %.2f ms\n' \
        "$(echo "$cpu_workers * 1000 / $LEADS" | bc -l)" \
        "$(echo "$cpu_pg * 1000 / $LEADS" | bc -l)"
    # where the database time went: the engine's functions, self time
    psql -qAt -F ' ' -d "$DB" -c "
        SELECT format('    %s: %s calls, %s ms total, %s ms self',
                      schemaname || '.' || funcname, calls,
                      round(total_time), round(self_time))
        FROM pg_stat_user_functions
        WHERE schemaname IN ('engine', 'liauto')
        ORDER BY total_time DESC LIMIT ${LIAUTO_BENCH_ENGINE_TOP:-6}"
}

for n in ${LIAUTO_BENCH_ENGINE_WORKERS:-1 4}; do
    log "engine throughput, $n worker(s)"
    round "$n"
done
