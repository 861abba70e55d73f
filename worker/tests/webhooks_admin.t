# Managing Unipile's webhooks through runs the worker carries out: the
# repair removes the seed's incident (a messaging webhook pointed at
# /users), a duplicate and one without the secret, registers what is
# missing with the secret header, leaves other apps' webhooks alone, and
# changes nothing the second time; a delete removes one webhook.

use strict;
use warnings;

use File::Temp qw(tempdir);
use FindBin;
use JSON::PP;
use lib "$FindBin::Bin/lib";
use LiautoWorker;
use LiautoSim;
use LiautoEngine;
use Test::More;

build_worker();
start_simulator();

my $tmp = tempdir(CLEANUP => 1);
my $db = engine_db();
my $base = 'http://127.0.0.1:9/api/v1/webhooks/unipile';
my $auth = [{ key => 'Unipile-Auth', value => 's3cret' }];

sub register {
    my ($source, $url, $headers) = @_;
    return sim_api('POST', 'webhooks', { source => $source,
                                         request_url => $url,
                                         headers => $headers // [] })
        ->{webhook_id};
}

my $good_users = register('users', "$base/users", $auth);
register('messaging', "$base/users", $auth);          # the seed's incident
my $second_users = register('users', "$base/users", $auth);
register('account_status', "$base/account-status");   # no secret
register('messaging', 'http://127.0.0.1:9/crm/hook');  # another app's

my $log = "$tmp/worker.log";
my $pid = start_worker({ LIAUTO_DATABASE_URL => "dbname=$db",
                         LIAUTO_WORKER_ID => "hooks-admin-t-$$",
                         LIAUTO_WEBHOOK_URL => $base,
                         LIAUTO_WEBHOOK_SECRET => 's3cret',
                         UNIPILE_DSN => sim_dsn(),
                         UNIPILE_API_KEY => sim_key() }, $log, 'run');

# an admin's request through the API function; the run's id
sub request {
    my ($fn, @path) = @_;
    my $path = @path ? "ARRAY['$path[0]']" : "'{}'::text[]";
    my $body = psql($db, "SELECT body FROM api.$fn('{\"role\": \"admin\"}',"
                         . " $path, '{}', '{}')");
    return decode_json($body)->{id};
}

sub run_done {
    my ($id) = @_;
    ok(wait_until(15, sub {
           psql($db, "SELECT status FROM liauto.sync_jobs WHERE id = '$id'")
               =~ /^(done|failed)$/ }), "run $id ends") or diag(slurp($log));
    return decode_json(psql($db, "SELECT row_to_json(j) FROM"
                                 . " liauto.sync_jobs AS j WHERE id = '$id'"));
}

sub hooks {
    return [ sort map { "$_->{source} $_->{request_url} "
                        . join('+', map { "$_->{key}=$_->{value}" }
                                        @{ $_->{headers} }) }
             @{ sim_api('GET', 'webhooks')->{items} } ];
}

my $run = run_done(request('admin_webhooks_ensure'));
is($run->{status}, 'done', 'the repair run is done') or diag($run->{error});
is_deeply($run->{counts}, { pages => 1, webhooks => 5, deleted => 3,
                            created => 2 },
          '... it deleted three webhooks and registered two');
is_deeply(hooks(), [
    "account_status $base/account-status Unipile-Auth=s3cret"
        . "+Content-Type=application/json",
    "messaging $base/messaging Unipile-Auth=s3cret"
        . "+Content-Type=application/json",
    'messaging http://127.0.0.1:9/crm/hook ',
    "users $base/users Unipile-Auth=s3cret" ],
    'one webhook per source at its URL with the secret; the other app\'s '
    . 'webhook is kept') or diag(explain(hooks()));
ok((grep { $_->{id} eq $good_users || $_->{id} eq $second_users }
         @{ sim_api('GET', 'webhooks')->{items} }),
   'one of the two correct users webhooks was kept, not recreated');

$run = run_done(request('admin_webhooks_ensure'));
is_deeply($run->{counts}, { pages => 1, webhooks => 4 },
          'a second repair changes nothing');

my $messaging = psql($db, "SELECT id FROM liauto.unipile_webhooks"
                          . " WHERE request_url = '$base/messaging'");
$run = run_done(request('admin_webhooks_delete', $messaging));
is($run->{status}, 'done', 'a delete run is done');
ok(!(grep { /^messaging \Q$base\E/ } @{ hooks() }),
   '... and the webhook is gone at Unipile');
is(psql($db, "SELECT count(*) FROM liauto.unipile_webhooks"
             . " WHERE id = '$messaging'"), 0, '... and from the cache');
like(slurp($log), qr/manage_webhooks run \S+: webhook \S+ deleted/,
     'the log says what was changed');
unlike(slurp($log), qr/s3cret/, 'the secret is never logged');

is(stop_worker($pid, 'TERM', 10), 0, 'the worker stops cleanly');

done_testing();
