# A lead's LinkedIn profile is looked up once: the worker stores the
# provider id and member id it resolves for the invite on the lead
# (engine.save_lead_profile), and the two messages that follow are sent
# with them, without another GET /users/{identifier} (the simulator counts
# the calls per route).

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
my $account = 'acc-profile';
my $campaign = create_campaign($db, $account, <<'JSON');
[{"kind": "invite", "note": "Hi {{first_name}}"},
 {"kind": "message", "delay_minutes": 5, "text": "Thanks {{first_name}}"},
 {"kind": "message", "delay_minutes": 5, "text": "Bye {{first_name}}"}]
JSON

# known to the simulator by its public identifier only; no lookup yet
my $person = sim_control('POST', 'people', {
    public_identifier => 'pat-once', first_name => 'Pat',
    member_urn => '424242' });
psql($db, "INSERT INTO liauto.leads (client_id, campaign_id, first_name,"
          . " public_identifier) SELECT client_id, id, 'Pat', 'pat-once'"
          . " FROM liauto.campaigns WHERE id = '$campaign'");
my $lead = { slug => 'pat-once' };

sub lookups { return sim_control('GET', 'calls')->{'users.get'} // 0 }
is(lookups(), 0, 'no profile lookup before the run');

my $log = "$tmp/worker.log";
my $pid = start_worker({ LIAUTO_DATABASE_URL => "dbname=$db",
                         LIAUTO_WORKER_ID => "profile-t-$$",
                         LIAUTO_ENGINE_TICK_MS => 100,
                         UNIPILE_DSN => sim_dsn(),
                         UNIPILE_API_KEY => sim_key() }, $log, 'run');

ok(wait_until(20, sub { lead_value($db, $lead, 'status') eq 'invite_sent' }),
   'the invite is sent') or diag(slurp($log));
is(lead_value($db, $lead, 'provider_id'), $person->{provider_id},
   'the resolved provider id is stored on the lead');
is(lead_value($db, $lead, 'member_id'), '424242',
   '... and its member id');

for my $inv (@{ sim_control('GET', "invitations?account_id=$account")
                  ->{invitations} }) {
    sim_control('POST', "invitations/$inv->{id}/accept");
}
psql($db, "UPDATE liauto.leads SET status = 'connected'"
          . " WHERE public_identifier = 'pat-once'");

for my $step (1, 2) {
    shift_clock($db, '6 minutes');
    ok(wait_until(20, sub { lead_value($db, $lead, 'current_step') > $step }),
       "message $step is sent") or diag(slurp($log));
}
is(lead_value($db, $lead, 'status'), 'completed', 'the lead completed');

my $sent = sim_control('GET', 'sent')->{people}
               {"$account/$person->{provider_id}"};
is_deeply([ $sent->{invitations}, $sent->{texts} ],
          [ 1, [ 'Thanks Pat', 'Bye Pat' ] ],
          'one invite and the two messages, in order');
is(lookups(), 1, 'the profile was looked up once for the three steps');

is(stop_worker($pid, 'TERM', 10), 0, 'the worker stops cleanly');
done_testing();
