package Test::Nginx::Compat::Server;

# The nginx side of the compat runner: server root, user files, the
# generated nginx.conf (same template as the real Test::Nginx), starting
# nginx (daemon, or in a forked child under valgrind) and stopping it
# (QUIT, wait, KILL), plus collecting valgrind / sanitizer reports.

use strict;
use warnings;

use Exporter 'import';
use File::Basename ();
use File::Path qw(make_path remove_tree);
use File::Spec ();
use POSIX qw(SIGQUIT SIGKILL WNOHANG);
use Time::HiRes qw(sleep);

use Test::Nginx::Compat::Settings;

our @EXPORT = qw(
    setup_server_root write_user_files write_config_file start_nginx
    stop_nginx nginx_child_gone server_reports
);

# The nginx we started: { name, child (pid when we are its parent),
# pgrp (child leads its own process group), asan_tag }.
my $Running;

sub setup_server_root {
    my $root = $Cfg{servroot};

    if (-d $root) {
        # Remove only what we create, so a mistaken TEST_NGINX_SERVROOT
        # pointing at real data makes the rmdir fail instead of wiping it.
        remove_tree($Cfg{conf_dir}, $Cfg{html_dir}, $Cfg{log_dir},
                    glob("$root/*_temp"), glob("$root/*_cache"),
                    "$root/cache");
        rmdir $root
            or bail_out("Can't remove $root (not empty?): $!");
    }

    for my $dir ($root, $Cfg{log_dir}, $Cfg{html_dir}, $Cfg{conf_dir}) {
        mkdir $dir or bail_out("Failed to do mkdir $dir: $!\n");
    }

    write_file("$Cfg{html_dir}/index.html",
               '<html><head><title>It works!</title></head>'
               . '<body>It works!</body></html>');
}

sub write_file {
    my ($path, $body) = @_;

    open my $out, '>', $path
        or bail_out("Cannot open $path for writing: $!\n");
    binmode $out;
    print $out $body;
    close $out;
}

# "--- user_files" is either ">>> name [date]" separated text or an eval
# returning [[name, body, date], ...].
sub parse_user_files {
    my ($files, $name) = @_;

    return $files if ref $files eq 'ARRAY';
    bail_out("$name - wrong value type: ", ref $files,
             ", only scalar or ARRAY are accepted") if ref $files;

    my @list;
    for my $line (split /^/, $files) {
        if ($line =~ />>> (\S+)(?:\s+(.+))?/) {
            push @list, [$1, undef, $2];
            next;
        }
        $list[-1][1] .= $line if @list;
    }

    return \@list;
}

