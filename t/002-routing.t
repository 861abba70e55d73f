# The route table's own answers: 404, 405 with Allow, 413 — all as the JSON
# error envelope, never nginx's HTML pages.
use Test::Nginx::Socket 'no_plan';

repeat_each(2);
no_shuffle();
no_root_location();

$ENV{TEST_NGINX_LIAUTO_DSN} ||= 'dbname=liauto_test';

our $http_config = <<'_EOC_';
    liauto_postgres "$TEST_NGINX_LIAUTO_DSN";
_EOC_

our $config = <<'_EOC_';
    location /api/ {
        liauto_api;
        client_max_body_size 64;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("http_config", $::http_config)
        unless defined $block->http_config;
    $block->set_value("config", $::config) unless defined $block->config;
});

run_tests();

__DATA__

=== TEST 1: unknown path → 404 envelope
--- request
GET /api/v1/no-such-thing
--- error_code: 404
--- response_headers
Content-Type: application/json
--- response_body chomp
{"code":"NOT_FOUND","message":"no such resource","details":{}}
--- no_error_log
[error]



=== TEST 2: a known path with a trailing slash is another path
--- request
GET /api/v1/health/
--- error_code: 404
--- response_body chomp
{"code":"NOT_FOUND","message":"no such resource","details":{}}



=== TEST 3: wrong method → 405 envelope with Allow
--- request
DELETE /api/v1/health
--- error_code: 405
--- response_headers
Allow: GET, HEAD
Content-Type: application/json
--- response_body chomp
{"code":"METHOD_NOT_ALLOWED","message":"method not allowed on this resource","details":{"allow":"GET, HEAD"}}
--- no_error_log
[error]



=== TEST 4: body over client_max_body_size → 413 envelope, not HTML
--- request eval
"POST /api/v1/health\n" . ("x" x 1000)
--- error_code: 413
--- response_headers
Content-Type: application/json
--- response_body chomp
{"code":"PAYLOAD_TOO_LARGE","message":"the request body is larger than allowed","details":{}}



=== TEST 5: locations without liauto_api keep nginx's own pages
--- config
    location /api/ { liauto_api; }
    location /plain/ { return 404; }
--- request
GET /plain/x
--- error_code: 404
--- response_body_like: <html>
