# Sender rotation and holidays end to end (issue 8): this test's nginx
# serves the API and receives the simulator's webhooks, a liauto-worker
# sends to the simulator, which plays LinkedIn for three accounts.
#
# A campaign sends from A1 (2 invites a day) and A2 (1 a day); client B's
# account is refused as a sender. Five leads: three are invited (A1 twice,
# A2 once), the two others wait unplanned (every sender at capacity, no
# limit exceeded). The invitations are accepted on the simulator, whose
# new_relation webhooks come through this nginx; the follow-up messages go
# from each lead's own sender. The next day A1 is disconnected: its leads
# wait for it, an unbound lead goes to A2. The simulator's own records say
# that no person ever heard from two accounts. A second campaign has today
# as a holiday: its lead is invited on the next working day only.
use Test::Nginx::Socket 'no_plan';

use Cwd ();
use File::Temp ();
use FindBin ();

use lib "$FindBin::Bin/../worker/tests/lib";
use lib "$FindBin::Bin/lib";
use LiautoWorker qw(build_worker start_worker stop_worker wait_until slurp
                    write_file psql);
use LiautoSim qw(start_simulator sim_control sim_api sim_dsn sim_key);
use Liauto::Token qw(bearer);

repeat_each(1);
no_shuffle();
no_root_location();

our $root = Cwd::abs_path("$FindBin::Bin/..");
$ENV{TEST_NGINX_LIAUTO_DSN} ||= 'dbname=liauto_test';
$ENV{TEST_NGINX_LIAUTO_ROOT} ||= $root;
our $dsn = $ENV{TEST_NGINX_LIAUTO_DSN};
our $tmp = File::Temp::tempdir(CLEANUP => 1);
our $secret = 't081-webhook-secret';
write_file("$tmp/webhook-secret", "$secret\n");
$ENV{TEST_NGINX_T081_SECRET_FILE} = "$tmp/webhook-secret";
our $log = "$tmp/worker.log";
our $worker;

build_worker();
start_simulator();
sim_control('POST', 'config', { auto_people => JSON::PP::true });
our %sim = map { $_ => sim_control('POST', 'accounts',
                                   { id => "t081-$_", name => uc $_ }) }
           qw(a1 a2 a3);

# Client A: an agent, A1 (2 invites a day), A2 (1), A3 (roomy, for the
# holiday campaign), the rotation campaign; client B: its account B1.
our ($client, $agent_id, $a1, $a2, $a3, $b1, $campaign) =
    split /\|/, psql($dsn, <<"_SQL_");
DELETE FROM liauto.leads WHERE public_identifier LIKE 't081-%';
DELETE FROM liauto.actions WHERE account_id IN (SELECT id FROM
    liauto.linkedin_accounts WHERE unipile_account_id LIKE 't081-%');
DELETE FROM liauto.campaigns WHERE name LIKE 't081 %';
DELETE FROM liauto.users WHERE email LIKE '%\@t081.test';
DELETE FROM liauto.linkedin_accounts WHERE unipile_account_id LIKE 't081-%';
DELETE FROM liauto.clients WHERE name LIKE 't081 %';
WITH c AS (INSERT INTO liauto.clients (name) VALUES ('t081 client a')
           RETURNING id),
     cb AS (INSERT INTO liauto.clients (name) VALUES ('t081 client b')
            RETURNING id),
     u AS (INSERT INTO liauto.users (email, password_hash, role, client_id)
           SELECT 'agent\@t081.test', liauto.hash_password('x'), 'agent', id
           FROM c RETURNING id),
     a AS (INSERT INTO liauto.linkedin_accounts
               (client_id, name, unipile_account_id, provider_user_id,
                timezone, daily_invite_limit, spacing_min_seconds,
                spacing_max_seconds)
           SELECT c.id, x.name, 't081-' || lower(x.name), x.user_id,
                  'Europe/Paris', x.lim, 0, 0
           FROM c, (VALUES ('A1', '$sim{a1}{user_id}', 2),
                           ('A2', '$sim{a2}{user_id}', 1),
                           ('A3', '$sim{a3}{user_id}', 100))
                   AS x (name, user_id, lim)
           RETURNING id, name),
     b AS (INSERT INTO liauto.linkedin_accounts
               (client_id, name, unipile_account_id)
           SELECT id, 'B1', 't081-b1' FROM cb RETURNING id),
     k AS (INSERT INTO liauto.campaigns
               (client_id, name, timezone, working_hours_start,
                working_hours_end, sequence)
           SELECT id, 't081 rotation', 'Europe/Paris', '08:00', '20:00',
                  '[{"type": "invite", "note": "Hi {{first_name}}"},
                    {"type": "message", "text": "Thanks {{first_name}}",
                     "delay_days": 0}]'
           FROM c RETURNING id)
