# The webhook edge (issue 5): POST /api/v1/webhooks/unipile/{users,
# messaging,account-status} as conf/liauto-api.conf serves them.  A delivery
# with the shared secret header (or a valid Standard Webhooks signature) is
# stored raw, once per delivery key; every refused one (auth, size, JSON)
# gets its status and envelope and leaves liauto.webhook_events as it was.
# GET /api/v1/webhooks/health counts what arrived.  Last, the simulator
# (t/sim) delivers real Unipile payloads to the module.
use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use Liauto::Token ();
use File::Temp ();
use MIME::Base64 ();

repeat_each(1);
no_shuffle();
no_root_location();
# TEST 8 has 70 deliveries in flight at once (2 connections each)
worker_connections(1024);

$ENV{TEST_NGINX_LIAUTO_DSN} ||= 'dbname=liauto_test';
$ENV{TEST_NGINX_LIAUTO_ROOT} ||= '.';

# the shared secret (with the newline `echo` leaves) and the Standard
# Webhooks key of the spec's known-answer vector
our $dir = File::Temp::tempdir(CLEANUP => 1);
our $secret = 't040 shared secret 0123456789abcdef';
our $whsec = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
sub write_file {
    my ($name, $text) = @_;
    open my $fh, '>', "$dir/$name" or die "$dir/$name: $!";
    print $fh $text;
    close $fh;
    return "$dir/$name";
}
$ENV{TEST_NGINX_T040_SECRET_FILE} = write_file('secret', "$secret\n");
$ENV{TEST_NGINX_T040_SIGNING_FILE} = write_file('signing', "$whsec\n");
$ENV{TEST_NGINX_T040_EMPTY_FILE} = write_file('empty', "\n");
$ENV{TEST_NGINX_T040_SECRET} = $secret;
$ENV{TEST_NGINX_T040_DIR} = $dir;
# event ids of this run: the suite may run again on the same database
$ENV{TEST_NGINX_T040_RUN} = time . "p$$";
$ENV{TEST_NGINX_T040_KEY_HEX} = unpack 'H*',
    MIME::Base64::decode_base64(substr $whsec, 6);
($ENV{TEST_NGINX_T040_ADMIN} = Liauto::Token::bearer({
    sub => '00000000-0000-4000-8000-000000000040', role => 'admin' }))
    =~ s/^Authorization: Bearer //;

# test helpers, in the init_by_lua_block of every http_config below
our $helpers = <<'_EOC_';
        http = require "liauto.http"
        json = require "json"
        local dsn = "$TEST_NGINX_LIAUTO_DSN"

        local function q(s)
            return "'" .. s:gsub("'", "'\\''") .. "'"
        end

        -- the first line psql prints for a query (blocking: tests only)
        function sql(query)
            local f = io.popen("psql " .. q(dsn) .. " -qAtX -c " .. q(query))
            local out = f:read("*a")
            f:close()
            return (out:gsub("\n$", ""))
        end

        function rows()
            return tonumber(sql("SELECT count(*) FROM liauto.webhook_events"))
        end

        -- POST a delivery: no Content-Type, as Unipile sends them
        function deliver(source, body, headers)
            return assert(http.request("POST",
                "/api/v1/webhooks/unipile/" .. source,
                { headers = headers or {}, body = body }))
        end

        function auth()
            return { ["Unipile-Auth"] = "$TEST_NGINX_T040_SECRET" }
        end

        -- Standard Webhooks: base64(HMAC-SHA256(key, id.ts.body))
        function sign(id, ts, body)
            local f = io.popen("printf '%s' " .. q(id .. "." .. ts .. "."
                .. body) .. " | openssl dgst -sha256 -mac HMAC -macopt"
                .. " hexkey:$TEST_NGINX_T040_KEY_HEX -binary | base64")
            local sig = f:read("*l")
            f:close()
            return sig
        end

        -- "status code message details" of an answer
        function show(res)
            local b = json.decode(res.body)
            if b.code then
                return res.status .. " " .. b.code .. " " .. b.message
                       .. " " .. json.encode(b.details)
            end
            return res.status .. " " .. b.status
        end

        RUN = "$TEST_NGINX_T040_RUN"

        -- a message_received whose message_id is id-RUN
        function message(id, extra)
            return '{"event":"message_received","account_id":"acc-t040",'
                .. '"message_id":"' .. id .. '-' .. RUN .. '",'
                .. '"message":"hi"' .. (extra or "") .. '}'
        end

        -- prints s with this run's token as RUN
        function say(...)
            ngx.say((table.concat({ ... }):gsub(RUN, "RUN")))
        end
