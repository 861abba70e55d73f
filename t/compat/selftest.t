# Self-test of the compat runner (t/compat/Test/Nginx/Socket.pm).
#
# The blocks below exercise every supported feature against stock nginx
# plus Debian's lua module; the plan is exact, so a runner emitting more
# or fewer assertions than the real Test::Nginx fails here. After the
# blocks, small deliberately broken .t files are run in a subprocess to
# prove the runner reports failures (and cannot silently pass).
#
# Run: cd /work/main && prove -It/compat t/compat/selftest.t

use Test::Nginx::Socket;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use IO::Socket::INET;

repeat_each(2);

# Assertions per repeat, block by block (see the counts in each title):
# 4+6+4+5+4+5+8+6+5+4+4+5+4+5+4+1+4+3 = 81. SKIP blocks do not count.
my $per_repeat = 81;
my $subprocess_checks = 12;

plan tests => repeat_each() * $per_repeat + $subprocess_checks;

$ENV{TEST_NGINX_SELFTEST_GREETING} ||= 'hi there';

our $LuaModules = <<'_EOC_';
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value(main_config => $LuaModules)
        unless defined $block->main_config;
    $block->set_value(no_error_log => "[error]\n[alert]")
        unless defined $block->no_error_log;
});

run_tests();

run_subprocess_checks();

sub free_port {
    for (1 .. 100) {
        my $port = 20000 + int rand 20000;
        my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                         LocalPort => $port,
                                         ReuseAddr => 1, Listen => 1);
        next unless $sock;
        close $sock;
        return $port;
    }
    die "no free port\n";
}

# Runs a .t file with the compat runner on its own port and servroot;
# returns (exit code, combined output).
sub run_t_file {
    my ($dir, $name, $text, @runner) = @_;

    my $compat = abs_path(dirname(__FILE__));
    my $file = "$dir/$name";

    open my $out, '>', $file or die "$file: $!";
    print $out $text;
    close $out;

    local $ENV{TEST_NGINX_PORT} = free_port();
    local $ENV{TEST_NGINX_SERVER_PORT};
    local $ENV{TEST_NGINX_SERVROOT} = "$dir/servroot";
    local $ENV{TEST_NGINX_NO_CLEAN};

    @runner = ($^X, "-I$compat") unless @runner;
    my $output = `cd $dir && @runner $name 2>&1`;
    return ($? >> 8, $output);
}

sub run_subprocess_checks {
    my $dir = tempdir(CLEANUP => 1);
    my $compat = abs_path(dirname(__FILE__));

    my ($rc, $out) = run_t_file($dir, 'failing.t', <<'_EOT_',
use Test::Nginx::Socket 'no_plan';
no_shuffle();
run_tests();
__DATA__

=== TEST 1: passes
--- config
    location = /t { return 200 "fine\n"; }
--- request
GET /t
--- response_body
fine

=== TEST 2: wrong body
--- config
    location = /t { return 200 "actual\n"; }
--- request
GET /t
--- response_body
expected

=== TEST 3: forbidden log line present
--- main_config
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
--- config
    location = /t {
        content_by_lua_block {
            ngx.log(ngx.ERR, "selftest: boom")
            ngx.say("ok")
        }
    }
--- request
GET /t
--- response_body
ok
--- no_error_log
selftest: boom

=== TEST 4: must_die but the config is valid
--- config
    location = /t { return 200; }
--- must_die

=== TEST 5: timeout without abort
--- main_config
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
--- config
    location = /t { content_by_lua_block { ngx.sleep(1) ngx.say("x") } }
--- request
GET /t
--- timeout: 200ms
--- ignore_response

=== TEST 6: a sanitizer report in the error log
--- main_config
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
--- config
    location = /t {
        content_by_lua_block {
            ngx.log(ngx.WARN, "==1==ERROR: AddressSanitizer: fake report")
            ngx.say("ok")
        }
    }
--- request
GET /t
--- response_body
ok
_EOT_
        'prove', "-I$compat");

    isnt($rc, 0, 'prove exits non-zero on a failing .t file');

    ($rc, $out) = run_t_file($dir, 'failing.t', do {
        open my $in, '<', "$dir/failing.t" or die $!;
        local $/;
        <$in>;
    });

    my $nok = qr/^not ok \d+ - failing\.t TEST/m;

    like($out, qr/^ok \d+ - failing\.t TEST 1: passes - response_body/m,
         'a passing block still passes');
    like($out, qr/$nok 2: wrong body - response_body/,
         'a wrong body fails');
    like($out, qr/$nok 3: .* - pattern "selftest: boom" should not match/,
         'a forbidden error.log line fails');
    like($out, qr/$nok 4: .* - die as expected/,
         'must_die fails when nginx starts');
    like($out, qr/^not ok \d+ - ERROR: client socket timed out - failing\.t/m,
         'a client timeout without --- abort fails');
    like($out, qr/$nok 6: .* - sanitizer report in \S+error\.log/,
         'a sanitizer report in error.log fails the block');

    ($rc, $out) = run_t_file($dir, 'bail.t', <<'_EOT_');
use Test::Nginx::Socket 'no_plan';
run_tests();
__DATA__

=== TEST 1: undefined variable
--- config
    location = /t { return 200 "$TEST_NGINX_SELFTEST_UNDEFINED"; }
--- request
GET /t
_EOT_

    isnt($rc, 0, 'an undefined $TEST_NGINX_ variable aborts the run');
    like($out, qr/^Bail out!.*No environment TEST_NGINX_SELFTEST_UNDEFINED/m,
         '... with a bail out naming the variable');

    ($rc, $out) = run_t_file($dir, 'only.t', <<'_EOT_');
use Test::Nginx::Socket;
plan tests => blocks() * 2;
run_tests();
__DATA__

=== TEST 1: would fail
--- config
    location = /t { return 500; }
--- request
GET /t

=== TEST 2: the only one
--- ONLY
--- config
    location = /t { return 200 "only\n"; }
--- request
GET /t
--- response_body
only
_EOT_

    is($rc, 0, '--- ONLY runs only that block (plan of 1 block passes)');
    like($out, qr/I found ONLY/, '--- ONLY warns');

    check_asan_preload($dir);
}

