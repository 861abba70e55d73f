# The retention job in `liauto-worker run` (retention.c, 0038): 2 workers
# with a 1-second period and batches of 2 rows delete 7 old processed
# webhook events and 5 old delivered webhook deliveries batch after batch,
# keep the recent ones, and each period's run belongs to one worker
# (liauto.lead_jobs). What is still to do is kept whatever its age:
# sql/tests/0038_ops_retention.sql (here the worker would process or
# deliver it first). A retention age that is not a whole
# number of days stops the worker with the reason.

use strict;
use warnings;

use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::Bin/lib";
use LiautoWorker;
use Test::More;

build_worker();

my $tmp = tempdir(CLEANUP => 1);
my $db = scratch_db('retention');
my ($rc, $out) = run_worker({ LIAUTO_DATABASE_URL => "dbname=$db" },
                            'migrate');
die "migrations failed: $out\n" if $rc != 0;

psql($db, "SELECT liauto.set_clock('2027-03-01 12:00Z')");
psql($db, <<'SQL');
INSERT INTO liauto.webhook_events (source, delivery_key, body, received_at,
                                   processed_at)
SELECT 'unipile_users', k || '-' || i, '{}', at,
       at
FROM (VALUES ('old', '2026-12-01 00:00Z'::timestamptz, 7),
             ('recent', '2027-02-27 00:00Z', 3)) AS x (k, at, n),
     generate_series(1, n) AS i;
WITH c AS (INSERT INTO liauto.clients (name) VALUES ('Retention Co')
           RETURNING id),
     s AS (INSERT INTO liauto.webhook_subscriptions (client_id, url, events,
                                                     secret)
           SELECT id, 'https://crm.example/h', '{lead.replied}',
                  'whsec_' || repeat('cd', 32) FROM c
           RETURNING id, client_id)
INSERT INTO liauto.webhook_deliveries (subscription_id, client_id, event_id,
                                       event_type, payload, status, due_at,
                                       created_at)
SELECT s.id, s.client_id, gen_random_uuid(), 'lead.replied', k, st, at, at
FROM s, (VALUES ('old', 'delivered', '2026-10-01 00:00Z'::timestamptz, 5),
                ('recent', 'delivered', '2027-02-27 00:00Z', 2))
        AS x (k, st, at, n),
     generate_series(1, n);
SQL

sub events_left {
    return psql($db, "SELECT string_agg(k || ':' || n, ' ' ORDER BY k) FROM"
                     . " (SELECT regexp_replace(delivery_key, '-[0-9]+\$',"
                     . " '') AS k, count(*) AS n FROM liauto.webhook_events"
                     . " GROUP BY 1) AS x");
}

sub deliveries_left {
    return psql($db, "SELECT string_agg(payload || ':' || n, ' '"
                     . " ORDER BY payload) FROM (SELECT payload, count(*)"
                     . " AS n FROM liauto.webhook_deliveries GROUP BY 1)"
                     . " AS x");
}

my @pids = map {
    start_worker({ LIAUTO_DATABASE_URL => "dbname=$db",
                   LIAUTO_WORKER_ID => "retention-t-$_-$$",
                   LIAUTO_RETENTION_INTERVAL => 1,
                   LIAUTO_RETENTION_BATCH => 2,
                   LIAUTO_LOG_LEVEL => 'debug' },
                 "$tmp/worker-$_.log", 'run')
} 1 .. 2;
sub logs { return join('', map { slurp("$tmp/worker-$_.log") } 1 .. 2) }

ok(wait_until(30, sub { events_left() eq 'recent:3'
                        && deliveries_left() eq 'recent:2' }),
   'old processed events and old deliveries are deleted')
    or diag(events_left(), ' / ', deliveries_left(), "\n", logs());
is(events_left(), 'recent:3', '... recent events kept');
is(deliveries_left(), 'recent:2', '... recent deliveries kept');
like(logs(), qr/retention batch: \{[^\n]*"webhook_events": 2/,
     'in batches of 2 rows');
like(logs(), qr/retention: \d+ old row\(s\) deleted \(keep days \{"emails": 90, "webhook_deliveries": 90, "webhook_events": 30, "inbox_events": 7\}\)/,
     'the run is logged with the ages (the defaults)');
# with 1-second periods the workers go on taking new ones
sub periods {
    return psql($db, "SELECT count(*) FROM liauto.lead_jobs"
                     . " WHERE job = 'retention'");
}
ok(wait_until(30, sub { periods() >= 2 }), 'runs in several periods')
    or diag(periods(), "\n", logs());
for my $pid (@pids) {
    is(stop_worker($pid, 'TERM', 10), 0, 'a worker stops cleanly');
}

# a run that was stopped between batches has its period but no summary
my $periods = periods();
my @runs = logs() =~ /retention: \d+ old row\(s\) deleted/g;
cmp_ok(scalar @runs, '<=', $periods,
       '... never two runs in one period by the 2 workers');

($rc, $out) = run_worker({ LIAUTO_DATABASE_URL => "dbname=$db",
                           LIAUTO_RETENTION_EMAIL_DAYS => '90d' }, 'run');
isnt($rc, 0, 'LIAUTO_RETENTION_EMAIL_DAYS=90d stops the worker');
like($out, qr/LIAUTO_RETENTION_EMAIL_DAYS: invalid number "90d" \(expected whole days, 1\.\.86400\)/,
     '... saying what it expects');

done_testing();