_EOC_

our $http_config = <<"_EOC_";
    liauto_postgres "\$TEST_NGINX_LIAUTO_DSN";
    liauto_jwt_key_file \$TEST_NGINX_LIAUTO_ROOT/t/data/jwt-hs256.key;
    liauto_webhook_secret_file \$TEST_NGINX_T040_SECRET_FILE;
    liauto_webhook_signing_key_file \$TEST_NGINX_T040_SIGNING_FILE;
    map \$uri \$liauto_home {
        default \$TEST_NGINX_LIAUTO_ROOT;
    }
    lua_package_path "\$TEST_NGINX_LIAUTO_ROOT/t/lib/?.lua;\$TEST_NGINX_LIAUTO_ROOT/t/sim/lua/?.lua;;";
    init_by_lua_block {
$helpers
    }
_EOC_

# the module and the simulator in one nginx: the simulator delivers its
# webhooks to the module's location, with the secret as Unipile-Auth
our $sim_http_config = <<"_EOC_";
    liauto_postgres "\$TEST_NGINX_LIAUTO_DSN";
    liauto_webhook_secret_file \$TEST_NGINX_T040_SECRET_FILE;
    map \$uri \$liauto_home {
        default \$TEST_NGINX_LIAUTO_ROOT;
    }
    lua_package_path "\$TEST_NGINX_LIAUTO_ROOT/t/sim/lua/?.lua;\$TEST_NGINX_LIAUTO_ROOT/t/lib/?.lua;;";
    include \$TEST_NGINX_LIAUTO_ROOT/t/sim/http.conf;
    init_by_lua_block {
        require("config").init({
            api_key = "sim-key",
            webhook_url_base = "http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/api/v1/webhooks/unipile",
            webhook_secret = "\$TEST_NGINX_T040_SECRET",
        })
$helpers
    }
_EOC_

our $api_conf = <<'_EOC_';
    include $TEST_NGINX_LIAUTO_ROOT/conf/liauto-api.conf;
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("http_config", $::http_config)
        unless defined $block->http_config;
    $block->set_value("config", $::api_conf . $block->config)
        if defined $block->config && $block->config =~ /content_by_lua/;
    $block->set_value("request", "GET /t") unless defined $block->request;
    $block->set_value("timeout", 10) unless defined $block->timeout;
    $block->set_value("no_error_log", "[alert]")
        unless defined $block->no_error_log || defined $block->must_die;
});

run_tests();

__DATA__

=== TEST 1: a message_received with the secret and no Content-Type is stored raw, once
--- config
    location = /t {
        content_by_lua_block {
            local n0 = rows()
            local body = message("t040-m1", ',"is_sender":false,"x":"é"')
            local res = deliver("messaging", body, auth())
            local b = json.decode(res.body)
            ngx.say(res.status, " ", b.status, " ",
                    b.id:match("^%x+%-%x+%-%x+%-%x+%-%x+$") ~= nil)
            ngx.say("rows +", rows() - n0)
            say(sql("SELECT source || ' ' || delivery_key || ' '"
                        .. " || (body = " .. "'" .. body .. "')"
                        .. " || ' ' || (headers ->> 'liauto-auth')"
                        .. " || ' ' || (headers ? 'content-type')"
                        .. " FROM liauto.webhook_events WHERE id = '"
                        .. b.id .. "'"))
            -- the secret is kept nowhere
            ngx.say(sql("SELECT count(*) FROM liauto.webhook_events WHERE"
                        .. " headers::text LIKE '%t040 shared secret%'"))
        }
    }
--- response_body
200 accepted true
rows +1
unipile_messaging messaging:message_received:t040-m1-RUN true secret false
0



