# Daily limits and working hours over simulated days: 4 workers, 20
# accounts in 4 timezones (Paris and London spring forward on Sunday 28
# March 2027; New York is already on summer time, Tokyo has none), 20
# leads each for an invite limit of 5 a day, no spacing. The engine's
# clock (and the simulator's with it) walks 3 local days an hour at a
# time; at each hour the workers send what they may until nothing is due.
# Asserted from the simulator's invitations and from liauto.rate_usage: no
# account ever sent more than 5 in one of its local days; every sent
# event is inside its campaign's working hours (local, DST included); the
# cap is reached on at least 95 % of the account-days that had work.
# LIAUTO_SOAK=1: 6 days.

use strict;
use warnings;

use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::Bin/lib";
use LiautoWorker;
use LiautoSim;
use LiautoEngine;
use LiautoFaults;
use Test::More;

build_worker();
start_simulator();

my $tmp = tempdir(CLEANUP => 1);
my $db = engine_db();
sim_control('POST', 'config', { auto_people => JSON::PP::true });

my $days = soak(3, 6);
my $limit = 5;
my $per_account = $limit * $days + 5;      # work left on every day
# timezone => working hours
my @zones = (['Europe/Paris', '09:00', '17:00'],
             ['Europe/London', '08:00', '12:00'],
             ['America/New_York', '13:00', '17:00'],
             ['Asia/Tokyo', '09:00', '18:00']);
my $first_day = '2027-03-27';

# from the first local day's start in Tokyo to the last one's end in
# New York, on the hour
psql($db, "SELECT liauto.set_clock('$first_day 00:00 Asia/Tokyo')");
shift_clock($db, '0');
my $hours = int(psql($db, "SELECT extract(epoch FROM ((date '$first_day'"
                          . " + $days)::timestamp AT TIME ZONE"
                          . " 'America/New_York') - liauto.now()) / 3600"));

my $sequence = q{[{"kind": "invite", "note": "Hi {{first_name}}"}]};
for my $n (1 .. 20) {
    my ($tz, $start, $end) = @{ $zones[($n - 1) % @zones] };
    my $campaign = create_campaign($db, "acc-d$n", $sequence);
    psql($db, "UPDATE liauto.linkedin_accounts SET timezone = '$tz',"
              . " daily_invite_limit = $limit WHERE unipile_account_id ="
              . " 'acc-d$n'");
    psql($db, "UPDATE liauto.campaigns SET timezone = '$tz',"
              . " working_hours_start = '$start', working_hours_end = '$end',"
              . " working_days = '{1,2,3,4,5,6,7}', started_at ="
              . " liauto.now() WHERE id = '$campaign'");
    psql($db, "INSERT INTO liauto.leads (client_id, campaign_id, first_name,"
              . " public_identifier) SELECT client_id, id, 'D$n-' || g,"
              . " 'd$n-' || g || '-lead' FROM liauto.campaigns,"
              . " generate_series(1, $per_account) AS g"
              . " WHERE id = '$campaign'");
}

# Nothing in flight and nothing the workers could do at this hour.
sub settled {
    return psql($db, <<'SQL') eq 't';
SELECT NOT EXISTS (SELECT 1 FROM liauto.actions WHERE status = 'claimed'
                   OR (status = 'scheduled' AND due_at <= liauto.now()))
   AND NOT EXISTS (SELECT 1 FROM liauto.leads WHERE status = 'pending'
                   AND next_due_at <= liauto.now())
SQL
}

pool_start(4, $db, $tmp, LIAUTO_LEASE_SECONDS => 30);
my $stuck = 0;
for my $h (0 .. $hours) {
    shift_clock($db, '1 hour') if $h > 0;
    wait_until(30, \&settled) or $stuck++, diag("hour $h did not settle");
}
is($stuck, 0, "each of the $hours hours settled");
pool_stop();

# The simulator's invitations, each on its account's local day.
my $invitations = sim_control('GET', 'invitations')->{invitations};
psql($db, "CREATE TABLE sim_invites (account text, at timestamptz)");
psql($db, "INSERT INTO sim_invites VALUES "
          . join(', ', map { "('$_->{account_id}', to_timestamp("
                             . "$_->{created_ms} / 1000.0))" }
                 @$invitations))
    if @$invitations;

# (account, its local day, invitations)
psql($db, <<'SQL');
CREATE VIEW sim_days AS
SELECT s.account, (s.at AT TIME ZONE a.timezone)::date AS day,
       count(*) AS n, a.daily_invite_limit
FROM sim_invites AS s
JOIN liauto.linkedin_accounts AS a ON a.unipile_account_id = s.account
GROUP BY 1, 2, 4
SQL
is(psql($db, "SELECT string_agg(account || ' ' || day || ': ' || n, ', ')"
             . " FROM sim_days WHERE n > daily_invite_limit"), '',
   'the simulator never got more than the limit from an account in one of '
   . 'its local days');
is(psql($db, "SELECT count(*) FROM liauto.rate_usage AS u JOIN"
             . " liauto.linkedin_accounts AS a ON a.id = u.account_id"
             . " WHERE u.invites > a.daily_invite_limit"), 0,
   'liauto.rate_usage never went over the limit');
is(psql($db, <<'SQL'), '',
SELECT string_agg(e.external_id || ' at ' || l.at || ' ' || c.timezone, ', ')
FROM liauto.events AS e
JOIN liauto.campaigns AS c ON c.id = e.campaign_id
CROSS JOIN LATERAL (SELECT (e.occurred_at AT TIME ZONE c.timezone)::time
                           AS at) AS l
WHERE e.type = 'connection_request_sent'
  AND NOT (l.at >= c.working_hours_start AND l.at < c.working_hours_end)
SQL
   "every send was inside its campaign's local working hours");
is(psql($db, "SELECT count(*) FROM liauto.events WHERE type ="
             . " 'connection_request_sent'"), scalar @$invitations,
   'one sent event per invitation the simulator got');

# Every account had work on every local day: count the days at the cap.
my $capped = psql($db, "SELECT count(*) FROM sim_days WHERE n = $limit"
                      . " AND day BETWEEN date '$first_day'"
                      . " AND date '$first_day' + $days - 1");
my $account_days = 20 * $days;
cmp_ok($capped / $account_days, '>=', 0.95, "the cap was reached on "
       . "$capped of $account_days account-days with work");
diag(scalar(@$invitations) . " invitations over $days days and $hours "
     . 'hours, 4 workers, 20 accounts');

done_testing();
