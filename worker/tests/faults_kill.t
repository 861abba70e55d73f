# SIGKILL of a worker at exact points of the send path, 2 workers running
# and the killed one restarted each time. Each victim lead has its own
# fault (the simulator's `match`) and, for the points between two
# statements, a row lock that holds the worker there:
#   claim     claimed and reserved, in the profile lookup (users.get slow)
#   checked   check_before_send waiting on the action row, then killed
#   in_call   during the HTTP call (users.invite / chats.send slow): the
#             provider acts after the worker died
#   after_200 the provider answered 200, complete_action waits on the
#             lead row; killed and its transaction never commits
#   drop      the provider acts, then drops the connection (no kill)
#   unreadable a dropped message whose chat cannot be read back (404):
#             Unipile cannot tell -> needs_review, never resent
# Asserted: every step exactly once at the simulator, no lead lost, each
# interrupted action resolved at its first reconciliation (one lease plus
# one sweep), the unreadable one parked for review and not resent.
# LIAUTO_SOAK=1: more accounts, leads and rounds of victims.

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

# Short, so that a killed claim is reconciled within the test; the worker
# warns that it is shorter than a send may take at worst (3 attempts of
# UNIPILE_TIMEOUT), but here no call lasts more than the 2 s of a fault.
my $lease = 6;
my $accounts = soak(4, 8);
my $per_account = soak(5, 25);
my $rounds = soak(1, 4);
my $sequence = q{[{"kind": "invite", "note": "Hi {{first_name}}"},
                  {"kind": "message", "delay_minutes": 0,
                   "text": "Hello again {{first_name}}"}]};

my (@leads, @campaigns);
for my $n (1 .. $accounts) {
    my $account = "acc-k$n";
    push @campaigns, create_campaign($db, $account, $sequence);
    for my $i (1 .. $per_account) {
        # no name is a prefix of another (faults match substrings)
        my $lead = { slug => "k$n-$i-lead", first => "K${n}L${i}x",
                     account => $account };
        add_lead($db, $campaigns[-1], $account, $lead);
        push @leads, $lead;
    }
}
my $campaign_list = join(', ', map { "'$_'" } @campaigns);

# The victims: round r's leads are the r-th of their accounts, spread
# over the accounts so that a kill stalls only its own account.
my @invite_kinds = qw(claim checked in_call after_200 drop);
my @message_kinds = qw(in_call after_200 drop unreadable);
my (@invite_victims, @message_victims);
my $next = 0;
for my $round (1 .. $rounds) {
    for my $set ([\@invite_victims, \@invite_kinds],
                 [\@message_victims, \@message_kinds]) {
        for my $kind (@{ $set->[1] }) {
            my $lead = $leads[($next % $accounts) * $per_account
                              + int($next / $accounts)];
            $next++;
            push @{ $set->[0] }, { kind => $kind, lead => $lead,
                                   stage => 'armed' };
        }
    }
}
die "not enough leads for the victims\n" if $next > @leads;

sub leads_in {
    my ($status) = @_;
    return psql($db, "SELECT count(*) FROM liauto.leads WHERE campaign_id IN"
                     . " ($campaign_list) AND status = '$status'");
}

sub action_of {
    my ($lead, $step, $expr) = @_;
    return psql($db, "SELECT $expr FROM liauto.actions AS x JOIN"
                     . " liauto.leads AS l ON l.id = x.lead_id WHERE"
                     . " l.public_identifier = '$lead->{slug}'"
                     . " AND x.step_index = $step"
                     . " ORDER BY x.created_at DESC LIMIT 1");
}

# The fault that stops the victim where its kind says.
sub arm {
    my ($v, $send) = @_;
    my $l = $v->{lead};
    my %fault = (
        claim     => [ 'users.get', $l->{slug}, slow => 2000 ],
        checked   => [ 'users.get', $l->{slug}, slow => 2000 ],
        in_call   => [ $send, $l->{first}, slow => 1500 ],
        after_200 => [ $send, $l->{first}, slow => 1500 ],
        drop      => [ $send, $l->{first}, drop => 0 ],
        unreadable => [ $send, $l->{first}, drop => 0 ]);
    my ($route, $match, $kind, $ms) = @{ $fault{$v->{kind}} };
    $v->{match} = $match;
    sim_control('POST', 'faults', { route => $route, match => $match,
                                    kind => $kind, $ms ? (ms => $ms) : () });
    # the chat cannot be read back: "cannot tell" for the reconciler
    sim_control('POST', 'faults', { route => 'chats.messages',
                                    match => $l->{chat}, kind => 'status',
                                    status => 404, times => 100,
                                    type => 'errors/resource_not_found',
                                    title => 'Resource not found' })
        if $v->{kind} eq 'unreadable';
}

my $kills = 0;

