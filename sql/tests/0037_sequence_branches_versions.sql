-- Migration 0037: conditional steps and sequence versioning. Validation
-- of if_not_accepted and the not_accepted branch with one error per bad
-- step field; a campaign whose accepted lead follows the main path from
-- the new version of an edited sequence while the others are withdrawn
-- under the daily cap and take the branch; the version rule for waiting
-- leads and planned actions; "then": "end"; the versions endpoint.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(45);

\ir lib/api_calls.sql

SET LOCAL timezone = 'UTC';
SELECT liauto.set_clock('2026-11-30 10:00Z');          -- a Monday

INSERT INTO liauto.clients (id, name) VALUES
    ('a0000000-0000-0000-0000-000000000001', 'Client A'),
    ('b0000000-0000-0000-0000-000000000001', 'Client B');
INSERT INTO liauto.users (id, client_id, email, password_hash, role)
VALUES ('a1000000-0000-0000-0000-000000000001',
        'a0000000-0000-0000-0000-000000000001', 'agent@t0037.test',
        liauto.hash_password('x'),
        'agent');
INSERT INTO liauto.linkedin_accounts (id, client_id, name, unipile_account_id,
                                      daily_withdraw_limit,
                                      spacing_min_seconds,
                                      spacing_max_seconds)
VALUES ('a2000000-0000-0000-0000-000000000001',
        'a0000000-0000-0000-0000-000000000001', 'A', 'seq-a', 1, 0, 0);
INSERT INTO liauto.campaigns (id, client_id, linkedin_account_id, name,
                              status, timezone, started_at,
                              auto_withdraw_days)
SELECT ('a3000000-0000-0000-0000-00000000000' || n)::uuid,
       'a0000000-0000-0000-0000-000000000001',
       'a2000000-0000-0000-0000-000000000001', 'C' || n, 'active', 'UTC',
       liauto.now(), 21
FROM generate_series(1, 3) AS n;

CREATE FUNCTION pg_temp.put(p_campaign integer, p_steps jsonb)
RETURNS jsonb
LANGUAGE sql AS $$
    SELECT pg_temp.call('api.campaigns_sequence_put', pg_temp.agent_a(),
        ARRAY['a3000000-0000-0000-0000-00000000000' || p_campaign],
        '{}', jsonb_build_object('steps', p_steps))
$$;

CREATE FUNCTION pg_temp.lead(p_n integer) RETURNS uuid
LANGUAGE sql IMMUTABLE AS $$
    SELECT ('e0000000-0000-0000-0000-00000000000' || p_n)::uuid
$$;

-- Marks every claimed or scheduled action of the lead sent.
CREATE FUNCTION pg_temp.sent(p_n integer) RETURNS void
LANGUAGE sql AS $$
    SELECT liauto.mark_action_sent(x, 'ext-' || p_n || '-' || x.step_index,
                                   NULL)
    FROM liauto.actions AS x
    WHERE x.lead_id = pg_temp.lead(p_n)
      AND x.status IN ('scheduled', 'claimed')
$$;

CREATE FUNCTION pg_temp.withdraw() RETURNS text
LANGUAGE sql AS $$
    SELECT string_agg(engine.complete_withdrawal(id, claim_token,
                                                 'withdrawn', NULL, NULL)
                      || ' ' || who, ', ')
    FROM engine.claim_withdrawals(10, '2 minutes')
$$;


-- validation ------------------------------------------------------------
SELECT is(liauto.sequence_errors(
              '[{"type": "invite", "note": "Hi",
                 "if_not_accepted": {"after_days": 14, "then": "branch"},
                 "delay_days": 0},
                {"type": "message", "text": "Thanks", "delay_days": 2},
                {"type": "invite", "note": "Second try", "delay_days": 15,
                 "branch": "not_accepted"},
                {"type": "message", "text": "Glad", "delay_days": 1,
                 "branch": "not_accepted"}]'),
          '{}', 'validation: a main path and a not_accepted branch');
