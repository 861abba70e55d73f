# Issue 8's safety features end to end, the worker sending to the
# simulator: a do-not-contact entry added while an invite is claimed stops
# it before the call; a company's daily invite cap holds the next invite to
# the next working morning; a reply stops everyone else at the company;
# a warming-up account sends only its ramped limit. The simulator's own
# record of invitations is what is counted.

use strict;
use warnings;

use File::Temp qw(tempdir);
use FindBin;
use Time::HiRes qw(sleep);
use lib "$FindBin::Bin/lib";
use LiautoWorker;
use LiautoSim;
use LiautoEngine;
use Test::More;

build_worker();
start_simulator();

my $tmp = tempdir(CLEANUP => 1);
my $db = engine_db();
my $account = 'acc-peers';
sim_control('POST', 'config', { auto_people => JSON::PP::true });
my $campaign = create_campaign(
    $db, $account, q{[{"kind": "invite", "note": "Hi {{first_name}}"}]});
my $client = psql($db, "SELECT client_id FROM liauto.campaigns"
                       . " WHERE id = '$campaign'");

my $log = "$tmp/worker.log";
my $pid = start_worker({ LIAUTO_DATABASE_URL => "dbname=$db",
                         LIAUTO_WORKER_ID => "peers-t-$$",
                         LIAUTO_ENGINE_TICK_MS => 100,
                         UNIPILE_DSN => sim_dsn(),
                         UNIPILE_API_KEY => sim_key() }, $log, 'run');

sub invites_today {
    return psql($db, "SELECT invites FROM liauto.rate_usage AS u"
                     . " JOIN liauto.linkedin_accounts AS a"
                     . " ON a.id = u.account_id"
                     . " WHERE a.unipile_account_id = '$account' AND u.day ="
                     . " (liauto.now() AT TIME ZONE 'Europe/Paris')::date");
}

sub set_paused {
    my ($paused) = @_;
    psql($db, "UPDATE liauto.settings SET value = '$paused'"
              . " WHERE key = 'scheduler_paused'");
    psql($db, "NOTIFY liauto_worker, 'scheduler'");
}

sub new_lead {
    my ($name, $company, $slow) = @_;
    my $lead = { slug => "peers-$name", first => ucfirst($name),
                 company => $company };
    # the scheduler held while add_lead looks the person up, so the
    # worker's own lookup is the one held up by the simulator
    set_paused('true') if $slow;
    add_lead($db, $campaign, $account, $lead);
    if ($slow) {
        sim_control('POST', 'faults', { route => 'users.get', kind => 'slow',
                                        ms => 1500, match => $lead->{slug} });
        set_paused('false');
    }
    psql($db, "NOTIFY liauto_worker, 'lead'");
    return $lead;
}

sub action_status {
    my ($l) = @_;
    return psql($db, "SELECT string_agg(x.status, ',' ORDER BY x.created_at)"
                     . " FROM liauto.actions AS x JOIN liauto.leads AS l"
                     . " ON l.id = x.lead_id"
                     . " WHERE l.public_identifier = '$l->{slug}'");
}

sub invitations_to {
    my ($l) = @_;
    return scalar @{ sim_control('GET', "invitations?provider_id="
                                 . $l->{provider_id})->{invitations} };
}


# --- a do-not-contact entry while the invite is claimed
my $listed = new_lead('listed', 'Initech', 'slow');
ok(wait_until(10, sub { action_status($listed) eq 'claimed' }),
   'the invite is claimed') or diag(slurp($log));
like(psql($db, "SELECT body FROM api.blocklist_create("
               . "'{\"role\": \"admin\"}', '{}', '{}',"
               . " '{\"kind\": \"company\", \"value\": \"initech\","
               . " \"client_id\": \"$client\"}')"),
     qr/"leads_skipped": 1/, 'an entry for the company is added');
ok(wait_until(10, sub { action_status($listed) eq 'cancelled' }),
   'the claimed invite is cancelled') or diag(slurp($log));
