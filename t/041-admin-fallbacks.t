# The admin endpoints of the webhook fallbacks (migrations 0017, 0023): asking
# for reply polling, relation sync and conversation backfill runs (202,
# one requested run per account in scope, the workers woken), reading a
# run, the applied migrations, Unipile's webhooks (the cached list, repair
# and delete runs); bad bodies and roles. Every real answer is
# checked against openapi/openapi.yaml.
use Test::Nginx::Socket 'no_plan';

use FindBin ();
use HTTP::Request ();
use JSON::PP ();
use LWP::UserAgent ();
use lib 't/lib';
use lib "$FindBin::Bin/lib/openapi";
use Liauto::Token qw(hs256);
use LiautoSpec qw(response_conforms);

repeat_each(1);
no_shuffle();
no_root_location();

$ENV{TEST_NGINX_LIAUTO_DSN} ||= 'dbname=liauto_test';
$ENV{TEST_NGINX_LIAUTO_ROOT} ||= '.';

# an admin, a viewer, two accounts, a campaign on the first
our ($admin_id, $viewer_id, $client, $acc1, $acc2, $camp) = split /\|/,
    `psql '$ENV{TEST_NGINX_LIAUTO_DSN}' -qAt -v ON_ERROR_STOP=1 <<'SQL'
DELETE FROM liauto.users WHERE email LIKE '%\@t041.test';
DELETE FROM liauto.campaigns WHERE name = 't041 campaign';
DELETE FROM liauto.linkedin_accounts WHERE unipile_account_id LIKE 't041-%';
DELETE FROM liauto.clients WHERE name = 't041 client';
WITH c AS (INSERT INTO liauto.clients (name) VALUES ('t041 client')
           RETURNING id),
     a AS (INSERT INTO liauto.users (email, password_hash, role)
           VALUES ('admin\@t041.test', liauto.hash_password('t041 secret'),
                   'admin') RETURNING id),
     v AS (INSERT INTO liauto.users (email, password_hash, role, client_id)
           SELECT 'viewer\@t041.test', liauto.hash_password('t041 secret'),
                  'viewer', id FROM c
           RETURNING id),
     l1 AS (INSERT INTO liauto.linkedin_accounts (client_id, name,
                                                  unipile_account_id)
            SELECT id, 'one', 't041-one' FROM c RETURNING id, client_id),
     l2 AS (INSERT INTO liauto.linkedin_accounts (client_id, name,
                                                  unipile_account_id)
            SELECT id, 'two', 't041-two' FROM c RETURNING id),
     k AS (INSERT INTO liauto.campaigns (client_id, linkedin_account_id,
                                         name)
           SELECT client_id, id, 't041 campaign' FROM l1 RETURNING id)
SELECT (SELECT id FROM a) || '|' || (SELECT id FROM v) || '|'
       || (SELECT id FROM c) || '|' || (SELECT id FROM l1) || '|'
       || (SELECT id FROM l2) || '|' || (SELECT id FROM k);
SQL`;
chomp $camp;
die "fixtures failed" unless $camp;

our $admin = hs256({ sub => $admin_id, role => 'admin' });
our $viewer = hs256({ sub => $viewer_id, role => 'viewer',
                      client_id => $client });

