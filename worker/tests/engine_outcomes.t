# How the engine handles Unipile's answers (`liauto-worker run` against
# the simulator's injected faults), one invite per lead:
#   429 + Retry-After        -> the whole account cools off (its other
#                               lead waits too), both sent after it
#   422 already invited      -> the lead goes to error with the reason
#   503 on every attempt     -> retried later, sent once
#   answer lost after effect -> unknown, reconciled from the sent
#                               invitations, never sent twice
#   profile not found        -> the lead goes to error, nothing sent

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
my $account = 'acc-outcomes';
my $cooled = 'acc-cooled';
sim_control('POST', 'config', { auto_people => JSON::PP::true });

my $sequence = q{[{"kind": "invite", "note": "Hello {{first_name}}"}]};
my $campaign = create_campaign($db, $account, $sequence);
my $campaign_cooled = create_campaign($db, $cooled, $sequence);

my %lead = map { $_ => { slug => "outcome-$_", first => ucfirst($_) } }
    qw(refused flaky lost plain);
add_lead($db, $campaign, $account, $_) for values %lead;
my @cooled = map { { slug => "outcome-cooled-$_", first => "C$_" } } 1, 2;
add_lead($db, $campaign_cooled, $cooled, $_) for @cooled;
# not a LinkedIn identifier: the profile lookup is a 404
psql($db, "INSERT INTO liauto.leads (client_id, campaign_id, first_name,"
          . " public_identifier) SELECT client_id, id, 'Ghost',"
          . " 'nobody%20here' FROM liauto.campaigns WHERE id = '$campaign'");

sub fault {
    my ($match, %f) = @_;
    sim_control('POST', 'faults', { route => 'users.invite',
                                    match => $match, %f });
}
# whichever lead of the account goes first
fault($cooled, kind => 'status', status => 429, retry_after => 60);
fault($lead{refused}{provider_id}, kind => 'status', status => 422,
      type => 'errors/already_invited_recently',
      title => 'Already invited recently');
fault($lead{flaky}{provider_id}, kind => 'status', status => 503,
      times => 3);
fault($lead{lost}{provider_id}, kind => 'drop');

sub action_of {
    my ($l, $expr) = @_;
    return psql($db, "SELECT $expr FROM liauto.actions AS x"
                     . " JOIN liauto.leads AS l ON l.id = x.lead_id"
                     . " WHERE l.public_identifier = '$l->{slug}'");
}

sub invitations_to {
    my ($l, $acc) = @_;
    return scalar @{ sim_control('GET', 'invitations?account_id='
                                 . ($acc // $account)
                                 . "&provider_id=$l->{provider_id}")
                     ->{invitations} };
}

my $log = "$tmp/worker.log";
my $pid = start_worker({ LIAUTO_DATABASE_URL => "dbname=$db",
                         LIAUTO_WORKER_ID => "outcomes-t-$$",
                         LIAUTO_ENGINE_TICK_MS => 100,
                         UNIPILE_DSN => sim_dsn(),
                         UNIPILE_API_KEY => sim_key() }, $log, 'run');

ok(wait_until(20, sub {
       psql($db, "SELECT count(*) FROM liauto.actions WHERE campaign_id ="
                 . " '$campaign_cooled' AND last_error ~ '429'") == 1
       && lead_value($db, $lead{refused}, 'status') eq 'error'
       && lead_value($db, $lead{lost}, 'status') eq 'invite_sent'
       && action_of($lead{flaky}, 'x.last_error') =~ /503/
   }), 'every fault met its outcome') or diag(slurp($log));

# 429
my $cooloff = psql($db, "SELECT extract(epoch FROM cooldown_until"
                       . " - liauto.now()) FROM liauto.linkedin_accounts"
                       . " WHERE unipile_account_id = '$cooled'");
ok($cooloff > 30 && $cooloff <= 60,
   "429: the account cools off for Retry-After (60 s; $cooloff s left)");
is(join(' ', map { action_of($_, 'x.status') . '/'
                  . invitations_to($_, $cooled) } @cooled),
   'scheduled/0 scheduled/0', '... and neither of its leads is sent meanwhile');

# 422
like(lead_value($db, $lead{refused}, 'error_reason'),
     qr/already_invited_recently/,
     '422 already invited: the lead is in error with the reason');
is(invitations_to($lead{refused}), 0, '... and nothing was sent');

# 503
is(action_of($lead{flaky}, 'x.status'), 'scheduled',
   '503 on every attempt: scheduled again');
cmp_ok(action_of($lead{flaky}, 'extract(epoch FROM x.due_at - liauto.now())'),
       '>', 20, '... after a backoff');

# the answer lost after the invitation was made
like(slurp($log), qr/outcome-lost .* maybe sent: unknown: .*-> action unknown/,
     'lost answer: recorded as unknown, not retried');
like(slurp($log), qr/reconciled\ invite\ \(step\ 0\)\ to\ outcome-lost\ .*:
                     \ found\ at\ the\ provider,\ id\ \d+\ ->\ action\ sent/x,
     '... then found in the sent invitations');

# profile not found
like(psql($db, "SELECT status || ': ' || error_reason FROM liauto.leads"
               . " WHERE public_identifier = 'nobody%20here'"),
     qr/^error: .*404/, 'an unknown profile: the lead is in error');

shift_clock($db, '3 minutes');
ok(wait_until(20, sub { lead_count($db, $campaign, 'invite_sent') == 3
                        && lead_count($db, $campaign_cooled,
                                      'invite_sent') == 2 }),
   'after the cool-off and the backoff the rest is sent')
    or diag(slurp($log));

is_deeply([ (map { invitations_to($lead{$_}) } qw(refused flaky lost plain)),
            (map { invitations_to($_, $cooled) } @cooled) ],
          [0, 1, 1, 1, 1, 1], 'each lead was invited at most once');
is(action_of($lead{flaky}, 'x.attempts'), 2, 'the 503 lead took 2 claims');

is(stop_worker($pid, 'TERM', 10), 0, 'the worker stops cleanly');

done_testing();
