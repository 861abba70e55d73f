# Periodic work with several workers and the one doing it killed mid-way.
# On this branch the worker's periodic paths are the engine's own sweeps
# (liauto.sync_jobs, the fallback jobs, is another branch's): the
# reconcile sweep hands each expired claim out once per 5-minute period
# (engine.expired_claims), and singleton jobs take their (job, period)
# through engine.try_lead_job, which no worker calls yet, so it is driven
# here by runner sessions the way a job would use it.
#
# 1. 12 claims of a dead worker (half of them really sent) are swept by
#    one of 3 workers, which is SIGKILLed while it looks them up; nobody
#    else takes them within the period; in the next one each is resolved
#    exactly once and each lead ends with exactly one invitation.
# 2. 4 runners take 10 periods of one job; the runner holding a period is
#    killed mid-job (its transaction never commits), and the period is run
#    by another: exactly one committed run per (job, period).
# LIAUTO_SOAK=1: 16 claims, 8 runners for 30 periods, 5 of them killed.

use strict;
use warnings;

use File::Temp qw(tempdir);
use FindBin;
use POSIX qw(WNOHANG);
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

# --- 1. the reconcile sweep
my $claims = soak(12, 16);         # one sweep takes up to 16
my $sequence = q{[{"kind": "invite", "note": "Hi {{first_name}}"}]};
my @leads;
for my $n (1 .. $claims) {
    my $account = "acc-l$n";
    my $campaign = create_campaign($db, $account, $sequence);
    my $lead = { slug => "l$n-lead", first => "L${n}x", account => $account };
    add_lead($db, $campaign, $account, $lead);
    push @leads, $lead;
}

# A worker that claimed every lead (one per account), sent half of the
# invitations and died.
psql($db, 'SELECT engine.plan_due(1000)');
is(psql($db, "SELECT count(*) FROM engine.claim_actions('ghost', 1000,"
             . " '1 second')"), $claims, "a dead worker's $claims claims");
for my $l (@leads[grep { $_ % 2 == 0 } 0 .. $#leads]) {
    sim_api('POST', 'users/invite', { account_id => $l->{account},
                                      provider_id => $l->{provider_id},
                                      message => "Hi $l->{first}" });
}
shift_clock($db, '2 seconds');

# the sweeper's lookups take a while, so that it dies in the middle
sim_control('POST', 'faults', { route => 'users.get', kind => 'slow',
                                ms => 3000, times => $claims });
pool_start(3, $db, $tmp, LIAUTO_LEASE_SECONDS => 30);
my $sweeper;
ok(wait_until(20, sub {
       ($sweeper) = grep { slot_log($_) =~ /reconciling \d+ send/ } 1 .. 3;
       defined $sweeper }), 'one worker sweeps the expired claims')
    or diag(pool_logs());
slot_kill($sweeper);
slot_start($sweeper);

sub still_unknown {
    return psql($db, "SELECT count(*) FROM liauto.actions"
                     . " WHERE status = 'unknown'");
}

# Every worker sweeps every 5 s: for more than one sweep of each, the
# claims stay the dead sweeper's (its period is not over).
ok(!wait_until(6, sub { still_unknown() < $claims }),
   'within the period nobody else takes them');

sim_control('DELETE', 'faults');
shift_clock($db, '5 minutes');
ok(wait_until(40, sub {
       psql($db, "SELECT count(*) FROM liauto.leads"
                 . " WHERE status = 'invite_sent'") == $claims }),
   'in the next period every claim is resolved and every lead invited')
    or diag(pool_logs());
pool_stop();

my $logs = pool_logs();
my @twice = grep { $_ != 1 } map {
    my $id = $_;
    scalar(() = $logs =~ /reconciled [^\n]*, action \Q$id\E\)/g) }
    split(/\n/, psql($db, "SELECT id FROM liauto.actions"
                          . " WHERE claimed_by = 'ghost'"));
is(scalar @twice, 0, 'each expired claim was resolved exactly once');
my $people = sent_to();
is_deeply([ grep { $people->{"$_->{account}/$_->{provider_id}"}
                   {invitations} != 1 } @leads ], [],
          'each lead has exactly one invitation (half found, half resent)');

# --- 2. singleton jobs through engine.try_lead_job
my $periods = soak(10, 30);
my $runner_kills = soak(1, 5);
my $runners = $runner_kills + 3;          # some always survive
psql($db, <<'SQL');
CREATE TABLE job_runs (period timestamptz, runner text);
CREATE PROCEDURE run_periods(p_runner text, p_periods integer)
LANGUAGE plpgsql AS $$
BEGIN
    -- each pass tries every period; a period is done once its run
    -- committed in the same transaction as its lead_jobs row
    WHILE (SELECT count(*) FROM liauto.lead_jobs
           WHERE job = 'faults_report') < p_periods LOOP
        FOR p IN 1 .. p_periods LOOP
            IF engine.try_lead_job('faults_report',
                                   '2027-01-04 00:00Z'::timestamptz
                                   + make_interval(weeks => p)) THEN
                INSERT INTO job_runs VALUES (
                    '2027-01-04 00:00Z'::timestamptz
                    + make_interval(weeks => p), p_runner);
                PERFORM pg_sleep(0.2);
            END IF;
            COMMIT;
        END LOOP;
        PERFORM pg_sleep(0.05);
    END LOOP;
END
$$;
SQL

my @runners;
for my $r (1 .. $runners) {
    my $pid = fork() // die "fork: $!\n";
    if ($pid == 0) {
        $ENV{PGAPPNAME} = "faults-runner-$r";
        # the killed one says its connection was terminated: expected
        open(STDERR, '>', '/dev/null') or die;
        exec('psql', '-XAtq', '-d', $db, '-o', '/dev/null', '-c',
             "CALL run_periods('r$r', $periods)") or die "exec: $!\n";
    }
    push @runners, $pid;
}

# the session holding the job's advisory lock is inside a run
my @killed;
for my $k (1 .. $runner_kills) {
    my $done = int(($k - 1) * $periods / $runner_kills);
    my $holder;
    # spread over the periods: the k-th once some have run
    wait_until(20, sub {
        psql($db, "SELECT count(*) FROM liauto.lead_jobs"
                  . " WHERE job = 'faults_report'") >= $done }) or last;
    wait_until(20, sub {
        $holder = psql($db, "SELECT a.pid || ' ' || a.application_name"
                            . " FROM pg_locks AS l JOIN pg_stat_activity"
                            . " AS a USING (pid) WHERE l.locktype ="
                            . " 'advisory' AND l.granted LIMIT 1");
        $holder ne '' }) or last;
    my ($pid, $app) = split(/ /, $holder);
    psql($db, "SELECT pg_terminate_backend($pid)");
    push @killed, $app;
}
is(scalar @killed, $runner_kills, "$runner_kills runners killed mid-run");
ok(wait_until(60, sub { !grep { waitpid($_, WNOHANG) == 0 } @runners }),
   'the other runners finish every period');

is(psql($db, "SELECT count(*) FROM liauto.lead_jobs"
             . " WHERE job = 'faults_report'"), $periods,
   "all $periods periods taken");
is(psql($db, "SELECT count(*) || ' ' || count(DISTINCT period)"
             . " FROM job_runs"), "$periods $periods",
   'exactly one committed run per (job, period)');
diag("$claims expired claims swept, $runner_kills runner(s) killed "
     . "(@killed), runs per runner: "
     . join(', ', split(/\n/, psql($db, "SELECT runner || '=' || count(*)"
                                        . " FROM job_runs GROUP BY runner"
                                        . " ORDER BY runner"))));

done_testing();
