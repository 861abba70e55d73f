# openapi/openapi.yaml against the module: the route table and the spec
# agree, the spec keeps its own conventions, nginx serves it with Swagger
# UI (conf/liauto-api.conf), and real responses validate against it
# (t/lib/openapi/LiautoSpec.pm).
use Test::Nginx::Socket 'no_plan';

use Cwd ();
use File::Temp ();
use FindBin ();
use HTTP::Request ();
use JSON::PP ();
use LWP::UserAgent ();

use lib "$FindBin::Bin/lib/openapi";
use LiautoSpec qw(load_spec spec_operations path_template validate_schema
                  validate_response response_conforms);

repeat_each(1);
no_shuffle();
no_root_location();

my $root = Cwd::abs_path("$FindBin::Bin/..");

$ENV{TEST_NGINX_LIAUTO_DSN} ||= 'dbname=liauto_test';
$ENV{TEST_NGINX_LIAUTO_ROOT} ||= $root;

my $spec = load_spec();
my @spec_ops = spec_operations($spec);


# ------------------------------------------------- route table vs the spec

# Served by nginx itself as static files (conf/liauto-api.conf), not by the
# route table: they are exempt from "implemented means in the route table"
# only because they are not in it, and the blocks below check that nginx
# does serve them.
my %SERVED_BY_CONF = map { $_ => 1 } (
    'GET /api/v1/openapi.yaml',
    'GET /api/v1/docs',
);