SELECT is(liauto.sequence_errors(
              '[{"type": "invite", "delay_days": 0,
                 "if_not_accepted": {"after_days": 0, "then": "later",
                                     "notify": true}},
                {"type": "message", "text": "x", "delay_days": 1,
                 "if_not_accepted": {"after_days": 3, "then": "end"}}]'),
          '{"steps[0].if_not_accepted.after_days": "required: an integer between 1 and 365",
            "steps[0].if_not_accepted.then": "required: \"end\" or \"branch\"",
            "steps[0].if_not_accepted.notify": "unknown field",
            "steps[1].if_not_accepted": "unknown field"}',
          'validation: the condition''s fields, only on the invite');
SELECT is(liauto.sequence_errors(
              '[{"type": "invite", "delay_days": 0,
                 "if_not_accepted": {"after_days": 5, "then": "branch"}}]'),
          '{"steps[0].if_not_accepted.then": "\"branch\" needs the branch''s steps: steps with \"branch\": \"not_accepted\" after the main steps"}',
          'validation: "then": "branch" needs branch steps');
SELECT is(liauto.sequence_errors(
              '[{"type": "invite", "delay_days": 0,
                 "if_not_accepted": {"after_days": 5, "then": "end"}},
                {"type": "message", "text": "Not yet", "delay_days": 15,
                 "branch": "not_accepted"},
                {"type": "message", "text": "main", "delay_days": 1},
                {"type": "invite", "delay_days": 1, "branch": "accepted"}]'),
          '{"steps[1].branch": "a branch needs steps[0].if_not_accepted with \"then\": \"branch\"",
            "steps[1].type": "the first step must be \"invite\"",
            "steps[1].text": "unknown field",
            "steps[2]": "main steps come before the not_accepted branch''s steps",
            "steps[3].branch": "must be \"not_accepted\"",
            "steps[3].type": "steps after the first must be \"message\"",
            "steps[3].text": "required: a non-empty string"}',
          'validation: one error per bad step, named by its real index');
SELECT is(pg_temp.err(pg_temp.put(1,
              '[{"type": "invite", "delay_days": 0, "branch": "not_accepted"}]')),
          pg_temp.invalid('{"steps[0].branch": "the first step is the main path''s invite"}'),
          'validation: PUT answers 422 with the same details');
SELECT is((SELECT sequence_version FROM liauto.campaigns
           WHERE name = 'C1'), 0, 'validation: a refused PUT is no version');


-- campaign 1: three leads, v1 ---------------------------------------------
SELECT is(pg_temp.put(1,
              '[{"type": "invite", "note": "v1 hello", "delay_days": 0,
                 "if_not_accepted": {"after_days": 2, "then": "branch"}},
                {"type": "message", "text": "v1 thanks", "delay_days": 1},
                {"type": "invite", "note": "v1 again", "delay_days": 15,
                 "branch": "not_accepted"},
                {"type": "message", "text": "v1 glad", "delay_days": 1,
                 "branch": "not_accepted"}]') #> '{body,version}',
          '1', 'PUT: the first steps are version 1');
INSERT INTO liauto.leads (id, client_id, campaign_id, public_identifier)
SELECT pg_temp.lead(n), 'a0000000-0000-0000-0000-000000000001',
       'a3000000-0000-0000-0000-000000000001', 'seq-' || n
FROM generate_series(1, 3) AS n;

SELECT is(engine.plan_due(100), 3, 'v1: three invites planned');
SELECT is((SELECT array_agg(DISTINCT kind || ' ' || sequence_version)
           FROM liauto.actions), '{"invite 1"}',
          'v1: the actions record the version they are planned from');
SELECT pg_temp.sent(n) FROM generate_series(1, 3) AS n;
SELECT is((SELECT array_agg(DISTINCT (meta ->> 'sequence_version'))
           FROM liauto.events WHERE type = 'connection_request_sent'),
          '{1}', 'v1: so do the sent events (meta.sequence_version)');

