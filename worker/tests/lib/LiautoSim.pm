package LiautoSim;

# The Unipile simulator (t/sim) as its own nginx on a free port, for the
# worker's end-to-end tests: start (stopped at exit), the /_sim/ control
# API, and Unipile's own API with the simulator's key.

use strict;
use warnings;

use Exporter 'import';
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use LiautoWorker qw(repo_dir wait_until);

our @EXPORT = qw(start_simulator sim_control sim_api sim_dsn sim_key
                 sim_url sim_resend_key);

my $key = 'sim-test-key';
my $resend_key = 're_sim_test_key';
my ($port, @nginx);
my $http = HTTP::Tiny->new(timeout => 10);
# bytes in, bytes out: UTF-8 texts compare with the byte strings of tests
my $json = JSON::PP->new->canonical;

sub free_port {
    my $sock = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                     LocalPort => 0, Proto => 'tcp')
        or die "no free port: $!\n";
    my $p = $sock->sockport;
    close($sock);
    return $p;
}

sub start_simulator {
    my $prefix = tempdir('liauto-sim-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    $port = free_port();
    @nginx = ('nginx', '-p', "$prefix/", '-c', 'conf/nginx.conf',
              '-e', "$prefix/logs/error.log");

    system(repo_dir() . '/t/sim/render.sh', $prefix, $port, $key, '', '',
           $resend_key) == 0
        or die "render.sh failed\n";
    system(@nginx) == 0 or die "the simulator did not start\n";
    wait_until(5, sub { $http->get(sim_url('/_sim/calls'))->{success} })
        or die "the simulator does not answer\n";
    sim_control('POST', 'reset');
}

END {
    my $status = $?;
    system(@nginx, '-s', 'stop') if @nginx;
    $? = $status;
}

sub sim_url { return "http://127.0.0.1:$port$_[0]" }
sub sim_dsn { return "127.0.0.1:$port" }
sub sim_key { return $key }
sub sim_resend_key { return $resend_key }

sub call {
    my ($method, $path, $body, $headers) = @_;
    my $res = $http->request($method, sim_url($path), {
        headers => $headers // {},
        defined $body ? (content => $json->encode($body)) : () });
    $res->{status} =~ /^2/
        or die "$method $path: $res->{status} $res->{content}\n";
    return $json->decode($res->{content});
}

# The control API: sim_control('POST', 'accounts', {...}).
sub sim_control {
    my ($method, $path, $body) = @_;
    return call($method, "/_sim/$path", $body // {});
}

# Unipile's API as the worker sees it: sim_api('GET', 'users/jane?...').
sub sim_api {
    my ($method, $path, $body) = @_;
    return call($method, "/api/v1/$path", $body,
                { 'X-API-KEY' => $key,
                  defined $body ? ('Content-Type' => 'application/json')
                                : () });
}

1;