sub kill_claimer {
    my ($v, $backend) = @_;
    my $slot = slot_of($v->{claimed_by});
    if (defined $slot) {
        slot_kill($slot);
        terminate_backend($backend) if $backend;
        slot_start($slot);
        $kills++;
    }
    $v->{killed} = defined $slot ? "slot $slot" : 'no worker to kill';
    release_locks($v->{locks}) if $v->{locks};
    $v->{stage} = 'done';
}

# One look at a victim; moves it on when its point is reached.
sub drive {
    my ($v, $step, $pending) = @_;
    my $lock_on = { checked => "SELECT 1 FROM liauto.actions WHERE id = '%s'"
                               . " FOR UPDATE",
                    after_200 => "SELECT 1 FROM liauto.leads WHERE id ="
                                 . " '%s' FOR NO KEY UPDATE" };
    my $waits_in = { checked => '%engine.check_before_send%',
                     after_200 => '%engine.complete_action%' };

    if ($v->{stage} eq 'armed') {
        return if $pending->{$v->{match}};
        $v->{action} = action_of($v->{lead}, $step, 'x.id');
        return $v->{stage} = 'done' if $v->{kind} =~ /^(drop|unreadable)$/;
        $v->{claimed_by} = action_of($v->{lead}, $step, 'x.claimed_by');
        return kill_claimer($v) if $v->{kind} =~ /^(claim|in_call)$/;
        $v->{locks} = hold_locks(sprintf($lock_on->{$v->{kind}},
                                         $v->{kind} eq 'checked'
                                         ? $v->{action}
                                         : action_of($v->{lead}, $step,
                                                     'x.lead_id')));
        $v->{stage} = 'locked';

    } elsif ($v->{stage} eq 'locked') {
        my $backend = backend_waiting($waits_in->{$v->{kind}});
        kill_claimer($v, $backend) if $backend ne '';
    }
}

# One victim at a time (two on one worker would share a kill): its fault,
# its lead let go ($status), then followed to its point. The others keep
# flowing meanwhile.
sub run_victims {
    my ($step, $send, $status, @victims) = @_;
    for my $v (@victims) {
        arm($v, $send);
        psql($db, "UPDATE liauto.leads SET status = '$status'"
                  . " WHERE public_identifier = '$v->{lead}{slug}'");
        psql($db, "NOTIFY liauto_worker, 'victim'");
        wait_until(30, sub {
            my %pending = map { $_->{match} => 1 }
                          @{ sim_control('GET', 'faults')->{faults} };
            drive($v, $step, \%pending);
            return $v->{stage} eq 'done';
        }) or return 0;
    }
    return 1;
}

# Each interrupted action was handed to the reconciler once and resolved
# there: "within one lease plus one sweep".
sub check_reconciled {
    my ($what, $expect, @victims) = @_;
    my $logs = pool_logs();
    my @wrong;
    for my $v (@victims) {
        my $want = $expect->{$v->{kind}};
        my $id = quotemeta($v->{action});
        my @seen = $logs =~ /reconciled [^\n]*, action $id\): ([a-z ]+?) at/g;
        my $again = () = $logs =~ /cannot reconcile [^\n]*$id\) yet/g;
        push @wrong, "$v->{kind} $v->{lead}{slug}: [@seen], $again retries"
                     . " (action $v->{action} claimed by "
                     . ($v->{claimed_by} // '-') . ", "
                     . ($v->{killed} // 'not killed') . ')'
            unless "@seen" eq $want && $again == 0;
    }
    is_deeply(\@wrong, [], "$what: each interrupted action was resolved at "
              . "its first reconciliation, as expected");
}

my $sent_statuses = "('claimed', 'unknown', 'failed')";

# --- invites
psql($db, "UPDATE liauto.leads SET status = 'skipped' WHERE"
          . " public_identifier IN ("
          . join(', ', map { "'$_->{lead}{slug}'" } @invite_victims) . ')');
pool_start(2, $db, $tmp, LIAUTO_LEASE_SECONDS => $lease,
           UNIPILE_TIMEOUT => 5);
ok(run_victims(0, 'users.invite', 'pending', @invite_victims),
   'each invite victim reached its point and was killed there')
    or diag(pool_logs());
ok(wait_until($lease + 40, sub { leads_in('invite_sent') == @leads }),
   'every lead is invited') or diag(pool_logs());
check_reconciled('invites', { claim => 'not found', checked => 'not found',
                              in_call => 'found', after_200 => 'found',
                              drop => 'found' }, @invite_victims);

