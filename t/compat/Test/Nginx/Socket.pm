package Test::Nginx::Socket;

# A small Test::Nginx::Socket compatible runner (see t/compat/README.md).
# The .t files are the same data-driven files the real Test::Nginx from
# CPAN runs; block parsing, filters, ONLY/SKIP/LAST and blocks() come
# from Test::Base itself (we subclass it like the real module does), and
# the assertions below are made in the same order, with the same names
# and the same counts as the real runner, so "plan tests => ..." formulas
# agree under both.

use strict;
use warnings;

use Test::Base -base;

use List::Util qw(shuffle min);
use Scalar::Util qw(looks_like_number);
use Test::More ();
use Time::HiRes qw(sleep);

use Test::Nginx::Compat::Settings;
use Test::Nginx::Compat::Server;
use Test::Nginx::Compat::Client;

our $VERSION = '0.33';

our @EXPORT = qw(
    run_tests repeat_each no_shuffle log_level workers master_on master_off
    master_process_enabled worker_connections no_root_location env_to_nginx
    config_preamble server_name server_addr server_root html_dir
    server_port server_port_for_client timeout no_long_string
    add_block_preprocessor check_accum_error_log bail_out is_str
    add_cleanup_handler add_test_cleanup_handler
);

# Test::LongString (libtest-longstring-perl) gives the real runner's
# diagnostics for long bodies; plain is() is the fallback.
my $HaveLongString = eval { require Test::LongString; 1 };

my $PrevConfig;
my @TestCleanupHandlers;
my %LogPos;
my $NginxVersion;

sub setting {
    my ($key, @value) = @_;

    $Cfg{$key} = $value[0] if @value;
    return $Cfg{$key};
}

sub repeat_each            { setting(repeat_each => @_) }
sub workers                { setting(workers => @_) }
sub worker_connections     { setting(worker_connections => @_) }
sub log_level              { setting(log_level => @_) }
sub timeout                { setting(timeout => @_) }
sub server_name            { setting(server_name => @_) }
sub server_addr            { setting(server_addr => @_) }
sub server_port            { setting(server_port => @_) }
sub server_port_for_client { setting(client_port => @_) }
sub config_preamble        { setting(config_preamble => @_) }
sub server_root ()         { $Cfg{servroot} }
sub html_dir ()            { $Cfg{html_dir} }
sub no_shuffle ()          { $Cfg{no_shuffle} = 1 }
sub no_root_location ()    { $Cfg{no_root_location} = 1 }
sub no_long_string ()      { $Cfg{no_long_string} = 1 }
sub check_accum_error_log () { $Cfg{check_accum_err_log} = 1 }
sub master_on ()           { $Cfg{master_process} = 'on' }
sub master_off ()          { $Cfg{master_process} = 'off' }

sub master_process_enabled {
    $Cfg{master_process} = $_[0] ? 'on' : 'off' if @_;
    return $Cfg{master_process};
}

sub env_to_nginx {
    Carp::croak('env_to_nginx: no arguments specified') unless @_;

    for my $v (@_) {
        Carp::croak("env_to_nginx: bad argument value: $v\n")
            if $v !~ /^[A-Za-z_]/ || $v =~ /\n/;
        push @{ $Cfg{env_to_nginx} }, $v;
    }
}

sub add_block_preprocessor (&) {
    unshift @{ $Cfg{block_preprocessors} }, shift;
}

sub add_test_cleanup_handler {
    unshift @TestCleanupHandlers, shift;
}

sub is_str {
    my ($got, $expected, $desc) = @_;

    local $Test::Builder::Level = $Test::Builder::Level + 1;

    return Test::More::like($got, $expected, $desc)
        if ref $expected eq 'Regexp';
    return Test::More::is($got, $expected, $desc)
        if $Cfg{no_long_string} || !$HaveLongString;
    return Test::LongString::is_string($got, $expected, $desc);
}

