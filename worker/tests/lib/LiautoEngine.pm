package LiautoEngine;

# The sequence engine's end-to-end fixtures: a throwaway database with the
# project's migrations and the engine clock on a Monday 10:00 in Paris, a
# sender account (simulator and database, no pacing, high limits), an
# active campaign, leads, and one clock for the engine and the simulator.

use strict;
use warnings;

use Exporter 'import';
use LiautoWorker qw(scratch_db psql run_worker);
use LiautoSim qw(sim_control sim_api);

our @EXPORT = qw(sql_text engine_db create_campaign add_lead look_up_lead
                 insert_lead shift_clock lead_count lead_value);

sub sql_text {
    my ($s) = @_;
    return 'NULL' unless defined $s;
    $s =~ s/'/''/g;
    return "'$s'";
}

sub engine_db {
    my $db = scratch_db('engine');
    my ($rc, $out) = run_worker({ LIAUTO_DATABASE_URL => "dbname=$db" },
                                'migrate');
    die "migrations failed: $out\n" if $rc != 0;
    # inside Mon-Fri 08:00-20:00 Europe/Paris
    psql($db, "SELECT liauto.set_clock('2026-11-30 10:00 Europe/Paris')");
    shift_clock($db, '0');
    return $db;
}

# The campaign's id; $account is the simulator's account id.
sub create_campaign {
    my ($db, $account, $sequence) = @_;
    my $seq = sql_text($sequence);

    sim_control('POST', 'accounts', { id => $account, name => 'Sender' });
    return psql($db, <<"SQL");
WITH c AS (INSERT INTO liauto.clients (name) VALUES ('Engine test')
           RETURNING id),
     a AS (INSERT INTO liauto.linkedin_accounts
               (client_id, name, unipile_account_id, timezone,
                daily_invite_limit, daily_message_limit,
                spacing_min_seconds, spacing_max_seconds)
           SELECT id, 'Sender', '$account', 'Europe/Paris', 1000, 1000, 0, 0
           FROM c RETURNING id, client_id)
INSERT INTO liauto.campaigns (client_id, linkedin_account_id, name, status,
                              timezone, working_hours_start,
                              working_hours_end, sequence, started_at)
SELECT client_id, id, 'Engine test', 'active', 'Europe/Paris', '08:00',
       '20:00', $seq, liauto.now()
FROM a RETURNING id
SQL
}

# $lead: {slug, first, company, title, hook}; sets its provider_id (the
# simulator makes the person up on this first lookup: auto_people). The
# lookup comes first, so a worker never sees the lead before it is done.
sub add_lead {
    my ($db, $campaign, $account, $lead) = @_;

    look_up_lead($account, $lead);
    insert_lead($db, $campaign, $lead);
}

# The two halves of add_lead, for a test that acts in between (a running
# worker may claim a lead as soon as it is inserted).
sub look_up_lead {
    my ($account, $lead) = @_;
    $lead->{provider_id} = sim_api('GET', "users/$lead->{slug}"
                                          . "?account_id=$account")
                           ->{provider_id};
}

sub insert_lead {
    my ($db, $campaign, $lead) = @_;
    my $custom = defined $lead->{hook} ? qq({"hook": "$lead->{hook}"}) : '{}';

    psql($db, "INSERT INTO liauto.leads (client_id, campaign_id, first_name,"
              . " company, title, public_identifier, custom_fields)"
              . " SELECT client_id, id, " . sql_text($lead->{first}) . ", "
              . sql_text($lead->{company}) . ", " . sql_text($lead->{title})
              . ", '$lead->{slug}', '$custom' FROM liauto.campaigns"
              . " WHERE id = '$campaign'");
}

# Moves the engine's clock and the simulator's with it, and wakes workers.
sub shift_clock {
    my ($db, $by) = @_;

    psql($db, "SELECT liauto.shift_clock('$by')");
    my $ms = psql($db, 'SELECT round(extract(epoch FROM clock_offset) * 1000)'
                       . ' FROM liauto.engine_clock');
    sim_control('POST', 'config', { clock_offset_ms => 0 + $ms });
    psql($db, "NOTIFY liauto_worker, 'clock'");
}

sub lead_count {
    my ($db, $campaign, $status) = @_;
    return psql($db, "SELECT count(*) FROM liauto.leads WHERE campaign_id ="
                     . " '$campaign' AND status = '$status'");
}

# One SQL expression over the lead's row, e.g. lead_value($db, $l, 'status').
sub lead_value {
    my ($db, $lead, $expr) = @_;
    return psql($db, "SELECT $expr FROM liauto.leads"
                     . " WHERE public_identifier = '$lead->{slug}'");
}

1;