# --- messages: the invitations accepted (what the users webhook does)
for my $inv (@{ sim_control('GET', 'invitations')->{invitations} }) {
    sim_control('POST', "invitations/$inv->{id}/accept");
}
for my $v (grep { $_->{kind} eq 'unreadable' } @message_victims) {
    my $l = $v->{lead};
    ($l->{chat}) = map { $_->{id} } grep {
        $_->{attendee_provider_id} eq $l->{provider_id} }
        @{ sim_api('GET', "chats?account_id=$l->{account}&limit=100")
           ->{items} };
    # its chat known already: the send goes straight to chats.send
    psql($db, "UPDATE liauto.leads SET conversation_id = '$l->{chat}'"
              . " WHERE public_identifier = '$l->{slug}'");
}
my %victim = map { $_->{lead}{slug} => 1 } @message_victims;
psql($db, "UPDATE liauto.leads SET status = 'connected' WHERE"
          . " public_identifier = '$_->{slug}'")
    for grep { !$victim{$_->{slug}} } @leads;
psql($db, "NOTIFY liauto_worker, 'accepted'");

ok(run_victims(1, 'chats.send', 'connected', @message_victims),
   'each message victim reached its point and was killed there')
    or diag(pool_logs());
my @unreadable = grep { $_->{kind} eq 'unreadable' } @message_victims;
ok(wait_until($lease + 40, sub {
       leads_in('completed') == @leads - @unreadable
       && psql($db, "SELECT count(*) FROM liauto.actions WHERE status IN"
                    . " ('claimed', 'unknown')") == 0 }),
   'every lead got its message but the unreadable one') or diag(pool_logs());
check_reconciled('messages', { in_call => 'found', after_200 => 'found',
                               drop => 'found',
                               unreadable => 'cannot tell' },
                 @message_victims);
is(join(' ', map { action_of($_->{lead}, 1, 'x.status') } @unreadable),
   join(' ', map { 'needs_review' } @unreadable),
   'a dropped message Unipile cannot tell about is parked needs_review');

# The planner looks at them again (as after any change) and plans
# nothing: a step under review is live.
my $unread = join('|', map { $_->{lead}{slug} } @unreadable) || '-';
psql($db, "UPDATE liauto.leads SET next_due_at = '-infinity'"
          . " WHERE public_identifier ~ '^($unread)\$'");
psql($db, "NOTIFY liauto_worker, 'look again'");
ok(wait_until(10, sub {
       psql($db, "SELECT count(*) FROM liauto.leads WHERE public_identifier"
                 . " ~ '^($unread)\$' AND next_due_at = 'infinity'")
       == @unreadable }), 'the planner looked at them again');
is(psql($db, "SELECT count(*) FROM liauto.actions AS x JOIN liauto.leads"
             . " AS l ON l.id = x.lead_id WHERE l.public_identifier"
             . " ~ '^($unread)\$' AND x.step_index = 1"), scalar @unreadable,
   '... and planned nothing more for them');
pool_stop();

my $people = sent_to();
my @wrong;
for my $l (@leads) {
    my $got = $people->{"$l->{account}/$l->{provider_id}"}
              // { invitations => 0, texts => [] };
    push @wrong, "$l->{slug}: $got->{invitations} invitations, texts ["
                 . join(' | ', @{ $got->{texts} }) . ']'
        unless $got->{invitations} == 1
               && join('|', @{ $got->{texts} }) eq "Hello again $l->{first}";
}
is_deeply(\@wrong, [], 'every lead got each step exactly once (the '
          . 'unreadable one too: its message landed, it was not resent)');
is(psql($db, "SELECT count(*) FROM liauto.leads WHERE campaign_id IN"
             . " ($campaign_list) AND status NOT IN ('completed')"
             . " AND public_identifier !~ '^($unread)\$'"), 0,
   'no lead lost');
is(psql($db, "SELECT count(*) FROM liauto.actions WHERE status IN"
             . " $sent_statuses"), 0,
   'nothing left claimed, unknown or failed');
# No budget unit leaked by a kill: what each account spent is what it sent.
my %spent = map { split / / } split(/\n/, psql($db,
    "SELECT a.unipile_account_id || ' ' || sum(u.invites) || '/'"
    . " || sum(u.messages) FROM liauto.rate_usage AS u"
    . " JOIN liauto.linkedin_accounts AS a ON a.id = u.account_id"
    . " WHERE a.unipile_account_id LIKE 'acc-k%'"
    . " GROUP BY a.unipile_account_id"));
my %sent;
for my $key (keys %$people) {
    my ($account) = split(m{/}, $key);
    $sent{$account}[0] += $people->{$key}{invitations};
    $sent{$account}[1] += @{ $people->{$key}{texts} };
}
is_deeply(\%spent, { map { $_ => join('/', @{ $sent{$_} }) } keys %sent },
          'the budget each account spent is what it sent (no unit leaked)');
is($kills, 6 * $rounds, "$kills workers SIGKILLed at their points");
diag(sprintf('%d leads, %d kills, %d invitations and %d messages sent',
             scalar @leads, $kills,
             scalar @{ sim_control('GET', 'invitations')->{invitations} },
             scalar @{ sim_control('GET', 'messages?origin=api')
                       ->{messages} }));

done_testing();