SELECT (SELECT id FROM c) || '|' || (SELECT id FROM u) || '|'
       || (SELECT id FROM a WHERE name = 'A1') || '|'
       || (SELECT id FROM a WHERE name = 'A2') || '|'
       || (SELECT id FROM a WHERE name = 'A3') || '|'
       || (SELECT id FROM b) || '|' || (SELECT id FROM k)
_SQL_
die "fixtures failed" unless $campaign;

our $agent = bearer({ sub => $agent_id, role => 'agent',
                      client_id => $client });

# The engine's clock and the simulator's move together.
sub main::shift_clock {
    my ($by) = @_;
    psql($dsn, "SELECT liauto.shift_clock('$by')");
    my $ms = psql($dsn, 'SELECT round(extract(epoch FROM clock_offset)'
                        . ' * 1000) FROM liauto.engine_clock');
    sim_control('POST', 'config', { clock_offset_ms => 0 + $ms });
    psql($dsn, "NOTIFY liauto_worker, 'clock'");
}
# inside Mon-Fri 08:00-20:00 Europe/Paris, a Monday
psql($dsn, "SELECT liauto.set_clock('2026-11-30 10:00 Europe/Paris')");
main::shift_clock('0');

sub main::add_leads {
    my ($campaign_id, @slugs) = @_;
    psql($dsn, "INSERT INTO liauto.leads (client_id, campaign_id, first_name,"
               . " public_identifier) SELECT client_id, id, initcap(s), s"
               . " FROM liauto.campaigns, unnest('{" . join(',', @slugs)
               . "}'::text[]) AS s WHERE id = '$campaign_id'");
    psql($dsn, "NOTIFY liauto_worker, 'lead'");
}

# What the simulator received, per account name: invitations and API
# messages, and the accounts each person heard from.
sub main::sim_sent {
    my %by_account;
    my %by_person;
    for my $inv (@{ sim_control('GET', 'invitations')->{invitations} }) {
        next unless $inv->{account_id} =~ /^t081-/;
        $by_account{ $inv->{account_id} }{invites}++;
        $by_person{ $inv->{provider_id} }{ $inv->{account_id} } = 1;
    }
    for my $msg (@{ sim_control('GET', 'messages?origin=api')->{messages} }) {
        next unless $msg->{account_id} =~ /^t081-/;
        $by_account{ $msg->{account_id} }{messages}++;
        $by_person{ $msg->{person_id} }{ $msg->{account_id} } = 1;
    }
    my $two = grep { keys %$_ > 1 } values %by_person;
    return (\%by_account, $two);
}

sub main::count_of {
    my ($account, $what) = @_;
    my ($sent) = main::sim_sent();
    return $sent->{"t081-$account"}{$what} // 0;
}

sub main::invites_used {
    my ($account_id) = @_;
    return psql($dsn, "SELECT coalesce(sum(invites), 0) FROM"
                      . " liauto.rate_usage WHERE account_id = '$account_id'"
                      . " AND day = (liauto.now() AT TIME ZONE"
                      . " 'Europe/Paris')::date");
}