sub nginx_version {
    my $out = `$Cfg{binary} -V 2>&1`;

    return undef unless $out =~ m{nginx version: \w+/(\d+)\.(\d+)\.(\d+)};
    return sprintf '%d.%03d%03d', $1, $2, $3;
}

sub run_tests () {
    srand($$ + Time::HiRes::time() * 1000000);
    $NginxVersion = nginx_version();
    $ENV{TEST_NGINX_SERVER_PORT} //= $Cfg{server_port};

    my @blocks = Test::Base::blocks();
    @blocks = shuffle @blocks unless $Cfg{no_shuffle};

    for my $block (@blocks) {
        $_->($block) for @{ $Cfg{block_preprocessors} };
        $block->set_value(name => "$0 " . $block->name);
        run_test($block);
        $_->($block) for @TestCleanupHandlers;
    }

    run_cleanup_handlers();
    stop_and_report('END') unless $ENV{TEST_NGINX_NO_CLEAN};
}

END {
    local $?;
    stop_nginx('END') unless $ENV{TEST_NGINX_NO_CLEAN};
}

$SIG{INT} = $SIG{TERM} = sub { exit 130 };

# Stops the running nginx and turns what it left behind (valgrind logs,
# sanitizer reports) into failures of the block that started it. Nothing
# is added when it is clean, so passing counts match the real runner.
sub stop_and_report {
    my $name = shift;

    my ($owner, $asan_tag) = stop_nginx($name);
    return unless defined $owner;

    for my $report (server_reports($asan_tag)) {
        Test::More::fail("$owner - $report->[0]");
        Test::More::diag($report->[1]);
    }
}

sub skip_spec {
    my $block = shift;

    my $name = $block->name;

    if (defined(my $spec = $block->skip_eval)) {
        return unless $spec =~ /^\s*(\d+)\s*:\s*(.*)/s;
        my ($count, $code) = ($1, $2);
        my $skip = eval $code;
        bail_out("$name - skip_eval - failed to eval the Perl code "
                 . "\"$code\": $@") if $@;
        return ($skip, $count, 'skip_eval');
    }

    if (defined(my $spec = $block->skip_nginx)) {
        $spec =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)
                  (?:\s*:\s*(.*))?\s*$/x
            or bail_out("$name - Invalid --- skip_nginx spec: $spec");
        my ($count, $op, $reason) = ($1, $2, $6);
        my $ver = sprintf '%d.%03d%03d', $3, $4, $5;
        my $skip = !defined $NginxVersion ? $op =~ /^</
                 : eval "$NginxVersion $op $ver";
        return ($skip, $count, $reason || "nginx version $op $3.$4.$5");
    }

    return;
}

sub run_test {
    my $block = shift;

    return if defined $block->SKIP;

    my $name = $block->name;
    my $rand_ports = {};
    my $config = expand_env_in_text(scalar($block->config), $name,
                                    $rand_ports);
    my ($should_skip, $skip_count, $skip_reason) = skip_spec($block);

    if (!defined $config) {
        # Like the real runner: keep the nginx of the previous block.
        bail_out("$name - No '--- config' section specified and could not "
                 . "get previous one. Use TEST_NGINX_NO_NGINX_MANAGER ?")
            unless defined $PrevConfig;

    } elsif (!$should_skip) {
        $PrevConfig = $config;
        return unless restart_nginx($block, $config, $rand_ports);
    }

    if ($block->init) {
        my $err = Test::Nginx::Compat::Init::run(scalar($block->init));
        bail_out("$name - init failed: $err") if $err;
    }

    %LogPos = ();

    for my $i (1 .. $Cfg{repeat_each}) {
        write_user_files($block, $rand_ports) if $i > 1;

        if ($should_skip && defined $skip_count) {
            SKIP: {
                Test::More::skip("$name - $skip_reason", $skip_count);
            }
            next;
        }

        run_test_helper($block, $i - 1);
    }

    append_total_error_log($name);
    stop_and_report($name) if $Cfg{valgrind};
}

