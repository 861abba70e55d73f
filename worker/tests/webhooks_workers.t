# Three workers process the same backlog of deliveries at once (each row
# taken FOR UPDATE SKIP LOCKED, each effect guarded by the lead's row lock
# and the unique keys): 600 deliveries, every event stored twice under
# two delivery keys, end with exactly one effect each.

use strict;
use warnings;

use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::Bin/lib";
use LiautoWorker qw(build_worker scratch_db psql run_worker start_worker
                    stop_worker wait_until slurp);
use Test::More;

build_worker();

my $tmp = tempdir(CLEANUP => 1);
my $db = scratch_db('three');
my ($rc, $out) = run_worker({ LIAUTO_DATABASE_URL => "dbname=$db" },
                            'migrate');
is($rc, 0, 'migrated') or diag($out);

psql($db, <<'SQL');
WITH c AS (INSERT INTO liauto.clients (name) VALUES ('three workers')
           RETURNING id),
     a AS (INSERT INTO liauto.linkedin_accounts (client_id, name,
                                                 unipile_account_id,
                                                 provider_user_id)
           SELECT id, 'A', 'acc-three', 'ACoAAown' FROM c
           RETURNING id, client_id),
     k AS (INSERT INTO liauto.campaigns (client_id, linkedin_account_id,
                                         name)
           SELECT client_id, id, 'three' FROM a RETURNING id, client_id)
INSERT INTO liauto.leads (client_id, campaign_id, provider_id, status,
                          current_step)
SELECT k.client_id, k.id, 'ACoAAp' || i, 'invite_sent', 1
FROM k, generate_series(1, 100) AS i;

-- per person: the acceptance and two replies, each delivered twice
INSERT INTO liauto.webhook_events (source, delivery_key, body, received_at)
SELECT src, key || ':' || copy, body::text, liauto.now()
FROM (SELECT 'unipile_users' AS src, 'rel:' || i AS key,
             jsonb_build_object('event', 'new_relation',
                                'account_id', 'acc-three',
                                'user_provider_id', 'ACoAAp' || i) AS body
      FROM generate_series(1, 100) AS i
      UNION ALL
      SELECT 'unipile_messaging', 'msg:' || i || ':' || k,
             jsonb_build_object('event', 'message_received',
                                'account_id', 'acc-three',
                                'chat_id', 'chat-' || i,
                                'message_id', 'm-' || i || '-' || k,
                                'message', 'hello', 'is_sender', false,
                                'sender', jsonb_build_object(
                                    'attendee_provider_id', 'ACoAAp' || i))
      FROM generate_series(1, 100) AS i, generate_series(1, 2) AS k) AS e,
     generate_series(1, 2) AS copy
ORDER BY random();
SQL

my @pids = map {
    start_worker({ LIAUTO_DATABASE_URL => "dbname=$db",
                   LIAUTO_WORKER_ID => "three-$_-$$" },
                 "$tmp/worker-$_.log", 'run')
} 1 .. 3;
psql($db, "NOTIFY liauto_webhooks, 'backlog'");

ok(wait_until(60, sub {
       psql($db, 'SELECT count(*) FROM liauto.webhook_events'
                 . ' WHERE processed_at IS NULL') == 0 }),
   'the three workers process the whole backlog')
    or diag(slurp("$tmp/worker-1.log"));

is(psql($db, "SELECT string_agg(outcome || ':' || n, ',' ORDER BY outcome)"
             . ' FROM (SELECT outcome, count(*) AS n'
             . ' FROM liauto.webhook_events GROUP BY outcome) AS o'),
   'duplicate:300,processed:300',
   'one copy of each event had an effect, the other was a duplicate');
is(psql($db, "SELECT string_agg(type || ':' || n, ',' ORDER BY type)"
             . ' FROM (SELECT type, count(*) AS n FROM liauto.events'
             . ' GROUP BY type) AS t'),
   'connection_accepted:100,message_received:200',
   'exactly one event per acceptance and per reply');
is(psql($db, "SELECT string_agg(DISTINCT status, ',') FROM liauto.leads"),
   'responded', 'every lead responded');
is(psql($db, 'SELECT count(*) FROM liauto.messages'), 200,
   'every reply threaded once');

is(stop_worker($_, 'TERM', 10), 0, 'a worker stops cleanly') for @pids;

done_testing();
