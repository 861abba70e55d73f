# GET /api/v1/metrics: Prometheus text.  Request and query counters live in
# shared memory, so with two workers every scrape, whichever worker takes
# it, counts the requests of both; the product's gauges come from
# api.metrics(); with Postgres stopped the scrape still answers.
use Test::Nginx::Socket 'no_plan';

repeat_each(1);
no_shuffle();
no_root_location();
workers(2);
master_on();

$ENV{TEST_NGINX_LIAUTO_DSN} ||= 'dbname=liauto_test';
$ENV{TEST_NGINX_LIAUTO_ROOT} ||= '.';
$ENV{TEST_NGINX_LIAUTO_PGCTL} ||= 'pg_ctlcluster 15 regress';

# an unprocessed delivery two hours old; the backlog as Postgres counts it
our $backlog = `psql '$ENV{TEST_NGINX_LIAUTO_DSN}' -qAt -v ON_ERROR_STOP=1 <<'SQL'
DELETE FROM liauto.webhook_events WHERE delivery_key = 't005-old';
INSERT INTO liauto.webhook_events (source, delivery_key, body, received_at)
VALUES ('unipile_messaging', 't005-old', '{}', now() - interval '2 hours');
SELECT count(*) FROM liauto.webhook_events WHERE processed_at IS NULL;
SQL`;
chomp $backlog;
die "fixtures failed" unless $backlog =~ /^\d+$/;

our $http_config = <<'_EOC_';
    liauto_postgres "$TEST_NGINX_LIAUTO_DSN";
    lua_package_path "$TEST_NGINX_LIAUTO_ROOT/t/lib/?.lua;;";
_EOC_

run_tests();

__DATA__

=== TEST 1: every scrape counts the requests of both workers, and each query
--- http_config eval: $::http_config
--- config
    location /api/ { liauto_api; }
    location = /t {
        content_by_lua_block {
            local http = require "liauto.http"

            for i = 1, 20 do http.request("GET", "/api/v1/health") end
            for i = 1, 3 do http.request("GET", "/api/v1/nope") end

            local health = 'liauto_http_requests_total{method="GET",'
                           .. 'route="/api/v1/health",code="2xx"} '
            local wrong = 0
            for i = 1, 10 do
                local b = http.request("GET", "/api/v1/metrics").body
                local ok = tonumber(b:match(
                    'liauto_pg_queries_total{outcome="ok"} (%d+)'))
                if b:match(health .. "(%d+)") ~= "20"
                   or b:match('liauto_http_requests_total{route='
                              .. '"unmatched",code="4xx"} (%d+)') ~= "3"
                   or b:match('liauto_http_request_duration_seconds_count{'
                              .. 'method="GET",route="/api/v1/health"} '
                              .. '(%d+)') ~= "20"
                   or b:match('_bucket{method="GET",route="/api/v1/health",'
                              .. 'le="%+Inf"} (%d+)') ~= "20"
                   -- 20 health queries, then this scrape's and those before
                   or ok ~= 20 + i
                then
                    wrong = wrong + 1
                    ngx.say(b)
                end
            end
            ngx.say("scrapes off: ", wrong)
        }
    }
--- request
GET /t
--- response_body
scrapes off: 0
--- no_error_log
[error]



=== TEST 2: the product's gauges are Postgres's numbers
--- http_config eval: $::http_config
--- config
    location /api/ { liauto_api; }
--- request
GET /api/v1/metrics
--- response_headers
Content-Type: text/plain; version=0.0.4; charset=utf-8
--- response_body_like eval
[qr/^# HELP liauto_http_requests_total .*
\# TYPE liauto_http_requests_total counter\n/s,
 qr/\nliauto_database_up 1\n/,
 qr/\nliauto_webhook_backlog $::backlog\n/,
 qr/\nliauto_webhook_backlog_age_seconds (?:7[2-9]\d\d|[89]\d{3}|\d{5,})(?:\.\d+)?\n/,
 qr/\nliauto_actions\{state="needs_review"\} \d+\n/,
 qr/\nliauto_budget_used_today\{kind="invite"\} \d+\n/,
 qr/\n# TYPE liauto_outbox gauge\nliauto_outbox\{kind="email",state="pending"\} \d+\n/]



=== TEST 3: Postgres stopped: the scrape still answers, database_up 0
--- http_config eval: $::http_config
--- config
    location /api/ { liauto_api; }
    location = /t {
        content_by_lua_block {
            local http = require "liauto.http"
            local pgctl = "$TEST_NGINX_LIAUTO_PGCTL"

            http.run(pgctl .. " stop -m fast")
            local res = http.request("GET", "/api/v1/metrics")
            ngx.say("down: ", res.status, " ",
                    res.body:match("\nliauto_database_up (%d)\n"), " ",
                    res.body:match('liauto_pg_queries_total{outcome='
                                   .. '"unavailable"} (%d+)') ~= "0"
                    or res.body:match('liauto_pg_queries_total{outcome='
                                      .. '"broken"} (%d+)') ~= "0")

            http.run(pgctl .. " start")
            local deadline = ngx.now() + 10
            repeat
                res = http.request("GET", "/api/v1/health")
                if res.status == 200 then break end
                ngx.sleep(0.1)
            until ngx.now() > deadline
            res = http.request("GET", "/api/v1/metrics")
            ngx.say("back: ", res.status, " ",
                    res.body:match("\nliauto_database_up (%d)\n"))
        }
    }
--- request
GET /t
--- timeout: 30
--- response_body
down: 200 0 true
back: 200 1