-- lead 1 accepts; the others never do
UPDATE liauto.leads SET status = 'connected' WHERE id = pg_temp.lead(1);

-- v2 while leads wait: the message and the branch's note change
SELECT is(pg_temp.put(1,
              '[{"type": "invite", "note": "v1 hello", "delay_days": 0,
                 "if_not_accepted": {"after_days": 2, "then": "branch"}},
                {"type": "message", "text": "v2 thanks", "delay_days": 1},
                {"type": "invite", "note": "v2 again", "delay_days": 15,
                 "branch": "not_accepted"},
                {"type": "message", "text": "v2 glad", "delay_days": 1,
                 "branch": "not_accepted"}]') -> 'body',
          '{"steps": [{"type": "invite", "note": "v1 hello", "delay_days": 0,
                       "if_not_accepted": {"after_days": 2,
                                           "then": "branch"}},
                      {"type": "message", "text": "v2 thanks",
                       "delay_days": 1},
                      {"type": "invite", "note": "v2 again",
                       "delay_days": 15, "branch": "not_accepted"},
                      {"type": "message", "text": "v2 glad", "delay_days": 1,
                       "branch": "not_accepted"}],
            "version": 2}',
          'PUT: an edit of a running campaign is version 2 (no 409)');
SELECT is(pg_temp.put(1, (SELECT sequence FROM liauto.campaigns
                          WHERE name = 'C1')) #> '{body,version}',
          '2', 'PUT: the same steps again are no new version');

SELECT liauto.shift_clock('1 day');                    -- Tuesday 10:00
SELECT is(engine.plan_due(100), 1, 'Tuesday: the accepted lead''s message');
SELECT is((SELECT step_index || ' ' || sequence_version || ' '
                  || (payload ->> 'template')
           FROM liauto.actions WHERE lead_id = pg_temp.lead(1)
             AND kind = 'message'),
          '1 2 v2 thanks',
          'the waiting lead gets its next step from the new version');
SELECT pg_temp.sent(1);
SELECT is((SELECT status || ' ' || current_step FROM liauto.leads
           WHERE id = pg_temp.lead(1)),
          'completed 2',
          'the main path done, it completes: the branch is not its path');
SELECT is((SELECT array_agg(type || ' ' || (meta ->> 'sequence_version')
                            ORDER BY occurred_at, type)
           FROM liauto.events WHERE lead_id = pg_temp.lead(1)),
          '{"connection_request_sent 1","message_sent 2"}',
          'its history keeps the version of each step');

-- Wednesday: 2 days after the invites, one withdrawal a day
SELECT liauto.shift_clock('1 day 1 minute');
SELECT is(pg_temp.withdraw(), 'withdrawn seq-2',
          'Wednesday: the oldest pending invitation is withdrawn');
SELECT is(pg_temp.withdraw(), NULL,
          'the daily withdraw cap (1) is reached: nothing more');
SELECT is((SELECT array_agg(status || ' ' || coalesce(branch, '-') || ' '
                            || current_step ORDER BY id)
           FROM liauto.leads WHERE campaign_id =
               'a3000000-0000-0000-0000-000000000001'),
          '{"completed - 2","pending not_accepted 2","invite_sent - 1"}',
          'lead 2 takes the branch (pending at its invite); lead 3 waits');
SELECT is((SELECT meta - 'outcome' FROM liauto.events
           WHERE lead_id = pg_temp.lead(2)
             AND type = 'invitation_withdrawn'),
          '{"then": "branch", "branch": "not_accepted", "step_index": 2,
            "sequence_version": 2}',
          'its invitation_withdrawn event says which branch it took');
SELECT is(engine.plan_due(100), 0,
          'the branch''s invite waits for its 15 working days');
SELECT is((SELECT string_agg(invitation_id, ', ')
           FROM liauto.pending_invitations(
               'a2000000-0000-0000-0000-000000000001')),
          'ext-3-0',
          'the withdrawn invitation is no longer pending');

