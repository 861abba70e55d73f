package LiautoFaults;

# The fault-injection suite's shared pieces (worker/tests/faults_*.t,
# pacing_days.t): a pool of workers that tests kill and restart by slot,
# what the simulator sent per person, a psql session that holds row locks
# (to stop a worker at an exact point of the send path), and the SOAK knob.

use strict;
use warnings;

use Exporter 'import';
use LiautoWorker qw(start_worker slurp psql wait_until);
use LiautoSim qw(sim_control sim_dsn sim_key);

our @EXPORT = qw(soak pool_start slot_start slot_kill slot_of slot_pid slot_log pool_stop
                 pool_logs sent_to hold_locks release_locks backend_waiting
                 terminate_backend);

# LIAUTO_SOAK=1 (./build.sh soak): the larger of the two numbers.
sub soak {
    my ($short, $long) = @_;
    return $ENV{LIAUTO_SOAK} ? $long : $short;
}

my (%pool, $dir, $db, %env, $generation);

# Starts $n workers (slots 1..$n) on $db, logs in $tmp; %extra: settings.
sub pool_start {
    my ($n, $database, $tmp, %extra) = @_;
    ($db, $dir, %env) = ($database, $tmp, %extra);
    slot_start($_) for 1 .. $n;
}

sub slot_start {
    my ($slot) = @_;
    my $id = "w$slot-g" . ++$generation;
    my $log = "$dir/worker-$generation.log";

    $pool{$slot} = { id => $id, log => $log, pid => start_worker(
        { LIAUTO_DATABASE_URL => "dbname=$db", LIAUTO_WORKER_ID => $id,
          LIAUTO_ENGINE_TICK_MS => 100,
          UNIPILE_DSN => sim_dsn(), UNIPILE_API_KEY => sim_key(), %env },
        $log, 'run') };
}

sub slot_kill {
    my ($slot) = @_;
    kill('KILL', $pool{$slot}{pid});
    waitpid($pool{$slot}{pid}, 0);
}

# The slot whose worker id is $id (an action's claimed_by), or undef.
sub slot_of {
    my ($id) = @_;
    my ($slot) = grep { $pool{$_}{id} eq ($id // '') } keys %pool;
    return $slot;
}

sub slot_pid { return $pool{$_[0]}{pid} }

sub slot_log { return slurp($pool{$_[0]}{log}) }

sub pool_stop { slot_kill($_) for keys %pool; %pool = () }

sub pool_logs { return join('', map { slurp($_) } glob("$dir/worker-*.log")) }

# What the simulator got for each "account/provider" as
# {invitations => n, texts => [...]}; a person never contacted is absent.
sub sent_to { return sim_control('GET', 'sent')->{people} }

# A psql session that runs $sql in an open transaction (row locks taken
# with FOR UPDATE stay held) until release_locks.
sub hold_locks {
    my ($sql) = @_;
    my $app = "faults-locker-$$-" . int(rand(1e9));

    local $ENV{PGAPPNAME} = $app;
    open(my $fh, '|-', 'psql', '-XAtq', '-d', $db, '-o', '/dev/null')
        or die "psql: $!\n";
    my $old = select($fh); $| = 1; select($old);
    print $fh "BEGIN;\n$sql;\nSELECT 1;\n";
    wait_until(10, sub {
        psql($db, "SELECT count(*) FROM pg_stat_activity WHERE"
                  . " application_name = '$app'"
                  . " AND state = 'idle in transaction'") == 1 })
        or die "the lock holder did not get its locks: $sql\n";
    return $fh;
}

sub release_locks {
    my ($fh) = @_;
    print $fh "ROLLBACK;\n";
    close($fh);
}

# The backend of a worker waiting on a lock in a statement matching
# $like (e.g. '%engine.complete_action%'), or ''.
sub backend_waiting {
    my ($like) = @_;
    return psql($db, "SELECT pid FROM pg_stat_activity WHERE"
                     . " datname = current_database()"
                     . " AND wait_event_type = 'Lock'"
                     . " AND query LIKE '$like' LIMIT 1");
}

# What a killed worker's connection eventually does: its transaction is
# rolled back, never committed (a backend blocked on a lock does not see
# its client go away by itself).
sub terminate_backend {
    my ($pid) = @_;
    psql($db, "SELECT pg_terminate_backend($pid)");
}

1;