sub write_user_files {
    my ($block, $rand_ports) = @_;

    my $name = $block->name;
    my $files = $block->user_files;

    return unless $files;

    for my $file (@{ parse_user_files($files, $name) }) {
        my ($fname, $body, $date) = @$file;
        my $path = $fname =~ m{^/} ? $fname : "$Cfg{html_dir}/$fname";

        if ($path =~ m{(.*)/} && !-d $1) {
            make_path($1) or bail_out("$name - Cannot create directory $1");
        }

        write_file($path,
                   expand_env_in_text($body // '', $name, $rand_ports));

        if ($date) {
            system('touch', '-t', $date, $path) == 0
                or bail_out("$name - Failed to touch -t '$date' $path\n");
        }
    }
}

my $NginxV;

sub temp_path_directives {
    my $http_config = shift;

    $NginxV //= `$Cfg{binary} -V 2>&1`;

    my @paths;
    for my $kind (qw(client_body proxy fastcgi scgi uwsgi)) {
        next if $NginxV =~ /--without-http_${kind}_module/;
        next if $http_config =~ /\b${kind}_temp_path\b/;
        push @paths, "${kind}_temp_path $Cfg{servroot}/${kind}_temp;";
    }

    return join ' ', @paths;
}

sub main_config_text {
    my ($block, $rand_ports) = @_;

    my $main_config = $block->main_config // '';
    my @modules = map { "load_module $_;" }
                  grep { length } split /\s+/, $Cfg{load_modules} // '';

    $main_config = join ' ', @modules, $main_config if @modules;

    return expand_env_in_text($main_config, $block->name, $rand_ports);
}

sub write_config_file {
    my ($block, $config, $rand_ports) = @_;

    my $name = $block->name;
    my $http_config = expand_env_in_text(scalar($block->http_config),
                                         $name, $rand_ports) // '';
    my $main_config = main_config_text($block, $rand_ports);
    my $post_main_config =
        expand_env_in_text(scalar($block->post_main_config), $name,
                           $rand_ports) // '';
    my $err_log = expand_env_in_text($block->error_log_file
                                     || $Cfg{error_log},
                                     $name, $rand_ports);
    my $server_name = $block->server_name // $Cfg{server_name};
    (my $quoted_name = $server_name) =~ s/(['\\])/\\$1/g;
    my $daemon = $Cfg{valgrind} && !defined $block->must_die ? 'off' : 'on';
    my $log_level = $block->log_level || $Cfg{log_level};
    my $temp_paths = temp_path_directives($http_config);
    my $env_lines = join '',
        map { my $v = /\s/ ? "'$_'" : $_; "env $v;\n" }
        @{ $Cfg{env_to_nginx} };
    my $root_location = $Cfg{no_root_location} ? '' : <<_EOC_;
        location / {
            root $Cfg{html_dir};
            index index.html index.htm;
        }
_EOC_
    my $use_events = $Cfg{event_type} ? "    use $Cfg{event_type};\n" : '';
    my $user = defined $Cfg{worker_user} ? "user $Cfg{worker_user};\n"
             : $> == 0                   ? "user root;\n"
             :                             '';

    $config //= '';

    write_file($Cfg{conf_file}, <<_EOC_);
worker_processes  $Cfg{workers};
daemon $daemon;
master_process $Cfg{master_process};
error_log $err_log $log_level;
pid       $Cfg{pid_file};
env MOCKEAGAIN_VERBOSE;
env MOCKEAGAIN;
env MOCKEAGAIN_WRITE_TIMEOUT_PATTERN;
env LD_PRELOAD;
env LD_LIBRARY_PATH;
env DYLD_INSERT_LIBRARIES;
env DYLD_FORCE_FLAT_NAMESPACE;
${env_lines}#env LUA_PATH;
#env LUA_CPATH;

$main_config

http {
    access_log $Cfg{access_log}; $temp_paths
    #access_log off;

    default_type text/plain;
    keepalive_timeout  68000ms;

$http_config
    server {
        listen          $Cfg{server_port};
        #placeholder
        server_name     '$quoted_name';

        client_max_body_size 30M;
        #client_body_buffer_size 4k;

        # Begin preamble config...
$Cfg{config_preamble}
        # End preamble config...

        # Begin test case config...
$config
        # End test case config.

$root_location    }
}

$post_main_config

#timer_resolution 100ms;

events {
    accept_mutex off;

    worker_connections  $Cfg{worker_connections};
${use_events}}
env ASAN_OPTIONS;
env MOCKNOEAGAIN_VERBOSE;
env MOCKNOEAGAIN;
env TEST_NGINX_CLIENT_PORT;
${user}
_EOC_
}

# Exit-time leaks of stock nginx, kept next to the runner.
my $CompatDir = File::Spec->rel2abs('../../..',
                                    File::Basename::dirname(__FILE__));
my $StockSuppressions = "$CompatDir/valgrind.suppress";

sub valgrind_command {
    my $opts = $Cfg{valgrind};
    my @cmd = ('valgrind', '-q',
               "--log-file=$Cfg{log_dir}/valgrind.%p");

    if ($opts !~ /^\d+$/) {
        return @cmd, split ' ', $opts;
    }

    push @cmd, qw(--num-callers=100 --tool=memcheck --leak-check=full
                  --keep-debuginfo=yes --show-possibly-lost=no
                  --gen-suppressions=all);
    push @cmd, qw(--exit-on-first-error=yes --error-exitcode=1)
        if $ENV{TEST_NGINX_VALGRIND_EXIT_ON_FIRST_ERR};
    push @cmd, "--suppressions=$StockSuppressions";
    push @cmd, '--suppressions=valgrind.suppress' if -f 'valgrind.suppress';

    return @cmd;
}

# Tags ASAN's log_path per block like the real runner, so a report names
# the test that produced it.
sub asan_tag_for {
    my $name = shift;

    return undef unless defined $ENV{ASAN_OPTIONS};
    $ENV{ORI_ASAN_OPTIONS} //= $ENV{ASAN_OPTIONS};

    my $opts = $ENV{ORI_ASAN_OPTIONS};
    return undef unless $name =~ m{t/([-_a-zA-Z0-9/]+)\.t TEST (\d+):};

    (my $tag = "$1-t$2") =~ s{/}{-}g;
    return undef unless $opts =~ /log_path=([^,]+)/;

    my $log_path = $1;
    $opts =~ s/log_path=[^,]+,?//;
    $ENV{ASAN_OPTIONS} = "$opts,log_path=$log_path-$tag";

    return "$log_path-$tag";
}

# Runs nginx. Daemon mode returns the wait status of the nginx command;
# valgrind mode returns 0 at once and keeps the child's pid.
sub start_nginx {
    my ($block, $use_valgrind) = @_;

    bail_out($block->name . " - Cannot run the nginx executable "
             . "$Cfg{binary}") unless -x $Cfg{binary};

    my @cmd = ($Cfg{binary}, '-e', $Cfg{error_log}, '-p', "$Cfg{servroot}/",
               '-c', $Cfg{conf_file});
    my %env;

    @cmd = (valgrind_command(), @cmd) if $use_valgrind;

    if (defined $ENV{TEST_NGINX_LD_PRELOAD}) {
        $env{LD_PRELOAD} = join ' ', grep { defined }
                           $ENV{TEST_NGINX_LD_PRELOAD}, $ENV{LD_PRELOAD};

        my $lsan = $ENV{LSAN_OPTIONS} // '';
        if ($env{LD_PRELOAD} =~ /asan/ && $lsan !~ /suppressions=/) {
            $env{LSAN_OPTIONS} = join ':', grep { length } $lsan,
                                 "suppressions=$CompatDir/lsan.supp";
        }
    }

    my $asan_tag = asan_tag_for($block->name);
    my $pid = fork // bail_out($block->name . " - fork() failed: $!");

    if ($pid == 0) {
        setpgrp(0, 0) if $use_valgrind;
        @ENV{keys %env} = values %env;
        open STDOUT, '>', '/dev/null';
        open STDERR, '>>', $Cfg{stderr_log};
        exec { $cmd[0] } @cmd or POSIX::_exit(127);
    }

    $Running = { name => $block->name, asan_tag => $asan_tag };

    if ($use_valgrind) {
        @$Running{qw(child pgrp)} = ($pid, 1);
        sleep $Cfg{sleep};
        return 0;
    }

    waitpid $pid, 0;
    my $status = $?;
    undef $Running if $status != 0;
    relay_stderr() unless defined $block->suppress_stderr;
    return $status;
}

sub relay_stderr {
    open my $in, '<', $Cfg{stderr_log} or return;
    print STDERR $_ while <$in>;
    close $in;
}

sub nginx_child_gone {
    return 0 unless $Running && $Running->{child};
    return waitpid($Running->{child}, WNOHANG) != 0;
}

# A daemonized nginx is not our child; under an init that does not reap,
# it lingers as a zombie that kill(0) still reports as alive.
sub is_alive {
    my $pid = shift;

    return 0 unless kill 0, $pid;
    open my $st, '<', "/proc/$pid/stat" or return 1;
    my $stat = <$st> // '';
    close $st;
    return $stat !~ /^\d+ \(.*\) Z/;
}

sub read_pid {
    # The daemon writes its pid file after the starting process exited.
    for (1 .. 40) {
        if (open my $in, '<', $Cfg{pid_file}) {
            my $pid = <$in>;
            close $in;
            return $1 if defined $pid && $pid =~ /^(\d+)/;
        }
        last unless $Running;
        sleep 0.025;
    }
    return undef;
}

sub wait_exit {
    my ($pid, $seconds) = @_;

    while ($seconds > 0) {
        waitpid $pid, WNOHANG if $Running && $Running->{child};
        return 1 unless is_alive($pid);
        sleep 0.05;
        $seconds -= 0.05;
    }
    return 0;
}

# Stops the nginx of the previous block (or a stale one found through the
# pid file): QUIT for a graceful exit, KILL when it does not go away.
# Returns the name of the block that started it (if we did) and its ASAN
# log tag, for server_reports().
sub stop_nginx {
    my $name = shift;

    my $pid = ($Running && $Running->{child}) || read_pid();
    my ($owner, $asan_tag) = $Running ? @$Running{qw(name asan_tag)} : ();
    my $grace = $Cfg{valgrind} ? 30 : 10;

    if ($pid && is_alive($pid)) {
        kill SIGQUIT, $pid;
        if (!wait_exit($pid, $grace)) {
            warn "$name - timeout when waiting for the process $pid to exit;"
                 . " killing it\n";
            kill SIGKILL, ($Running && $Running->{pgrp} ? -$pid : $pid);
            wait_exit($pid, 5);
        }
    }

    waitpid $Running->{child}, 0 if $Running && $Running->{child};
    unlink $Cfg{pid_file};
    undef $Running;
    return ($owner, $asan_tag);
}

sub file_lines {
    my $path = shift;

    open my $in, '<', $path or return ();
    my @lines = <$in>;
    close $in;
    return @lines;
}

# Problems found after nginx exited: non-empty valgrind logs and
# sanitizer reports in the error log, nginx's stderr or ASAN log files.
# Each is [summary, details].
sub server_reports {
    my $asan_tag = shift;

    my @reports;

    for my $log (glob "$Cfg{log_dir}/valgrind.*") {
        my @lines = file_lines($log);
        push @reports, ["valgrind errors in $log", join '', @lines]
            if @lines;
    }

    my @asan_logs = defined $asan_tag ? glob "$asan_tag.*" : ();
    for my $log ($Cfg{error_log}, $Cfg{stderr_log}, @asan_logs) {
        my @hits = grep { /Sanitizer|runtime error:/ } file_lines($log);
        push @reports, ["sanitizer report in $log", join '', @hits]
            if @hits;
    }

    return @reports;
}

1;
