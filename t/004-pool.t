# The per-worker libpq pool: a slow query never blocks the nginx worker,
# an exhausted pool queues and then serves or times out with a 503
# envelope, a slow query times out with a 504 envelope, and an aborted
# client leaves the pool healthy.  A psql session holding a lock on the
# table the health query reads stands in for a slow query.
use Test::Nginx::Socket 'no_plan';

repeat_each(1);
no_shuffle();
no_root_location();

$ENV{TEST_NGINX_LIAUTO_DSN} ||= 'dbname=liauto_test';
$ENV{TEST_NGINX_LIAUTO_ROOT} ||= '.';

our $http_config = <<'_EOC_';
    lua_package_path "$TEST_NGINX_LIAUTO_ROOT/t/lib/?.lua;;";
    init_by_lua_block {
        local http = require "liauto.http"
        local dsn = "$TEST_NGINX_LIAUTO_DSN"

        -- holds an exclusive lock on the table api.health() reads
        function hold_lock(seconds)
            http.spawn("psql '" .. dsn .. "' -c 'LOCK TABLE"
                       .. " liauto.worker_heartbeats IN ACCESS EXCLUSIVE MODE;"
                       .. " SELECT pg_sleep(" .. seconds .. ")'")
            local deadline = ngx.now() + 5
            repeat
                local f = io.popen("psql '" .. dsn .. "' -Atc \"SELECT count(*)"
                    .. " FROM pg_locks WHERE granted AND mode ="
                    .. " 'AccessExclusiveLock' AND relation ="
                    .. " 'liauto.worker_heartbeats'::regclass\"")
                local n = tonumber(f:read("*l"))
                f:close()
                if n == 1 then return end
                ngx.sleep(0.05)
            until ngx.now() > deadline
            error("the lock was never taken")
        end

        function psql(sql)
            assert(os.execute("psql -q '" .. dsn .. "' -c '" .. sql .. "'"))
        end

        function backends()
            local f = io.popen("psql '" .. dsn .. "' -Atc \"SELECT count(*)"
                .. " FROM pg_stat_activity WHERE application_name ="
                .. " 'liauto-nginx'\"")
            local n = tonumber(f:read("*l"))
            f:close()
            return n
        end
    }
_EOC_

run_tests();

__DATA__