=== TEST 2: a retry is a duplicate: one row; NOTIFY liauto_webhooks only for a new row while no other waits
--- config
    location = /t {
        content_by_lua_block {
            local out = "$TEST_NGINX_T040_DIR/notify.txt"
            os.remove(out)
            http.spawn("(echo 'LISTEN liauto_webhooks;'; sleep 2;"
                       .. " echo 'SELECT 1;') | psql '"
                       .. "$TEST_NGINX_LIAUTO_DSN' -qAtX > " .. out)
            local deadline = ngx.now() + 5
            repeat
                ngx.sleep(0.05)
            until sql("SELECT count(*) FROM pg_stat_activity WHERE query"
                      .. " = 'LISTEN liauto_webhooks;'") == "1"
                  or ngx.now() > deadline

            -- nothing waits for the processor: the next new row wakes it
            sql("UPDATE liauto.webhook_events SET processed_at = now()"
                .. " WHERE processed_at IS NULL")
            local n0 = rows()
            local a = json.decode(deliver("messaging", message("t040-m2"),
                                          auth()).body)
            local again = deliver("messaging", message("t040-m2"), auth())
            -- same message id, other bytes: still the same delivery
            local variant = deliver("messaging",
                                    message("t040-m2", ',"retry":1'), auth())
            local b = json.decode(deliver("users", '{"event":"new_relation",'
                .. '"account_id":"acc-t040","user_provider_id":"ACoAA' .. RUN .. '"}',
                auth()).body)
            ngx.say(a.status, " ", show(again), " ", show(variant), " ",
                    b.status)
            ngx.say("rows +", rows() - n0)

            ngx.sleep(2.5)
            local f = io.open(out)
            local text = f:read("*a")
            f:close()
            local ids = {}
            for id in text:gmatch('with payload "([^"]+)"') do
                ids[#ids + 1] = id
            end
            -- b came while a waited: the busy processor sweeps it up
            ngx.say(#ids, " ", ids[1] == a.id)
        }
    }
--- response_body
accepted 200 duplicate 200 duplicate accepted
rows +2
1 true



=== TEST 3: a wrong secret, a missing one, the secret of another header: 401, nothing stored
--- config
    location = /t {
        content_by_lua_block {
            local n0 = rows()
            for _, h in ipairs({
                { ["Unipile-Auth"] = "$TEST_NGINX_T040_SECRET" .. "x" },
                { ["Unipile-Auth"] = "" },
                {},
                { ["X-Unipile-Auth"] = "$TEST_NGINX_T040_SECRET" },
            }) do
                ngx.say(show(deliver("messaging", message("t040-m3"), h)))
            end
            ngx.say("rows +", rows() - n0)
        }
    }
--- response_body
401 UNAUTHORIZED webhook authentication failed {"reason":"missing or wrong secret header"}
401 UNAUTHORIZED webhook authentication failed {"reason":"missing or wrong secret header"}
401 UNAUTHORIZED webhook authentication failed {"reason":"missing or wrong secret header"}
401 UNAUTHORIZED webhook authentication failed {"reason":"missing or wrong secret header"}
rows +0
--- error_log
liauto: webhook delivery to "/api/v1/webhooks/unipile/messaging" answered 401: missing or wrong secret header



=== TEST 4: a valid Standard Webhooks signature is accepted (also next to a stale one); webhook-id is the key
--- config
    location = /t {
        content_by_lua_block {
            local n0 = rows()
            local body = message("t040-m4")
            local ts = tostring(ngx.time())
            local sig = sign("msg_t040_4" .. RUN, ts, body)
            local res = deliver("messaging", body, {
                ["webhook-id"] = "msg_t040_4" .. RUN, ["webhook-timestamp"] = ts,
                ["webhook-signature"] = "v1,bm90IGl0IGF0IGFsbCBub3QgaXQgYXQgYWxsIG5vdCBp"
                                        .. " v1," .. sig })
            local b = json.decode(res.body)
            ngx.say(res.status, " ", b.status)
            say(sql("SELECT delivery_key || ' ' || (headers ->>"
                        .. " 'liauto-auth') || ' ' || (headers ->>"
                        .. " 'webhook-id') FROM liauto.webhook_events"
                        .. " WHERE id = '" .. b.id .. "'"))
            ngx.say("rows +", rows() - n0)
        }
    }
--- response_body
200 accepted
webhook-id:msg_t040_4RUN signature msg_t040_4RUN
rows +1



=== TEST 5: bad signatures, a stale or future timestamp, missing headers: 401, nothing stored
--- config
    location = /t {
        content_by_lua_block {
            local n0 = rows()
            local body = message("t040-m5")
            local now = ngx.time()
            local function try(id, ts, sig, b)
                local res = deliver("messaging", b or body, {
                    ["webhook-id"] = id, ["webhook-timestamp"] = ts,
                    ["webhook-signature"] = sig })
                ngx.say(show(res))
            end
            local ts = tostring(now)
            local good = sign("msg_t040_5", ts, body)
            -- one byte of the body changed
            try("msg_t040_5", ts, "v1," .. good, body:gsub("hi", "hI"))
            -- the signature truncated, and of another id
            try("msg_t040_5", ts, "v1," .. good:sub(1, 43))
            try("msg_t040_5", ts, "v1," .. sign("msg_other", ts, body))
            -- v1a (ed25519) is not ours to check
            try("msg_t040_5", ts, "v1a," .. good)
            -- signed correctly, but 6 min old, or 6 min ahead (a minute
            -- beyond the tolerance, however slowly this block runs)
            local old = tostring(now - 360)
            try("msg_t040_5", old, "v1," .. sign("msg_t040_5", old, body))
            local ahead = tostring(now + 360)
            try("msg_t040_5", ahead, "v1," .. sign("msg_t040_5", ahead, body))
            try("msg_t040_5", "soon", "v1," .. good)
            try(nil, ts, "v1," .. good)
            ngx.say("rows +", rows() - n0)
        }
    }
--- response_body
401 UNAUTHORIZED webhook authentication failed {"reason":"no valid webhook-signature"}
401 UNAUTHORIZED webhook authentication failed {"reason":"no valid webhook-signature"}
401 UNAUTHORIZED webhook authentication failed {"reason":"no valid webhook-signature"}
401 UNAUTHORIZED webhook authentication failed {"reason":"no valid webhook-signature"}
401 UNAUTHORIZED webhook authentication failed {"reason":"webhook-timestamp is outside the tolerance"}
401 UNAUTHORIZED webhook authentication failed {"reason":"webhook-timestamp is outside the tolerance"}
401 UNAUTHORIZED webhook authentication failed {"reason":"webhook-timestamp is not a Unix time in seconds"}
401 UNAUTHORIZED webhook authentication failed {"reason":"webhook-id, webhook-timestamp and webhook-signature are all required"}
rows +0



=== TEST 6: the Standard Webhooks known-answer vector verifies (tolerance widened to reach 2021); its body changed does not
--- config
    location /api/v1/webhooks/unipile/ {
        liauto_api;
        liauto_webhook_tolerance 36500d;
    }
--- request eval
[ "POST /api/v1/webhooks/unipile/messaging\n" . '{"test": 2432232314}',
  "POST /api/v1/webhooks/unipile/messaging\n" . '{"test": 2432232315}' ]
--- more_headers eval
[ ("webhook-id: msg_p5jXN8AQM9LWM0D4loKWxJek\nwebhook-timestamp: 1614265330\n"
   . "webhook-signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=") x 2 ]
--- error_code eval
[200, 401]
--- response_body_like eval
[ qr/^\{"id": "[0-9a-f-]{36}", "status": "accepted"\}$|^\{"status": "duplicate"\}$/,
  qr/^\{"code":"UNAUTHORIZED","message":"webhook authentication failed","details":\{"reason":"no valid webhook-signature"\}\}$/ ]



=== TEST 7: oversize body → 413 envelope; malformed JSON → 400 with the position; array, scalar, empty → 400; nothing stored
--- config
    location = /t {
        content_by_lua_block {
            local n0 = rows()
            local big = message("t040-m7", ',"pad":"'
                                .. string.rep("x", 1024 * 1024) .. '"')
            ngx.say(show(deliver("messaging", big, auth())))
            ngx.say(show(deliver("messaging", '{"event":\n "x",}', auth())))
            ngx.say(show(deliver("messaging", '[{"event":"x"}]', auth())))
            ngx.say(show(deliver("users", '"x"', auth())))
            ngx.say(show(deliver("account-status", "", auth())))
            ngx.say(show(deliver("messaging", '{"a":"\xff"}', auth())))
            ngx.say("rows +", rows() - n0)
        }
    }
--- response_body
413 PAYLOAD_TOO_LARGE the request body is larger than allowed {}
400 BAD_REQUEST the request body is not valid JSON {"column":6,"line":2,"reason":"string or '}' expected near '}'"}
400 BAD_REQUEST the request body must be a JSON object {"body":"must be an object"}
400 BAD_REQUEST the request body is not valid JSON {"column":3,"line":1,"reason":"'[' or '{' expected near '\"x\"'"}
400 BAD_REQUEST a JSON request body is required {"body":"missing"}
400 BAD_REQUEST the request body is not valid JSON {"column":6,"line":1,"reason":"unable to decode byte 0xff near '\"'"}
rows +0



=== TEST 8: 50 copies of one message and 20 of one account status, all at once: 200 each, one row each
--- config
    location = /t {
        content_by_lua_block {
            local n0 = rows()
            local status = '{"AccountStatus":{"account_id":"acc-t040-' .. RUN
                           .. '","message":"CREDENTIALS"}}'
            local threads = {}
            for i = 1, 70 do
                threads[i] = ngx.thread.spawn(deliver,
                    i <= 50 and "messaging" or "account-status",
                    i <= 50 and message("t040-m8") or status, auth())
            end
            local answers = {}
            for i = 1, 70 do
                local _, res = ngx.thread.wait(threads[i])
                local key = res.status .. " " .. json.decode(res.body).status
                answers[key] = (answers[key] or 0) + 1
            end
            ngx.say(answers["200 accepted"], " accepted, ",
                    answers["200 duplicate"], " duplicates")
            ngx.say("rows +", rows() - n0)
        }
    }
--- response_body
2 accepted, 68 duplicates
rows +2



=== TEST 9: no secret and no signing key: 503 "webhooks not configured", logged, nothing stored
--- http_config
    liauto_postgres "$TEST_NGINX_LIAUTO_DSN";
    map $uri $liauto_home {
        default $TEST_NGINX_LIAUTO_ROOT;
    }
--- config
    include $TEST_NGINX_LIAUTO_ROOT/conf/liauto-api.conf;
--- request
POST /api/v1/webhooks/unipile/messaging
{"event":"message_received","message_id":"t040-m8"}
--- more_headers
Unipile-Auth: anything
--- error_code: 503
--- response_body chomp
{"code":"SERVICE_UNAVAILABLE","message":"webhooks not configured","details":{}}
--- error_log
webhooks are not configured here (no "liauto_webhook_secret_file" or "liauto_webhook_signing_key_file")



=== TEST 10: a secret file that cannot be read stops nginx, naming the directive
--- http_config
    liauto_postgres "$TEST_NGINX_LIAUTO_DSN";
    liauto_webhook_secret_file $TEST_NGINX_T040_DIR/no-such-secret;
--- config
    location /api/ { liauto_api; }
--- must_die
--- error_log eval
qr/"liauto_webhook_secret_file" cannot open "[^"]*no-such-secret"/



=== TEST 11: an empty secret file (a lone newline) stops nginx too
--- http_config
    liauto_postgres "$TEST_NGINX_LIAUTO_DSN";
    liauto_webhook_secret_file $TEST_NGINX_T040_EMPTY_FILE;
--- config
    location /api/ { liauto_api; }
--- must_die
--- error_log eval
qr/"liauto_webhook_secret_file" file "[^"]*empty" is empty: it must hold the shared secret/



