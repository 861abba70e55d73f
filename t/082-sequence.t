# Conditional steps and sequence versioning (issue 8) end to end: this
# test's nginx serves the API, a simulator plays LinkedIn, a liauto-worker
# runs the engine on a moved clock. A campaign's invite says "if not
# accepted within 2 days, withdraw and continue with the not_accepted
# branch" (a second invite with its own note 15 working days later). Ann
# accepts and follows the main path; Bob and Cid do not and are withdrawn
# one a day (the account's withdraw cap is 1), then get the branch's
# invite. On a premium account, a second campaign's branch is an InMail:
# Dan, who never accepts, gets it the day after his invitation is
# withdrawn. The sequence is edited while they wait: version 2's texts are
# what the simulator receives, and the lead events keep the version each
# step was planned from. Invalid conditions are refused per step.
use Test::Nginx::Socket 'no_plan';

use Cwd ();
use File::Temp ();
use FindBin ();
use JSON::PP ();

use lib "$FindBin::Bin/../worker/tests/lib";
use lib "$FindBin::Bin/lib";
use LiautoWorker qw(build_worker start_worker stop_worker wait_until slurp);
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
our $log = "$tmp/worker.log";
our $sender = 't082-sender';
our $premium = 't082-premium';
our $worker_pid;

sub main::psql_value {
    my $sql = shift;
    open my $psql, '-|', 'psql', '-qAtX', '-v', 'ON_ERROR_STOP=1', $dsn,
        '-c', $sql or die "psql: $!";
    my $out = do { local $/; <$psql> } // '';
    close $psql or die "psql failed: $sql";
    chomp $out;
    return $out;
}

# The engine's clock and the simulator's move together (as
# worker/tests/lib/LiautoEngine.pm does).
sub main::move_clock {
    my $sql = shift;
    main::psql_value("SELECT $sql");
    my $ms = main::psql_value("SELECT round(extract(epoch FROM clock_offset)"
                              . " * 1000) FROM liauto.engine_clock");
    sim_control('POST', 'config', { clock_offset_ms => 0 + $ms });
    main::psql_value("NOTIFY liauto_worker, 'clock'");
}