# "METHOD /path" => { flag => 0|1 } from the route table's entries
#   { NGX_HTTP_GET|NGX_HTTP_POST, ngx_string("/api/v1/..."), handler,
#     NGX_LIAUTO_ROUTE_... flags, NGX_LIAUTO_ROLE_... floor, ... },
sub route_table {
    my $file = "$root/ngx_liauto_module/ngx_liauto_router.c";
    open my $fh, '<', $file or die "$file: $!";
    my $src = do { local $/; <$fh> };
    my %routes;

    while ($src =~ m!\{\s*((?:NGX_HTTP_[A-Z]+\s*\|?\s*)+),
                     \s*ngx_string\("(/api/[^"]*)"\)\s*,([^}]*)\}!gx)
    {
        my ($methods, $path, $rest) = ($1, $2, $3);
        for my $m (split /\s*\|\s*/, $methods) {
            $m =~ s/^NGX_HTTP_//;
            $routes{"$m $path"} = {
                public   => $rest =~ /NGX_LIAUTO_ROUTE_PUBLIC\b/ ? 1 : 0,
                json_in  => $rest =~ /NGX_LIAUTO_ROUTE_BODY\b/ ? 1 : 0,
                csv_in   => $rest =~ /NGX_LIAUTO_ROUTE_CSV_IN\b/ ? 1 : 0,
                csv_out  => $rest =~ /NGX_LIAUTO_ROUTE_CSV_OUT\b/ ? 1 : 0,
                # only the role floor answers 403 (tenants get 404)
                forbids  => $rest =~ /NGX_LIAUTO_ROLE_(?:AGENT|ADMIN)\b/
                            ? 1 : 0,
            };
        }
    }
    return \%routes;
}

sub ref_name {
    my $node = shift;
    return ref $node eq 'HASH' && ($node->{'$ref'} // '') =~ m{([^/]+)$}
        ? $1 : '';
}

sub deref {
    my $node = shift;
    while (ref $node eq 'HASH' && $node->{'$ref'}) {
        my @steps = split m{/}, substr($node->{'$ref'}, 2);
        $node = $spec;
        $node = $node->{$_} for @steps;
    }
    return $node;
}

my $routes = route_table();
my %in_spec = map { ("$_->[0] $_->[1]" => $_->[2]) } @spec_ops;

ok(exists $routes->{'GET /api/v1/health'},
   'the route table parses (GET /api/v1/health found)')
    or diag 'no route found: has the format of ngx_liauto_router.c changed?';

my @undocumented = grep { !$in_spec{$_} } sort keys %$routes;
is_deeply(\@undocumented, [],
          'every operation of the route table is in openapi.yaml')
    or diag "in the route table, missing from openapi/openapi.yaml:\n  "
            . join("\n  ", @undocumented);

my @bad_status = grep {
    ($in_spec{$_}{'x-liauto-status'} // '') !~ /^(?:implemented|planned)$/
} sort keys %in_spec;
is_deeply(\@bad_status, [],
          'every operation says x-liauto-status: implemented or planned')
    or diag "without a valid x-liauto-status:\n  " . join("\n  ", @bad_status);

my @phantom = grep {
    ($in_spec{$_}{'x-liauto-status'} // '') eq 'implemented'
        && !$routes->{$_} && !$SERVED_BY_CONF{$_}
} sort keys %in_spec;
is_deeply(\@phantom, [],
          'every operation marked implemented is in the route table')
    or diag "x-liauto-status: implemented, absent from the route table:\n  "
            . join("\n  ", @phantom);

# Not a failure while routes land ahead of the spec edit: a reminder.
my @unmarked = grep {
    $in_spec{$_} && ($in_spec{$_}{'x-liauto-status'} // '') eq 'planned'
} sort keys %$routes;
diag "served by the route table but still x-liauto-status: planned in"
     . " openapi.yaml (flip them to implemented):\n  "
     . join("\n  ", @unmarked)
    if @unmarked;

# the same facts, as the spec states them
sub spec_flags {
    my $op = shift;
    my $body = deref($op->{requestBody} // {})->{content} // {};
    my @ok = map { deref($op->{responses}{$_})->{content} // {} }
             grep { /^2/ } keys %{ $op->{responses} };

    return {
        public  => ref $op->{security} eq 'ARRAY' && !@{ $op->{security} }
                   ? 1 : 0,
        json_in => $body->{'application/json'} ? 1 : 0,
        csv_in  => $body->{'text/csv'} ? 1 : 0,
        csv_out => (grep { $_->{'text/csv'} } @ok) ? 1 : 0,
        forbids => $op->{responses}{403} ? 1 : 0,
    };
}

my %FLAG_MEANING = (
    public  => 'public (security: [])',
    json_in => 'a JSON request body',
    csv_in  => 'a text/csv request body',
    csv_out => 'a text/csv response',
    forbids => 'a role floor above viewer (403)',
);

my @flag_mismatch;
for my $op (sort keys %$routes) {
    my $o = $in_spec{$op} or next;
    my $spec_has = spec_flags($o);
    for my $flag (sort keys %FLAG_MEANING) {
        next if $spec_has->{$flag} == $routes->{$op}{$flag};
        push @flag_mismatch, "$op: $FLAG_MEANING{$flag} in the "
            . ($routes->{$op}{$flag} ? 'route table' : 'spec')
            . ' only';
    }
}
is_deeply(\@flag_mismatch, [],
          'the route flags (public, bodies, CSV, role floor) match the spec')
    or diag join "\n  ", '', @flag_mismatch;


# ----------------------------------------------- the spec's own conventions

my (@incomplete, @no_idempotency, @bad_errors);

for (@spec_ops) {
    my ($method, $path, $op) = @$_;
    my $name = "$method $path";

    push @incomplete, "$name: no $_"
        for grep { !$op->{$_} } qw(operationId tags summary responses);

    # webhook receivers dedupe on their delivery key, not Idempotency-Key
    if ($method =~ /^(?:POST|PATCH|DELETE|PUT)$/
        && $path !~ m{^/api/v1/webhooks/unipile/})
    {
        my $has_key = grep { ref_name($_) eq 'IdempotencyKey' }
                           @{ $op->{parameters} // [] };
        push @no_idempotency, "$name: no Idempotency-Key parameter"
            if !$has_key;
        push @no_idempotency, "$name: no $_ response"
            for grep { !$op->{responses}{$_} } qw(409 422);
    }

    for my $status (sort keys %{ $op->{responses} }) {
        next if $status !~ /^[45]/;
        my $content = deref($op->{responses}{$status})->{content} // {};
        my $schema = $content->{'application/json'}{schema};
        push @bad_errors, "$name $status"
            if keys %$content != 1 || ref_name($schema) ne 'Error';
    }
}

is_deeply(\@incomplete, [],
          'every operation has operationId, tags, summary and responses')
    or diag join "\n  ", '', @incomplete;
is_deeply(\@no_idempotency, [],
          'every mutation takes Idempotency-Key and documents 409 and 422')
    or diag join "\n  ", '', @no_idempotency;
is_deeply(\@bad_errors, [],
          'every failure response is the Error schema, as JSON only')
    or diag "failure responses that are not just application/json Error:"
            . join "\n  ", '', @bad_errors;

my %operation_ids;
my @dup_ids = grep { $operation_ids{$_}++ } map { $_->[2]{operationId} }
                   @spec_ops;
is_deeply(\@dup_ids, [], 'operationIds are unique');


# ---------------------------------------- the validator on known answers

my $health = '{"status": "ok", "database": "ok", "workers_alive": 1,'
           . ' "schema_version": "0001"}';

is_deeply([validate_response('GET', '/api/v1/health', 200, $health)], [],
          'validator: a correct health body passes');

is_deeply([validate_response('GET', '/api/v1/health', 200,
           '{"status": "ok", "database": "ok", "workers_alive": "1",'
           . ' "schema_version": "0001", "password_hash": "x"}')],
          ['GET /api/v1/health 200: /password_hash: undeclared property'
           . ' not allowed',
           'GET /api/v1/health 200: /workers_alive: expected integer,'
           . ' got string'],
          'validator: a wrong type and an undeclared property are reported');

is_deeply([validate_response('GET', '/api/v1/health', 418, '{}')],
          ['GET /api/v1/health 418: status 418 is not documented'],
          'validator: an undocumented status is reported');

is_deeply([validate_response('GET', '/api/v1/health', 200, $health,
                             'text/html; charset=utf-8')],
          ['GET /api/v1/health 200: Content-Type text/html, the spec says'
           . ' application/json'],
          'validator: a Content-Type the spec does not list is reported');

is_deeply([validate_response('GET', '/api/v1/campaigns/{id}/leads/export',
                             200, "id\r\n", 'text/csv; charset=utf-8')], [],
          'validator: a CSV answer with its media type passes');

is_deeply([validate_response('GET', '/api/v1/nowhere', 200, '{}')],
          ['GET /api/v1/nowhere 200: no path /api/v1/nowhere in the spec'],
          'validator: an unknown path is reported');

is_deeply([validate_response('DELETE', '/api/v1/leads/{id}', 204, '{}')],
          ['DELETE /api/v1/leads/{id} 204: the spec says no body, got'
           . ' 2 bytes'],
          'validator: a body where the spec has none is reported');

# the two answers of api.ingest_webhook (t/040 makes them for real)
is_deeply([map { validate_response('POST', '/api/v1/webhooks/unipile/users',
                                   200, $_) }
           '{"id": "0b6f3c1e-8a55-4b0e-9c39-5f2d7d0c9a11", "status":'
           . ' "accepted"}', '{"status": "duplicate"}'], [],
          'validator: a webhook accepted or duplicate answer passes');
is_deeply([validate_response('POST', '/api/v1/webhooks/unipile/users', 200,
                             '{"status": "duplicate", "id": "x"}')],
          ['POST /api/v1/webhooks/unipile/users 200: /: matches none of'
           . ' oneOf: [0] /id: "x" is not a uuid, /status: "duplicate" is'
           . ' not one of "accepted"; [1] /id: undeclared property not'
           . ' allowed'],
          'validator: a duplicate answer with an id does not');

# the module's own 503 envelope (t/001-health.t) against the Error schema
is(path_template('/api/v1/campaigns/3f0e2a8b-9c4d-4e5f-a6b7-c8d9e0f1a2b3'
                 . '/leads/import?x=1'),
   '/api/v1/campaigns/{id}/leads/import',
   'validator: a request URI finds its template');
is(path_template('/api/v1/leads/9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d/events'),
   '/api/v1/leads/{id}/events',
   'validator: a request URI with an id finds the template with {id}');
is(path_template('/api/v1/leads//events'), undef,
   'validator: an empty segment matches no {param}');

is_deeply([validate_response('GET', '/api/v1/health', 503,
           '{"code":"SERVICE_UNAVAILABLE","message":"the database is not'
           . ' available","details":{"status":"error","database":'
           . '"unreachable","reason":"connection refused"}}')], [],
          'validator: the 503 envelope passes as Error');

is_deeply([validate_response('GET', '/api/v1/health', 503,
           '{"code":"SERVICE_UNAVAILABLE","message":"down"}')],
          ['GET /api/v1/health 503: /details: required, missing'],
          'validator: an envelope without details is reported');

is_deeply([validate_schema({ '$ref' => '#/components/schemas/Sequence' },
    { steps => [ { type => 'invite', note => undef, delay_days => 0 },
                 { type => 'message', text => 'Hi {{first_name}}',
                   delay_minutes => 90 } ] })], [],
    'validator: a sequence with a null note and minute delays passes');

is_deeply([validate_schema({ '$ref' => '#/components/schemas/MessageStep' },
    { type => 'message', text => 'x', delay_days => 1, delay_minutes => 1 })],
    ['/: matches 2 of oneOf, must match one'],
    'validator: both delay_days and delay_minutes is reported (oneOf)');

is_deeply([validate_schema({ '$ref' => '#/components/schemas/SequenceInput' },
                           { steps => [] })],
          ['/steps: fewer than 1 items'],
          'validator: allOf adds minItems to a PUT sequence (a GET may be empty)');

is_deeply([validate_schema({ '$ref' => '#/components/schemas/LeadCreate' },
    { campaign_id => '3f0e2a8b-9c4d-4e5f-a6b7-c8d9e0f1a2b3',
      first_name => 'Ada', owner => 'x' })],
    ['/owner: unevaluated property not allowed'],
    'validator: unevaluatedProperties sees through allOf');

is_deeply([validate_schema({ '$ref' => '#/components/schemas/Event' },
    { id => 'nope', type => 'message_sent', occurred_at => '24/11/2026',
      lead_id => '5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a',
      campaign_id => '3f0e2a8b-9c4d-4e5f-a6b7-c8d9e0f1a2b3',
      account_id => undef, meta => {},
      created_at => '2026-11-24T09:12:03.120Z' })],
    ['/id: "nope" is not a uuid',
     '/occurred_at: "24/11/2026" is not a date-time'],
    'validator: uuid and date-time formats are checked, null allowed');

is_deeply([validate_schema({ type => 'array', contains => {} }, [])],
          ["/: the validator does not know the schema keyword 'contains'"],
          'validator: an unsupported keyword fails instead of passing');

is_deeply([validate_schema({ '$ref' => '#/components/schemas/MessageStep' },
    { type => 'message', text => 'x', delay_days => 1,
      variants => ['c', 'd'] })],
    ['/: matches the schema under "not"'],
    'validator: "not" refuses a text and variants together');


# ---------------------------------------------------- nginx: serving, real

sub main::openapi_file {
    open my $fh, '<:raw', "$root/openapi/openapi.yaml" or die $!;
    local $/;
    return <$fh>;
}

# GET a path of the running test nginx: (status, body bytes)
sub main::fetch {
    my $path = shift;
    my $res = LWP::UserAgent->new(timeout => 10)
        ->get('http://127.0.0.1:' . server_port() . $path);
    return ($res->code, $res->content);
}

# an HS256 key for the module to sign and verify access tokens with
our $key_dir = File::Temp::tempdir(CLEANUP => 1);
$ENV{TEST_NGINX_OPENAPI_KEY} = "$key_dir/hs256.key";
{
    open my $fh, '>', $ENV{TEST_NGINX_OPENAPI_KEY} or die $!;
    print $fh "openapi-conformance-secret-0123456789abcdef\n";
}

# an admin to log in as (the database is shared with the other .t files,
# whose failed logins from 127.0.0.1 count against the per-address
# throttle too: the attempts are cleared)
our $admin_email = 'admin@t030-openapi.test';
our $admin_password = 'openapi conformance password';

sub main::create_admin {
    my @psql = ('psql', '-q', '-X', '-v', 'ON_ERROR_STOP=1',
                '-v', "email=$admin_email", '-v', "pw=$admin_password",
                $ENV{TEST_NGINX_LIAUTO_DSN});
    open my $psql, '|-', @psql or die "psql: $!";
    print $psql <<'_SQL_';
INSERT INTO liauto.users (email, password_hash, role)
VALUES (:'email', liauto.hash_password(:'pw'), 'admin')
ON CONFLICT ((lower(email))) DO UPDATE
   SET password_hash = EXCLUDED.password_hash, role = 'admin',
       client_id = NULL;
DELETE FROM liauto.login_attempts;
_SQL_
    close $psql or die "psql failed creating the admin";
}

# One call of the running test nginx: checks that it answers $status and
# that its body conforms to the spec for (method, path, status); returns
# the response.
sub main::api {
    my ($method, $path, $status, %opt) = @_;
    my $req = HTTP::Request->new($method,
        'http://127.0.0.1:' . server_port() . $path);
    $req->header(Authorization => "Bearer $opt{token}") if $opt{token};
    if (exists $opt{json}) {
        $req->header('Content-Type' => 'application/json');
        $req->content(JSON::PP->new->encode($opt{json}));
    }
    if (exists $opt{csv}) {
        $req->header('Content-Type' => 'text/csv');
        $req->content($opt{csv});
    }
    my $res = LWP::UserAgent->new(timeout => 10)->request($req);
    is($res->code, $status, "$method $path answers $status")
        or diag $res->content;
    response_conforms($method, $path, $res->code, $res->content,
                      "$method $path " . $res->code
                      . ': the body conforms to openapi.yaml',
                      $res->header('Content-Type') // '');
    return $res;
}

sub main::decode { JSON::PP->new->decode($_[0]->content) }

# Like main::api for an operation the route table may not serve yet: while
# the spec says x-liauto-status: planned nothing is called and undef comes
# back, so the sweep below grows by itself as operations are marked
# implemented.
sub main::api_when_served {
    my ($method, $path, @rest) = @_;
    my $op = $spec->{paths}{ path_template($path) }{ lc $method };
    return undef if ($op->{'x-liauto-status'} // '') ne 'implemented';
    return main::api($method, $path, @rest);
}

# the "id" of a successful JSON answer, undef otherwise
sub main::id_of {
    my $res = shift;
    return $res && $res->is_success ? main::decode($res)->{id} : undef;
}

sub main::psql {
    my $sql = shift;
    system('psql', '-q', '-X', '-v', 'ON_ERROR_STOP=1',
           $ENV{TEST_NGINX_LIAUTO_DSN}, '-c', $sql) == 0
        or die "psql failed: $sql";
}

our $http_config = <<'_EOC_';
    liauto_postgres "$TEST_NGINX_LIAUTO_DSN";
    liauto_jwt_key_file $TEST_NGINX_OPENAPI_KEY;
    map $uri $liauto_home {
        default $TEST_NGINX_LIAUTO_ROOT;
    }
_EOC_

our $config = <<'_EOC_';
    include $TEST_NGINX_LIAUTO_ROOT/conf/liauto-api.conf;
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("http_config", $::http_config)
        unless defined $block->http_config;
    $block->set_value("config", $::config) unless defined $block->config;
});

run_tests();

__DATA__

=== TEST 1: the spec is served as UTF-8 application/yaml, byte for byte
--- request
GET /api/v1/openapi.yaml
--- response_headers
Content-Type: application/yaml; charset=utf-8
--- response_body eval
main::openapi_file()
--- no_error_log
[error]



=== TEST 2: /docs is our Swagger UI page, loading the spec from nginx
--- request
GET /api/v1/docs
--- response_headers
Content-Type: text/html; charset=utf-8
--- response_body_like chomp
<script src="docs/swagger-ui-bundle.js"></script>[\s\S]*url: "openapi.yaml"
--- no_error_log
[error]



=== TEST 3: Swagger UI's script comes from swagger-ui-dist, as JavaScript
--- request
GET /api/v1/docs/swagger-ui-bundle.js
--- response_headers
Content-Type: application/javascript; charset=utf-8
--- response_body_like chomp
SwaggerUIBundle
--- no_error_log
[error]



=== TEST 4: and its stylesheet as CSS
--- request
GET /api/v1/docs/swagger-ui.css
--- response_headers
Content-Type: text/css; charset=utf-8
--- response_body_like chomp
\.swagger-ui
--- no_error_log
[error]



=== TEST 5: other files of the package are not exposed (the API's 404)
--- request
GET /api/v1/docs/index.html
--- error_code: 404
--- response_body chomp
{"code":"NOT_FOUND","message":"no such resource","details":{}}



=== TEST 6: another method on the spec → the API's 405 envelope with Allow
--- request
POST /api/v1/openapi.yaml
x
--- error_code: 405
--- response_headers
Allow: GET, HEAD
Content-Type: application/json
--- response_body chomp
{"code":"METHOD_NOT_ALLOWED","message":"method not allowed on this resource","details":{"allow":"GET, HEAD"}}



=== TEST 7: a real health answer validates against the spec; a tampered one does not
--- init
my ($status, $body) = main::fetch('/api/v1/health');
Test::More::is($status, 200, 'health answers 200');
main::response_conforms('GET', '/api/v1/health', $status, $body,
                        'the real health body conforms to openapi.yaml');
my $data = JSON::PP->new->decode($body);
$data->{workers_alive} = "$data->{workers_alive}";
Test::More::is_deeply(
    [main::validate_response('GET', '/api/v1/health', $status,
                             JSON::PP->new->encode($data))],
    ['GET /api/v1/health 200: /workers_alive: expected integer, got string'],
    'the same body with workers_alive as a string does not');
--- request
GET /api/v1/health
--- error_code: 200



=== TEST 8: every implemented resource operation answers what the spec says
--- init
main::create_admin();
my $admin = { email => $::admin_email, password => $::admin_password };
my $agent = { email => 'agent@t030-openapi.test',
              password => 'a long enough secret' };

main::api('POST', '/api/v1/auth/login', 401,
          json => { %$admin, password => 'wrong password!' });
my $tokens = main::decode(main::api('POST', '/api/v1/auth/login', 200,
                                    json => $admin));
my $t = $tokens->{access_token};

main::api('GET', '/api/v1/auth/me', 200, token => $t);
main::api('GET', '/api/v1/auth/me', 401);

my $client = main::decode(main::api('POST', '/api/v1/clients', 201,
    token => $t, json => { name => 't030 client', timezone => 'UTC' }))->{id};
main::api('POST', '/api/v1/clients', 422, token => $t,
          json => { name => '', colour => 'blue' });
main::api('GET', '/api/v1/clients?limit=1&sort=name&order=asc', 200,
          token => $t);
main::api('GET', '/api/v1/clients?colour=blue', 400, token => $t);
main::api('GET', "/api/v1/clients/$client", 200, token => $t);
main::api('GET', '/api/v1/clients/3f0e2a8b-9c4d-4e5f-a6b7-c8d9e0f1a2b3', 404,
          token => $t);
main::api('GET', '/api/v1/clients/not-a-uuid', 400, token => $t);
main::api('PATCH', "/api/v1/clients/$client", 200, token => $t,
          json => { email => 'reports@t030.test', settings => { a => 1 } });

my $user = main::decode(main::api('POST', '/api/v1/users', 201, token => $t,
    json => { %$agent, role => 'viewer', client_id => $client }))->{id};
main::api('GET', '/api/v1/users?filter[role]=viewer', 200, token => $t);
main::api('GET', "/api/v1/users/$user", 200, token => $t);
main::api('PATCH', "/api/v1/users/$user", 200, token => $t,
          json => { role => 'agent' });

my $a = main::decode(main::api('POST', '/api/v1/auth/login', 200,
                               json => $agent))->{access_token};
main::api('GET', '/api/v1/users', 403, token => $a);
main::api('GET', '/api/v1/clients', 200, token => $a);

main::api('DELETE', "/api/v1/users/$user", 204, token => $t);
main::api_when_served('GET', '/api/v1/webhooks/health', 200, token => $t);
# this nginx has no webhook secret: refused, as the spec says
main::api_when_served('POST', '/api/v1/webhooks/unipile/messaging', 503,
                      json => { event => 'message_received' });
main::api('DELETE', "/api/v1/clients/$client", 204, token => $t);

my $fresh = main::decode(main::api('POST', '/api/v1/auth/refresh', 200,
    json => { refresh_token => $tokens->{refresh_token} }));
main::api('POST', '/api/v1/auth/logout', 204,
          token => $fresh->{access_token},
          json => { refresh_token => $fresh->{refresh_token} });
main::api('POST', '/api/v1/auth/refresh', 401,
          json => { refresh_token => $tokens->{refresh_token} });
--- request
GET /api/v1/health
--- error_code: 200



=== TEST 9: accounts, campaigns, leads and the scheduler, as they become implemented
--- init
main::create_admin();
my $t = main::decode(main::api('POST', '/api/v1/auth/login', 200,
    json => { email => $::admin_email,
              password => $::admin_password }))->{access_token};
my $client = main::id_of(main::api('POST', '/api/v1/clients', 201,
    token => $t, json => { name => 't030 resources' }));

my $acc = main::id_of(main::api_when_served('POST',
    '/api/v1/linkedin-accounts', 201, token => $t,
    json => { client_id => $client, name => 'Jane (t030)',
              unipile_account_id => 't030-unipile-account' }));
main::api_when_served('POST', '/api/v1/linkedin-accounts', 409, token => $t,
    json => { client_id => $client, name => 'Jane again',
              unipile_account_id => 't030-unipile-account' });
main::api_when_served('GET', '/api/v1/linkedin-accounts?filter[status]=ok',
                      200, token => $t);
if ($acc) {
    main::api_when_served('GET', "/api/v1/linkedin-accounts/$acc", 200,
                          token => $t);
    main::api_when_served('PATCH', "/api/v1/linkedin-accounts/$acc", 200,
                          token => $t, json => { daily_invite_limit => 10,
                                                 warmup_days => 14 });
    main::api_when_served('GET', "/api/v1/linkedin-accounts/$acc/budget",
                          200, token => $t);
    main::api_when_served('GET',
                          "/api/v1/linkedin-accounts/$acc/invitations", 200,
                          token => $t);
}

my $camp = main::id_of(main::api_when_served('POST', '/api/v1/campaigns',
    201, token => $t,
    json => { client_id => $client, name => 't030 campaign',
              working_days => [1, 2, 3], ($acc ? (linkedin_account_id => $acc)
                                                : ()) }));
main::api_when_served('POST', '/api/v1/campaigns', 422, token => $t,
    json => { client_id => $client, name => '',
              working_hours_start => '25:00' });
main::api_when_served('GET', '/api/v1/campaigns?sort=status', 200,
                      token => $t);

if ($camp) {
    my $c = "/api/v1/campaigns/$camp";
    main::api_when_served('GET', $c, 200, token => $t);
    main::api_when_served('PATCH', $c, 200, token => $t,
                          json => { name => 't030 campaign b' });
    main::api_when_served('POST', "$c/actions/start", 422, token => $t);
    main::api_when_served('GET', "$c/sequence", 200, token => $t);
    main::api_when_served('PUT', "$c/sequence", 200, token => $t,
        json => { steps => [
            { type => 'invite', note => 'Hi {{first_name|there}}',
              delay_days => 0 },
            { type => 'message', text => 'Hello {{company}}',
              delay_minutes => 90 } ] });
    main::api_when_served('PUT', "$c/sequence", 422, token => $t,
        json => { steps => [ { type => 'message', text => '{{nope}}',
                               delay_days => -1 } ] });
    main::api_when_served('GET', "$c/status", 200, token => $t);
    main::api_when_served('PUT', "$c/sequence", 200, token => $t,
        json => { steps => [
            { type => 'invite', variants => ['Hi {{first_name}}', 'Hello'],
              delay_days => 0 } ] });
    main::api_when_served('GET', "$c/sequence", 200, token => $t);
    main::api_when_served('PUT', "$c/sequence", 200, token => $t,
        json => { steps => [
            { type => 'invite', note => undef, delay_days => 0,
              if_not_accepted => { after_days => 14, then => 'branch' } },
            { type => 'message', text => 'Thanks', delay_days => 1 },
            { type => 'invite', note => 'Again', delay_days => 15,
              branch => 'not_accepted' },
            { type => 'message', text => 'Glad', delay_days => 1,
              branch => 'not_accepted' } ] });
    main::api_when_served('PUT', "$c/sequence", 200, token => $t,
        json => { steps => [
            { type => 'invite', note => undef, delay_days => 0,
              if_not_accepted => { after_days => 14, then => 'branch' } },
            { type => 'inmail', text => 'Hello', delay_days => 1,
              branch => 'not_accepted' } ] });
    main::api_when_served('GET', "$c/sequence/versions", 200, token => $t);
    main::api_when_served('GET', "$c/analytics/variants", 200, token => $t);

    my $lead = main::id_of(main::api_when_served('POST', '/api/v1/leads',
        201, token => $t,
        json => { campaign_id => $camp, first_name => 'Ada',
                  profile_url => 'https://www.linkedin.com/in/ada-t030/',
                  custom_fields => { source => 'conference' } }));
    main::api_when_served('POST', "$c/leads", 409, token => $t,
        json => { first_name => 'Ada',
                  profile_url => 'https://linkedin.com/in/ada-t030' });
    main::api_when_served('POST', "$c/leads", 201, token => $t,
        json => { first_name => 'Bob', public_identifier => 'bob-t030' });
    main::api_when_served('GET', '/api/v1/leads?filter[search]=ad&limit=1',
                          200, token => $t);
    main::api_when_served('GET', "$c/leads?sort=last_name", 200,
                          token => $t);
    main::api_when_served('POST', "$c/leads/import", 200, token => $t,
        csv => "\xEF\xBB\xBFFirst Name,LinkedIn URL,Source\r\n"
              . "Cy,https://www.linkedin.com/in/cy-t030/,\"conf, 2026\"\r\n"
              . "Ada,https://www.linkedin.com/in/ada-t030,\r\n"
              . "Nobody,,\r\n");
    main::api_when_served('GET', "$c/leads/export?format=csv", 200,
                          token => $t);
    main::api_when_served('GET', "$c/events/export?format=csv", 200,
                          token => $t);
    if ($lead) {
        main::psql("INSERT INTO liauto.events (client_id, lead_id,"
                   . " campaign_id, account_id, type) VALUES ('$client',"
                   . " '$lead', '$camp', " . ($acc ? "'$acc'" : 'NULL')
                   . ", 'connection_request_sent')");
        # analytics (0018) over that event
        main::api_when_served('GET', $_, 200, token => $t)
            for ("$c/analytics/summary?days=7",
                 "$c/analytics/timeseries?days=3",
                 "/api/v1/analytics/campaigns/$camp/funnel",
                 "/api/v1/analytics/real-time",
                 "/api/v1/analytics/clients/$client/comparative"
                 . "?clients=$client",
                 "/api/v1/analytics/export?view=funnel&id=$camp",
                 ($acc ? "/api/v1/analytics/accounts/$acc/rate-usage"
                       : ()));
        main::api_when_served('GET', "$c/analytics/timeseries?days=0", 400,
                              token => $t);
        main::api_when_served('GET', "/api/v1/leads/$lead", 200,
                              token => $t);
        main::api_when_served('PATCH', "/api/v1/leads/$lead", 200,
                              token => $t, json => { status => 'skipped' });
        main::api_when_served('GET', "/api/v1/leads/$lead/events", 200,
                              token => $t);
        main::api_when_served('DELETE', "/api/v1/leads/$lead", 204,
                              token => $t);
    }
    if ($acc) {
        main::api_when_served('POST', "$c/actions/start", 200, token => $t);
        main::api_when_served('POST', "$c/actions/pause", 200, token => $t);
        main::api_when_served('DELETE', "/api/v1/linkedin-accounts/$acc",
                              409, token => $t);
    }
    main::api_when_served('DELETE', $c, 204, token => $t);
}
if ($acc) {
    main::api_when_served('DELETE', "/api/v1/linkedin-accounts/$acc", 204,
                          token => $t);
}

my $entry = main::id_of(main::api_when_served('POST', '/api/v1/blocklist',
    201, token => $t, json => { client_id => $client, kind => 'domain',
                                value => 'https://www.t030.example/x' }));
main::api_when_served('POST', '/api/v1/blocklist', 409, token => $t,
    json => { client_id => $client, kind => 'domain', value => 't030.example' });
main::api_when_served('POST', '/api/v1/blocklist', 422, token => $t,
    json => { client_id => $client, kind => 'person', value => '' });
main::api_when_served('GET', '/api/v1/blocklist?filter[kind]=domain', 200,
                      token => $t);
main::api_when_served('DELETE', "/api/v1/blocklist/$entry", 204, token => $t)
    if $entry;

main::api_when_served('GET', '/api/v1/automation/scheduler/status', 200,
                      token => $t);
main::api_when_served('POST', '/api/v1/automation/scheduler/actions/stop',
                      200, token => $t);
main::api_when_served('POST', '/api/v1/automation/scheduler/actions/start',
                      200, token => $t);
main::api_when_served('GET', '/api/v1/webhooks/health', 200, token => $t);
# this nginx has no webhook secret: refused, as the spec says
main::api_when_served('POST', '/api/v1/webhooks/unipile/messaging', 503,
                      json => { event => 'message_received' });
main::api('DELETE', "/api/v1/clients/$client", 204, token => $t);
--- request
GET /api/v1/health
--- error_code: 200
