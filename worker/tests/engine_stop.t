# What stops a send: a reply or a pause that comes while the step is
# already claimed is caught by engine.check_before_send right before the
# HTTP call (the lead's profile lookup is held up by the simulator so the
# change lands in between); while the scheduler or the campaign is paused
# nothing is sent, and resuming sends what waited, once.

use strict;
use warnings;

use File::Temp qw(tempdir);
use FindBin;
use Time::HiRes qw(sleep);
use lib "$FindBin::Bin/lib";
use LiautoWorker;
use LiautoSim;
use LiautoEngine;
use Test::More;

build_worker();
start_simulator();

my $tmp = tempdir(CLEANUP => 1);
my $db = engine_db();
my $account = 'acc-stop';
sim_control('POST', 'config', { auto_people => JSON::PP::true });
my $campaign = create_campaign(
    $db, $account, q{[{"kind": "invite", "note": "Hi {{first_name}}"}]});

my $log = "$tmp/worker.log";
my $pid = start_worker({ LIAUTO_DATABASE_URL => "dbname=$db",
                         LIAUTO_WORKER_ID => "stop-t-$$",
                         LIAUTO_ENGINE_TICK_MS => 100,
                         UNIPILE_DSN => sim_dsn(),
                         UNIPILE_API_KEY => sim_key() }, $log, 'run');

# A new lead, and the worker woken to plan it at once.
sub new_lead {
    my ($name, $slow) = @_;
    my $lead = { slug => "stop-$name", first => ucfirst($name) };
    look_up_lead($account, $lead);
    # the worker's profile lookup takes 1.5 s (the fault is there before
    # the lead, which the running worker may claim at once)
    sim_control('POST', 'faults', { route => 'users.get', kind => 'slow',
                                    ms => 1500, match => $lead->{slug} })
        if $slow;
    insert_lead($db, $campaign, $lead);
    psql($db, "NOTIFY liauto_worker, 'lead'");
    return $lead;
}

sub action_status {
    my ($l) = @_;
    return psql($db, "SELECT string_agg(x.status, ',') FROM liauto.actions"
                     . " AS x JOIN liauto.leads AS l ON l.id = x.lead_id"
                     . " WHERE l.public_identifier = '$l->{slug}'");
}

sub invitations_to {
    my ($l) = @_;
    return scalar @{ sim_control('GET', "invitations?provider_id="
                                 . $l->{provider_id})->{invitations} };
}

sub set_paused {
    my ($paused) = @_;
    psql($db, "UPDATE liauto.settings SET value = '$paused'"
              . " WHERE key = 'scheduler_paused'");
    psql($db, "NOTIFY liauto_worker, 'scheduler'");
}

# A reply while the invite is claimed.
my $replier = new_lead('replier', 'slow');
ok(wait_until(10, sub { action_status($replier) eq 'claimed' }),
   'the invite is claimed') or diag(slurp($log));
psql($db, "UPDATE liauto.leads SET status = 'responded'"
          . " WHERE public_identifier = '$replier->{slug}'");
ok(wait_until(10, sub { action_status($replier) eq 'cancelled' }),
   'a reply during the claim cancels the send') or diag(slurp($log));
like(slurp($log), qr/to stop-replier \(lead .* not sent: lead_responded/,
     '... the log says why');

# The scheduler paused while an invite is claimed.
my $held = new_lead('held', 'slow');
ok(wait_until(10, sub { action_status($held) eq 'claimed' }),
   'the next invite is claimed') or diag(slurp($log));
set_paused('true');
ok(wait_until(10, sub { action_status($held) eq 'cancelled' }),
   'pausing the scheduler during the claim cancels the send')
    or diag(slurp($log));
like(slurp($log), qr/to stop-held \(lead .* not sent: scheduler_paused/,
     '... the log says why');

my $waiting = new_lead('waiting');
sleep(1.5);
is(action_status($waiting), '', 'while paused nothing is planned');

set_paused('false');
ok(wait_until(10, sub { lead_count($db, $campaign, 'invite_sent') == 2 }),
   'resumed: the held and the waiting leads are invited')
    or diag(slurp($log));

# The campaign paused.
psql($db, "UPDATE liauto.campaigns SET status = 'paused',"
          . " paused_at = liauto.now() WHERE id = '$campaign'");
my $late = new_lead('late');
sleep(1.5);
is(action_status($late), '', 'while the campaign is paused nothing is '
   . 'planned');
psql($db, "UPDATE liauto.campaigns SET status = 'active', paused_at = NULL"
          . " WHERE id = '$campaign'");
ok(wait_until(10, sub { lead_count($db, $campaign, 'invite_sent') == 3 }),
   'resumed: the late lead is invited') or diag(slurp($log));

is(join(' ', map { invitations_to($_) } $replier, $held, $waiting, $late),
   '0 1 1 1', 'the lead that replied got nothing, the others one invite');

is(stop_worker($pid, 'TERM', 10), 0, 'the worker stops cleanly');

done_testing();
