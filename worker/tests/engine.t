# The sequence engine end to end: `liauto-worker run` against a throwaway
# database and the simulator. A 3-step campaign (invite with a note, two
# messages minutes apart) over 20 leads: every lead gets exactly its steps,
# in order, personalised, once; a lead that replies gets nothing more; a
# message with a missing variable is never sent; a worker killed with
# SIGKILL mid-run and restarted sends nothing twice.

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
my $account = 'acc-engine';
sim_control('POST', 'config', { auto_people => JSON::PP::true });

# ------------------------------------------------------------ the campaign

my @steps = (
    { kind => 'invite', delay_days => 0,
      note => "Hi {{first_name}}, let's connect about {{company|your team}}." },
    { kind => 'message', delay_minutes => 5,
      text => 'Thanks for connecting, {{ first_name }}! '
              . '{{custom.hook|Quick question}}: are you free this week?' },
    { kind => 'message', delay_minutes => 5,
      text => '{{first_name}}, any thoughts on being {{title}}?' });
my $campaign = create_campaign($db, $account,
                               JSON::PP->new->encode(\@steps));

my @first = ('Zoë', 'Łukasz', 'José', 'Анна', '李',
             map { "Lead$_" } 5 .. 19);
my @leads = map { {
    slug    => sprintf('engine-lead-%02d', $_),
    first   => $first[$_],
    company => $_ % 3 == 0 ? undef : "Company {$_}",
    title   => $_ == 19 ? undef : "Head of $_",
    hook    => $_ % 2 == 0 ? "Idea $_" : undef,
} } 0 .. 19;
add_lead($db, $campaign, $account, $_) for @leads;
my ($replier, $broken) = ($leads[5], $leads[19]);

sub expected_texts {
    my ($l) = @_;
    return (
        "Hi $l->{first}, let's connect about "
            . ($l->{company} // 'your team') . '.',
        "Thanks for connecting, $l->{first}! "
            . ($l->{hook} // 'Quick question') . ': are you free this week?',
        "$l->{first}, any thoughts on being " . ($l->{title} // '') . '?');
}

sub leads_in { return lead_count($db, $campaign, $_[0]) }

sub sent { return sim_control('GET', 'sent')->{people} }

sub messages_sent {
    my $n = 0;
    $n += $_->{messages} for values %{ sent() };
    return $n;
}

# ---------------------------------------------------------------- the run

my $log = "$tmp/worker.log";
my %env = (LIAUTO_DATABASE_URL => "dbname=$db",
           LIAUTO_WORKER_ID => "engine-t-$$",
           LIAUTO_ENGINE_TICK_MS => 100,
           LIAUTO_LEASE_SECONDS => 30,
           UNIPILE_DSN => sim_dsn(),
           UNIPILE_API_KEY => sim_key());
my $pid = start_worker(\%env, $log, 'run');

ok(wait_until(20, sub { leads_in('invite_sent') == 20 }),
   'step 1: every lead is invited') or diag(slurp($log));
like(slurp($log), qr/sent invite \(step 0\) to engine-lead-03 \(lead /,
     'the log says what was sent to whom');

# Accepted on LinkedIn; the lead's new status is written directly (webhook
# ingestion is not part of the engine).
for my $inv (@{ sim_control('GET', "invitations?account_id=$account")
                  ->{invitations} }) {
    sim_control('POST', "invitations/$inv->{id}/accept");
}
psql($db, "UPDATE liauto.leads SET status = 'connected'"
          . " WHERE campaign_id = '$campaign' AND status = 'invite_sent'");

# Slow sends, so that the kill below lands in the middle of the run.
sim_control('POST', 'faults', { route => $_, kind => 'slow', ms => 250,
                                times => 40 })
    for qw(chats.send chats.start);
shift_clock($db, '6 minutes');

ok(wait_until(20, sub { messages_sent() >= 5 }),
   'step 2 is under way') or diag(slurp($log));
kill('KILL', $pid);
waitpid($pid, 0);
my $killed_at = messages_sent();
cmp_ok($killed_at, '<', 20, "SIGKILL after $killed_at of 20 messages");
# A send in flight at the kill still lands, within the simulator's 250 ms;
# in production the lease (longer than a send's timeouts) covers that.
sleep(1);
my $landed = messages_sent() - $killed_at;

$log = "$tmp/worker-2.log";
$pid = start_worker(\%env, $log, 'run');
# the dead worker's claim is reconciled once its lease is over
shift_clock($db, '1 minute');

ok(wait_until(30, sub { leads_in('messaged') == 20 }),
   'step 2: every lead got its first message after the restart')
    or diag(slurp($log));
SKIP: {
    skip('no send was in flight at the kill', 1) unless $landed;
    like(slurp($log), qr/reconciled\ message\ \(step\ 1\)\ to\ \S+\ .*:
                         \ found\ at\ the\ provider,\ id\ \S+
                         \ ->\ action\ sent/x,
         'the send in flight at the kill is found in the chat, not resent');
}

# A reply stops the lead (marked responded as ingestion would).
sim_control('POST', 'reply', { account_id => $account,
                               provider_id => $replier->{provider_id},
                               text => 'Not interested, thanks' });
psql($db, "UPDATE liauto.leads SET status = 'responded'"
          . " WHERE public_identifier = '$replier->{slug}'");

shift_clock($db, '6 minutes');
ok(wait_until(30, sub { leads_in('completed') == 18
                        && leads_in('error') == 1 }),
   'step 3: every lead but the one that replied and the broken one is '
   . 'done') or diag(slurp($log));

is(psql($db, "SELECT count(*) FROM liauto.actions WHERE campaign_id ="
             . " '$campaign' AND status IN ('claimed', 'unknown',"
             . " 'needs_review')"), 0, 'no send is left in flight or unknown');

# ---------------------------------------------------- what LinkedIn saw

my %notes = map { $_->{provider_id} => $_ }
    @{ sim_control('GET', "invitations?account_id=$account")->{invitations} };
my $people = sent();
my @wrong;
for my $l (@leads) {
    my ($note, @texts) = expected_texts($l);
    @texts = ($texts[0]) if $l == $replier || $l == $broken;
    my $got = $people->{"$account/$l->{provider_id}"} // {};
    my $inv = $notes{$l->{provider_id}} // {};
    push @wrong, "$l->{slug}: invitations $got->{invitations}"
        unless ($got->{invitations} // 0) == 1;
    push @wrong, "$l->{slug}: note '" . ($inv->{message} // '') . "'"
        unless ($inv->{message} // '') eq $note;
    push @wrong, "$l->{slug}: texts [" . join(' | ', @{ $got->{texts} // [] })
                 . ']'
        unless join("\n", @{ $got->{texts} // [] }) eq join("\n", @texts);
}
is_deeply(\@wrong, [], 'each lead got exactly its steps, in order, '
          . 'personalised (unicode, fallbacks, custom fields), once')
    or diag(explain($people));
is(scalar(keys %$people), 20, 'nobody else got anything');

is(lead_value($db, $broken, 'error_reason'),
   'template: variable "title" is missing or empty and has no fallback',
   'a missing variable puts the lead in error with the reason');
like(slurp($log), qr/message\ \(step\ 2\)\ to\ engine-lead-19\ .*\ not\ sent:
                     \ final_lead:\ template:\ variable\ "title"/x,
     '... and the log says why it was not sent');
is(lead_value($db, $replier, "status || ' ' || current_step"),
   'responded 2', 'the lead that replied stays responded, step 3 unsent');

is(stop_worker($pid, 'TERM', 10), 0, 'the worker stops cleanly');

done_testing();
