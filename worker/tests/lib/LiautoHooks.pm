package LiautoHooks;

# Webhook fixtures for the worker's end-to-end tests. The module's edge
# (POST /webhooks/unipile/...) is not part of these tests: the simulator's
# webhooks are registered to a closed port and held, and forward()
# stores each held delivery in liauto.webhook_events the way the edge
# does (raw body, one row per delivery key, NOTIFY liauto_webhooks).

use strict;
use warnings;

use Exporter 'import';
use JSON::PP;
use LiautoWorker qw(psql);
use LiautoSim qw(sim_control sim_api);
use LiautoEngine qw(sql_text);

our @EXPORT = qw(hold_webhooks forward_deliveries delivery_outcomes);

my $json = JSON::PP->new->canonical;
my %forwarded;

my %source = (users => 'unipile_users', messaging => 'unipile_messaging',
              account_status => 'unipile_account_status');

# One registration per source; deliveries are recorded and held.
sub hold_webhooks {
    for my $s (sort keys %source) {
        sim_api('POST', 'webhooks', {
            request_url => "http://127.0.0.1:9/$s", source => $s,
            name => "test-$s",
            headers => [{ key => 'Unipile-Auth', value => 'secret' }] });
    }
    sim_control('POST', 'deliveries/mode', { hold => JSON::PP::true });
}

# The edge's identity of a delivery across Unipile's retries.
sub delivery_key {
    my ($d, $body) = @_;
    return "messaging:$body->{event}:$body->{message_id}"
        if $d->{source} eq 'messaging' && $body->{message_id};
    return "users:$body->{event}:$body->{account_id}:"
           . "$body->{user_provider_id}"
        if $d->{source} eq 'users' && $body->{user_provider_id};
    return "sim:$d->{id}";
}

# Stores the held deliveries not stored yet (lost ones never arrive);
# returns how many rows were new.
sub forward_deliveries {
    my ($db) = @_;
    my $new = 0;

    for my $d (@{ sim_control('GET', 'deliveries?status=held')
                      ->{deliveries} }) {
        next if $forwarded{$d->{id}}++;
        my $key = delivery_key($d, $json->decode($d->{body}));
        my $id = psql($db, "INSERT INTO liauto.webhook_events (source,"
                           . " delivery_key, body, headers, received_at)"
                           . " VALUES ('$source{$d->{source}}', "
                           . sql_text($key) . ', ' . sql_text($d->{body})
                           . ", '{}', liauto.now())"
                           . ' ON CONFLICT (delivery_key) DO NOTHING'
                           . ' RETURNING id');
        next if $id eq '';
        psql($db, "NOTIFY liauto_webhooks, '$id'");
        $new++;
    }
    return $new;
}

# "outcome" per stored delivery of an event, e.g. new_relation.
sub delivery_outcomes {
    my ($db, $event) = @_;
    return psql($db, "SELECT coalesce(string_agg(coalesce(outcome, 'none'),"
                     . " ',' ORDER BY received_at), '')"
                     . " FROM liauto.webhook_events"
                     . " WHERE body::jsonb ->> 'event' = '$event'");
}

1;