# Stock nginx under ASAN (TEST_NGINX_LD_PRELOAD) must pass: its exit-time
# leaks are suppressed by t/compat/lsan.supp, and LD_PRELOAD reaches it.
sub check_asan_preload {
    my $dir = shift;

    chomp(my $libasan = `gcc -print-file-name=libasan.so 2>/dev/null`);

    SKIP: {
        skip 'no libasan.so', 1 unless $libasan && -e $libasan;

        local $ENV{TEST_NGINX_LD_PRELOAD} = $libasan;
        my ($rc, $out) = run_t_file($dir, 'asan.t', <<'_EOT_');
use Test::Nginx::Socket tests => 2;
run_tests();
__DATA__

=== TEST 1: LD_PRELOAD reaches nginx
--- main_config
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
--- config
    location = /t {
        content_by_lua_block { ngx.say(os.getenv("LD_PRELOAD")) }
    }
--- request
GET /t
--- response_body_like: libasan
_EOT_

        is($rc, 0, 'stock nginx under ASAN passes (no false sanitizer '
                   . 'report, LD_PRELOAD set)') or diag($out);
    }
}

__DATA__

=== TEST 1: return with a body; default no_error_log (4)
--- config
    location = /t { return 200 "hello\n"; }
--- request
GET /t
--- response_body
hello



=== TEST 2: error_code, add_header, absent header, env expansion (6)
--- config
    location = /t {
        add_header X-Greeting "$TEST_NGINX_SELFTEST_GREETING" always;
        return 403 "forbidden\n";
    }
--- request
GET /t
--- error_code: 403
--- response_headers
X-Greeting: hi there
!X-Absent
--- response_body
forbidden



=== TEST 3: error_page to a named location, *_like (4)
--- config
    error_page 404 = @missing;
    location @missing { return 410 "gone: $uri\n"; }
    location = /t { return 404; }
--- request
GET /t
--- error_code_like: ^41\d$
--- response_body_like: ^gone: /t$



=== TEST 4: more_headers, response_headers_like, response_body_unlike (5)
--- config
    location = /t {
        add_header X-Echo "$http_x_foo" always;
        return 200 "host=$host\n";
    }
--- request
GET /t
--- more_headers
X-Foo: bar-42
--- response_headers_like
X-Echo: bar-\d+
--- response_body_unlike: \$host