# One call: checks the status and that the body conforms to the spec.
sub main::call {
    my ($method, $path, $status, $token, $json) = @_;
    my $req = HTTP::Request->new($method,
        'http://127.0.0.1:' . server_port() . $path);
    $req->header(Authorization => "Bearer $token");
    if (defined $json) {
        $req->header('Content-Type' => 'application/json');
        $req->content(JSON::PP->new->encode($json));
    }
    my $res = LWP::UserAgent->new(timeout => 10)->request($req);
    Test::More::is($res->code, $status, "$method $path answers $status")
        or Test::More::diag($res->content);
    response_conforms($method, $path, $res->code, $res->content,
                      "$method $path " . $res->code . ' conforms',
                      $res->header('Content-Type') // '');
    return $res->content ne '' ? JSON::PP->new->decode($res->content) : {};
}

sub main::psql1 {
    my $sql = shift;
    my $out = `psql '$ENV{TEST_NGINX_LIAUTO_DSN}' -qAt -c "$sql"`;
    chomp $out;
    return $out;
}

our $http_config = <<'_EOC_';
    liauto_postgres "$TEST_NGINX_LIAUTO_DSN";
    liauto_jwt_key_file $TEST_NGINX_LIAUTO_ROOT/t/data/jwt-hs256.key;
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

=== TEST 1: reply backfill: one requested poll per account, or the one asked for
--- init
my $all = main::call('POST', '/api/v1/admin/backfill/replies', 202,
                     $::admin, {});
my %mine = map { $_->{account_id} => $_ } @{ $all->{data} };
Test::More::ok($mine{$::acc1} && $mine{$::acc2},
               'an empty body asks for every account');
Test::More::is(join(',', map { "$_->{job}:$_->{status}" }
                         @mine{$::acc1, $::acc2}),
               'poll_messages:requested,poll_messages:requested',
               '... each a requested poll_messages run');

my $one = main::call('POST', '/api/v1/admin/backfill/replies', 202,
                     $::admin, { account_id => $::acc1,
                                 since => '2026-11-23T08:00:00Z' });
Test::More::is(scalar @{ $one->{data} }, 1, 'account_id: one run');
Test::More::is(main::psql1("SELECT (params->>'since')::timestamptz"
                           . " = '2026-11-23T08:00:00Z' FROM"
                           . " liauto.sync_jobs WHERE id ="
                           . " '$one->{data}[0]{id}'"),
               't', '... from the time asked');

my $run = main::call('GET', "/api/v1/admin/jobs/$one->{data}[0]{id}", 200,
                     $::admin);
Test::More::is($run->{id}, $one->{data}[0]{id}, 'the run can be read back');
main::call('GET', '/api/v1/admin/jobs/3f0e2a8b-9c4d-4e5f-a6b7-c8d9e0f1a2b3',
           404, $::admin);
--- request
GET /api/v1/health
--- error_code: 200



=== TEST 2: relation sync for a campaign, conversation backfill for an account
--- init
my $rel = main::call('POST', '/api/v1/admin/sync/relations', 202, $::admin,
                     { campaign_id => $::camp });
Test::More::is(join(',', map { "$_->{job}:$_->{account_id}:"
                               . "$_->{campaign_id}" } @{ $rel->{data} }),
               "sync_relations:$::acc1:$::camp",
               'campaign_id: one run on the campaign\'s account, for it');
my $conv = main::call('POST', '/api/v1/admin/backfill/conversations', 202,
                      $::admin, { account_id => $::acc2 });
Test::More::is(join(',', map { "$_->{job}:$_->{account_id}" }
                         @{ $conv->{data} }),
               "backfill_conversations:$::acc2", 'account_id: one run');
Test::More::is_deeply($conv->{data}[0]{params}, { max_pages => 0 },
                      '... over every page');
--- request
GET /api/v1/health
--- error_code: 200



=== TEST 3: bad bodies are 422 with every field named, nothing requested
--- init
my $before = main::psql1('SELECT count(*) FROM liauto.sync_jobs');
my $e = main::call('POST', '/api/v1/admin/sync/relations', 422, $::admin,
                   { account_id => $::acc1, campaign_id => $::camp });
Test::More::is_deeply([sort keys %{ $e->{details} }], ['campaign_id'],
                      'account_id and campaign_id together');
$e = main::call('POST', '/api/v1/admin/backfill/conversations', 422,
                $::admin, { account_id => '3f0e2a8b-9c4d-4e5f-a6b7-'
                                          . 'c8d9e0f1a2b3' });
Test::More::is($e->{details}{account_id}, 'unknown account',
               'an unknown account');
$e = main::call('POST', '/api/v1/admin/backfill/replies', 422, $::admin,
                { since => 'last tuesday' });
Test::More::is($e->{details}{since}, 'must be an ISO 8601 time',
               'a since that is not a time');
$e = main::call('POST', '/api/v1/admin/backfill/replies', 422, $::admin,
                { since => '2020-01-01T00:00:00Z', colour => 'blue' });
Test::More::is($e->{details}{colour}, 'unknown field', 'an unknown field');
$e = main::call('POST', '/api/v1/admin/backfill/conversations', 422,
                $::admin, { campaign_id => $::camp });
Test::More::is($e->{details}{campaign_id}, 'unknown field',
               'campaign_id is only for the relation sync');
Test::More::is(main::psql1('SELECT count(*) FROM liauto.sync_jobs'),
               $before, 'no run was requested');
main::call('POST', '/api/v1/admin/backfill/replies', 403, $::viewer, {});
main::call('GET', '/api/v1/admin/migrations/status', 403, $::viewer);
--- request
GET /api/v1/health
--- error_code: 200



=== TEST 4: the applied migrations, in order, with the current version
--- init
my $m = main::call('GET', '/api/v1/admin/migrations/status', 200, $::admin);
my @versions = map { $_->{version} } @{ $m->{data} };
Test::More::is_deeply(\@versions, [sort @versions], 'in order');
Test::More::ok((grep { $_->{name} eq '0017_webhook_processing.sql' }
                     @{ $m->{data} }), 'this migration is listed');
Test::More::is($m->{current}, $versions[-1], 'current is the latest');
--- request
GET /api/v1/health
--- error_code: 200



=== TEST 5: Unipile webhooks: the cached list, a repair run, a delete run
--- init
main::psql1("DELETE FROM liauto.unipile_webhooks WHERE unipile_id LIKE"
            . " 't041-%'");
main::psql1("INSERT INTO liauto.unipile_webhooks (unipile_id, source,"
            . " request_url, header_keys, seen_at) VALUES ('t041-hook',"
            . " 'messaging', 'https://t041.example/users',"
            . " '{Unipile-Auth}', now())");
my $list = main::call('GET', '/api/v1/admin/webhooks', 200, $::admin);
my ($hook) = grep { $_->{unipile_id} eq 't041-hook' } @{ $list->{data} };
Test::More::is_deeply($hook->{header_keys}, ['Unipile-Auth'],
                      'the list shows what the worker saw, header names only');

my $run = main::call('POST', '/api/v1/admin/webhooks', 202, $::admin, {});
Test::More::is(join(' ', @$run{qw(job status)}),
               'manage_webhooks requested', 'POST asks for a repair run');
Test::More::is_deeply($run->{params}, { action => 'ensure' }, '... ensure');
main::call('POST', '/api/v1/admin/webhooks', 422, $::admin,
           { source => 'users' });

$run = main::call('DELETE', "/api/v1/admin/webhooks/$hook->{id}", 202,
                  $::admin);
Test::More::is_deeply($run->{params},
                      { action => 'delete', unipile_id => 't041-hook' },
                      'DELETE asks for a run deleting that webhook');
main::call('DELETE', '/api/v1/admin/webhooks/3f0e2a8b-9c4d-4e5f-a6b7-'
           . 'c8d9e0f1a2b3', 404, $::admin);
main::call('GET', '/api/v1/admin/webhooks', 403, $::viewer);
--- request
GET /api/v1/health
--- error_code: 200