SELECT liauto.shift_clock('1 day');                    -- Thursday
SELECT is(pg_temp.withdraw(), 'withdrawn seq-3', 'Thursday: lead 3''s turn');

SELECT liauto.shift_clock('21 days');
SELECT is(engine.plan_due(100), 2, 'three weeks later: both branch invites');
SELECT is((SELECT array_agg(kind || ' ' || step_index || ' '
                            || (payload ->> 'template') ORDER BY lead_id)
           FROM liauto.actions WHERE status = 'scheduled'),
          '{"invite 2 v2 again","invite 2 v2 again"}',
          'the branch''s invite is an invite at index 2, from version 2');
UPDATE liauto.leads SET invite_note_dropped = 'too_many_characters'
WHERE id = pg_temp.lead(3);
SELECT is((SELECT liauto.action_payload(l, c, a, 2) - 'vars'
                  - 'unipile_account_id' - 'public_identifier'
           FROM liauto.leads AS l, liauto.campaigns AS c,
                liauto.linkedin_accounts AS a
           WHERE l.id = pg_temp.lead(3) AND c.id = l.campaign_id
             AND a.id = c.linkedin_account_id),
          '{"template": null, "member_id": null, "profile_url": null,
            "provider_id": null, "note_dropped": "too_many_characters",
            "conversation_id": null}',
          'a lead whose note was refused gets the branch''s invite without '
          'one too');
SELECT pg_temp.sent(2);
UPDATE liauto.leads SET status = 'connected' WHERE id = pg_temp.lead(2);
SELECT liauto.shift_clock('1 day');
SELECT is(engine.plan_due(100), 1, 'the second invite accepted: a message');
SELECT is((SELECT step_index || ' ' || (payload ->> 'template')
           FROM liauto.actions WHERE lead_id = pg_temp.lead(2)
             AND status = 'scheduled'),
          '3 v2 glad', 'the branch continues with its own message');
SELECT pg_temp.sent(2);
SELECT is((SELECT status FROM liauto.leads WHERE id = pg_temp.lead(2)),
          'completed', 'and completes at its end');


-- campaign 2: the version rule for waiting leads ----------------------------
SELECT is(pg_temp.put(2,
              '[{"type": "invite", "delay_days": 0},
                {"type": "message", "text": "one", "delay_days": 1},
                {"type": "message", "text": "two", "delay_days": 1},
                {"type": "message", "text": "three", "delay_days": 1}]')
          #> '{body,version}', '1', 'campaign 2: version 1');
INSERT INTO liauto.leads (id, client_id, campaign_id, public_identifier,
                          status, current_step, last_step_sent_at)
VALUES (pg_temp.lead(4), 'a0000000-0000-0000-0000-000000000001',
        'a3000000-0000-0000-0000-000000000002', 'seq-4', 'pending', 0, NULL),
       (pg_temp.lead(5), 'a0000000-0000-0000-0000-000000000001',
        'a3000000-0000-0000-0000-000000000002', 'seq-5', 'messaged', 2,
        liauto.now()),
       (pg_temp.lead(6), 'a0000000-0000-0000-0000-000000000001',
        'a3000000-0000-0000-0000-000000000002', 'seq-6', 'messaged', 3,
        liauto.now()),
       (pg_temp.lead(7), 'a0000000-0000-0000-0000-000000000001',
        'a3000000-0000-0000-0000-000000000002', 'seq-7', 'responded', 3,
        liauto.now()),
       (pg_temp.lead(8), 'a0000000-0000-0000-0000-000000000001',
        'a3000000-0000-0000-0000-000000000002', 'seq-8', 'connected', 1,
        liauto.now());
-- lead 5's step 2 is planned, lead 6's step 3 is in flight (claimed), lead
-- 8's step 1 is planned
INSERT INTO liauto.actions (client_id, lead_id, campaign_id, account_id,
                            kind, step_index, status, claim_token,
                            lease_expires_at, claimed_by)
VALUES ('a0000000-0000-0000-0000-000000000001', pg_temp.lead(5),
        'a3000000-0000-0000-0000-000000000002',
        'a2000000-0000-0000-0000-000000000001', 'message', 2, 'scheduled',
        NULL, NULL, NULL),
       ('a0000000-0000-0000-0000-000000000001', pg_temp.lead(6),
        'a3000000-0000-0000-0000-000000000002',
        'a2000000-0000-0000-0000-000000000001', 'message', 3, 'claimed',
        gen_random_uuid(), liauto.now() + interval '2 minutes', 'w'),
       ('a0000000-0000-0000-0000-000000000001', pg_temp.lead(8),
        'a3000000-0000-0000-0000-000000000002',
        'a2000000-0000-0000-0000-000000000001', 'message', 1, 'scheduled',
        NULL, NULL, NULL);

-- v2: step 2 rewritten, step 3 removed
SELECT is(pg_temp.put(2,
              '[{"type": "invite", "delay_days": 0},
                {"type": "message", "text": "one", "delay_days": 1},
                {"type": "message", "text": "two, rewritten",
                 "delay_days": 2}]') #> '{body,version}',
          '2', 'campaign 2: version 2 removes step 3 and rewrites step 2');
SELECT is((SELECT array_agg(l.public_identifier || ' ' || l.status || ' '
                            || l.current_step ORDER BY l.id)
           FROM liauto.leads AS l WHERE l.campaign_id =
               'a3000000-0000-0000-0000-000000000002'),
          '{"seq-4 pending 0","seq-5 messaged 2","seq-6 completed 3",
            "seq-7 responded 3","seq-8 connected 1"}',
          'rule: each waiting lead keeps its index; one whose step is gone '
          'completes; a lead that ended keeps its status');
