# The resource API as a whole: login → tokens the module signs and then
# accepts, the checks the module makes before SQL runs (token, role floor,
# ids, JSON syntax, media type, query string) and Idempotency-Key.
use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use Liauto::Token qw(bearer);

repeat_each(1);
no_shuffle();
no_root_location();

$ENV{TEST_NGINX_LIAUTO_DSN} ||= 'dbname=liauto_test';
$ENV{TEST_NGINX_LIAUTO_ROOT} ||= '.';

# fixtures: an admin and a viewer of their own client
our ($admin_id, $viewer_id, $client_id) = map { chomp; $_ } `psql '$ENV{TEST_NGINX_LIAUTO_DSN}' -qAt -v ON_ERROR_STOP=1 <<'SQL'
DELETE FROM liauto.users WHERE email LIKE '%\@t010.test';
DELETE FROM liauto.clients WHERE name LIKE 't010 %';
WITH c AS (INSERT INTO liauto.clients (name) VALUES ('t010 client')
           RETURNING id),
     a AS (INSERT INTO liauto.users (email, password_hash, role)
           VALUES ('admin\@t010.test',
                   liauto.hash_password('correct horse battery'), 'admin')
           RETURNING id),
     v AS (INSERT INTO liauto.users (email, password_hash, role, client_id)
           SELECT 'viewer\@t010.test',
                  liauto.hash_password('viewer pass phrase'), 'viewer', c.id
           FROM c RETURNING id)
SELECT (SELECT id FROM a), (SELECT id FROM v), (SELECT id FROM c);
SQL`;
($admin_id, $viewer_id, $client_id) = split /\|/, $admin_id;
die "fixtures failed" unless $client_id;

our $admin = bearer({ sub => $admin_id, role => 'admin' });

# for Lua blocks, through Test::Nginx's $TEST_NGINX_* expansion
$ENV{TEST_NGINX_T010_ADMIN_ID} = $admin_id;
($ENV{TEST_NGINX_T010_ADMIN_TOKEN} = $admin) =~ s/^Authorization: Bearer //;
our $viewer = bearer({ sub => $viewer_id, role => 'viewer',
                       client_id => $client_id });

our $http_config = <<'_EOC_';
    liauto_postgres "$TEST_NGINX_LIAUTO_DSN";
    liauto_jwt_key_file $TEST_NGINX_LIAUTO_ROOT/t/data/jwt-hs256.key;
    lua_package_path "$TEST_NGINX_LIAUTO_ROOT/t/lib/?.lua;;";
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("http_config", $::http_config)
        unless defined $block->http_config;
    $block->set_value("config", "location /api/ { liauto_api; }")
        unless defined $block->config;
    $block->set_value("no_error_log", "[alert]")
        unless defined $block->no_error_log;
});

run_tests();

__DATA__

=== TEST 1: login answers with an access token, a refresh token and their type
--- request
POST /api/v1/auth/login
{"email":"Admin@T010.test","password":"correct horse battery"}
--- more_headers
Content-Type: application/json
--- response_body_like chomp
^\{"access_token":"[\w-]+\.[\w-]+\.[\w-]+","refresh_token":"[\w-]{43}","token_type":"Bearer","expires_in":900\}$



=== TEST 2: a wrong password is 401, the same message as an unknown email
--- request eval
[ "POST /api/v1/auth/login\n" . '{"email":"admin@t010.test","password":"wrong"}',
  "POST /api/v1/auth/login\n" . '{"email":"nobody@t010.test","password":"wrong"}' ]
--- error_code eval
[401, 401]
--- response_body eval
[ '{"code": "UNAUTHORIZED", "details": {}, "message": "invalid email or password"}',
  '{"code": "UNAUTHORIZED", "details": {}, "message": "invalid email or password"}' ]



=== TEST 3: malformed JSON is a 400 envelope saying where
--- request
POST /api/v1/auth/login
{"email": "admin@t010.test", "password": }
--- error_code: 400
--- response_body chomp
{"code":"BAD_REQUEST","message":"the request body is not valid JSON","details":{"line":1,"column":42,"reason":"unexpected token near '}'"}}



=== TEST 4: a body that is not JSON by its Content-Type is 415
--- request
POST /api/v1/auth/login
email=admin@t010.test&password=x
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- error_code: 415
--- response_body chomp
{"code":"UNSUPPORTED_MEDIA_TYPE","message":"the request body must be JSON (Content-Type: application/json)","details":{}}



=== TEST 5: a protected route without a token is 401 with WWW-Authenticate
--- request
GET /api/v1/auth/me
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer
--- response_body_like chomp
^\{"code":"UNAUTHORIZED","message":"[^"]+","details":\{\}\}$



=== TEST 6: a token signed with another key is 401
--- request
GET /api/v1/auth/me
--- more_headers eval
Liauto::Token::bearer({ sub => $::admin_id, role => 'admin' },
                      key => 'another key that is long enough to be real')
--- error_code: 401



=== TEST 7: a valid token reaches SQL: /auth/me
--- request
GET /api/v1/auth/me
--- more_headers eval: $::admin
--- response_body_like chomp
^(?=.*"email": "admin\@t010\.test")(?=.*"role": "admin")\{.*\}$



