# A 3-step campaign of 200 leads runs to the end against the simulator,
# through the real acceptance path (the simulator accepts, its new_relation
# webhooks are stored as the edge stores them and processed by the
# worker): every lead gets exactly its invite and its two messages, in
# order, with its own text; 150 invites a day are never exceeded; and
# every lead ends completed. The clock moves a day at a time.

use strict;
use warnings;

use File::Temp qw(tempdir);
use FindBin;
use Time::HiRes qw(sleep);
use lib "$FindBin::Bin/lib";
use LiautoWorker;
use LiautoSim;
use LiautoEngine;
use LiautoHooks;
use Test::More;

my $leads = 200;
my $daily = 150;

build_worker();
start_simulator();

my $tmp = tempdir(CLEANUP => 1);
my $db = engine_db();
my $account = 'acc-200';
sim_control('POST', 'config', { auto_people => JSON::PP::true,
                                accept_after_ms => 100 });
hold_webhooks();
my $campaign = create_campaign($db, $account, q{[
    {"kind": "invite", "note": "Hi {{first_name}}"},
    {"kind": "message", "text": "Thanks {{first_name}} of {{company|your team}}",
     "delay_minutes": 0},
    {"kind": "message", "text": "Any news, {{first_name}}?",
     "delay_days": 1}]});
psql($db, "UPDATE liauto.linkedin_accounts SET daily_invite_limit = $daily,"
          . " weekly_invite_limit = 1000"
          . " WHERE unipile_account_id = '$account'");

my @people = map { { slug => sprintf('c200-%03d', $_),
                     first => "P$_",
                     company => $_ % 2 ? "Co$_" : undef } } 1 .. $leads;
add_lead($db, $campaign, $account, $_) for @people;

my $log = "$tmp/worker.log";
my $pid = start_worker({ LIAUTO_DATABASE_URL => "dbname=$db",
                         LIAUTO_WORKER_ID => "c200-t-$$",
                         LIAUTO_ENGINE_TICK_MS => 100,
                         UNIPILE_DSN => sim_dsn(),
                         UNIPILE_API_KEY => sim_key() }, $log, 'run');

sub count_status {
    my ($status) = @_;
    return lead_count($db, $campaign, $status);
}

sub invitations {
    return scalar @{ sim_control('GET', "invitations?account_id=$account")
                         ->{invitations} };
}

# forwards the simulator's webhooks until the condition holds
sub settle {
    my ($secs, $cond) = @_;
    return wait_until($secs, sub { forward_deliveries($db); $cond->() });
}

ok(settle(60, sub { invitations() == $daily
                    && count_status('messaged') == $daily }),
   "day 1: $daily invites, each accepted and followed by its first message")
    or diag(slurp($log));
sleep(2);
is(invitations(), $daily, "... and not one invite more than $daily");

shift_clock($db, '1 day');
ok(settle(60, sub { invitations() == $leads
                    && count_status('completed') == $daily
                    && count_status('messaged') == $leads - $daily }),
   'day 2: the other 50 invited and messaged, the first 150 completed')
    or diag(slurp($log));

shift_clock($db, '1 day');
ok(settle(60, sub { count_status('completed') == $leads }),
   'day 3: every lead completed') or diag(slurp($log));

my %sent = %{ sim_control('GET', 'sent')->{people} };
my %notes;
push @{ $notes{$_->{provider_id}} }, $_->{message} // ''
    for @{ sim_control('GET', "invitations?account_id=$account")
               ->{invitations} };
my ($wrong, @why) = (0);
for my $p (@people) {
    my $s = $sent{"$account/$p->{provider_id}"} // {};
    my $company = $p->{company} // 'your team';
    my $got = join ' | ', @{ $notes{$p->{provider_id}} // [] },
                          @{ $s->{texts} // [] };
    my $want = "Hi $p->{first} | Thanks $p->{first} of $company"
               . " | Any news, $p->{first}?";
    next if $got eq $want && $s->{invitations} == 1 && $s->{messages} == 2;
    $wrong++;
    push @why, "$p->{slug}: got '$got'" if @why < 3;
}
is($wrong, 0, 'every lead got exactly its invite and two messages, in '
              . 'order, with its own text') or diag(join "\n", @why);

is(psql($db, "SELECT string_agg(day || ':' || invites, ' ' ORDER BY day)"
             . " FROM liauto.rate_usage WHERE invites > 0"),
   '2026-11-30:150 2026-12-01:50', 'invites counted per day: 150, then 50');

is(stop_worker($pid, 'TERM', 10), 0, 'the worker stops cleanly');

done_testing();