END {
    my $status = $?;
    stop_worker($worker, 'TERM', 10) if $worker;
    # the shared database's clock back to real time for the next files,
    # and nothing of this file left for their workers to send
    system('psql', '-qAtX', '-d', $dsn, '-c',
           "UPDATE liauto.campaigns SET status = 'paused',"
           . " paused_at = liauto.now()"
           . " WHERE name LIKE 't081 %' AND status = 'active';"
           . " SELECT liauto.set_clock(now())");
    $? = $status;
}

our $http_config = <<'_EOC_';
    liauto_postgres "$TEST_NGINX_LIAUTO_DSN";
    liauto_jwt_key_file $TEST_NGINX_LIAUTO_ROOT/t/data/jwt-hs256.key;
    liauto_webhook_secret_file $TEST_NGINX_T081_SECRET_FILE;
    map $uri $liauto_home {
        default $TEST_NGINX_LIAUTO_ROOT;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("http_config", $::http_config);
    $block->set_value("config",
        'include $TEST_NGINX_LIAUTO_ROOT/conf/liauto-api.conf;');
    $block->set_value("no_error_log", "[alert]")
        unless defined $block->no_error_log;
});

run_tests();

__DATA__

=== TEST 1: client B's account, a non-UUID and a duplicate are refused, one error each
--- request eval
"PUT /api/v1/campaigns/$::campaign/senders\n"
. qq({"account_ids": ["$::b1", "A1", "$::a1", "$::a1"]})
--- more_headers eval
"$::agent\nContent-Type: application/json"
--- error_code: 422
--- response_body eval
qq({"code": "VALIDATION_FAILED", "details": {"account_ids[0]": "unknown linkedin account", "account_ids[1]": "must be a UUID", "account_ids[3]": "listed twice"}, "message": "validation failed"})



=== TEST 2: the campaign sends from A1 and A2
--- request eval
"PUT /api/v1/campaigns/$::campaign/senders\n"
. qq({"account_ids": ["$::a1", "$::a2"]})
--- more_headers eval
"$::agent\nContent-Type: application/json"
--- response_body_like eval
qr/^\{"senders": \[\{"name": "A1", (?=[^}]*"active": true)(?=[^}]*"invite_capacity": 2)[^}]*\}, \{"name": "A2", (?=[^}]*"invite_capacity": 1)[^}]*\}\], "account_ids": \["$::a1", "$::a2"\], "campaign_id": "$::campaign"\}$/



=== TEST 3: the campaign starts with its senders
--- request eval
"POST /api/v1/campaigns/$::campaign/actions/start"
--- more_headers eval: $::agent
--- response_body_like eval
qr/(?=.*"status": "active")(?=.*"sender_account_ids": \["$::a1", "$::a2"\])(?=.*"linkedin_account_id": "$::a1")/



=== TEST 4: five leads, three invites: every sender at capacity, the others wait unplanned
--- init
$::worker = main::start_worker({ LIAUTO_DATABASE_URL => $::dsn,
                                 LIAUTO_WORKER_ID => "t081-$$",
                                 LIAUTO_ENGINE_TICK_MS => 100,
                                 UNIPILE_DSN => main::sim_dsn(),
                                 UNIPILE_API_KEY => main::sim_key() },
                               $::log, 'run');
main::add_leads($::campaign, map { "t081-lead$_" } 1 .. 5);
Test::More::ok(main::wait_until(20, sub {
        main::count_of('a1', 'invites') == 2
        && main::count_of('a2', 'invites') == 1 }),
    'A1 sends 2 invitations, A2 1') or Test::More::diag(main::slurp($::log));