SELECT is((SELECT array_agg(l.public_identifier || ' ' || x.status || ' '
                            || coalesce(x.last_error, '-') ORDER BY l.id)
           FROM liauto.actions AS x JOIN liauto.leads AS l
               ON l.id = x.lead_id
           WHERE x.campaign_id = 'a3000000-0000-0000-0000-000000000002'),
          '{"seq-5 cancelled sequence version 2 changed step 2",
            "seq-6 claimed -","seq-8 scheduled -"}',
          'rule: a planned send of a changed step is cancelled, one in '
          'flight keeps its action, an unchanged step''s stays planned');
SELECT is(engine.plan_due(100), 1,
          'rule: only lead 4''s invite is planned: lead 5''s step waits '
          'for its new delay, lead 8''s is still planned');
SELECT liauto.shift_clock('4 days 1 minute');           -- Tuesday again
SELECT is(engine.plan_due(100), 1, 'rule: lead 5''s step, 2 working days on');
SELECT is((SELECT sequence_version || ' ' || (payload ->> 'template')
           FROM liauto.actions WHERE lead_id = pg_temp.lead(5)
             AND status = 'scheduled'),
          '2 two, rewritten', 'rule: ... from version 2');


-- campaign 3: "then": "end" ---------------------------------------------
SELECT is(pg_temp.put(3,
              '[{"type": "invite", "delay_days": 0,
                 "if_not_accepted": {"after_days": 3, "then": "end"}}]')
          #> '{body,version}', '1', 'campaign 3: withdraw and end after 3 days');
INSERT INTO liauto.leads (id, client_id, campaign_id, public_identifier,
                          status, current_step, last_step_sent_at)
VALUES (pg_temp.lead(9), 'a0000000-0000-0000-0000-000000000001',
        'a3000000-0000-0000-0000-000000000003', 'seq-9', 'invite_sent', 1,
        liauto.now() - interval '4 days');
INSERT INTO liauto.actions (client_id, lead_id, campaign_id, account_id,
                            kind, step_index, status, external_id)
VALUES ('a0000000-0000-0000-0000-000000000001', pg_temp.lead(9),
        'a3000000-0000-0000-0000-000000000003',
        'a2000000-0000-0000-0000-000000000001', 'invite', 0, 'sent',
        'ext-9-0');
