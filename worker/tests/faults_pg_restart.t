# Postgres restarted (stopped, then started) while 2 workers send 100
# invites over 5 accounts: the workers notice, reconnect by themselves
# (same processes), sends whose outcome could not be recorded are
# reconciled when their lease expires, and every lead is invited exactly
# once. LIAUTO_SOAK=1: 500 leads and 3 restarts.

use strict;
use warnings;

use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::Bin/lib";
use LiautoWorker;
use LiautoSim;
use LiautoEngine;
use LiautoFaults;
use Test::More;

build_worker();
start_simulator();

my $tmp = tempdir(CLEANUP => 1);
my $db = engine_db();
sim_control('POST', 'config', { auto_people => JSON::PP::true });

my $accounts = 5;
my $per_account = soak(20, 100);
my $restarts = soak(1, 3);
my $sequence = q{[{"kind": "invite", "note": "Hi {{first_name}}"}]};

my (@leads, @campaigns);
for my $n (1 .. $accounts) {
    my $account = "acc-pg$n";
    push @campaigns, create_campaign($db, $account, $sequence);
    for my $i (1 .. $per_account) {
        my $lead = { slug => "pg$n-$i-lead", first => "P${n}L$i",
                     account => $account };
        add_lead($db, $campaigns[-1], $account, $lead);
        push @leads, $lead;
    }
}
my $campaign_list = join(', ', map { "'$_'" } @campaigns);

sub invited {
    return psql($db, "SELECT count(*) FROM liauto.leads WHERE campaign_id IN"
                     . " ($campaign_list) AND status = 'invite_sent'");
}

# every invite takes a little while, so that the outage lands mid-send
sim_control('POST', 'faults', { route => 'users.invite', kind => 'slow',
                                ms => 40, times => 100000 });

pool_start(2, $db, $tmp, LIAUTO_LEASE_SECONDS => 6, UNIPILE_TIMEOUT => 5,
           LIAUTO_RECONNECT_MAX => 1);
my @pids = map { slot_pid($_) } 1, 2;

for my $r (1 .. $restarts) {
    my $at = int(@leads * $r / ($restarts + 1));
    ok(wait_until(60, sub {
           scalar @{ sim_control('GET', 'invitations')->{invitations} }
           >= $at }), "restart $r: $at invitations sent before it")
        or diag(pool_logs());
    ok(restart_cluster(), "restart $r: the cluster stopped and started")
        or BAIL_OUT('no cluster to restart');
}

ok(wait_until(90, sub {
       invited() == @leads
       && psql($db, "SELECT count(*) FROM liauto.actions WHERE status IN"
                    . " ('claimed', 'unknown')") == 0 }),
   'every lead is invited, nothing left in flight') or diag(pool_logs());

my $logs = pool_logs();
my $lost = () = $logs =~ /database connection lost/g;
cmp_ok($lost, '>=', 2 * $restarts, "each worker noticed each restart "
       . "($lost times)");
is_deeply([ map { kill(0, slot_pid($_)) ? slot_pid($_) : 0 } 1, 2 ],
          \@pids, 'the same worker processes reconnected by themselves');

my $people = sent_to();
my @wrong = map { "$_->{slug}: "
                  . ($people->{"$_->{account}/$_->{provider_id}"}
                     {invitations} // 0) }
            grep { ($people->{"$_->{account}/$_->{provider_id}"}
                    {invitations} // 0) != 1 } @leads;
is_deeply(\@wrong, [], 'each of the ' . @leads . ' leads was invited '
          . 'exactly once');
is(psql($db, "SELECT count(*) FROM liauto.actions WHERE status IN"
             . " ('needs_review', 'failed')"), 0,
   'nothing parked for review or failed');
my $unrecorded = () = $logs =~ /NOT RECORDED/g;
my $reconciled = () = $logs =~ /: reconciled /g;
diag("$restarts restart(s), " . @leads . " leads, $unrecorded sends not "
     . "recorded during an outage, $reconciled reconciled");

pool_stop();
done_testing();
