# A worker killed (SIGKILL) while Resend is taking its email: the claim's
# lease expires, the other worker sends the email again under the same
# Idempotency-Key, and Resend answers with the email it already has — one
# email, never two, and its id recorded.

use strict;
use warnings;

use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::Bin/lib";
use LiautoWorker;
use LiautoSim;
use Test::More;

build_worker();
start_simulator();

my $tmp = tempdir(CLEANUP => 1);
my $db = scratch_db('notify_crash');
my ($rc, $out) = run_worker({ LIAUTO_DATABASE_URL => "dbname=$db" },
                            'migrate');
die "migrations failed: $out\n" if $rc != 0;

my ($client, $lead) = split /\|/, psql($db, <<'SQL');
WITH c AS (INSERT INTO liauto.clients (name) VALUES ('Crash Co')
           RETURNING id),
     s AS (INSERT INTO liauto.notification_settings (client_id, recipients,
                                                     batch_seconds)
           SELECT id, '{ops@crash.test}', 0 FROM c),
     a AS (INSERT INTO liauto.linkedin_accounts (client_id, name,
                                                 unipile_account_id)
           SELECT id, 'Sender', 'crash-account' FROM c
           RETURNING id, client_id),
     k AS (INSERT INTO liauto.campaigns (client_id, linkedin_account_id,
                                         name)
           SELECT client_id, id, 'Crash campaign' FROM a
           RETURNING id, client_id),
     l AS (INSERT INTO liauto.leads (client_id, campaign_id, first_name,
                                     public_identifier)
           SELECT client_id, id, 'Ada', 'crash-ada' FROM k
           RETURNING id)
SELECT (SELECT id FROM c), (SELECT id FROM l)
SQL

my %pid;
for my $name (qw(one two)) {
    $pid{"crash-t-$name-$$"} = start_worker(
        { LIAUTO_DATABASE_URL => "dbname=$db",
          LIAUTO_WORKER_ID => "crash-t-$name-$$",
          LIAUTO_ENGINE_TICK_MS => 100,
          LIAUTO_LEASE_SECONDS => 2,
          RESEND_API_KEY => sim_resend_key(),
          RESEND_BASE_URL => sim_url('') },
        "$tmp/worker-$name.log", 'run');
}
sub logs { return join('', map { slurp("$tmp/worker-$_.log") } qw(one two)) }
ok(wait_until(10, sub { (() = logs() =~ /emails on/g) == 2 }),
   '2 workers with emails on') or diag(logs());

sub email { return psql($db, "SELECT $_[0] FROM liauto.emails") }

# Resend takes 1.5 s over this email: time to kill its sender mid-send
sim_control('POST', 'faults', { route => 'resend.emails', kind => 'slow',
                                ms => 1500 });
psql($db, "INSERT INTO liauto.events (client_id, lead_id, campaign_id, type,"
          . " external_id) SELECT client_id, id, campaign_id,"
          . " 'message_received', 'crash-m1' FROM liauto.leads"
          . " WHERE id = '$lead'");

ok(wait_until(20, sub { email('status') eq 'sending'
                        && sim_control('GET', 'calls')->{'resend.emails'} }),
   'a worker is sending the email') or diag(logs());
my $victim = email('claimed_by');
kill('KILL', $pid{$victim});
waitpid($pid{$victim}, 0);
delete $pid{$victim};
pass("... and is killed mid-send ($victim)");

ok(wait_until(20, sub { @{ sim_control('GET', 'emails')->{emails} } == 1 }),
   'Resend took the email from the dead worker\'s request');

# the lease (2 s) expires; the survivor sends again under the same key
ok(wait_until(20, sub { email('status || attempts') =~ /^(?:sent|pending)2$/ }),
   'the survivor takes the claim over') or diag(logs());
if (email('status') eq 'pending') {
    # Resend was still busy with the first: 409, retried after a backoff
    psql($db, "SELECT liauto.shift_clock('5 minutes')");
    psql($db, "NOTIFY liauto_worker, 'clock'");
}
ok(wait_until(20, sub { email('status') eq 'sent' }), '... and sends it')
    or diag(logs());

my $emails = sim_control('GET', 'emails')->{emails};
is(scalar @$emails, 1, 'one email, not two');
is(email('resend_id'), $emails->[0]{id},
   '... recorded with the id Resend gave it the first time');
like(email('claimed_by IS NULL'), qr/^t$/, '... and no longer claimed');

for my $pid (values %pid) {
    is(stop_worker($pid, 'TERM', 10), 0, 'the survivor stops cleanly');
}

done_testing();