sub main::invitations {
    my ($slug, $account) = @_;
    my $provider = main::psql_value("SELECT provider_id FROM liauto.leads"
                                    . " WHERE public_identifier = '$slug'");
    return [] unless $provider;
    return sim_control('GET', "invitations?account_id="
                              . ($account // $sender)
                              . "&provider_id=$provider")->{invitations};
}

# "STATUS note" of each invitation to the lead, oldest first
sub main::invited {
    my ($slug, $account) = @_;
    return join ', ', map { "$_->{status} " . ($_->{message} // '-') }
                      sort { $a->{created_ms} <=> $b->{created_ms} }
                      @{ main::invitations($slug, $account) };
}

sub main::withdrawn {
    return main::psql_value("SELECT count(*) FROM liauto.withdrawals AS w"
                            . " JOIN liauto.linkedin_accounts AS a"
                            . " ON a.id = w.account_id"
                            . " WHERE a.unipile_account_id = '$sender'"
                            . " AND w.status = 'withdrawn'");
}

build_worker();
start_simulator();
sim_control('POST', 'config', { auto_people => JSON::PP::true });
sim_control('POST', 'accounts', { id => $sender, name => 'Sender' });
sim_control('POST', 'accounts', { id => $premium, name => 'Premium',
                                  premium => JSON::PP::true });

our ($agent_id, $client_id, $account_id, $campaign_id)
    = split /\|/, main::psql_value(<<"_SQL_");
DELETE FROM liauto.campaigns WHERE name LIKE 't082 %';
DELETE FROM liauto.users WHERE email LIKE '%\@t082.test';
DELETE FROM liauto.linkedin_accounts
WHERE unipile_account_id IN ('$sender', '$premium');
DELETE FROM liauto.clients WHERE name = 't082 client';
UPDATE liauto.settings SET value = 'false' WHERE key = 'scheduler_paused';
WITH c AS (INSERT INTO liauto.clients (name) VALUES ('t082 client')
           RETURNING id),
     u AS (INSERT INTO liauto.users (email, password_hash, role, client_id)
           SELECT 'agent\@t082.test', liauto.hash_password('x'), 'agent',
                  id FROM c RETURNING id),
     a AS (INSERT INTO liauto.linkedin_accounts
               (client_id, name, unipile_account_id, timezone,
                daily_invite_limit, daily_message_limit,
                daily_withdraw_limit, spacing_min_seconds,
                spacing_max_seconds)
           SELECT id, 'Sender', '$sender', 'Europe/Paris', 100, 100, 1, 0, 0
           FROM c RETURNING id),
     k AS (INSERT INTO liauto.campaigns
               (client_id, linkedin_account_id, name, timezone,
                working_hours_start, working_hours_end)
           SELECT c.id, a.id, 't082 campaign', 'Europe/Paris', '08:00',
                  '20:00'
           FROM c, a RETURNING id)
SELECT (SELECT id FROM u) || '|' || (SELECT id FROM c) || '|'
       || (SELECT id FROM a) || '|' || (SELECT id FROM k)
_SQL_
die "fixtures failed" unless $campaign_id;
main::move_clock("liauto.set_clock('2026-11-30 10:00 Europe/Paris')");  # Monday

# the InMail campaign, active from Monday, and Dan
our $inmail_campaign = main::psql_value(<<"_SQL_");
WITH a AS (INSERT INTO liauto.linkedin_accounts
               (client_id, name, unipile_account_id, timezone,
                spacing_min_seconds, spacing_max_seconds)
           VALUES ('$client_id', 'Premium', '$premium', 'Europe/Paris', 0, 0)
           RETURNING id)
INSERT INTO liauto.campaigns (client_id, linkedin_account_id, name, status,
                              timezone, working_hours_start,
                              working_hours_end, started_at, sequence)
SELECT '$client_id', a.id, 't082 inmail', 'active', 'Europe/Paris', '08:00',
       '20:00', liauto.now(),
       '[{"type": "invite", "note": "Hi {{first_name}}", "delay_days": 0,
          "if_not_accepted": {"after_days": 2, "then": "branch"}},
         {"type": "inmail", "text": "v1 inmail to {{first_name}}",
          "delay_days": 1, "branch": "not_accepted"}]'
FROM a RETURNING id
_SQL_
sim_api('GET', "users/dan-t082?account_id=$premium");
main::psql_value("INSERT INTO liauto.leads (client_id, campaign_id,"
                 . " first_name, public_identifier) VALUES ('$client_id',"
                 . " '$inmail_campaign', 'Dan', 'dan-t082')");

# Ann, Bob and Cid (the simulator makes them up on this first lookup)
our %lead;
for my $name (qw(Ann Bob Cid)) {
    my $slug = lc($name) . '-t082';
    sim_api('GET', "users/$slug?account_id=$sender");
    $lead{$name} = main::psql_value(
        "INSERT INTO liauto.leads (client_id, campaign_id, first_name,"
        . " public_identifier) VALUES ('$client_id', '$campaign_id',"
        . " '$name', '$slug') RETURNING id");
}

# the engine's clock is the real one again for the files after this one
END {
    local $?;
    stop_worker($worker_pid, 'TERM', 10) if $worker_pid;
    main::psql_value("SELECT liauto.set_clock(now())") if $campaign_id;
}

our $agent = bearer({ sub => $agent_id, role => 'agent',
                      client_id => $client_id });

our $http_config = <<'_EOC_';
    liauto_postgres "$TEST_NGINX_LIAUTO_DSN";
    liauto_jwt_key_file $TEST_NGINX_LIAUTO_ROOT/t/data/jwt-hs256.key;
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value("http_config", $::http_config);
    $block->set_value("config", "location /api/ { liauto_api; }");
    $block->set_value("more_headers",
                      "$::agent\nContent-Type: application/json")
        unless defined $block->more_headers;
    $block->set_value("no_error_log", "[alert]")
        unless defined $block->no_error_log;
});

run_tests();

__DATA__

=== TEST 1: invalid conditions are refused with one error per bad step
--- request eval
"PUT /api/v1/campaigns/$::campaign_id/sequence
" . '{"steps": [
  {"type": "invite", "delay_days": 0,
   "if_not_accepted": {"after_days": 0, "then": "retry"}},
  {"type": "invite", "note": "again", "delay_days": 15,
   "branch": "not_accepted"},
  {"type": "message", "text": "late main step", "delay_days": 1},
  {"type": "message", "text": "x", "delay_days": 1,
   "if_not_accepted": {"after_days": 3, "then": "end"}}]}'