=== TEST 12: a signing key that is not base64 stops nginx
--- http_config
    liauto_postgres "$TEST_NGINX_LIAUTO_DSN";
    liauto_webhook_signing_key_file $TEST_NGINX_T040_SECRET_FILE;
--- config
    location /api/ { liauto_api; }
--- must_die
--- error_log eval
qr/"liauto_webhook_signing_key_file" file "[^"]*secret" does not hold a base64 key/



=== TEST 13: health: per source, deliveries, duplicates, backlog, failures and lag
--- config
    location = /t {
        content_by_lua_block {
            sql("DELETE FROM liauto.webhook_events;"
                .. " DELETE FROM liauto.webhook_duplicates")
            for i = 1, 3 do
                deliver("messaging", message("t040-h" .. i), auth())
            end
            deliver("messaging", message("t040-h1"), auth())
            deliver("messaging", message("t040-h2"), auth())
            deliver("users", '{"event":"new_relation","account_id":"a",'
                    .. '"user_provider_id":"ACoAAh"}', auth())
            -- the processor's part, played here: h1 took 200 ms, h2 400 ms
            -- and h3 failed; the relation waits
            sql("UPDATE liauto.webhook_events SET processed_at ="
                .. " received_at + CASE WHEN delivery_key LIKE '%t040-h1-%'"
                .. " THEN interval '200 ms' ELSE interval '400 ms' END"
                .. " WHERE delivery_key LIKE '%t040-h1-%'"
                .. " OR delivery_key LIKE '%t040-h2-%';"
                .. " UPDATE liauto.webhook_events SET processing_error ="
                .. " 'no account acc-t040', attempts = 1"
                .. " WHERE delivery_key LIKE '%t040-h3-%';"
                .. " UPDATE liauto.webhook_events SET received_at ="
                .. " received_at - interval '2 hours' WHERE source ="
                .. " 'unipile_users'")
            local res = http.request("GET", "/api/v1/webhooks/health", {
                headers = { Authorization = "Bearer $TEST_NGINX_T040_ADMIN" } })
            local h = json.decode(res.body)
            ngx.say(res.status)
            for _, s in ipairs(h.sources) do
                ngx.say(s.source, " 24h=", s.deliveries_24h, " 1h=",
                        s.deliveries_1h, " dup24h=", s.duplicates_24h,
                        " dup1h=", s.duplicates_1h, " unprocessed=",
                        s.unprocessed, " failures=", s.processing_failures,
                        " p50=", tostring(s.lag_p50_ms), " p99=",
                        tostring(s.lag_p99_ms), " last=",
                        tostring(s.last_delivery_at ~= json.null),
                        " oldest>=7200=",
                        tostring(s.oldest_unprocessed_age_s ~= json.null
                                 and s.oldest_unprocessed_age_s >= 7200))
            end
            res = http.request("GET", "/api/v1/webhooks/health?x=1", {
                headers = { Authorization = "Bearer $TEST_NGINX_T040_ADMIN" } })
            ngx.say(show(res))
        }
    }