=== TEST 8: a viewer may read but not write (403 before SQL)
--- request eval
[ "GET /api/v1/clients/$::client_id",
  "POST /api/v1/clients\n" . '{"name":"t010 other"}' ]
--- more_headers eval: $::viewer
--- error_code eval
[200, 403]
--- response_body_like eval
[ qr/"name": "t010 client"/,
  qr/^\{"code":"FORBIDDEN","message":"your role may not do this","details":\{\}\}$/ ]



=== TEST 9: an id that is not a UUID is a 400 naming the parameter
--- request
GET /api/v1/clients/1%20OR%201=1
--- more_headers eval: $::admin
--- error_code: 400
--- response_body chomp
{"code":"BAD_REQUEST","message":"a path parameter is invalid","details":{"id":"must be a UUID"}}



=== TEST 10: a query parameter given twice is refused
--- request
GET /api/v1/clients?limit=1&limit=2
--- more_headers eval: $::admin
--- error_code: 400
--- response_body chomp
{"code":"BAD_REQUEST","message":"a query parameter is given twice","details":{"limit":"given more than once"}}



=== TEST 11: login, use the access token, rotate the refresh token, reuse → family revoked
--- config
    location /api/ { liauto_api; }
    location = /t {
        content_by_lua_block {
            local http = require "liauto.http"
            local function post(path, body, token)
                local h = { ["Content-Type"] = "application/json" }
                if token then h.Authorization = "Bearer " .. token end
                return http.request("POST", path, { headers = h, body = body })
            end
            local function field(body, name)
                return body:match('"' .. name .. '":"([^"]+)"')
            end

            local res = post("/api/v1/auth/login", '{"email":"viewer@t010.test",'
                             .. '"password":"viewer pass phrase"}')
            local access = field(res.body, "access_token")
            local refresh = field(res.body, "refresh_token")
            ngx.say("login: ", res.status)

            res = http.request("GET", "/api/v1/auth/me", { headers = {
                Authorization = "Bearer " .. access } })
            ngx.say("me: ", res.status, " ", res.body:match('"role": "(%a+)"'))

            res = post("/api/v1/auth/refresh",
                       '{"refresh_token":"' .. refresh .. '"}')
            local second = field(res.body, "refresh_token")
            ngx.say("refresh: ", res.status, " ", second ~= refresh)

            res = post("/api/v1/auth/refresh",
                       '{"refresh_token":"' .. refresh .. '"}')
            ngx.say("reuse: ", res.status)

            res = post("/api/v1/auth/refresh",
                       '{"refresh_token":"' .. second .. '"}')
            ngx.say("family revoked: ", res.status)
        }
    }
--- request
GET /t
--- response_body
login: 200
me: 200 viewer
refresh: 200 true
reuse: 401
family revoked: 401



=== TEST 12: Idempotency-Key: byte-identical replay, 422 on another body, 409 while in use
--- config
    location /api/ { liauto_api; }
    location = /t {
        content_by_lua_block {
            local http = require "liauto.http"
            local token = "$TEST_NGINX_T010_ADMIN_TOKEN"
            local dsn = "$TEST_NGINX_LIAUTO_DSN"
            local admin_id = "$TEST_NGINX_T010_ADMIN_ID"
            local function post(body, key)
                return http.request("POST", "/api/v1/clients", { headers = {
                    Authorization = "Bearer " .. token,
                    ["Content-Type"] = "application/json",
                    ["Idempotency-Key"] = key }, body = body })
            end
            local function code(res)
                return res.body:match('"code": "([A-Z_]+)"')
            end

            local first = post('{"name":"t010 idem"}', "t010-key-1")
            local again = post('{"name":"t010 idem"}', "t010-key-1")
            ngx.say("first: ", first.status, " replay: ", again.status,
                    " identical: ", first.body == again.body)

            local other = post('{"name":"t010 idem changed"}', "t010-key-1")
            ngx.say("changed: ", other.status, " ", code(other))

            -- another session holds the key's lock: the request is in flight
            http.spawn("psql '" .. dsn .. "' -c \"SELECT pg_advisory_lock("
                       .. "liauto.idempotency_lock_key('" .. admin_id
                       .. "', 't010-key-2')), pg_sleep(2)\"")
            local deadline = ngx.now() + 5
            repeat
                local f = io.popen("psql '" .. dsn .. "' -Atc \"SELECT"
                                   .. " count(*) FROM pg_locks WHERE"
                                   .. " locktype = 'advisory' AND granted\"")
                local n = tonumber(f:read("*l"))
                f:close()
                if n > 0 then break end
                ngx.sleep(0.05)
            until ngx.now() > deadline
            local busy = post('{"name":"t010 idem busy"}', "t010-key-2")
            ngx.say("in use: ", busy.status, " ", code(busy))
        }
    }
--- request
GET /t
--- timeout: 10
--- response_body
first: 201 replay: 201 identical: true
changed: 422 IDEMPOTENCY_KEY_REUSED
in use: 409 IDEMPOTENCY_KEY_IN_USE
