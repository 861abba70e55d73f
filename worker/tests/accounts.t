# Accounts out of ok are re-checked with Unipile (worker/src/accounts.c):
# an account the engine put in error after a 401 is asked about at start
# and every LIAUTO_ACCOUNT_RECHECK_SECONDS; while Unipile reports it
# CREDENTIALS it stays out (with the status Unipile gave), and once
# Unipile reports it OK it is restored and its campaign sends what waited.

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
my $account = 'acc-recheck';
sim_control('POST', 'config', { auto_people => JSON::PP::true });
my $campaign = create_campaign(
    $db, $account, q{[{"kind": "invite", "note": "Hi {{first_name}}"}]});
my $lead = { slug => 'recheck-lead', first => 'Robin' };
add_lead($db, $campaign, $account, $lead);

# LinkedIn logged the account out; the engine saw a 401 and stopped it.
sim_control('POST', "accounts/$account/status", { status => 'CREDENTIALS' });
psql($db, "UPDATE liauto.linkedin_accounts SET status = 'error',"
          . " status_reason = 'disconnected_account (HTTP 401)'"
          . " WHERE unipile_account_id = '$account'");

sub account_row {
    return psql($db, "SELECT status || ' / ' || coalesce(status_reason, '-')"
                     . " FROM liauto.linkedin_accounts"
                     . " WHERE unipile_account_id = '$account'");
}

my $log = "$tmp/worker.log";
my $pid = start_worker({ LIAUTO_DATABASE_URL => "dbname=$db",
                         LIAUTO_WORKER_ID => "accounts-t-$$",
                         LIAUTO_ENGINE_TICK_MS => 100,
                         LIAUTO_ACCOUNT_RECHECK_SECONDS => 1,
                         UNIPILE_DSN => sim_dsn(),
                         UNIPILE_API_KEY => sim_key() }, $log, 'run');

ok(wait_until(10, sub { account_row() =~ /^credentials/ }),
   'the account is asked about at start') or diag(slurp($log));
is(account_row(),
   'credentials / Unipile reports the account as CREDENTIALS',
   '... and keeps what Unipile says');
ok(wait_until(5, sub { slurp($log) =~ qr/account\ .*\ \(Unipile\ acc-recheck\):
                                        \ Unipile\ reports\ CREDENTIALS:
                                        \ stays\ credentials/x }),
   '... the log says so') or diag(slurp($log));
is(lead_value($db, $lead, 'status'), 'pending', 'nothing is sent meanwhile');

# The user reconnects the account on Unipile; no webhook is delivered.
sim_control('POST', "accounts/$account/status", { status => 'OK' });
ok(wait_until(10, sub { account_row() eq 'ok / -' }),
   'once Unipile reports OK the account is ok again') or diag(slurp($log));
ok(wait_until(5, sub { slurp($log) =~ /Unipile reports OK: back to ok/ }),
   '... the log says so');
ok(wait_until(10, sub { lead_value($db, $lead, 'status') eq 'invite_sent' }),
   'and its campaign sends what waited') or diag(slurp($log));
is(scalar @{ sim_control('GET', "invitations?account_id=$account")
               ->{invitations} }, 1, '... once');
is(sim_control('GET', 'calls')->{'accounts.get'} >= 2, 1,
   'the account was asked about by GET /api/v1/accounts/{id}');

is(stop_worker($pid, 'TERM', 10), 0, 'the worker stops cleanly');
done_testing();
