package LiautoWorker;

# Helpers for the worker's integration tests: build the binary, make scratch
# databases (dropped at exit), run psql and the worker, and wait for a
# condition with a deadline (no fixed sleeps).
#
# Needs the PG* environment of pg_virtualenv (or any cluster we may
# createdb/dropdb in).

use strict;
use warnings;

use Exporter 'import';
use File::Basename qw(dirname);
use File::Spec;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

our @EXPORT = qw(build_worker worker_bin repo_dir scratch_db psql
                 run_worker start_worker stop_worker wait_until slurp
                 write_file restart_cluster);

my $worker_dir = File::Spec->rel2abs(dirname(__FILE__) . '/../..');
my @scratch_dbs;

sub repo_dir { return File::Spec->rel2abs("$worker_dir/..") }

sub worker_bin { return "$worker_dir/liauto-worker" }

sub build_worker {
    system('make', '-s', '-C', $worker_dir) == 0
        or die "building liauto-worker failed\n";
}

sub scratch_db {
    my ($tag) = @_;
    my $name = "liauto_${tag}_$$";

    system("dropdb --if-exists --force $name 2>/dev/null");
    system('createdb', $name) == 0 or die "createdb $name failed\n";
    push @scratch_dbs, $name;
    return $name;
}

END {
    my $status = $?;
    system("dropdb --if-exists --force $_ 2>/dev/null") for @scratch_dbs;
    $? = $status;
}

# One value (or several lines) from a query; dies on SQL errors.
sub psql {
    my ($db, $sql) = @_;

    open(my $fh, '-|', 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1',
         '-d', $db, '-c', $sql) or die "psql: $!\n";
    my $out = do { local $/; <$fh> } // '';
    close($fh) or die "psql failed ($?) on: $sql\n";
    chomp $out;
    return $out;
}

# The worker sees only the LIAUTO_* settings a test gives it, whatever the
# caller's environment holds.
sub worker_env {
    my ($env) = @_;
    delete $ENV{$_} for grep { /^LIAUTO_/ } keys %ENV;
    %ENV = (%ENV, %$env);
}

# Runs the worker to completion: (exit code, stdout+stderr).
sub run_worker {
    my ($env, @args) = @_;

    my $pid = open(my $fh, '-|') // die "fork: $!\n";
    if ($pid == 0) {
        worker_env($env);
        open(STDERR, '>&', \*STDOUT) or die;
        exec(worker_bin(), @args) or die "exec: $!\n";
    }

    my $out = do { local $/; <$fh> } // '';
    close($fh);
    return ($? >> 8, $out);
}

# Starts the worker in the background with stdout+stderr in $log.
sub start_worker {
    my ($env, $log, @args) = @_;

    my $pid = fork() // die "fork: $!\n";
    if ($pid == 0) {
        worker_env($env);
        open(STDOUT, '>', $log) or die "$log: $!\n";
        open(STDERR, '>&', \*STDOUT) or die;
        exec(worker_bin(), @args) or die "exec: $!\n";
    }
    return $pid;
}

# Sends $signal and waits up to $timeout s; returns the wait status or
# undef if the process did not exit in time (it is then killed).
sub stop_worker {
    my ($pid, $signal, $timeout) = @_;

    kill($signal, $pid);
    my $exited = wait_until($timeout, sub { waitpid($pid, WNOHANG) == $pid });
    return $? if $exited;

    kill('KILL', $pid);
    waitpid($pid, 0);
    return undef;
}

# Polls $cond every 50 ms until it is true or $timeout seconds pass.
sub wait_until {
    my ($timeout, $cond) = @_;
    my $deadline = time() + $timeout;

    while (1) {
        return 1 if $cond->();
        return 0 if time() > $deadline;
        sleep(0.05);
    }
}

sub slurp {
    my ($path) = @_;
    open(my $fh, '<', $path) or return '';
    local $/;
    return <$fh> // '';
}

sub write_file {
    my ($path, $text) = @_;
    open(my $fh, '>', $path) or die "$path: $!\n";
    print $fh $text;
    close($fh) or die "$path: $!\n";
}

# Stops and starts the cluster pg_virtualenv gave us (the one on $PGPORT);
# dies when it cannot. Returns 0 when there is no such cluster to restart.
# Stop and start rather than "restart": on a loaded machine restart's
# start has run before the old postmaster was gone ("Cluster is already
# running") and left the server as it was.
sub restart_cluster {
    my ($cluster) = grep { $_->[2] eq ($ENV{PGPORT} // 5432) }
                    map { [split] } `pg_lsclusters -h`;
    return 0 unless $cluster;

    my ($ver, $name) = @$cluster;
    my $out = qx(pg_ctlcluster -m fast $ver $name stop 2>&1);
    warn("pg_ctlcluster stop said: $out") if $?;
    wait_until(30, sub { system('pg_isready -q') != 0 })
        or die("the cluster did not stop: $out\n");
    my $started = 0;
    for my $try (1 .. 10) {
        $out = qx(pg_ctlcluster $ver $name start 2>&1);
        $started = 1, last if $? == 0;
        warn("pg_ctlcluster start said: $out");
        sleep(0.5);
    }
    $started && wait_until(30, sub { system('pg_isready -q') == 0 })
        or die("the cluster did not start again: $out\n");
    return 1;
}

1;
