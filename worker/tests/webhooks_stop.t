# A reply that arrives while the next step is already claimed: the
# webhook makes the lead responded, engine.check_before_send refuses the
# send right before its HTTP call, and the simulator never receives the
# message. (The engine's chat search is held up by the simulator so the
# reply lands in between.) A lead that does not reply gets the step.

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
my $account = 'acc-hookstop';
sim_control('POST', 'config', { auto_people => JSON::PP::true,
                                accept_after_ms => 200 });
hold_webhooks();
my $campaign = create_campaign($db, $account, q{[
    {"kind": "invite"},
    {"kind": "message", "text": "Thanks {{first_name}}",
     "delay_minutes": 1},
    {"kind": "message", "text": "Any news?", "delay_days": 3}]});

my $log = "$tmp/worker.log";
my $pid = start_worker({ LIAUTO_DATABASE_URL => "dbname=$db",
                         LIAUTO_WORKER_ID => "hookstop-t-$$",
                         LIAUTO_ENGINE_TICK_MS => 100,
                         UNIPILE_DSN => sim_dsn(),
                         UNIPILE_API_KEY => sim_key() }, $log, 'run');

sub api_messages {
    my ($l) = @_;
    return scalar @{ sim_control('GET', "messages?person_id="
                                 . "$l->{provider_id}&origin=api")
                         ->{messages} };
}

sub message_action {
    my ($l) = @_;
    return psql($db, "SELECT coalesce(string_agg(x.status || ':'"
                     . " || coalesce(x.last_error, ''), ','), '')"
                     . " FROM liauto.actions AS x"
                     . " JOIN liauto.leads AS l ON l.id = x.lead_id"
                     . " WHERE l.public_identifier = '$l->{slug}'"
                     . " AND x.kind = 'message'");
}

# Invited, accepted, connected through the new_relation webhook; its
# message step waits one minute of engine time.
sub connected_lead {
    my ($name) = @_;
    my $l = { slug => "hookstop-$name", first => ucfirst($name) };

    add_lead($db, $campaign, $account, $l);
    psql($db, "NOTIFY liauto_worker, 'lead'");
    wait_until(15, sub { forward_deliveries($db);
                         lead_value($db, $l, 'status') eq 'connected' })
        or diag(slurp($log));
    return $l;
}

my $replier = connected_lead('replier');
is(lead_value($db, $replier, 'status'), 'connected',
   'the replier is connected by the new_relation webhook');

# the engine's search for the lead's chat takes 6 s
sim_control('POST', 'faults', { route => 'chats.list', kind => 'slow',
                                ms => 6000 });
shift_clock($db, '2 minutes');
ok(wait_until(10, sub { message_action($replier) eq 'claimed:' }),
   'the message step is claimed') or diag(slurp($log));

sim_control('POST', 'reply', { account_id => $account,
                               provider_id => $replier->{provider_id},
                               text => 'Already answered' });
ok(wait_until(10, sub { forward_deliveries($db);
                        lead_value($db, $replier, 'status')
                            eq 'responded' }),
   'the reply, delivered during the claim, makes the lead responded')
    or diag(slurp($log));
ok(wait_until(15, sub { message_action($replier)
                            eq 'cancelled:lead_responded' }),
   'the claimed step is cancelled before its send') or diag(slurp($log));
like(slurp($log), qr/to hookstop-replier \(lead .* not sent: lead_responded/,
     '... the log says why');
is(api_messages($replier), 0, 'the simulator received no message for it');

sim_control('DELETE', 'faults');
my $quiet = connected_lead('quiet');
shift_clock($db, '2 minutes');
ok(wait_until(10, sub { api_messages($quiet) == 1 }),
   'a lead that did not reply gets the step') or diag(slurp($log));
is(api_messages($replier), 0, '... and the replier still nothing');

is(stop_worker($pid, 'TERM', 10), 0, 'the worker stops cleanly');

done_testing();
