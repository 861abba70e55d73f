# The fallbacks for missed webhooks: a message_received delivery lost on
# purpose is found by the periodic poll of GET /messages within its
# interval; while the account is disconnected Unipile withholds message
# webhooks, and the account's return to OK (an AccountStatus webhook)
# triggers a catch-up poll that finds the reply sent meanwhile.

use strict;
use warnings;

use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::Bin/lib";
use LiautoWorker;
use LiautoSim;
use LiautoEngine;
use LiautoHooks;
use Test::More;

build_worker();
start_simulator();

my $tmp = tempdir(CLEANUP => 1);
my $db = engine_db();
my $account = 'acc-poll';
my $interval = 2;
sim_control('POST', 'config', { auto_people => JSON::PP::true });
hold_webhooks();
# status changes back to OK are not in Unipile's default events
sim_api('POST', 'webhooks', {
    request_url => 'http://127.0.0.1:9/account-status',
    source => 'account_status', events => ['ok', 'credentials'] });
my $campaign = create_campaign($db, $account, '[{"kind": "invite"}]');

# A lead that was invited and messaged: nothing is left to send to it.
sub messaged_lead {
    my ($name) = @_;
    my $l = { slug => "poll-$name", first => ucfirst($name) };
    add_lead($db, $campaign, $account, $l);
    psql($db, "UPDATE liauto.leads SET status = 'messaged', current_step = 1,"
              . " provider_id = '$l->{provider_id}'"
              . " WHERE public_identifier = '$l->{slug}'");
    return $l;
}

sub run_worker_with {
    my ($poll, $log) = @_;
    return start_worker({ LIAUTO_DATABASE_URL => "dbname=$db",
                          LIAUTO_WORKER_ID => "poll-t-$$",
                          LIAUTO_ENGINE_TICK_MS => 100,
                          LIAUTO_POLL_INTERVAL => $poll,
                          UNIPILE_DSN => sim_dsn(),
                          UNIPILE_API_KEY => sim_key() }, $log, 'run');
}

sub reply_deliveries {
    my ($status) = @_;
    return scalar grep { $_->{body} =~ /"is_sender":false/ }
        @{ sim_control('GET', "deliveries?event=message_received"
                              . "&status=$status")->{deliveries} };
}

# -------------------------------------------------- a lost webhook

my $log = "$tmp/worker.log";
my $pid = run_worker_with($interval, $log);
my $lost = messaged_lead('lost');
ok(wait_until(30, sub {
       psql($db, "SELECT count(*) FROM liauto.sync_jobs WHERE job ="
                 . " 'poll_messages' AND status = 'done'") > 0 }),
   'the worker is up and polling') or diag(slurp($log));

sim_control('POST', 'deliveries/mode', { hold => JSON::PP::true,
                                         lose => 1 });
sim_control('POST', 'reply', { account_id => $account,
                               provider_id => $lost->{provider_id},
                               text => 'Nobody saw this webhook' });
is(reply_deliveries('lost'), 1, 'the reply\'s webhook is lost');
is(forward_deliveries($db), 0, '... nothing reaches the database');

ok(wait_until(3 * $interval + 2, sub {
       lead_value($db, $lost, 'status') eq 'responded' }),
   "the poll (every $interval s) finds the reply: the lead responded")
    or diag(slurp($log));
is(psql($db, "SELECT outcome FROM liauto.webhook_events"
             . " WHERE delivery_key LIKE 'poll:$account:%'"
             . " AND body::jsonb ->> 'is_sender' = 'false'"),
   'processed', '... through a polled delivery, processed like a webhook');
is(psql($db, "SELECT count(*) FROM liauto.events WHERE type ="
             . " 'message_received'"), 1, '... one message_received event');
ok(psql($db, "SELECT count(*) FROM liauto.sync_jobs WHERE job ="
             . " 'poll_messages' AND status = 'done'"
             . " AND (counts ->> 'new')::integer = 1") == 1,
   'the run that found it is recorded with its counts');
my $runs = psql($db, "SELECT count(*) FROM liauto.sync_jobs"
                     . " WHERE job = 'poll_messages'");
ok(wait_until(3 * $interval, sub {
       psql($db, "SELECT count(*) FROM liauto.sync_jobs"
                 . " WHERE job = 'poll_messages' AND status = 'done'")
       > $runs }),
   'polls keep running, one per interval');
is(psql($db, "SELECT count(*) FROM liauto.events WHERE type ="
             . " 'message_received'"), 1, '... and find nothing twice');
is(stop_worker($pid, 'TERM', 10), 0, 'the worker stops cleanly');

# -------------------------------------------------- a disconnected account

# polls only once an hour now: what finds the reply is the catch-up
$pid = run_worker_with(3600, $log);
my $away = messaged_lead('away');
sim_control('POST', 'deliveries/mode', { hold => JSON::PP::true });

sim_control('POST', "accounts/$account/status", { status => 'CREDENTIALS' });
ok(wait_until(10, sub {
       forward_deliveries($db);
       psql($db, "SELECT status FROM liauto.linkedin_accounts") eq
           'credentials' }),
   'CREDENTIALS: the account is paused') or diag(slurp($log));

sim_control('POST', 'reply', { account_id => $account,
                               provider_id => $away->{provider_id},
                               text => 'Written while you were away' });
is(reply_deliveries('withheld'), 1,
   'Unipile withholds the reply\'s webhook while the account is down');

sim_control('POST', "accounts/$account/status", { status => 'OK' });
ok(wait_until(10, sub {
       forward_deliveries($db);
       lead_value($db, $away, 'status') eq 'responded' }),
   'back to OK: the catch-up poll finds the reply') or diag(slurp($log));
is(psql($db, "SELECT status || ' ' || (counts ->> 'new')"
             . " FROM liauto.sync_jobs WHERE period_key LIKE 'catchup:%'"),
   'done 1', '... in a catch-up run');
is(psql($db, "SELECT status FROM liauto.linkedin_accounts"), 'ok',
   '... and the account is ok again');
is(stop_worker($pid, 'TERM', 10), 0, 'the worker stops cleanly');

done_testing();
