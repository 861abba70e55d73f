# CSV import and export of a campaign's leads through the module: libcsv
# parsing of messy real-world files (BOM, CRLF, quoted commas, quotes and
# newlines, short rows, ';' delimiters), exact counts, duplicates in the
# file and across the client's campaigns, and RFC 4180 quoting on export.
# Bodies are parsed as they arrive: never a temp file, any split point.
use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use Liauto::Token qw(bearer);

repeat_each(1);
no_shuffle();
no_root_location();

$ENV{TEST_NGINX_LIAUTO_DSN} ||= 'dbname=liauto_test';
$ENV{TEST_NGINX_LIAUTO_ROOT} ||= '.';

# client A with an agent, a campaign to import into and another campaign
# that already holds one lead; client B holds a lead with an identifier
# that client A may still import
our ($agent_id, $client_id, $campaign_id) = split /\|/, `psql '$ENV{TEST_NGINX_LIAUTO_DSN}' -qAt -v ON_ERROR_STOP=1 <<'SQL'
DELETE FROM liauto.users WHERE email LIKE '%\@t011.test';
DELETE FROM liauto.campaigns WHERE name LIKE 't011 %';
DELETE FROM liauto.clients WHERE name LIKE 't011 %';
WITH a AS (INSERT INTO liauto.clients (name) VALUES ('t011 client a')
           RETURNING id),
     b AS (INSERT INTO liauto.clients (name) VALUES ('t011 client b')
           RETURNING id),
     u AS (INSERT INTO liauto.users (email, password_hash, role, client_id)
           SELECT 'agent\@t011.test', liauto.hash_password('agent pass phrase'),
                  'agent', a.id FROM a RETURNING id),
     c AS (INSERT INTO liauto.campaigns (client_id, name)
           SELECT a.id, 't011 import' FROM a RETURNING id),
     o AS (INSERT INTO liauto.campaigns (client_id, name)
           SELECT a.id, 't011 other' FROM a RETURNING id),
     ob AS (INSERT INTO liauto.campaigns (client_id, name)
            SELECT b.id, 't011 other client' FROM b RETURNING id),
     l1 AS (INSERT INTO liauto.leads (client_id, campaign_id, first_name,
                                      public_identifier)
            SELECT a.id, o.id, 'Alan', 'alan-turing' FROM a, o RETURNING id),
     l2 AS (INSERT INTO liauto.leads (client_id, campaign_id, first_name,
                                      public_identifier)
            SELECT b.id, ob.id, 'Grace', 'grace-hopper' FROM b, ob
            RETURNING id)
SELECT (SELECT id FROM u), (SELECT id FROM a), (SELECT id FROM c),
       (SELECT count(*) FROM l1) + (SELECT count(*) FROM l2);
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
    $block->set_value("config", "location /api/ { liauto_api; }")
        unless defined $block->config;
    $block->set_value("no_error_log", "[alert]")
        unless defined $block->no_error_log;
});

# A file split where a naive chunk-by-chunk parser breaks: inside the byte
# order mark, between the CR and LF of a quoted field's line break, inside a
# two-byte UTF-8 character; sent chunked, a few bytes per TCP write.
our $split_file = "\xEF\xBB\xBFFirst Name,Notes,Profile URL\r\n"
    . "Zo\xC3\xAB,\"line one\r\nline, two\",https://www.linkedin.com/in/t011-split\r\n";

sub chunked_pieces {
    my ($head, $body, @cuts) = @_;
    my ($chunked, $from) = ('', 0);
    for my $to ((sort { $a <=> $b } @cuts), length $body) {
        my $part = substr $body, $from, $to - $from;
        $chunked .= sprintf("%x\r\n%s\r\n", length $part, $part);
        $from = $to;
    }
    my $all = $head . $chunked . "0\r\n\r\n";
    return [ map { substr $all, $_ * 7, 7 } 0 .. int((length $all) / 7) ];
}

run_tests();

__DATA__

=== TEST 1: a messy export imports with exact counts and reasons
--- request eval
"POST /api/v1/campaigns/$::campaign_id/leads/import\n"
. "\xEF\xBB\xBFFirst Name,Last Name,Company,Title,LinkedIn URL,Notes\r\n"
. "Ada,Lovelace,\"Analytical Engines, Ltd\",Countess,"
.     "https://www.linkedin.com/in/ada-lovelace/,\"said \"\"hi\"\"\r\nline two\"\r\n"
. "Grace,Hopper,Navy,Admiral,https://linkedin.com/in/grace-hopper?trk=x,\r\n"
. "Ada,Again,X,Y,https://www.linkedin.com/in/ADA-LOVELACE,\r\n"
. "Alan,Turing,Bletchley,,https://www.linkedin.com/in/alan-turing/,\r\n"
. "No,Link,Acme,CEO,,\r\n"
. "Short,Row\r\n"
--- more_headers eval
"$::agent\nContent-Type: text/csv; charset=utf-8"
--- response_body_like chomp
^(?=.*"imported": 2,)(?=.*"duplicates": 2,)(?=.*"invalid": 2,)(?=.*\{"row": 5, "reason": "[^"]+"\})(?=.*\{"row": 6, "reason": "[^"]+"\})(?=.*"duplicate_rows": \[\{"row": 3, "existing_lead_id": "[^"]+"\}, \{"row": 4, "existing_lead_id": "[^"]+"\}\])



=== TEST 2: the export quotes commas, quotes and newlines (RFC 4180)
--- request eval
"GET /api/v1/campaigns/$::campaign_id/leads/export?format=csv"
--- more_headers eval: $::agent
--- response_headers
Content-Type: text/csv; charset=utf-8
--- response_body_like
^id,first_name,last_name,company,title,email,public_identifier,profile_url,status,current_step,created_at,Notes\r
(?:[^\r]*\r\n)*[0-9a-f-]{36},Ada,Lovelace,"Analytical Engines, Ltd",Countess,,ada-lovelace,[^,]*,pending,0,[^,]+,"said ""hi""\r
line two"\r



=== TEST 3: semicolon-delimited files (spreadsheets in many locales) import too
--- request eval
"POST /api/v1/campaigns/$::campaign_id/leads/import\n"
. "First Name;Last Name;Profile URL\n\"Jean\";\"Dupont\";https://www.linkedin.com/in/jean-dupont\n"
--- more_headers eval
"$::agent\nContent-Type: text/csv"
--- response_body_like chomp
^(?=.*"imported": 1,)(?=.*"duplicates": 0,)(?=.*"invalid": 0,)



=== TEST 4: a body that is not CSV by its Content-Type is 415
--- request eval
"POST /api/v1/campaigns/$::campaign_id/leads/import\n{\"a\":1}"
--- more_headers eval
"$::agent\nContent-Type: application/json"
--- error_code: 415
--- response_body chomp
{"code":"UNSUPPORTED_MEDIA_TYPE","message":"the request body must be CSV (Content-Type: text/csv)","details":{}}



=== TEST 5: text that is not UTF-8 is refused with the row that is not
--- request eval
"POST /api/v1/campaigns/$::campaign_id/leads/import\n"
. "First Name,Profile URL\nZo\xEB,https://www.linkedin.com/in/zoe\n"
--- more_headers eval
"$::agent\nContent-Type: text/csv"
--- error_code: 400
--- response_body chomp
{"code":"BAD_REQUEST","message":"row 1 is not valid UTF-8 text (save the file as UTF-8)","details":{"body":"not importable CSV"}}



=== TEST 6: an empty file is a 400
--- request eval
"POST /api/v1/campaigns/$::campaign_id/leads/import\n"
--- more_headers eval
"$::agent\nContent-Type: text/csv"
--- error_code: 400
--- response_body chomp
{"code":"BAD_REQUEST","message":"a CSV request body is required","details":{"body":"missing"}}



=== TEST 7: a file far over client_body_buffer_size is parsed as it arrives, never put in a temp file
--- config
    client_body_buffer_size 1k;
    location /api/ { liauto_api; }
--- request eval
"POST /api/v1/campaigns/$::campaign_id/leads/import\n"
. "First Name,Last Name,LinkedIn URL\n"
. CORE::join('', map { "Big$_,\"Row, $_\",https://www.linkedin.com/in/t011-big-$_\n" }
                     1 .. 3000)
--- more_headers eval
"$::agent\nContent-Type: text/csv"
--- timeout: 60
--- response_body_like chomp
^(?=.*"imported": 3000,)(?=.*"duplicates": 0,)(?=.*"invalid": 0,)
--- no_error_log
buffered to a temporary file
[alert]



=== TEST 8: a chunked body split inside the BOM, a quoted CRLF and a UTF-8 character imports whole
--- config
    client_body_buffer_size 1k;
    location /api/ { liauto_api; }
--- raw_request eval
main::chunked_pieces("POST /api/v1/campaigns/$::campaign_id/leads/import HTTP/1.1\r\n"
    . "Host: localhost\r\n$::agent\r\nContent-Type: text/csv\r\n"
    . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    $::split_file, 2, index($::split_file, "\nline,"),
    index($::split_file, "\xAB"))
--- raw_request_middle_delay: 0.001
--- response_body_like chomp
^(?=.*"imported": 1,)(?=.*"duplicates": 0,)(?=.*"invalid": 0,)
--- no_error_log
buffered to a temporary file
[alert]



=== TEST 9: the split file's fields arrived intact (export)
--- request eval
"GET /api/v1/campaigns/$::campaign_id/leads/export?format=csv"
--- more_headers eval: $::agent
--- response_body_like eval
qr/\r\n[0-9a-f-]{36},Zo\xC3\xAB,(?:[^,\r\n]*,){4}t011-split,[^\r\n]*"line one\r\nline, two"\r\n/