sub append_total_error_log {
    my $name = shift;

    my $total = $ENV{TEST_NGINX_ERROR_LOG} or return;
    return unless -s $Cfg{error_log};

    open my $out, '>>', $total
        or bail_out("Failed to append test case title to $total: $!\n");
    print $out "\n=== $0 $name\n";
    open my $in, '<', $Cfg{error_log} or return;
    print $out $_ while <$in>;
    close $in;
    close $out;
}

# Returns false when the block is done (must_die).
sub restart_nginx {
    my ($block, $config, $rand_ports) = @_;

    my $name = $block->name;

    stop_and_report($name);
    setup_server_root();
    write_user_files($block, $rand_ports);
    write_config_file($block, $config, $rand_ports);

    if (defined $block->must_die) {
        run_must_die($block);
        return 0;
    }

    start_or_bail_out($block);
    sleep $Cfg{sleep};
    return 1;
}

sub start_or_bail_out {
    my $block = shift;

    my $waited = 0;

    for (my $try = 1; ; $try++) {
        my $status = start_nginx($block, $Cfg{valgrind});
        return if $status == 0;

        # A previous nginx may still hold the port for a moment.
        my $busy = grep { /Address already in use/ }
                   read_lines($Cfg{error_log});
        if (!$busy || $waited >= 10) {
            bail_out($block->name . " - Cannot start nginx using "
                     . "$Cfg{binary} (status code $status).\n"
                     . join '', grep { defined }
                                (read_lines($Cfg{error_log}))[-10 .. -1]);
        }

        my $delay = min(0.1 * $try, 1);
        sleep $delay;
        $waited += $delay;
        truncate $_, 0 for $Cfg{error_log}, $Cfg{stderr_log};
    }
}

sub run_must_die {
    my $block = shift;

    my $name = $block->name;
    my $must_die = $block->must_die;

    %LogPos = ();

    for my $i (0 .. $Cfg{repeat_each} - 1) {
        my $status = start_nginx($block, 0);

        if ($status & 128) {
            Test::More::fail("$name - nginx core dumped");

        } elsif (looks_like_number($must_die)) {
            Test::More::is($must_die, $status >> 8,
                           "$name - die with the expected exit code");

        } else {
            Test::More::isnt($status, 0, "$name - die as expected");
        }

        check_error_log($block, $i, 1);

        if ($status == 0) {
            warn "WARNING: $name - nginx must die but it does not; "
                 . "killing it (req $i)\n";
            stop_nginx($name);
        }
    }
}

sub read_lines {
    my $path = shift;

    open my $in, '<', $path or return ();
    my @lines = <$in>;
    close $in;
    return @lines;
}

# Lines of error.log written since the previous check (all of them with
# check_accum_error_log()); nginx's stderr too when it had to die.
sub error_log_data {
    my $with_stderr = shift;

    # nginx logs in the log phase, after the connection was closed.
    sleep $Cfg{sleep} * 3;

    my @lines;
    for my $path ($Cfg{error_log}, $with_stderr ? $Cfg{stderr_log} : ()) {
        open my $in, '<', $path or next;
        seek $in, $LogPos{$path}, 0
            if !$Cfg{check_accum_err_log} && $LogPos{$path};
        push @lines, <$in>;
        $LogPos{$path} = tell $in unless $Cfg{check_accum_err_log};
        close $in;
    }

    return \@lines;
}

sub indexed_value {
    my ($name, $value, $idx, $need_array) = @_;

    if (ref $value eq 'ARRAY') {
        return $value->[$idx] if $need_array;
        bail_out("$name - SHOULD NOT HAPPEN: idx != 0 and don't need array.")
            if $idx != 0;
        return $value->[0];
    }

    bail_out("$name - You asked for many requests, the expected results "
             . "should be arrays as well.") if $need_array;
    return $value;
}

