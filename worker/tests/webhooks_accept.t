# End to end through the simulator: the invitation is accepted, the
# new_relation webhook makes the lead connected, the engine sends the
# message step (unblocked by the acceptance), the echo of our own message
# is threaded as outbound and is no reply, and the lead's answer makes it
# responded with one message_received event.

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
my $account = 'acc-accept';
sim_control('POST', 'config', { auto_people => JSON::PP::true,
                                accept_after_ms => 300 });
hold_webhooks();
my $campaign = create_campaign($db, $account, q{[
    {"kind": "invite"},
    {"kind": "message", "text": "Thanks {{first_name}}",
     "delay_minutes": 0},
    {"kind": "message", "text": "Any news?", "delay_days": 3}]});

my $log = "$tmp/worker.log";
my $pid = start_worker({ LIAUTO_DATABASE_URL => "dbname=$db",
                         LIAUTO_WORKER_ID => "accept-t-$$",
                         LIAUTO_ENGINE_TICK_MS => 100,
                         UNIPILE_DSN => sim_dsn(),
                         UNIPILE_API_KEY => sim_key() }, $log, 'run');

my $lead = { slug => 'accept-ada', first => 'Ada' };
add_lead($db, $campaign, $account, $lead);
psql($db, "NOTIFY liauto_worker, 'lead'");

sub status { return lead_value($db, $lead, 'status') }
sub api_messages {
    return scalar @{ sim_control('GET', "messages?person_id="
                                 . "$lead->{provider_id}&origin=api")
                         ->{messages} };
}
sub events {
    my ($type) = @_;
    return psql($db, "SELECT count(*) FROM liauto.events AS e"
                     . " JOIN liauto.leads AS l ON l.id = e.lead_id"
                     . " WHERE l.public_identifier = '$lead->{slug}'"
                     . " AND e.type = '$type'");
}

ok(wait_until(10, sub { status() eq 'invite_sent' }), 'the invite is sent')
    or diag(slurp($log));
ok(wait_until(10, sub { forward_deliveries($db);
                        delivery_outcomes($db, 'new_relation') ne '' }),
   'the simulator accepts: a new_relation delivery is stored');
ok(wait_until(10, sub { status() =~ /^(connected|messaged)$/ }),
   'the new_relation webhook makes the lead connected')
    or diag(slurp($log));
is(delivery_outcomes($db, 'new_relation'), 'processed',
   '... its outcome is processed');
is(events('connection_accepted'), 1, '... one connection_accepted event');
is(lead_value($db, $lead, 'provider_id'), $lead->{provider_id},
   '... and the lead learns its provider id');

ok(wait_until(10, sub { status() eq 'messaged' && api_messages() == 1 }),
   'the engine sends the message step once the lead is connected')
    or diag(slurp($log));
ok(wait_until(10, sub { forward_deliveries($db);
                        delivery_outcomes($db, 'message_received')
                            eq 'processed' }),
   'the echo of our own message is processed');
is(events('message_received'), 0, '... it is not a reply');
is(status(), 'messaged', '... the lead stays messaged');
is(psql($db, "SELECT string_agg(direction, ',') FROM liauto.messages"),
   'outbound', '... it is threaded as outbound');

sim_control('POST', 'reply', { account_id => $account,
                               provider_id => $lead->{provider_id},
                               text => 'Sure, let us talk' });
ok(wait_until(10, sub { forward_deliveries($db); status() eq 'responded' }),
   'the answer makes the lead responded') or diag(slurp($log));
is(events('message_received'), 1, '... with one message_received event');
is(psql($db, "SELECT string_agg(direction || ':' || text, ','"
             . " ORDER BY sent_at) FROM liauto.messages"),
   'outbound:Thanks Ada,inbound:Sure, let us talk',
   '... and both messages are in one conversation');
is(psql($db, "SELECT count(*) FROM liauto.conversations"), 1,
   '... one conversation');
like(slurp($log), qr/webhook \S+ processed: .*"direction":"inbound"/,
     'the log says what the reply did');

is(stop_worker($pid, 'TERM', 10), 0, 'the worker stops cleanly');

done_testing();
