# Several workers at once, killed with SIGKILL at random moments while
# they send: 3 workers, 3 accounts (one with a daily invite limit of 10),
# 45 leads through an invite and a message, 24 kills. Every lead gets each
# step exactly once, none is lost, and the limit holds.

use strict;
use warnings;

use File::Temp qw(tempdir);
use FindBin;
use POSIX qw(WNOHANG);
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
sim_control('POST', 'config', { auto_people => JSON::PP::true });

my $sequence = q{[{"kind": "invite", "note": "Hi {{first_name}}"},
                  {"kind": "message", "delay_minutes": 5,
                   "text": "Hello again {{first_name}}"}]};
my (@leads, @campaigns);
for my $n (1 .. 3) {
    my $account = "acc-w$n";
    my $campaign = create_campaign($db, $account, $sequence);
    push @campaigns, $campaign;
    for my $i (1 .. 15) {
        my $lead = { slug => "w$n-lead-$i", first => "W${n}L$i",
                     account => $account };
        add_lead($db, $campaign, $account, $lead);
        push @leads, $lead;
    }
}
psql($db, "UPDATE liauto.linkedin_accounts SET daily_invite_limit = 10"
          . " WHERE unipile_account_id = 'acc-w3'");
my $campaign_list = join(', ', map { "'$_'" } @campaigns);

sub leads_in {
    my ($status) = @_;
    return psql($db, "SELECT count(*) FROM liauto.leads WHERE campaign_id IN"
                     . " ($campaign_list) AND status = '$status'");
}

# Slow sends, so that kills land in the middle of them.
sim_control('POST', 'faults', { route => $_, kind => 'slow', ms => 80,
                                times => 1000 })
    for qw(users.invite chats.send chats.start);

my %workers;     # slot -> pid
my $generation = 0;

sub start_slot {
    my ($slot) = @_;
    $generation++;
    $workers{$slot} = start_worker(
        { LIAUTO_DATABASE_URL => "dbname=$db",
          LIAUTO_WORKER_ID => "w$slot-$generation",
          LIAUTO_ENGINE_TICK_MS => 100,
          LIAUTO_LEASE_SECONDS => 30,
          UNIPILE_DSN => sim_dsn(), UNIPILE_API_KEY => sim_key() },
        "$tmp/worker-$generation.log", 'run');
}

sub kill_slot {
    my ($slot) = @_;
    kill('KILL', $workers{$slot});
    waitpid($workers{$slot}, 0);
}

sub logs { return join('', map { slurp($_) } glob("$tmp/worker-*.log")) }

# Kills a random worker every 0.3 s and restarts it, $kills times; then
# kills them all, lets sends in flight land, moves the clock past the
# leases and starts 3 fresh workers, which reconcile.
sub kill_storm {
    my ($kills) = @_;
    for (1 .. $kills) {
        sleep(0.3);
        my $slot = 1 + int(rand(3));
        kill_slot($slot);
        start_slot($slot);
    }
    kill_slot($_) for 1 .. 3;
    sleep(0.5);
    shift_clock($db, '1 minute');
    start_slot($_) for 1 .. 3;
}

start_slot($_) for 1 .. 3;
ok(wait_until(10, sub { leads_in('invite_sent') >= 3 }),
   'the workers send invites') or diag(logs());
kill_storm(12);
ok(wait_until(30, sub { leads_in('invite_sent') == 40 }),
   'after 12 kills every lead is invited, but the 5 over the limit')
    or diag(logs());

for my $inv (@{ sim_control('GET', 'invitations')->{invitations} }) {
    sim_control('POST', "invitations/$inv->{id}/accept");
}
psql($db, "UPDATE liauto.leads SET status = 'connected' WHERE campaign_id"
          . " IN ($campaign_list) AND status = 'invite_sent'");
shift_clock($db, '6 minutes');
ok(wait_until(10, sub { leads_in('completed') >= 3 }),
   'the workers send messages') or diag(logs());
kill_storm(12);
ok(wait_until(30, sub { leads_in('completed') == 40 }),
   'after 12 more kills every invited lead got its message')
    or diag(logs());

kill_slot($_) for 1 .. 3;

my $people = sim_control('GET', 'sent')->{people};
my (@wrong, %invited);
for my $l (@leads) {
    my $got = $people->{"$l->{account}/$l->{provider_id}"}
              // { invitations => 0, texts => [] };
    $invited{$l->{account}} += $got->{invitations};
    next if $got->{invitations} == 0 && $l->{account} eq 'acc-w3';
    push @wrong, "$l->{slug}: $got->{invitations} invitations, texts ["
                 . join(' | ', @{ $got->{texts} }) . ']'
        unless $got->{invitations} == 1
               && join('|', @{ $got->{texts} }) eq "Hello again $l->{first}";
}
is_deeply(\@wrong, [], 'each lead got each step exactly once');
is_deeply(\%invited, { 'acc-w1' => 15, 'acc-w2' => 15, 'acc-w3' => 10 },
          'the daily invite limit of 10 held on acc-w3');
is(psql($db, "SELECT count(*) FROM liauto.leads WHERE campaign_id IN"
             . " ($campaign_list) AND status = 'pending'"
             . " AND current_step = 0"), 5,
   'the 5 leads over the limit wait for tomorrow, not lost');
is(psql($db, "SELECT count(*) FROM liauto.actions WHERE status IN"
             . " ('claimed', 'unknown', 'needs_review', 'failed')"), 0,
   'no send is left in flight, unknown, for review or failed');
my $reconciled = () = logs() =~ /: reconciled /g;
cmp_ok($reconciled, '>', 0, "sends in flight at a kill were reconciled "
       . "($reconciled)");

done_testing();