sub run_test_helper {
    my ($block, $rep_idx) = @_;

    my $name = $block->name;
    my @reqs = requests_of_block($block);
    my $timeout = parse_time(scalar($block->timeout)) // $Cfg{timeout};
    my $pipelined = $block->pipelined_requests
                    ? scalar @{ $block->pipelined_requests } : 0;
    my $need_array = $pipelined ? 1 : @reqs > 1;
    my $total = $pipelined || @reqs;
    my $ignore = defined $block->ignore_response;
    my ($res, $req_idx) = (undef, 0);

    for my $req (@reqs) {
        my $raw = send_request($req, $block, $timeout) // '';

        for (1 .. ($pipelined || 1)) {
            my ($raw_headers, $left);

            if (!$ignore) {
                ($res, $raw_headers, $left) =
                    parse_response($name, $raw, $req->{head});
            }

            if ($pipelined) {
                $raw = $left // '';

            } elsif (defined $left && length $left) {
                (my $shown = $left) =~ s/([\0-\037\200-\377])/
                                         sprintf('\x{%02x}', ord $1)/eg;
                warn "WARNING: $name - unexpected extra bytes after last "
                     . "chunk in response: \"$shown\"\n";
            }

            if (!$ignore) {
                my @args = ($block, $res, $raw_headers, $req_idx,
                            $need_array);
                check_error_code(@args);
                check_raw_response_headers(@args);
                check_response_headers(@args);
                check_response_body(@args, $rep_idx);
            }

            if ($req_idx < $total - 1) {
                sleep $block->wait if $block->wait;
                check_error_log($block, $rep_idx);
            }

            $req_idx++;
        }
    }

    sleep $block->wait if $block->wait;
    check_error_log($block, $rep_idx);
}

sub check_error_code {
    my ($block, $res, undef, $idx, $need_array) = @_;

    my $name = $block->name;
    my $code = ($res && $res->code) || '';

    if (defined $block->error_code_like) {
        my $re = indexed_value($name, scalar($block->error_code_like),
                               $idx, $need_array);
        Test::More::like($code, qr/$re/sm, "$name - status code ok");

    } elsif (defined $block->error_code) {
        my $expected = indexed_value($name, scalar($block->error_code),
                                     $idx, $need_array);
        Test::More::is($code, $expected, "$name - status code ok");

    } else {
        Test::More::is($code, 200, "$name - status code ok");
    }
}

sub check_raw_response_headers {
    my ($block, undef, $raw_headers, $idx, $need_array) = @_;

    my $name = $block->name;

    if (defined $block->raw_response_headers_like) {
        my $re = indexed_value($name,
                               scalar($block->raw_response_headers_like),
                               $idx, $need_array);
        Test::More::like($raw_headers, qr/$re/s,
                         "$name - raw resp headers like");
    }

    if (defined $block->raw_response_headers_unlike) {
        my $re = indexed_value($name,
                               scalar($block->raw_response_headers_unlike),
                               $idx, $need_array);
        Test::More::unlike($raw_headers, qr/$re/s,
                           "$name - raw resp headers unlike");
    }
}

# "Name: value" per line; "!Name" means the header must be absent.
sub parse_headers {
    my $text = shift;

    my %headers;
    for my $line (split /\n/, $text // '') {
        $line =~ s/^\s+|\s+$//g;
        if ($line =~ s/^!\s*//) {
            $headers{$line} = undef;
            next;
        }
        my ($key, $val) = split /\s*:\s*/, $line, 2;
        $headers{$key} = $val;
    }

    return \%headers;
}

sub expand_server_port {
    my $text = shift;

    $text =~ s/\$ServerPort\b/$Cfg{server_port}/g;
    $text =~ s/\$ServerPortForClient\b/$Cfg{client_port}/g;
    return $text;
}