--- error_code: 422
--- response_body_like chomp
^\{"code": "VALIDATION_FAILED", "details": \{(?=[^}]*"steps\[2\]": "main steps come before the not_accepted branch's steps")(?=[^}]*"steps\[3\]": "main steps come before the not_accepted branch's steps")(?=[^}]*"steps\[1\].branch": "a branch needs steps\[0\].if_not_accepted with \\"then\\": \\"branch\\"")(?=[^}]*"steps\[0\].if_not_accepted.then": "required: \\"end\\" or \\"branch\\"")(?=[^}]*"steps\[3\].if_not_accepted": "unknown field")(?=[^}]*"steps\[0\].if_not_accepted.after_days": "required: an integer between 1 and 365")



=== TEST 2: version 1: withdraw after 2 days and continue with the branch
--- request eval
"PUT /api/v1/campaigns/$::campaign_id/sequence
" . '{"steps": [
  {"type": "invite", "note": "v1 hello {{first_name}}", "delay_days": 0,
   "if_not_accepted": {"after_days": 2, "then": "branch"}},
  {"type": "message", "text": "v1 thanks", "delay_days": 1},
  {"type": "invite", "note": "v1 again", "delay_days": 15,
   "branch": "not_accepted"}]}'
--- response_body_like chomp
^\{"steps": \[.*"branch": "not_accepted".*\], "version": 1\}$



=== TEST 3: the campaign starts
--- request eval
"POST /api/v1/campaigns/$::campaign_id/actions/start"
--- response_body_like chomp
"status": "active"



=== TEST 4: invites sent; Ann accepts; version 2 edits the running campaign (no 409)
--- init
$::worker_pid = main::start_worker({ LIAUTO_DATABASE_URL => $::dsn,
                                     LIAUTO_WORKER_ID => "t082-$$",
                                     LIAUTO_ENGINE_TICK_MS => 100,
                                     UNIPILE_DSN => main::sim_dsn(),
                                     UNIPILE_API_KEY => main::sim_key() },
                                   $::log, 'run');
Test::More::ok(main::wait_until(20, sub {
        main::invited('ann-t082') eq 'PENDING v1 hello Ann'
        && main::invited('bob-t082') eq 'PENDING v1 hello Bob'
        && main::invited('cid-t082') eq 'PENDING v1 hello Cid'
        && main::invited('dan-t082', $::premium) eq 'PENDING Hi Dan' }),
    'three invitations with the version 1 note, and Dan\'s') or Test::More::diag(main::slurp($::log));
my ($inv) = @{ main::invitations('ann-t082') };
main::sim_control('POST', "invitations/$inv->{id}/accept", {});
main::psql_value("SELECT status FROM api.admin_sync_relations("
    . "'{\"role\": \"admin\"}', '{}', '{}',"
    . " '{\"account_id\": \"$::account_id\"}')");
Test::More::ok(main::wait_until(20, sub {
        main::psql_value("SELECT status FROM liauto.leads"
                         . " WHERE public_identifier = 'ann-t082'")
        eq 'connected' }),
    'Ann accepted (the relation sync finds it)') or Test::More::diag(main::slurp($::log));
--- request eval
"PUT /api/v1/campaigns/$::campaign_id/sequence
" . '{"steps": [
  {"type": "invite", "note": "v1 hello {{first_name}}", "delay_days": 0,
   "if_not_accepted": {"after_days": 2, "then": "branch"}},
  {"type": "message", "text": "v2 thanks", "delay_days": 1},
  {"type": "invite", "note": "v2 again", "delay_days": 15,
   "branch": "not_accepted"}]}'
--- response_body_like chomp
^\{"steps": \[.*"v2 thanks".*"v2 again".*\], "version": 2\}$



=== TEST 5: both versions are readable, with their author
--- request eval
"GET /api/v1/campaigns/$::campaign_id/sequence/versions?sort=version&order=asc"
--- response_body_like eval
qr/^\{"data": \[\{"id": .*"v1 thanks".*"version": 1, .*"created_by": "$::agent_id".*"v2 thanks".*"version": 2, .*"created_by": "$::agent_id".*\], "next_cursor": null\}$/



=== TEST 6: a day later Ann, mid-sequence, gets her message from version 2; her history keeps version 1 for the invite
--- init
main::move_clock("liauto.shift_clock('1 day')");           # Tuesday
Test::More::ok(main::wait_until(20, sub {
        main::psql_value("SELECT status FROM liauto.leads"
                         . " WHERE public_identifier = 'ann-t082'")
        eq 'completed' }),
    'Ann got her message and completed the main path') or Test::More::diag(main::slurp($::log));
my $ann = main::psql_value("SELECT provider_id FROM liauto.leads"
                           . " WHERE public_identifier = 'ann-t082'");
Test::More::is(join(',', map { $_->{text} } @{ main::sim_control('GET',
        "messages?account_id=$::sender&person_id=$ann&origin=api")
        ->{messages} }), 'v2 thanks',
    'the simulator received the version 2 text, once');
--- request eval
"GET /api/v1/leads/$::lead{Ann}/events"
--- response_body_like chomp
^(?=.*"meta": \{[^}]*"sequence_version": 1[^}]*\}, "type": "connection_request_sent")(?=.*"meta": \{[^}]*"sequence_version": 2[^}]*\}, "type": "message_sent")



