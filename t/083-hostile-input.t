# Reproducers of what the fuzz harnesses (t/fuzz) found, end to end: text
# that nginx's lenient UTF-8 decoder lets through but Postgres refuses, a
# 400 envelope quoting half a UTF-8 character from jansson's message, and
# a NUL byte jansson skips while libpq would end the body there.
use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use Liauto::Token qw(bearer);

repeat_each(1);
no_shuffle();
no_root_location();

$ENV{TEST_NGINX_LIAUTO_DSN} ||= 'dbname=liauto_test';
$ENV{TEST_NGINX_LIAUTO_ROOT} ||= '.';

our ($agent_id, $client_id, $campaign_id) = split /\|/, `psql '$ENV{TEST_NGINX_LIAUTO_DSN}' -qAt -v ON_ERROR_STOP=1 <<'SQL'
DELETE FROM liauto.users WHERE email LIKE '%\@t083.test';
DELETE FROM liauto.campaigns WHERE name LIKE 't083 %';
DELETE FROM liauto.clients WHERE name LIKE 't083 %';
WITH a AS (INSERT INTO liauto.clients (name) VALUES ('t083 client')
           RETURNING id),
     u AS (INSERT INTO liauto.users (email, password_hash, role, client_id)
           SELECT 'agent\@t083.test', liauto.hash_password('agent pass phrase'),
                  'agent', a.id FROM a RETURNING id),
     c AS (INSERT INTO liauto.campaigns (client_id, name)
           SELECT a.id, 't083 import' FROM a RETURNING id)
SELECT (SELECT id FROM u), (SELECT id FROM a), (SELECT id FROM c);
SQL`;
chomp $campaign_id;
die "fixtures failed" unless $campaign_id;

our $agent = bearer({ sub => $agent_id, role => 'agent',
                      client_id => $client_id });

our $http_config = <<'_EOC_';
    liauto_postgres "$TEST_NGINX_LIAUTO_DSN";
    liauto_jwt_key_file $TEST_NGINX_LIAUTO_ROOT/t/data/jwt-hs256.key;
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("http_config", $::http_config);
    $block->set_value("config", "location /api/ { liauto_api; }");
    $block->set_value("no_error_log", "[alert]\n[error]")
        unless defined $block->no_error_log;
});

run_tests();

__DATA__

=== TEST 1: a CSV byte >= 0x80 after a lead byte is not a continuation (was a 500 from Postgres)
--- request eval
"POST /api/v1/campaigns/$::campaign_id/leads/import\n"
. "First Name,Profile URL\n\xC2\xC2,https://www.linkedin.com/in/x\n"
--- more_headers eval
"$::agent\nContent-Type: text/csv"
--- error_code: 400
--- response_body chomp
{"code":"BAD_REQUEST","message":"row 1 is not valid UTF-8 text (save the file as UTF-8)","details":{"body":"not importable CSV"}}



=== TEST 2: a CSV with a UTF-8-encoded surrogate is refused (was a 500)
--- request eval
"POST /api/v1/campaigns/$::campaign_id/leads/import\n"
. "First Name,Profile URL\nA\xED\xA0\x80,https://www.linkedin.com/in/x\n"
--- more_headers eval
"$::agent\nContent-Type: text/csv"
--- error_code: 400
--- response_body chomp
{"code":"BAD_REQUEST","message":"row 1 is not valid UTF-8 text (save the file as UTF-8)","details":{"body":"not importable CSV"}}



=== TEST 3: a UTF-16 export (NUL bytes, a \u0000 jsonb refuses) is refused (was a 500)
--- request eval
"POST /api/v1/campaigns/$::campaign_id/leads/import\n"
. "First Name,Profile URL\nA\x00d\x00a,https://www.linkedin.com/in/x\n"
--- more_headers eval
"$::agent\nContent-Type: text/csv"
--- error_code: 400
--- response_body chomp
{"code":"BAD_REQUEST","message":"row 1 is not valid UTF-8 text (save the file as UTF-8)","details":{"body":"not importable CSV"}}



=== TEST 4: the 400 of a JSON body with a bad escape before a non-ASCII letter is UTF-8
--- request eval
"POST /api/v1/auth/login\n{\"email\":\"\\\xC3\xA9\"}"
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body eval
"{\"code\":\"BAD_REQUEST\",\"message\":\"the request body is not valid JSON\",\"details\":{\"line\":1,\"column\":12,\"reason\":\"invalid escape near '\\\"\\\\\xEF\xBF\xBD'\"}}"



=== TEST 5: a NUL byte jansson skips ("1\0") is refused, not cut short by libpq (was a 500)
--- request eval
"POST /api/v1/auth/login\n{\"email\":\"a\@t083.test\",\"password\":1\0}"
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body chomp
{"code":"BAD_REQUEST","message":"the request body is not valid JSON","details":{"line":1,"column":36,"reason":"a NUL byte is not JSON"}}



=== TEST 6: a cursor with %00 (jsonb has no \u0000) is a 400, not a 500 (t/fuzz/fuzz_query.c)
--- request
GET /api/v1/leads?cursor=abc%00def
--- more_headers eval
$::agent
--- error_code: 400
--- response_body chomp
{"code":"BAD_REQUEST","message":"a query parameter holds a NUL byte","details":{"query":"%00 is not allowed"}}



=== TEST 7: a NUL byte cannot cut a query parameter's name short (limit%00x=500 is not limit)
--- request
GET /api/v1/leads?limit%00x=500
--- more_headers eval
$::agent
--- error_code: 400
--- response_body chomp
{"code":"BAD_REQUEST","message":"a query parameter holds a NUL byte","details":{"query":"%00 is not allowed"}}