sub check_response_headers {
    my ($block, $res, $raw_headers, $idx, $need_array) = @_;

    my $name = $block->name;

    if (defined $block->response_headers) {
        my $headers = parse_headers(indexed_value(
            $name, scalar($block->response_headers), $idx, $need_array));

        while (my ($key, $val) = each %$headers) {
            if (!defined $val) {
                Test::More::unlike($raw_headers, qr/^\s*\Q$key\E\s*:/ms,
                    "$name - header $key not present in the raw headers");
                next;
            }

            my $actual = ($res ? $res->header($key) : undef) // '';
            Test::More::is($actual, expand_server_port($val),
                           "$name - header $key ok");
        }

    } elsif (defined $block->response_headers_like) {
        my $headers = parse_headers(indexed_value(
            $name, scalar($block->response_headers_like), $idx,
            $need_array));

        while (my ($key, $val) = each %$headers) {
            my $actual = ($res ? $res->header($key) : undef) // '';
            Test::More::like($actual, qr/^$val$/,
                             "$name - header $key like ok");
        }
    }
}

sub response_content {
    my $res = shift;

    my $content = $res ? $res->content : undef;
    if (defined $content) {
        $content =~ s/^TE: deflate,gzip;q=0\.3\r\n//gms;
        $content =~ s/^Connection: TE, close\r\n//gms;
    }
    return $content;
}

sub check_response_body {
    my ($block, $res, undef, $idx, $need_array, $rep_idx) = @_;

    my $name = $block->name;

    if (defined $block->response_body) {
        my $content = response_content($res);
        my $expected = indexed_value($name, scalar($block->response_body),
                                     $idx, $need_array);
        my $desc = "(repeated req $rep_idx, req $idx)";

        if (ref $expected) {
            return Test::More::like($content, $expected,
                                    "$name - response_body - like $desc");
        }

        if (defined $expected) {
            $expected = expand_env_in_text(expand_server_port($expected),
                                           $name, {});
        }

        return is_str($content, $expected,
                      "$name - response_body - response is expected $desc");
    }

    my $like = defined $block->response_body_like;
    my $type = $like ? 'like' : 'unlike';
    my $cmp = $like ? \&Test::More::like : \&Test::More::unlike;
    my $pats = $like ? $block->response_body_like
                     : $block->response_body_unlike;

    return unless defined $pats;

    my $content = response_content($res);
    my $re = expand_server_port(indexed_value($name, $pats, $idx,
                                              $need_array));
    my $summary = $content // '';
    $summary =~ s/^\s+|\s+$//g;
    $summary =~ s/\n/ /g;
    $summary =~ s/\s{2,}/ /g;

    $cmp->($content, qr/$re/s,
           "$name - response_body_$type - response is expected ($summary)");
}

sub fmt_str {
    my $str = shift;

    chomp $str;
    $str =~ s/"/\\"/g;
    $str =~ s/\r/\\r/g;
    $str =~ s/\n/\\n/g;
    return $str;
}

sub value_contains {
    my ($val, $pat) = @_;

    return $val =~ /\Q$pat\E/ if !ref $val || ref $val eq 'Regexp';
    return scalar grep { value_contains($_, $pat) } @$val
        if ref $val eq 'ARRAY';
    return 0;
}

# Plain text: one pattern per line; eval: a string, qr// or an array.
sub log_patterns {
    my $pats = shift;

    if (!ref $pats) {
        chomp $pats;
        return [split /\n+/, $pats];
    }
    return [$pats] if ref $pats eq 'Regexp';
    return [@$pats];
}

sub line_matches {
    my ($line, $pat) = @_;

    return (ref $pat && $line =~ /$pat/) || $line =~ /\Q$pat\E/;
}