=== TEST 7: two days after the invites: one withdrawal, the daily cap (1) holds the other
--- init
main::move_clock("liauto.shift_clock('1 day 1 hour')");    # Wednesday
Test::More::ok(main::wait_until(20, sub { main::withdrawn() == 1 }),
    'one invitation is withdrawn') or Test::More::diag(main::slurp($::log));
sleep(3);
Test::More::is(main::withdrawn(), 1, 'and no more today: the cap is 1');
--- request eval
"GET /api/v1/campaigns/$::campaign_id/status"
--- response_body_like chomp
"leads": \{(?=[^}]*"pending": 1\b)(?=[^}]*"invite_sent": 1\b)(?=[^}]*"completed": 1\b)(?=[^}]*"connected": 0\b)



=== TEST 8: the account's invitations: one still pending, the cap used
--- request eval
"GET /api/v1/linkedin-accounts/$::account_id/invitations"
--- response_body_like chomp
^\{(?=.*"pending_count": 1\b)(?=.*"withdraw_limit": 1\b)(?=.*"withdrawn_today": 1\b)



=== TEST 9: the next day the other is withdrawn; 15 working days on both get the branch's invite from version 2, Ann nothing more
--- init
main::move_clock("liauto.shift_clock('1 day')");           # Thursday
Test::More::ok(main::wait_until(20, sub { main::withdrawn() == 2 }),
    'the second invitation is withdrawn the next day') or Test::More::diag(main::slurp($::log));
my $dan = main::psql_value("SELECT provider_id FROM liauto.leads"
                           . " WHERE public_identifier = 'dan-t082'");
Test::More::ok(main::wait_until(20, sub {
        main::psql_value("SELECT status FROM liauto.leads"
                         . " WHERE public_identifier = 'dan-t082'")
        eq 'completed' }),
    'Dan, withdrawn on Wednesday, got the InMail branch on Thursday')
    or Test::More::diag(scalar main::slurp($::log));
Test::More::is(join(',', map { "$_->{origin}: $_->{text}" }
        @{ main::sim_control('GET', "messages?account_id=$::premium"
                                    . "&person_id=$dan")->{messages} }),
    'inmail: v1 inmail to Dan',
    'the simulator received one InMail (no connection needed)');
Test::More::is(main::invited('dan-t082', $::premium), 'WITHDRAWN Hi Dan',
    'his invitation was withdrawn first');
main::move_clock("liauto.shift_clock('21 days')");
Test::More::ok(main::wait_until(20, sub {
        main::invited('bob-t082') eq 'WITHDRAWN v1 hello Bob, PENDING v2 again'
        && main::invited('cid-t082') eq 'WITHDRAWN v1 hello Cid, PENDING v2 again' }),
    "Bob and Cid: the first invitation withdrawn, the branch's sent")
    or Test::More::diag(main::invited('bob-t082') . "\n" . main::slurp($::log));
Test::More::is(main::invited('ann-t082'), 'ACCEPTED v1 hello Ann',
    'Ann, who accepted, never gets the branch');
--- request eval
"GET /api/v1/campaigns/$::campaign_id/status"
--- response_body_like chomp
"leads": \{(?=[^}]*"pending": 0\b)(?=[^}]*"invite_sent": 2\b)(?=[^}]*"completed": 1\b)(?=[^}]*"withdrawn": 0\b)



=== TEST 10: Bob's events say he took the not_accepted branch (and the version)
--- request eval
"GET /api/v1/leads/$::lead{Bob}/events"
--- response_body_like chomp
"meta": \{(?=[^}]*"then": "branch")(?=[^}]*"branch": "not_accepted")(?=[^}]*"sequence_version": 2)[^}]*\}, "type": "invitation_withdrawn"
