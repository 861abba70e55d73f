# Auto-withdraw end to end against the simulator: invitations still pending
# after the campaign's auto_withdraw_days are withdrawn through DELETE
# /users/invite/sent/{id}, at most daily_withdraw_limit a local day; one
# the person accepted meanwhile is found by the relation sync and never
# withdrawn; one withdrawn by hand on LinkedIn (Unipile answers 404) ends
# as not pending. The simulator's own invitation states are checked.

use strict;
use warnings;

use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::Bin/lib";
use LiautoWorker;
use LiautoSim;
use LiautoEngine;
use Test::More;

build_worker();
start_simulator();

my $tmp = tempdir(CLEANUP => 1);
my $db = engine_db();
my $account = 'acc-withdraw';
sim_control('POST', 'config', { auto_people => JSON::PP::true });
my $campaign = create_campaign($db, $account,
                               q{[{"kind": "invite", "note": null}]});
psql($db, "UPDATE liauto.campaigns SET auto_withdraw_days = 2"
          . " WHERE id = '$campaign'");
psql($db, "UPDATE liauto.linkedin_accounts SET daily_withdraw_limit = 2"
          . " WHERE unipile_account_id = '$account'");

my $log = "$tmp/worker.log";
my $pid = start_worker({ LIAUTO_DATABASE_URL => "dbname=$db",
                         LIAUTO_WORKER_ID => "withdraw-t-$$",
                         LIAUTO_ENGINE_TICK_MS => 100,
                         UNIPILE_DSN => sim_dsn(),
                         UNIPILE_API_KEY => sim_key() }, $log, 'run');

my @leads = map { { slug => "wd-$_", first => ucfirst($_) } } qw(a b c d e);
add_lead($db, $campaign, $account, $_) for @leads;
psql($db, "NOTIFY liauto_worker, 'lead'");

sub invitation {
    my ($l) = @_;
    my ($inv) = @{ sim_control('GET', "invitations?provider_id="
                               . $l->{provider_id})->{invitations} };
    return $inv;
}

sub states {
    return join ' ', map { my $i = invitation($_); $i ? $i->{status} : '-' }
                     @leads;
}

sub withdrawals_done {
    return psql($db, "SELECT count(*) FROM liauto.withdrawals"
                     . " WHERE status IN ('withdrawn', 'not_pending')");
}

ok(wait_until(10, sub {
       states() eq 'PENDING PENDING PENDING PENDING PENDING' }),
   'five invitations are pending') or diag(slurp($log));

# d accepts (no webhook in this test: the relation sync finds it); e's
# invitation is withdrawn by hand on LinkedIn
sim_control('POST', 'invitations/' . invitation($leads[3])->{id} . '/accept',
            {});
is(invitation($leads[3])->{status}, 'ACCEPTED', 'd accepted meanwhile');
sim_api('DELETE', 'users/invite/sent/' . invitation($leads[4])->{id}
                  . "?account_id=$account");
is(invitation($leads[4])->{status}, 'WITHDRAWN', 'e was withdrawn by hand');

# an admin asks for a relation sync (as the daily one would): d connects
psql($db, "SELECT status FROM api.admin_sync_relations('{\"role\":"
          . " \"admin\"}', '{}', '{}', jsonb_build_object('account_id',"
          . " (SELECT id FROM liauto.linkedin_accounts"
          . " WHERE unipile_account_id = '$account')))");
ok(wait_until(15, sub { lead_value($db, $leads[3], 'status') eq 'connected' }),
   'the relation sync finds that d accepted') or diag(slurp($log));

sleep(6);
is(withdrawals_done(), 0, 'nothing is withdrawn before 2 days');

shift_clock($db, '2 days');                  # Wednesday 10:00
ok(wait_until(15, sub { withdrawals_done() == 2 }),
   'two days later, withdrawals start') or diag(slurp($log));
sleep(6);
is(withdrawals_done(), 2, 'and stop at the daily limit of 2');

shift_clock($db, '1 day');                   # Thursday 10:00
ok(wait_until(15, sub { withdrawals_done() == 4 }),
   'the next day the other two go') or diag(slurp($log));
is(states(), 'WITHDRAWN WITHDRAWN WITHDRAWN ACCEPTED WITHDRAWN',
   'the simulator holds a, b, c and e withdrawn and d accepted');
is(psql($db, "SELECT string_agg(l.public_identifier || ' ' || l.status"
             . " || ' ' || coalesce(w.status, '-'), ', '"
             . " ORDER BY l.public_identifier)"
             . " FROM liauto.leads AS l LEFT JOIN liauto.withdrawals AS w"
             . " ON w.lead_id = l.id"),
   'wd-a withdrawn withdrawn, wd-b withdrawn withdrawn, '
   . 'wd-c withdrawn withdrawn, wd-d connected -, '
   . 'wd-e withdrawn not_pending',
   'a, b and c withdrawn; d connected and never withdrawn; e ended as no '
   . 'longer pending');
is(psql($db, "SELECT count(*) FROM liauto.events"
             . " WHERE type = 'invitation_withdrawn'"), 4,
   'one invitation_withdrawn event each');
like(slurp($log), qr/withdrawal of the invitation to wd-e .*: not_pending/,
     'the log says what happened to e');

is(stop_worker($pid, 'TERM', 10), 0, 'the worker stops cleanly');

done_testing();
