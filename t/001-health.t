# GET /api/v1/health: a real query, 503 envelope while Postgres is down and
# recovery without restarting nginx.
use Test::Nginx::Socket 'no_plan';

repeat_each(1);
no_shuffle();
no_root_location();

$ENV{TEST_NGINX_LIAUTO_DSN} ||= 'dbname=liauto_test';
$ENV{TEST_NGINX_LIAUTO_ROOT} ||= '.';
$ENV{TEST_NGINX_LIAUTO_PGCTL} ||= 'pg_ctlcluster 15 regress';

our $http_config = <<'_EOC_';
    liauto_postgres "$TEST_NGINX_LIAUTO_DSN";
    lua_package_path "$TEST_NGINX_LIAUTO_ROOT/t/lib/?.lua;;";
_EOC_

run_tests();

__DATA__

=== TEST 1: health answers after a real database round trip
--- http_config eval: $::http_config
--- config
    location /api/ { liauto_api; }
--- request
GET /api/v1/health
--- response_headers
Content-Type: application/json
--- response_body_like chomp
^\{"status": "ok", "database": "ok", "workers_alive": \d+, "schema_version": "\d{4}"\}$
--- no_error_log
[error]



=== TEST 2: HEAD gets the headers of GET and no body
--- http_config eval: $::http_config
--- config
    location /api/ { liauto_api; }
--- request
HEAD /api/v1/health
--- response_headers
Content-Type: application/json
--- response_body chomp
--- no_error_log
[error]



=== TEST 3: database stopped → 503 envelope; started again → 200, same nginx
--- http_config eval: $::http_config
--- config
    location /api/ { liauto_api; }
    location = /t {
        content_by_lua_block {
            local http = require "liauto.http"
            local pgctl = "$TEST_NGINX_LIAUTO_PGCTL"

            local res = http.request("GET", "/api/v1/health")
            ngx.say("up: ", res.status)

            http.run(pgctl .. " stop -m fast")
            res = http.request("GET", "/api/v1/health")
            ngx.say("down: ", res.status, " ", res.headers["content-type"])
            ngx.say(res.body)

            http.run(pgctl .. " start")
            -- the pool backs off briefly after a failed connect: retry
            local deadline = ngx.now() + 10
            repeat
                res = http.request("GET", "/api/v1/health")
                if res.status == 200 then break end
                ngx.sleep(0.1)
            until ngx.now() > deadline
            ngx.say("back: ", res.status)
        }
    }
--- request
GET /t
--- timeout: 30
--- response_body_like
^up: 200
down: 503 application/json
\{"code":"SERVICE_UNAVAILABLE","message":"the database is not available","details":\{"status":"error","database":"unreachable","reason":"(?:[^"\\]|\\.)+"\}\}
back: 200$
--- error_log
liauto: health check failed: database unreachable