like(slurp($log), qr/to peers-listed \(lead .* not sent: lead_skipped/,
     '... the log says why');
is(invitations_to($listed), 0, 'the simulator received no invitation');

# --- a daily cap of 1 invite per company
psql($db, "UPDATE liauto.campaigns SET company_daily_invite_cap = 1"
          . " WHERE id = '$campaign'");
my @hooli = map { new_lead("hooli$_", 'Hooli') } 1, 2;
my $other = new_lead('other', 'Pied Piper');
ok(wait_until(10, sub { invitations_to($other) == 1 }),
   'a lead at another company is invited') or diag(slurp($log));
ok(wait_until(10, sub {
       join(',', sort map { action_status($_) } @hooli) eq 'scheduled,sent' }),
   'one Hooli invite went, the other waits') or diag(slurp($log));
my ($waiting) = grep { action_status($_) eq 'scheduled' } @hooli;
is(psql($db, "SELECT x.last_error || ' until '"
             . " || to_char(x.due_at AT TIME ZONE 'Europe/Paris',"
             . " 'Dy HH24:MI') FROM liauto.actions AS x JOIN liauto.leads"
             . " AS l ON l.id = x.lead_id"
             . " WHERE l.public_identifier = '$waiting->{slug}'"),
   'company_daily_cap until Tue 08:00',
   '... until the next working morning, and says why');
is(invitations_to($hooli[0]) + invitations_to($hooli[1]), 1,
   'the simulator holds one invitation to Hooli today');
shift_clock($db, '22 hours');
ok(wait_until(10, sub { invitations_to($waiting) == 1 }),
   'the next morning the second Hooli lead is invited') or diag(slurp($log));

# --- a reply stops everyone at the company
psql($db, "UPDATE liauto.campaigns SET stop_company_on_reply = true,"
          . " company_daily_invite_cap = NULL WHERE id = '$campaign'");
set_paused('true');
my $colleague = new_lead('colleague', 'hooli');
psql($db, "UPDATE liauto.leads SET status = 'responded'"
          . " WHERE public_identifier = '$hooli[0]{slug}'");
is(lead_value($db, $colleague, 'status'), 'skipped',
   'a Hooli reply skips the colleague still waiting');
set_paused('false');
my $after = new_lead('after', 'Acme');
ok(wait_until(10, sub { invitations_to($after) == 1 }),
   'sending resumed') or diag(slurp($log));
is(invitations_to($colleague), 0, 'the colleague was never invited');

# --- warm-up: day 0 of 10 at 1 % of 1000 is 10 invites
shift_clock($db, '24 hours');
psql($db, "UPDATE liauto.linkedin_accounts SET warmup_days = 10,"
          . " warmup_start_percent = 1 WHERE unipile_account_id = '$account'");
my @batch = map { new_lead("warm$_", "Company $_") } 1 .. 14;
ok(wait_until(15, sub {
       10 == grep { action_status($_) eq 'sent' } @batch }),
   'ten of fourteen new leads are invited') or diag(slurp($log));
sleep(1.5);
is(scalar(grep { invitations_to($_) == 1 } @batch), 10,
   'and no more: the simulator holds exactly 10 (the ramped limit)');
is(invites_today(), 10, "the day's usage is 10");

# --- A/B variants: what the simulator received is what analytics count
shift_clock($db, '24 hours');
psql($db, "UPDATE liauto.campaigns SET variant_seed = 7, sequence ="
          . " '[{\"type\": \"invite\", \"delay_days\": 0, \"variants\":"
          . " [\"Hi {{first_name}} (A)\", \"Hello {{first_name}} (B)\"]}]'"
          . " WHERE id = '$campaign'");
my @ab = map { new_lead("ab$_", "AB Company $_") } 1 .. 8;
ok(wait_until(15, sub { 8 == grep { invitations_to($_) == 1 } @ab }),
   'eight leads are invited') or diag(slurp($log));
my %seen;
for my $l (@ab) {
    my ($inv) = @{ sim_control('GET', "invitations?provider_id="
                               . $l->{provider_id})->{invitations} };
    my $variant = lead_value($db, $l, "(SELECT meta ->> 'variant' FROM"
                  . " liauto.events AS e WHERE e.lead_id = leads.id AND"
                  . " e.type = 'connection_request_sent')");
    my $text = $variant == 0 ? "Hi $l->{first} (A)" : "Hello $l->{first} (B)";
    $seen{$variant}++ if $inv->{message} eq $text;
}
is(($seen{0} // 0) + ($seen{1} // 0), 8,
   'each lead received the text of the variant recorded for it');
my $stats = psql($db, "SELECT string_agg((v ->> 'variant') || ':'"
                      . " || (v ->> 'sent'), ' ' ORDER BY v ->> 'variant')"
                      . " FROM api.campaigns_variants('{\"role\": \"admin\"}',"
                      . " '{$campaign}', '{}', NULL) AS r,"
                      . " jsonb_array_elements(r.body::jsonb"
                      . " #> '{steps,0,variants}') AS v");
is($stats, '0:' . ($seen{0} // 0) . ' 1:' . ($seen{1} // 0),
   'the variant analytics count what the simulator received');

# --- the note fallback: never silently
sub refused_lead {
    my ($name, $fault) = @_;
    my $lead = { slug => "peers-$name", first => ucfirst($name),
                 company => "Note Co $name" };
    set_paused('true');
    add_lead($db, $campaign, $account, $lead);
    sim_control('POST', 'faults', { route => 'users.invite', kind => 'status',
                                    match => $lead->{provider_id}, %$fault });
    set_paused('false');
    return $lead;
}

my $invites_before = invites_today();

my $long = refused_lead('long', { status => 400,
                                  type => 'errors/too_many_characters' });
ok(wait_until(15, sub { invitations_to($long) == 1 }),
   'a note refused as too long: the invite goes anyway')
    or diag(slurp($log));
my ($inv) = @{ sim_control('GET', "invitations?provider_id="
                           . $long->{provider_id})->{invitations} };
ok(!defined $inv->{message}, '... without the note');
like(lead_value($db, $long, "(SELECT meta ->> 'note_dropped' FROM"
                 . " liauto.events AS e WHERE e.lead_id = leads.id AND"
                 . " e.type = 'connection_request_sent')"),
     qr/too_many_characters/, 'and its event says the note was dropped and why');

my $quota = refused_lead('quota', {
    status => 422, type => 'errors/limit_exceeded',
    detail => 'You reached the monthly limit of personalized invitations' });
ok(wait_until(15, sub { invitations_to($quota) == 1 }),
   'the monthly note allowance spent: the invite goes without a note')
    or diag(slurp($log));
like(lead_value($db, $quota, 'invite_note_dropped'),
     qr/personalized invitations/, 'the lead says why');
is(invites_today(), $invites_before + 2,
   'a refused send gives its unit back: two invites, two units');

psql($db, "UPDATE liauto.campaigns SET note_fallback = 'stop'"
          . " WHERE id = '$campaign'");
my $strict = refused_lead('strict', { status => 400,
                                      type => 'errors/too_many_characters' });
ok(wait_until(15, sub { lead_value($db, $strict, 'status') eq 'error' }),
   'with note_fallback stop the lead stops') or diag(slurp($log));
like(lead_value($db, $strict, 'error_reason'),
     qr/note was refused and the campaign stops/, '... saying why');
is(invitations_to($strict), 0, 'and no invitation went');

is(stop_worker($pid, 'TERM', 10), 0, 'the worker stops cleanly');

done_testing();