--- response_body
200
unipile_account_status 24h=0 1h=0 dup24h=0 dup1h=0 unprocessed=0 failures=0 p50=null p99=null last=false oldest>=7200=false
unipile_messaging 24h=3 1h=3 dup24h=2 dup1h=2 unprocessed=1 failures=1 p50=300 p99=398 last=true oldest>=7200=false
unipile_users 24h=1 1h=0 dup24h=0 dup1h=0 unprocessed=1 failures=0 p50=null p99=null last=true oldest>=7200=true
400 BAD_REQUEST invalid query parameters {"x":"unknown parameter"}



=== TEST 14: the simulator's own deliveries (new_relation, a reply sent 3 times) reach the module with the secret: one row each
--- http_config eval: $::sim_http_config
--- config
    include $TEST_NGINX_LIAUTO_ROOT/t/sim/server.conf;
    location = /t {
        content_by_lua_block {
            local c = require "client"
            local a, p = c.world({ name = "T040 Sender" },
                                 { public_identifier = "t040-ada-" .. RUN,
                                   first_name = "Ada", last_name = "L" })
            local inv = c.call("POST", "/api/v1/users/invite", {
                account_id = a.id, provider_id = p.provider_id }).json
            c.call("POST", "/_sim/invitations/" .. inv.invitation_id
                   .. "/accept")
            c.call("POST", "/_sim/deliveries/mode", { duplicates = 2 })
            c.call("POST", "/_sim/reply", { account_id = a.id,
                provider_id = p.provider_id, text = "Sounds good" })

            local mine = "WHERE body LIKE '%" .. a.id .. "%'"
            local ds = c.wait(function ()
                local d = c.call("GET", "/_sim/deliveries?account_id="
                                 .. a.id).json.deliveries
                for _, x in ipairs(d) do
                    if x.status ~= "delivered" then return nil end
                end
                return #d == 4 and d
            end, 8000)
            for _, d in ipairs(ds or {}) do
                ngx.say(d.source, " ", json.decode(d.body).event, " ",
                        d.status, " ", d.attempts[#d.attempts].status)
            end
            ngx.say(sql("SELECT string_agg(source || ' ' || (body::jsonb"
                .. " ->> 'event') || ' is_sender=' || coalesce(body::jsonb"
                .. " ->> 'is_sender', '-') || ' auth=' || (headers ->>"
                .. " 'liauto-auth') || ' content-type=' || (headers ?"
                .. " 'content-type') || ' key=' || (delivery_key = CASE"
                .. " source WHEN 'unipile_users' THEN 'users:new_relation:'"
                .. " || '" .. a.id .. ":" .. p.provider_id .. "'"
                .. " ELSE 'messaging:message_received:' || (body::jsonb"
                .. " ->> 'message_id') END), E'\n' ORDER BY source)"
                .. " FROM liauto.webhook_events " .. mine))
        }
    }
--- response_body
users new_relation delivered 200
messaging message_received delivered 200
messaging message_received delivered 200
messaging message_received delivered 200
unipile_messaging message_received is_sender=false auth=secret content-type=false key=true
unipile_users new_relation is_sender=- auth=secret content-type=false key=true