sub check_grep_error_log {
    my ($block, $rep_idx, $lines) = @_;

    my $name = $block->name;
    my $pat = $block->grep_error_log;

    if (!defined $pat) {
        bail_out("$name - No --- grep_error_log defined but "
                 . "--- grep_error_log_out is defined")
            if defined $block->grep_error_log_out;
        return;
    }

    $pat = $pat->[$rep_idx] if ref $pat eq 'ARRAY';

    my $expected = $block->grep_error_log_out;
    bail_out("$name - No --- grep_error_log_out defined but "
             . "--- grep_error_log is defined") unless defined $expected;

    $expected = expand_env_in_text($expected, $name, {});
    $expected = $expected->[$rep_idx] if ref $expected eq 'ARRAY';

    my $matched = '';
    for my $line (@$lines) {
        if ((ref $pat && $line =~ /$pat/) || $line =~ /\Q$pat\E/) {
            $matched .= "$&\n" if $& !~ /\n/;
        }
    }

    return is_str($matched, $expected,
                  "$name - grep_error_log_out (req $rep_idx)");
}

sub check_error_log_patterns {
    my ($block, $rep_idx, $lines) = @_;

    my $name = $block->name;
    my $pats = log_patterns(scalar($block->error_log));

    for my $line (@$lines) {
        for my $pat (@$pats) {
            next unless defined $pat && line_matches($line, $pat);
            Test::More::pass("$name - pattern \"$pat\" matches a line in "
                             . "error.log (req $rep_idx)");
            undef $pat;
        }
    }

    for my $pat (grep { defined } @$pats) {
        Test::More::fail("$name - pattern \"$pat\" should match a line in "
                         . "error.log (req $rep_idx)");
    }
}

sub check_no_error_log_patterns {
    my ($block, $rep_idx, $lines) = @_;

    my $name = $block->name;
    my $pats = log_patterns(scalar($block->no_error_log));
    my %found;

    for my $i (0 .. $#$lines) {
        for my $pat (grep { defined } @$pats) {
            next unless line_matches($lines->[$i], $pat);
            $found{$pat} = 1;

            my $end = min($i + 10, @$lines - 1);
            my $more = join '', @$lines[$i + 1 .. $end - 1];
            Test::More::fail(sprintf "%s - pattern \"%s\" should not match "
                             . "any line in error.log but matches line "
                             . "\"%s\" (req %d)\n%s", $name, fmt_str($pat),
                             fmt_str($lines->[$i]), $rep_idx, $more);
        }
    }

    for my $pat (grep { defined && !$found{$_} } @$pats) {
        Test::More::pass("$name - pattern \"" . fmt_str($pat) . "\" does "
                         . "not match a line in error.log (req $rep_idx)");
    }
}

sub check_error_log {
    my ($block, $rep_idx, $with_stderr) = @_;

    my $name = $block->name;
    my $lines = error_log_data($with_stderr);
    my %warn_on = map { $_ => 1 } qw(alert crit emerg);

    check_grep_error_log($block, $rep_idx, $lines);

    for my $section (qw(error_log no_error_log)) {
        my $pats = $block->$section;
        next unless defined $pats;

        for my $level (keys %warn_on) {
            delete $warn_on{$level} if value_contains($pats, "[$level");
        }

        if ($section eq 'error_log') {
            check_error_log_patterns($block, $rep_idx, $lines);
        } else {
            check_no_error_log_patterns($block, $rep_idx, $lines);
        }
    }

    for my $line (@$lines) {
        if (grep { $line =~ /\[$_\]/ } keys %warn_on) {
            warn "WARNING: $name - " . fmt_str($line) . "\n";
        }

        if ($line =~ /\bAssertion .*?failed\b/) {
            chomp(my $msg = $line);
            Test::More::fail("$name - $msg\n");
        }
    }
}


# "--- init" code runs in its own package, like the real runner runs it
# inside Test::Nginx::Util: the runner's functions are callable without a
# package name, subs of the .t file need main:: (as they do there).
package Test::Nginx::Compat::Init;

{
    no strict 'refs';
    for my $sub (@Test::Nginx::Socket::EXPORT) {
        *{"Test::Nginx::Compat::Init::$sub"} =
            \&{"Test::Nginx::Socket::$sub"};
    }
}

sub run {
    eval shift;
    return $@;
}

1;