=== TEST 1: a request held up by a slow query does not delay another one
--- http_config eval
"liauto_postgres \"\$TEST_NGINX_LIAUTO_DSN\";\n$::http_config"
--- config
    location /api/ { liauto_api; }
    location = /t {
        content_by_lua_block {
            local http = require "liauto.http"
            local order = {}

            hold_lock(2)

            local slow = ngx.thread.spawn(function ()
                local res = http.request("GET", "/api/v1/health")
                order[#order + 1] = "slow " .. res.status
            end)
            local fast = ngx.thread.spawn(function ()
                ngx.sleep(0.2)
                local res = http.request("GET", "/api/v1/nope")
                order[#order + 1] = "fast " .. res.status
            end)
            ngx.thread.wait(slow)
            ngx.thread.wait(fast)
            ngx.say(table.concat(order, ", "))
        }
    }
--- request
GET /t
--- timeout: 15
--- response_body
fast 404, slow 200
--- no_error_log
[error]



=== TEST 2: an exhausted pool queues requests, then serves them all
--- http_config eval
"liauto_postgres \"\$TEST_NGINX_LIAUTO_DSN\";\nliauto_postgres_pool_size 1;\n$::http_config"
--- config
    location /api/ { liauto_api; }
    location = /t {
        content_by_lua_block {
            local http = require "liauto.http"
            local statuses = {}

            hold_lock(1)

            local threads = {}
            for i = 1, 5 do
                threads[i] = ngx.thread.spawn(function ()
                    local res = http.request("GET", "/api/v1/health")
                    statuses[i] = res.status
                end)
            end
            for i = 1, 5 do
                ngx.thread.wait(threads[i])
            end
            ngx.say(table.concat(statuses, " "))
            ngx.say("backends: ", backends())
        }
    }
--- request
GET /t
--- timeout: 15
--- response_body
200 200 200 200 200
backends: 1
--- no_error_log
[error]



=== TEST 3: a request that cannot get a connection in time gets a 503 envelope
--- http_config eval
"liauto_postgres \"\$TEST_NGINX_LIAUTO_DSN\";\nliauto_postgres_pool_size 1;\nliauto_postgres_connect_timeout 300ms;\n$::http_config"
--- config
    location /api/ { liauto_api; }
    location = /t {
        content_by_lua_block {
            local http = require "liauto.http"
            local results = {}

            hold_lock(2)

            local first = ngx.thread.spawn(function ()
                results[1] = http.request("GET", "/api/v1/health")
            end)
            local second = ngx.thread.spawn(function ()
                ngx.sleep(0.1)
                results[2] = http.request("GET", "/api/v1/health")
            end)
            ngx.thread.wait(first)
            ngx.thread.wait(second)
            ngx.say("first: ", results[1].status)
            ngx.say("second: ", results[2].status, " ", results[2].body)
        }
    }
--- request
GET /t
--- timeout: 15
--- response_body_like
^first: 200
second: 503 \{"code":"SERVICE_UNAVAILABLE","message":"the database is not available","details":\{"status":"error","database":"unreachable","reason":"no postgres connection became available in time"\}\}$



=== TEST 4: a query over liauto_postgres_query_timeout gets a 504 envelope; the pool recovers
--- http_config eval
"liauto_postgres \"\$TEST_NGINX_LIAUTO_DSN\";\nliauto_postgres_pool_size 1;\nliauto_postgres_query_timeout 300ms;\n$::http_config"
--- config
    location /api/ { liauto_api; }
    location = /t {
        content_by_lua_block {
            local http = require "liauto.http"

            hold_lock(1)
            local res = http.request("GET", "/api/v1/health")
            ngx.say(res.status, " ", res.body)

            ngx.sleep(1.2)
            res = http.request("GET", "/api/v1/health")
            ngx.say("after: ", res.status)
        }
    }
--- request
GET /t
--- timeout: 15
--- response_body_like
^504 \{"code":"GATEWAY_TIMEOUT","message":"the database did not answer in time","details":\{"status":"error","database":"timeout","reason":"postgres query timed out"\}\}
after: 200$
--- error_log
liauto: postgres: postgres query timed out



=== TEST 5: a client that goes away mid-query leaves the pool usable
--- http_config eval
"liauto_postgres \"\$TEST_NGINX_LIAUTO_DSN\";\nliauto_postgres_pool_size 1;\n$::http_config"
--- config
    location /api/ { liauto_api; }
    location = /t {
        content_by_lua_block {
            local http = require "liauto.http"

            hold_lock(1)
            local res = http.request("GET", "/api/v1/health",
                                     { abort_after = 200 })
            ngx.say("aborted: ", tostring(res.aborted))

            ngx.sleep(1.2)
            res = http.request("GET", "/api/v1/health")
            ngx.say("after: ", res.status)
            ngx.say("backends: ", backends())
        }
    }
--- request
GET /t
--- timeout: 15
--- response_body
aborted: true
after: 200
backends: 1
--- no_error_log
[error]
[alert]



=== TEST 6: a statement is prepared once per connection: a text that fails to prepare answers its error and is prepared again later; a prepared one follows a renamed function
--- http_config eval
"liauto_postgres \"\$TEST_NGINX_LIAUTO_DSN\";\nliauto_postgres_pool_size 1;\n$::http_config"
--- config
    location /api/ { liauto_api; }
    location = /t {
        content_by_lua_block {
            local http = require "liauto.http"
            local function health(what)
                local res = http.request("GET", "/api/v1/health")
                ngx.say(what, ": ", res.status)
            end

            psql("ALTER FUNCTION api.health() RENAME TO health_away")
            health("missing")
            psql("ALTER FUNCTION api.health_away() RENAME TO health")
            health("back")
            health("again")
            psql("ALTER FUNCTION api.health() RENAME TO health_away")
            health("renamed")
            psql("ALTER FUNCTION api.health_away() RENAME TO health")
            health("restored")
            ngx.say("backends: ", backends())
        }
    }
--- request
GET /t
--- timeout: 15
--- response_body
missing: 503
back: 200
again: 200
renamed: 503
restored: 200
backends: 1
--- error_log
function api.health() does not exist
--- no_error_log
[alert]