SELECT liauto.shift_clock('1 day');
SELECT is(pg_temp.withdraw(), 'withdrawn seq-9',
          'after_days (3) decides, not the campaign''s 21 days');
SELECT is((SELECT l.status || ' ' || l.error_reason || ' '
                  || (e.meta ->> 'then')
           FROM liauto.leads AS l JOIN liauto.events AS e
               ON e.lead_id = l.id AND e.type = 'invitation_withdrawn'
           WHERE l.id = pg_temp.lead(9)),
          'withdrawn invitation withdrawn after 3 days without acceptance end',
          'the lead ends withdrawn, its event says "then": "end"');


-- an InMail as the branch ------------------------------------------------
SELECT is(liauto.sequence_errors(
              '[{"type": "invite", "delay_days": 0,
                 "if_not_accepted": {"after_days": 3, "then": "branch"}},
                {"type": "inmail", "delay_days": 1, "branch": "not_accepted",
                 "text": "Hi {{first_name|there}}, one question"}]'),
          '{}', 'InMail: the branch may be one InMail');
SELECT is(liauto.sequence_errors(
              '[{"type": "invite", "delay_days": 0,
                 "if_not_accepted": {"after_days": 3, "then": "branch"}},
                {"type": "inmail", "delay_days": 1, "branch": "not_accepted"},
                {"type": "message", "text": "x", "delay_days": 1,
                 "branch": "not_accepted"},
                {"type": "inmail", "text": "x", "delay_days": 1}]'),
          '{"steps[1].text": "required: a non-empty string",
            "steps[2]": "nothing follows an InMail in the branch (LinkedIn waits for a reply)",
            "steps[3]": "main steps come before the not_accepted branch''s steps",
            "steps[3].type": "steps after the first must be \"message\""}',
          'InMail: it needs a text, nothing follows it, only in the branch');
SELECT is(pg_temp.put(3,
              '[{"type": "invite", "delay_days": 0,
                 "if_not_accepted": {"after_days": 3, "then": "branch"}},
                {"type": "inmail", "text": "Hello by InMail", "delay_days": 1,
                 "branch": "not_accepted"}]') #> '{body,version}',
          '2', 'InMail: campaign 3''s version 2');
SELECT is((SELECT (liauto.action_payload(l, c, a, 1) ->> 'inmail') || ' '
                  || (liauto.action_payload(l, c, a, 1) ->> 'template')
                  || ' ' || liauto.step_fits(c.sequence, 1, 'not_accepted',
                                             'pending')
           FROM liauto.leads AS l, liauto.campaigns AS c,
                liauto.linkedin_accounts AS a
           WHERE l.id = pg_temp.lead(9) AND c.id = l.campaign_id
             AND a.id = c.linkedin_account_id),
          'true Hello by InMail true',
          'InMail: a pending lead of the branch may get it; the payload '
          'tells the worker to send it as an InMail');


-- versions endpoint ------------------------------------------------------
SELECT is((SELECT jsonb_agg(jsonb_build_object(
                      'version', d -> 'version',
                      'text', d #> '{steps,1,text}',
                      'created_by', d -> 'created_by'))
           FROM jsonb_array_elements(pg_temp.call(
               'api.campaigns_sequence_versions', pg_temp.viewer_a(),
               '{a3000000-0000-0000-0000-000000000002}',
               '{"sort": "version", "order": "asc"}') #> '{body,data}')
               AS d),
          '[{"version": 1, "text": "one",
             "created_by": "a1000000-0000-0000-0000-000000000001"},
            {"version": 2, "text": "one",
             "created_by": "a1000000-0000-0000-0000-000000000001"}]',
          'versions: every version with its steps and author');
SELECT is(pg_temp.err(pg_temp.call('api.campaigns_sequence_versions',
              pg_temp.agent_b(), '{a3000000-0000-0000-0000-000000000002}')),
          '{"status": 404, "code": "NOT_FOUND", "details": {}}',
          'versions: another client''s campaign is a 404');

SELECT * FROM finish();
ROLLBACK;
