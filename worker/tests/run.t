# `liauto-worker run` against a real PostgreSQL: heartbeats, NOTIFY wake-ups,
# reconnect after a server restart, clean shutdown (run under pg_virtualenv:
# `cd /work/main && pg_virtualenv -v 15 prove worker/tests/`).

use strict;
use warnings;

use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::Bin/lib";
use LiautoWorker;
use Test::More;

build_worker();

my $tmp = tempdir(CLEANUP => 1);
my $db = scratch_db('run');
my $worker_id = "run-t-$$";

my ($rc, $out) = run_worker({ LIAUTO_DATABASE_URL => "dbname=$db" },
                            'migrate');
is($rc, 0, "the project's migrations apply") or diag($out);

# Fallback for standalone runs only: when sql/migrations does not (yet)
# define the heartbeat function, create the shape fixed in the team
# conventions so the worker can still be tested on its own.
if (psql($db, "SELECT to_regprocedure('liauto.record_heartbeat(text, text,"
              . " integer, text, text)') IS NULL") eq 't') {
    diag('FALLBACK: sql/migrations has no liauto.record_heartbeat;'
         . ' creating it from the conventions');
    psql($db, <<'SQL');
CREATE SCHEMA IF NOT EXISTS liauto;
CREATE TABLE liauto.worker_heartbeats (
    worker_id text PRIMARY KEY, hostname text, pid int, version text,
    state text, started_at timestamptz, last_seen_at timestamptz, info jsonb);
CREATE FUNCTION liauto.record_heartbeat(p_worker_id text, p_hostname text,
    p_pid int, p_version text, p_state text) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO liauto.worker_heartbeats AS h VALUES
        (p_worker_id, p_hostname, p_pid, p_version, p_state, now(), now())
    ON CONFLICT (worker_id) DO UPDATE
    SET hostname = excluded.hostname, pid = excluded.pid,
        version = excluded.version, state = excluded.state,
        last_seen_at = now()
$$;
SQL
}

sub heartbeat {
    my $row = psql($db, "SELECT state || ' ' || extract(epoch FROM last_seen_at)"
                        . " FROM liauto.worker_heartbeats"
                        . " WHERE worker_id = '$worker_id'");
    return $row eq '' ? () : split(/ /, $row);
}

sub db_now { return psql($db, 'SELECT extract(epoch FROM now())') }

my $log = "$tmp/worker.log";
my $pid = start_worker({ LIAUTO_DATABASE_URL => "dbname=$db",
                         LIAUTO_WORKER_ID => $worker_id,
                         LIAUTO_HEARTBEAT_INTERVAL => 1,
                         LIAUTO_RECONNECT_MAX => 2,
                         LIAUTO_LOG_LEVEL => 'debug' }, $log, 'run');

ok(wait_until(10, sub { my @h = heartbeat(); @h && $h[0] eq 'running' }),
   'a heartbeat row appears with state running')
    or diag(slurp($log));
my (undef, $first) = heartbeat();
ok(wait_until(5, sub { (heartbeat())[1] > $first }),
   'the heartbeat advances every interval');
like(slurp($log), qr/config: LIAUTO_HEARTBEAT_INTERVAL=1\n/,
   'the settings in use are logged at start');
like(slurp($log), qr/config: LIAUTO_DATABASE_URL=\(set, not shown\)/,
     '... except the database URL, which may hold a password');
unlike(slurp($log), qr/dbname=\Q$db\E/, '... which appears nowhere');
is(psql($db, "SELECT hostname IS NOT NULL AND pid = $pid AND version <> ''"
             . " FROM liauto.worker_heartbeats WHERE worker_id = '$worker_id'"),
   't', 'the row carries hostname, pid and version');

psql($db, "NOTIFY liauto_worker, 'wake-$$'");
ok(wait_until(5, sub { slurp($log) =~ /DEBUG: wake-up on "liauto_worker" .*payload "wake-$$"/ }),
   'a NOTIFY on liauto_worker is received and logged at debug');

# A NOTIFY that reaches the worker while it waits for a query's result is
# read by libpq together with that result: it must still be delivered.
# Holding the heartbeat row locked makes the next heartbeat wait for the
# NOTIFY's transaction to commit.
psql($db, "BEGIN;"
          . " SELECT 1 FROM liauto.worker_heartbeats"
          . "  WHERE worker_id = '$worker_id' FOR UPDATE;"
          . " NOTIFY liauto_worker, 'during-query-$$';"
          . " SELECT pg_sleep(1.5);"
          . " COMMIT");
ok(wait_until(5, sub { slurp($log) =~ /payload "during-query-$$"/ }),
   'a NOTIFY that arrives during a query is delivered too');

kill('HUP', $pid);
ok(wait_until(5, sub { slurp($log) =~ /SIGHUP: configuration reload is not supported/ }),
   'SIGHUP says reload is not supported');
ok(kill(0, $pid), '... and the worker keeps running');

SKIP: {
    my $lost_before = () = slurp($log) =~ /database connection lost/g;
    my $restarted = eval { restart_cluster() };
    BAIL_OUT($@) unless defined $restarted;
    skip('no cluster found on $PGPORT to restart', 4) unless $restarted;
    my $restarted_at = db_now();

    ok(wait_until(10, sub {
           (() = slurp($log) =~ /database connection lost/g) > $lost_before
       }), 'the lost connection is noticed and logged with the reason')
        or diag(slurp($log));
    like(slurp($log), qr/ERROR: database connection lost: \S.*; reconnecting/,
         'the log says why');
    ok(wait_until(15, sub { (heartbeat())[1] > $restarted_at }),
       'the worker reconnects and heartbeats again') or diag(slurp($log));
    ok(kill(0, $pid), 'same process, no restart needed');
}

psql($db, "NOTIFY liauto_worker, 'again-$$'");
ok(wait_until(5, sub { slurp($log) =~ /payload "again-$$"/ }),
   'LISTEN is re-established after the reconnect');

my $status = stop_worker($pid, 'TERM', 10);
is($status, 0, 'SIGTERM: exit 0');
is((heartbeat())[0], 'stopped', "final heartbeat has state 'stopped'");
like(slurp($log), qr/received SIGTERM: shutting down.*shutdown complete/s,
     'logs the signal and "shutdown complete"');

subtest 'database down: retries with capped backoff, SIGTERM still works' => sub {
    my $down_log = "$tmp/down.log";
    my $down = start_worker({ LIAUTO_DATABASE_URL =>
                                  'host=127.0.0.1 port=1 dbname=nowhere',
                              LIAUTO_RECONNECT_MAX => 1 }, $down_log, 'run');

    ok(wait_until(10, sub { slurp($down_log) =~ /attempt 4\b/ }),
       'keeps retrying') or diag(slurp($down_log));
    my @delays = slurp($down_log) =~ /retrying in (\d+) ms/g;
    ok(!grep({ $_ > 1000 } @delays), 'delays never exceed LIAUTO_RECONNECT_MAX')
        or diag("@delays");
    like(slurp($down_log), qr/cannot connect to the database \(attempt 1\): .*127\.0\.0\.1/,
         'each failure is logged with the reason');

    is(stop_worker($down, 'INT', 5), 0, 'SIGINT while waiting: exit 0');
    like(slurp($down_log), qr/shutdown complete/, '"shutdown complete"');
};

done_testing();
