package Test::Nginx::Compat::Settings;

# Global settings of the compat runner: everything the real Test::Nginx
# reads from TEST_NGINX_* variables or lets a .t file change through its
# exported setters, plus the helpers every other part needs
# ($TEST_NGINX_* expansion, time parsing, bail out with cleanup).

use strict;
use warnings;

use Exporter 'import';
use File::Spec ();
use IO::Socket::INET ();
use Test::More ();

our @EXPORT = qw(
    %Cfg expand_env_in_text parse_time bail_out add_cleanup_handler
    run_cleanup_handlers
);

our %Cfg;
our @CleanupHandlers;

my $servroot = $ENV{TEST_NGINX_SERVROOT}
               || File::Spec->rel2abs('t/servroot');
my $port = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;

%Cfg = (
    binary              => $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx',
    server_port         => $port,
    client_port         => $ENV{TEST_NGINX_CLIENT_PORT} || $port,
    server_addr         => '127.0.0.1',
    server_name         => 'localhost',
    servroot            => $servroot,
    log_dir             => "$servroot/logs",
    error_log           => "$servroot/logs/error.log",
    access_log          => "$servroot/logs/access.log",
    stderr_log          => "$servroot/logs/nginx.stderr",
    pid_file            => "$servroot/logs/nginx.pid",
    html_dir            => "$servroot/html",
    conf_dir            => "$servroot/conf",
    conf_file           => "$servroot/conf/nginx.conf",
    repeat_each         => 1,
    workers             => 1,
    worker_connections  => 64,
    log_level           => $ENV{TEST_NGINX_LOG_LEVEL} || 'debug',
    master_process      => $ENV{TEST_NGINX_MASTER_PROCESS} || 'off',
    no_shuffle          => $ENV{TEST_NGINX_NO_SHUFFLE} || 0,
    no_root_location    => 0,
    no_long_string      => 0,
    check_accum_err_log => $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG},
    timeout             => $ENV{TEST_NGINX_TIMEOUT} || 3,
    sleep               => $ENV{TEST_NGINX_SLEEP} || 0.015,
    load_modules        => $ENV{TEST_NGINX_LOAD_MODULES},
    valgrind            => $ENV{TEST_NGINX_USE_VALGRIND},
    event_type          => $ENV{TEST_NGINX_EVENT_TYPE},
    worker_user         => $ENV{TEST_NGINX_WORKER_USER},
    config_preamble     => '',
    env_to_nginx        => [],
    block_preprocessors => [],
);

$ENV{TEST_NGINX_SERVER_ROOT} = $servroot;

for my $unsupported (qw(TEST_NGINX_USE_HUP TEST_NGINX_CHECK_LEAK
                        TEST_NGINX_BENCHMARK TEST_NGINX_USE_STAP
                        TEST_NGINX_USE_HTTP2 TEST_NGINX_USE_HTTP3
                        TEST_NGINX_RANDOMIZE))
{
    warn "WARNING: $unsupported is not supported by the compat runner "
         . "(t/compat); ignored\n" if $ENV{$unsupported};
}

sub add_cleanup_handler {
    unshift @CleanupHandlers, shift;
}

sub run_cleanup_handlers {
    $_->() for @CleanupHandlers;
}

sub bail_out {
    run_cleanup_handlers();
    Test::More::BAIL_OUT(join '', @_);
}

# "10ms" -> 0.01, "2s" and "2" -> 2, undef stays undef.
sub parse_time {
    my $tm = shift;

    return undef unless defined $tm;

    if ($tm =~ s/([^_a-zA-Z])ms$/$1/) {
        return $tm / 1000;
    }

    $tm =~ s/([^_a-zA-Z])s$/$1/;
    return $tm;
}

sub port_is_free {
    my $port = shift;

    my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                     LocalPort => $port,
                                     Proto     => 'tcp',
                                     ReuseAddr => 1,
                                     Listen    => 1);
    return 0 unless $sock;
    close $sock;
    return 1;
}

sub random_free_port {
    my ($name, $used) = @_;

    for (1 .. 1000) {
        my $port = 10000 + int rand 50000;
        next if $used->{$port};
        return $port if port_is_free($port);
    }

    bail_out("$name - Cannot find an available listening port number.\n");
}

# Replaces $TEST_NGINX_FOO by $ENV{TEST_NGINX_FOO}; an undefined variable
# aborts the whole run, like the real Test::Nginx, because a config
# silently missing a value would test something else.
# $TEST_NGINX_RAND_PORT_<N> get one free port per name and block.
sub expand_env_in_text {
    my ($text, $name, $rand_ports) = @_;

    return $text if !defined $text || ref $text;

    my %used = ($Cfg{server_port} => 1,
                map { $_ => 1 } values %{ $rand_ports || {} });

    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        my $value;

        if ($var =~ /^TEST_NGINX_RAND_PORT_[0-9]+$/ && $rand_ports) {
            $rand_ports->{$var} //= random_free_port($name, \%used);
            $value = $rand_ports->{$var};
            $used{$value} = 1;

        } else {
            bail_out("$name - No environment $var defined.\n")
                unless defined $ENV{$var};
            $value = $ENV{$var};
        }

        $value;
    }ge;

    return $text;
}

1;