=== TEST 5: request body gets a Content-Length (lua) (4)
--- config
    location = /echo {
        content_by_lua_block {
            ngx.req.read_body()
            ngx.say(ngx.var.request_method, " ",
                    ngx.var.http_content_length, " [",
                    ngx.req.get_body_data(), "]")
        }
    }
--- request
POST /echo
hello world
--- response_body
POST 11 [hello world]



=== TEST 6: chunked response from lua is decoded; error_log (5)
--- config
    location = /chunks {
        content_by_lua_block {
            for i = 1, 3 do
                ngx.print("part", i, ";")
                ngx.flush(true)
            end
            ngx.log(ngx.WARN, "selftest: sent 3 chunks")
        }
    }
--- request
GET /chunks
--- response_headers
Transfer-Encoding: chunked
--- response_body chomp
part1;part2;part3;
--- error_log
selftest: sent 3 chunks
--- no_error_log
[error]



=== TEST 7: pipelined requests share one connection (8)
--- config
    location = /a { return 200 "a:$connection_requests\n"; }
    location = /b { return 200 "b:$connection_requests\n"; }
--- pipelined_requests eval
["GET /a", "GET /b"]
--- response_body eval
["a:1\n", "b:2\n"]



=== TEST 8: an array of requests, one expectation each (6)
--- config
    location = /ok { return 200 "ok\n"; }
    location = /nope { return 404; }
--- request eval
["GET /ok", "GET /nope"]
--- error_code eval
[200, 404]
--- response_body_like eval
["^ok\$", "404 Not Found"]
--- no_error_log
[alert]



=== TEST 9: grep_error_log (5)
--- config
    location = /t {
        content_by_lua_block {
            ngx.log(ngx.WARN, "step=1")
            ngx.log(ngx.WARN, "step=2")
            ngx.say("done")
        }
    }
--- request
GET /t
--- response_body
done
--- grep_error_log eval: qr/step=\d/
--- grep_error_log_out
step=1
step=2



=== TEST 10: user_files land in html/, with env expansion (4)
--- config
--- user_files
>>> sub/hello.txt
greeting: $TEST_NGINX_SELFTEST_GREETING
--- request
GET /sub/hello.txt
--- response_body
greeting: hi there



=== TEST 11: init runs Perl code before the requests (4)
--- config
--- init
open my $fh, '>', html_dir() . '/from-init.txt' or die $!;
print $fh "written by init\n";
close $fh;
--- request
GET /from-init.txt
--- response_body
written by init



=== TEST 12: wait lets a late log line arrive before the log checks (5)
--- config
    location = /t {
        content_by_lua_block {
            ngx.timer.at(0.3, function()
                ngx.log(ngx.WARN, "selftest: late timer fired")
            end)
            ngx.say("scheduled")
        }
    }
--- request
GET /t
--- response_body
scheduled
--- wait: 0.5
--- error_log
selftest: late timer fired



=== TEST 13: per-block log_level (4)
--- config
    location = /t { return 200 "quiet\n"; }
--- log_level: warn
--- request
GET /t
--- response_body
quiet
--- no_error_log
[debug]
[info]



=== TEST 14: the default log level is debug (5)
--- config
    location = /t { return 200 "chatty\n"; }
--- request
GET /t
--- response_body
chatty
--- error_log
[debug]



=== TEST 15: raw_request is sent as is (4)
--- config
    location = /raw { return 200 "proto=$server_protocol\n"; }
--- raw_request eval
"GET /raw HTTP/1.0\r\nHost: localhost\r\n\r\n"
--- response_body
proto=HTTP/1.0



=== TEST 16: a client timeout with abort is not a failure (1)
--- config
    location = /slow {
        content_by_lua_block { ngx.sleep(1) ngx.say("late") }
    }
--- request
GET /slow
--- timeout: 200ms
--- abort
--- ignore_response
--- no_error_log
[alert]



=== TEST 17: must_die on an unknown directive (4)
--- config
    location = /t { no_such_directive on; }
--- must_die
--- suppress_stderr
--- error_log
[emerg]
unknown directive "no_such_directive"
--- no_error_log
[alert]



=== TEST 18: SKIP drops a block before counting
--- SKIP
--- config
    location = /t { return 500; }
--- request
GET /t



=== TEST 19: skip_eval skips the given number of assertions (3)
--- skip_eval: 3: 1
--- config
    location = /t { return 500; }
--- request
GET /t
--- response_body
never checked