sleep(2);
my ($sent) = main::sim_sent();
Test::More::is(($sent->{'t081-a1'}{invites} // 0)
               + ($sent->{'t081-a2'}{invites} // 0), 3,
               'and no more: the simulator holds 3 invitations');
Test::More::is(main::invites_used($::a1) . '/' . main::invites_used($::a2),
               '2/1', 'no daily limit exceeded');
Test::More::is(main::psql($::dsn, "SELECT count(*) FROM liauto.leads AS l"
                          . " WHERE campaign_id = '$::campaign'"
                          . " AND sender_account_id IS NULL AND NOT EXISTS"
                          . " (SELECT 1 FROM liauto.actions AS x"
                          . " WHERE x.lead_id = l.id)"),
               2, 'two leads wait, unbound, with nothing planned');
--- request eval
"GET /api/v1/campaigns/$::campaign/leads?filter[status]=invite_sent&limit=10"
--- more_headers eval: $::agent
--- response_body_like eval
qr/^(?=(?:.*?"sender_account_id": "(?:$::a1|$::a2)"){3})(?!.*"sender_account_id": null)\{"data": \[/s



=== TEST 5: both senders show no capacity left and their bound leads
--- request eval
"GET /api/v1/campaigns/$::campaign/senders"
--- more_headers eval: $::agent
--- response_body_like eval
qr/^\{"senders": \[\{"name": "A1", (?=[^}]*"leads_bound": 2)(?=[^}]*"invite_capacity": 0)[^}]*\}, \{"name": "A2", (?=[^}]*"leads_bound": 1)(?=[^}]*"invite_capacity": 0)[^}]*\}\]/



=== TEST 6: accepted on LinkedIn, each follow-up goes from the lead's own sender
--- init
my $base = 'http://127.0.0.1:' . main::server_port();
main::sim_api('POST', 'webhooks', {
    request_url => "$base/api/v1/webhooks/unipile/users",
    source => 'users', name => 't081-users',
    headers => [{ key => 'Unipile-Auth', value => $::secret }] });
for my $inv (@{ main::sim_control('GET', 'invitations')->{invitations} }) {
    next unless $inv->{account_id} =~ /^t081-/;
    main::sim_control('POST', "invitations/$inv->{id}/accept", {});
}
Test::More::ok(main::wait_until(30, sub {
        main::count_of('a1', 'messages') == 2
        && main::count_of('a2', 'messages') == 1 }),
    'the three follow-ups are sent') or Test::More::diag(main::slurp($::log));
my (undef, $two) = main::sim_sent();
Test::More::is($two, 0, 'no person heard from two accounts');
--- request eval
"GET /api/v1/campaigns/$::campaign/analytics/senders"
--- more_headers eval: $::agent
--- response_body_like eval
qr/^\{"senders": \[\{"name": "A1", (?=[^}]*"leads_bound": 2)(?=[^}]*"invites": 2)(?=[^}]*"messages": 2)(?=[^}]*"acceptances": 2)(?=[^}]*"acceptance_rate": 1\.0000)[^}]*\}, \{"name": "A2", (?=[^}]*"leads_bound": 1)(?=[^}]*"invites": 1)(?=[^}]*"messages": 1)[^}]*\}\], "campaign_id": "$::campaign"\}$/



=== TEST 7: next day, A1 disconnected: an unbound lead goes to A2, the last one waits
--- init
main::sim_control('POST', 'accounts/t081-a1/status',
                  { status => 'CREDENTIALS' });
main::psql($::dsn, "UPDATE liauto.linkedin_accounts SET status ="
                   . " 'credentials' WHERE id = '$::a1'");
main::shift_clock('1 day');
Test::More::ok(main::wait_until(20, sub {
        main::count_of('a2', 'invites') == 2 }),
    'A2 invites one more lead') or Test::More::diag(main::slurp($::log));
sleep(2);
Test::More::is(main::count_of('a1', 'invites'), 2,
               'A1 sent nothing while disconnected');
Test::More::is(main::count_of('a2', 'invites'), 2,
               'A2 stays within its limit of 1 a day');
my (undef, $two) = main::sim_sent();
Test::More::is($two, 0, 'still no person heard from two accounts');
--- request eval
"GET /api/v1/campaigns/$::campaign/senders"
--- more_headers eval: $::agent
--- response_body_like eval
qr/^\{"senders": \[\{"name": "A1", (?=[^}]*"status": "credentials")(?=[^}]*"leads_bound": 2)(?=[^}]*"invite_capacity": 0)[^}]*\}, \{"name": "A2", (?=[^}]*"leads_bound": 2)[^}]*\}\]/



=== TEST 8: bad holidays and an unknown calendar, one error each
--- request eval
"POST /api/v1/campaigns\n"
. '{"name": "t081 bad holidays", "holidays": ["2026-12-01", "2026-13-01", "2026-12-01"], "holiday_calendar": "ZZ"}'
--- more_headers eval
"$::agent\nContent-Type: application/json"
--- error_code: 422
--- response_body chomp
{"code": "VALIDATION_FAILED", "details": {"holidays[1]": "must be a date \"YYYY-MM-DD\"", "holidays[2]": "duplicate date", "holiday_calendar": "unknown calendar; one of: BE, DE, ES, FR, IT, US"}, "message": "validation failed"}



=== TEST 9: a campaign whose holiday is today (Tuesday 1 December)
--- request eval
"POST /api/v1/campaigns\n"
. qq({"name": "t081 holiday", "linkedin_account_id": "$::a3", "timezone": "Europe/Paris", "working_hours_start": "08:00", "working_hours_end": "20:00", "holidays": ["2026-12-01"], "holiday_calendar": "FR"})
--- more_headers eval
"$::agent\nContent-Type: application/json"
--- error_code: 201
--- response_body_like eval
qr/(?=.*"holidays": \["2026-12-01"\])(?=.*"holiday_calendar": "FR")(?=.*"sender_account_ids": \["$::a3"\])/



=== TEST 10: no invitation on the holiday; it goes the next working morning, and A2's new day takes the last waiting lead
--- init
our $holiday = main::psql($::dsn, "SELECT id FROM liauto.campaigns"
                                  . " WHERE name = 't081 holiday'");
main::psql($::dsn, "UPDATE liauto.campaigns SET status = 'active',"
                   . " started_at = liauto.now(), sequence ="
                   . " '[{\"type\": \"invite\", \"note\": \"Hi\"}]'"
                   . " WHERE id = '$holiday'");
main::add_leads($holiday, 't081-holiday-lead');
Test::More::ok(main::wait_until(10, sub {
        main::psql($::dsn, "SELECT count(*) FROM liauto.actions AS x"
                   . " JOIN liauto.leads AS l ON l.id = x.lead_id"
                   . " WHERE l.public_identifier = 't081-holiday-lead'") == 1 }),
    'the invite is planned') or Test::More::diag(main::slurp($::log));
sleep(2);
Test::More::is(main::count_of('a3', 'invites'), 0,
               'nothing is sent on the holiday');
Test::More::is(main::psql($::dsn, "SELECT to_char(x.due_at AT TIME ZONE"
                          . " 'Europe/Paris', 'Dy DD HH24:MI') FROM"
                          . " liauto.actions AS x JOIN liauto.leads AS l"
                          . " ON l.id = x.lead_id WHERE l.public_identifier"
                          . " = 't081-holiday-lead'"),
               'Wed 02 08:00', 'it is due the next working morning');
main::shift_clock('22 hours');
Test::More::ok(main::wait_until(20, sub {
        main::count_of('a3', 'invites') == 1 }),
    'the next morning it is sent') or Test::More::diag(main::slurp($::log));
Test::More::ok(main::wait_until(20, sub {
        main::count_of('a2', 'invites') == 3 }),
    'A2 invites the last lead with its new day') or Test::More::diag(main::slurp($::log));
my (undef, $two) = main::sim_sent();
Test::More::is($two, 0, 'in the end no person heard from two accounts');
Test::More::is(main::stop_worker($::worker, 'TERM', 10), 0,
               'the worker stops cleanly');
undef $::worker;
--- request eval
"GET /api/v1/campaigns/$::campaign/analytics/senders"
--- more_headers eval: $::agent
--- response_body_like eval
qr/"name": "A1", (?=[^}]*"leads_bound": 2)(?=[^}]*"invites": 2)[^}]*\}, \{"name": "A2", (?=[^}]*"leads_bound": 3)(?=[^}]*"invites": 3)/
