-- 0037: conditional steps and sequence versioning (issue 8).
--
-- Conditional steps. The sequence stays one flat list. The invite (step 0)
-- may carry {"if_not_accepted": {"after_days": N, "then": "end"|"branch"}}:
-- an invitation still pending N days after it was sent is withdrawn
-- (the auto-withdraw of 0027, under its daily cap) and the lead either
-- ends (withdrawn) or takes the not_accepted branch: the steps marked
-- {"branch": "not_accepted"}, listed after the main steps, which a sender
-- without a connection can run: a second invite (its own note, its delay
-- counted from the withdrawal), then messages once that one is accepted;
-- or one InMail (premium accounts; the worker sends it with
-- linkedin[inmail]=true).
-- A lead in the branch is pending again at the branch's first index
-- (leads.branch says it took the branch), so engine.plan_due, which reads
-- c.sequence -> current_step, plans it unchanged; the action's kind comes
-- from the step (an invite at an index > 0). A lead on the main path that
-- reaches the branch's indexes has finished its path and completes.
-- "If replied" ends the lead on either path, as before.
--
-- Versioning. Every change of a campaign's sequence is a new version
-- (liauto.sequence_versions, readable from the API); actions record the
-- version they were planned from, and the events made from them (sent,
-- withdrawn) carry it in meta.sequence_version. Edits of a running
-- campaign are no longer refused (409 SEQUENCE_IN_USE is gone); waiting
-- leads move to the new version by liauto.move_leads_to_version's rule.

-- ------------------------------------------------------------------------
-- Versions
-- ------------------------------------------------------------------------

ALTER TABLE liauto.campaigns
    ADD COLUMN sequence_version integer NOT NULL DEFAULT 0
        CONSTRAINT campaigns_sequence_version_check
        CHECK (sequence_version >= 0);

COMMENT ON COLUMN liauto.campaigns.sequence_version IS
    'The version of the current sequence (liauto.sequence_versions); 0 '
    'while the campaign has never had steps.';

CREATE TABLE liauto.sequence_versions (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id    uuid NOT NULL,
    campaign_id  uuid NOT NULL,
    version      integer NOT NULL
                 CONSTRAINT sequence_versions_version_check
                 CHECK (version >= 1),
    steps        jsonb NOT NULL
                 CONSTRAINT sequence_versions_steps_check
                 CHECK (jsonb_typeof(steps) = 'array'),
    created_at   timestamptz NOT NULL,
    created_by   uuid REFERENCES liauto.users (id) ON DELETE SET NULL,

    CONSTRAINT sequence_versions_campaign_version_key
        UNIQUE (campaign_id, version),
    CONSTRAINT sequence_versions_campaign_fkey
        FOREIGN KEY (campaign_id, client_id)
        REFERENCES liauto.campaigns (id, client_id) ON DELETE CASCADE
);

COMMENT ON TABLE liauto.sequence_versions IS
    'Every sequence a campaign has had, numbered from 1, with when and by '
    'whom (the API user; NULL for changes outside the API).';

-- Campaigns that already have steps start at version 1 (not a change of
-- the campaign: updated_at and the replan triggers stay out of it).
ALTER TABLE liauto.campaigns DISABLE TRIGGER USER;
UPDATE liauto.campaigns SET sequence_version = 1 WHERE sequence <> '[]';
ALTER TABLE liauto.campaigns ENABLE TRIGGER USER;

INSERT INTO liauto.sequence_versions (client_id, campaign_id, version,
                                      steps, created_at)
SELECT c.client_id, c.id, 1, c.sequence, c.updated_at
FROM liauto.campaigns AS c
WHERE c.sequence_version = 1;

ALTER TABLE liauto.actions ADD COLUMN sequence_version integer;

COMMENT ON COLUMN liauto.actions.sequence_version IS
    'The campaign''s sequence version the action was planned from (set '
    'at insert; NULL for inbox replies).';

ALTER TABLE liauto.leads ADD COLUMN branch text
    CONSTRAINT leads_branch_check CHECK (branch IN ('not_accepted'));

COMMENT ON COLUMN liauto.leads.branch IS
    'The branch of the sequence the lead took: not_accepted (its invite '
    'was withdrawn unaccepted and the campaign continues with the branch '
    'steps); NULL on the main path.';


-- ------------------------------------------------------------------------
-- The shape of a sequence with a branch
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.main_step_count(p_steps jsonb) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT count(*)::integer FROM jsonb_array_elements(p_steps) AS s
    WHERE NOT (jsonb_typeof(s) = 'object' AND s ? 'branch')
$$;

COMMENT ON FUNCTION liauto.main_step_count(jsonb) IS
    'How many steps the main path has; in a valid sequence the '
    'not_accepted branch starts at this index.';

CREATE FUNCTION liauto.step_fits(p_steps jsonb, p_step integer,
                                 p_branch text, p_status text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT s IS NOT NULL
           AND (s ->> 'branch') IS NOT DISTINCT FROM p_branch
           AND (p_status <> 'pending' OR s ->> 'type' IN ('invite', 'inmail'))
    FROM (SELECT p_steps -> p_step AS s) AS x
$$;

COMMENT ON FUNCTION liauto.step_fits(jsonb, integer, text, text) IS
    'Whether step p_step is one a lead on path p_branch (NULL: main) in '
    'status p_status may get: a step of its own path, an invite (or the '
    'branch''s InMail) while pending.';

CREATE FUNCTION liauto.not_accepted_rule(p_steps jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT p_steps #> '{0,if_not_accepted}'
$$;

COMMENT ON FUNCTION liauto.not_accepted_rule(jsonb) IS
    'The invite''s if_not_accepted condition ({after_days, then}) or NULL.';

-- The earlier check of one path (0006, with the variants of 0026) is
-- reused for the main steps and, as a sequence of its own, for the
-- branch; its error names are renumbered to the steps' real indexes.
ALTER FUNCTION liauto.sequence_errors(jsonb) RENAME TO path_errors;

CREATE FUNCTION liauto.renumber_step_errors(p_errors jsonb,
                                            p_indexes integer[])
RETURNS jsonb
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(jsonb_object_agg(
               CASE WHEN m IS NULL THEN e.key
                    ELSE format('steps[%s]%s', p_indexes[m[1]::integer + 1],
                                m[2]) END,
               e.value), '{}')
    FROM jsonb_each(p_errors) AS e
    LEFT JOIN LATERAL regexp_match(e.key, '^steps\[(\d+)\](.*)$') AS m
        ON true
$$;

COMMENT ON FUNCTION liauto.renumber_step_errors(jsonb, integer[]) IS
    'Renames steps[k]... errors of a sub-list to steps[p_indexes[k]]...';

CREATE FUNCTION liauto.condition_errors(p_rule jsonb, p_has_branch boolean)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_at      text := 'steps[0].if_not_accepted';
    v_errors  jsonb := '{}';
    v_key     text;
    v_days    jsonb := p_rule -> 'after_days';
BEGIN
    IF jsonb_typeof(p_rule) IS DISTINCT FROM 'object' THEN
        RETURN jsonb_build_object(v_at, 'must be an object {"after_days": '
                                  'N, "then": "end" | "branch"}');
    END IF;
    FOR v_key IN SELECT jsonb_object_keys(p_rule) LOOP
        IF v_key NOT IN ('after_days', 'then') THEN
            v_errors := v_errors || jsonb_build_object(
                v_at || '.' || v_key, 'unknown field');
        END IF;
    END LOOP;
    IF jsonb_typeof(v_days) IS DISTINCT FROM 'number'
       OR v_days::numeric NOT BETWEEN 1 AND 365
       OR v_days::numeric <> trunc(v_days::numeric)
    THEN
        v_errors := v_errors || jsonb_build_object(v_at || '.after_days',
            'required: an integer between 1 and 365');
    END IF;
    IF p_rule -> 'then' NOT IN ('"end"', '"branch"')
       OR NOT p_rule ? 'then'
    THEN
        v_errors := v_errors || jsonb_build_object(v_at || '.then',
            'required: "end" or "branch"');
    ELSIF p_rule ->> 'then' = 'branch' AND NOT p_has_branch THEN
        v_errors := v_errors || jsonb_build_object(v_at || '.then',
            '"branch" needs the branch''s steps: steps with "branch": '
            '"not_accepted" after the main steps');
    END IF;
    RETURN v_errors;
END
$$;

COMMENT ON FUNCTION liauto.condition_errors(jsonb, boolean) IS
    'Field errors of the invite''s if_not_accepted condition: an object '
    'with after_days (1..365) and then ("end", or "branch" when the '
    'sequence has branch steps).';

-- The branch is a path of its own: a second invite then messages, or one
-- InMail (checked like a message: text, delay, variants), after which
-- LinkedIn allows nothing until the person replies.
CREATE FUNCTION liauto.branch_errors(p_branch jsonb, p_indexes integer[])
RETURNS jsonb
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT CASE
        WHEN p_branch #>> '{0,type}' IS DISTINCT FROM 'inmail'
            THEN liauto.renumber_step_errors(liauto.path_errors(p_branch),
                                             p_indexes)
        ELSE liauto.renumber_step_errors(
                 liauto.path_errors(jsonb_build_array(
                     '{"type": "invite", "delay_days": 0}'::jsonb,
                     (p_branch -> 0) || '{"type": "message"}')),
                 ARRAY[NULL, p_indexes[1]]::integer[])
             || coalesce((SELECT jsonb_object_agg(
                              format('steps[%s]', p_indexes[k]),
                              'nothing follows an InMail in the branch '
                              '(LinkedIn waits for a reply)')
                          FROM generate_subscripts(p_indexes, 1) AS k
                          WHERE k > 1), '{}')
    END
$$;

COMMENT ON FUNCTION liauto.branch_errors(jsonb, integer[]) IS
    'Field errors of the not_accepted branch''s steps (p_indexes: their '
    'indexes in the sequence): a second invite then messages, or a '
    'single InMail with a text.';

CREATE FUNCTION liauto.sequence_errors(p_steps jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_errors      jsonb := '{}';
    v_main        jsonb := '[]';
    v_main_at     integer[] := '{}';
    v_branch      jsonb := '[]';
    v_branch_at   integer[] := '{}';
    v_step        jsonb;
    v_index       integer;
    v_at          text;
    v_rule        jsonb;
BEGIN
    IF jsonb_typeof(p_steps) IS DISTINCT FROM 'array' THEN
        RETURN liauto.path_errors(p_steps);
    END IF;

    FOR v_step, v_index IN
        SELECT s, n - 1 FROM jsonb_array_elements(p_steps)
                             WITH ORDINALITY AS e (s, n)
    LOOP
        v_at := format('steps[%s]', v_index);
        IF v_index = 0 AND jsonb_typeof(v_step) = 'object'
           AND v_step ? 'branch'
        THEN
            v_errors := v_errors || jsonb_build_object(v_at || '.branch',
                'the first step is the main path''s invite');
            v_step := v_step - 'branch';
        ELSIF jsonb_typeof(v_step) = 'object' AND v_step ? 'branch' THEN
            IF v_step -> 'branch' IS DISTINCT FROM '"not_accepted"' THEN
                v_errors := v_errors || jsonb_build_object(
                    v_at || '.branch', 'must be "not_accepted"');
            END IF;
            v_branch := v_branch || jsonb_build_array(v_step - 'branch');
            v_branch_at := v_branch_at || v_index;
            CONTINUE;
        END IF;

        IF cardinality(v_branch_at) > 0 THEN
            v_errors := v_errors || jsonb_build_object(v_at,
                'main steps come before the not_accepted branch''s steps');
        END IF;
        IF v_index = 0 AND jsonb_typeof(v_step) = 'object'
           AND v_step ? 'if_not_accepted'
        THEN
            v_rule := v_step -> 'if_not_accepted';
            v_step := v_step - 'if_not_accepted';
        END IF;
        v_main := v_main || jsonb_build_array(v_step);
        v_main_at := v_main_at || v_index;
    END LOOP;

    IF v_rule IS NOT NULL THEN
        v_errors := v_errors || liauto.condition_errors(
            v_rule, cardinality(v_branch_at) > 0);
    END IF;
    IF cardinality(v_branch_at) > 0 THEN
        IF v_rule ->> 'then' IS DISTINCT FROM 'branch' THEN
            v_errors := v_errors || jsonb_build_object(
                format('steps[%s].branch', v_branch_at[1]),
                'a branch needs steps[0].if_not_accepted with "then": '
                '"branch"');
        END IF;
        v_errors := v_errors || liauto.branch_errors(v_branch, v_branch_at);
    END IF;

    RETURN liauto.renumber_step_errors(liauto.path_errors(v_main),
                                       v_main_at)
           || v_errors;
END
$$;

COMMENT ON FUNCTION liauto.sequence_errors(jsonb) IS
    'Field errors of a steps array, empty when valid: the main steps by '
    'liauto.path_errors (an invite, then messages; variants); the '
    'invite''s optional if_not_accepted (liauto.condition_errors); the '
    'steps marked "branch": "not_accepted" come after the main ones, only '
    'with "then": "branch", and form a path of their own (a second '
    'invite, then messages). Errors are named by the steps'' real '
    'indexes.';


-- ------------------------------------------------------------------------
-- Engine: readiness, the action's kind and version, the end of a path
-- ------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION liauto.lead_ready_for(p_status text,
                                                 p_step integer)
RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT CASE WHEN p_status = 'pending' THEN true
                ELSE p_step > 0 AND p_status IN ('connected', 'messaged')
           END
$$;

COMMENT ON FUNCTION liauto.lead_ready_for(text, integer) IS
    'A lead may get step p_step in status p_status: an invite while '
    'pending (step 0, or the not_accepted branch''s invite after the '
    'withdrawal), messages only once an invite was accepted. A connected '
    'lead never sits on a step of another path (liauto.lead_end_of_path).';

-- The note fallback (0028) holds for the branch's invite too: once the
-- provider refused this lead's note, its invites go without one (else the
-- branch's invite would be refused, rescheduled and refused again).
CREATE OR REPLACE FUNCTION liauto.action_payload(
    p_lead liauto.leads, p_campaign liauto.campaigns,
    p_account liauto.linkedin_accounts, p_step integer)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT liauto.variant_payload(p_lead, p_campaign, p_account, p_step)
           || CASE WHEN p_campaign.sequence -> p_step ->> 'type' = 'invite'
                        AND p_lead.invite_note_dropped IS NOT NULL
                   THEN jsonb_build_object(
                            'template', NULL,
                            'note_dropped', p_lead.invite_note_dropped)
                   WHEN p_campaign.sequence -> p_step ->> 'type' = 'inmail'
                   THEN '{"inmail": true}'
                   ELSE '{}' END
$$;

COMMENT ON FUNCTION liauto.action_payload(liauto.leads, liauto.campaigns,
                                          liauto.linkedin_accounts, integer)
    IS 'liauto.variant_payload; an invite (step 0 or the not_accepted '
       'branch''s) of a lead whose note the provider refused (and the '
       'campaign sends without) has no template and says why in '
       'note_dropped; the branch''s InMail says "inmail": true (the '
       'worker sends it with linkedin[inmail]=true).';

ALTER TABLE liauto.actions
    DROP CONSTRAINT actions_kind_step_check,
    ADD CONSTRAINT actions_kind_step_check
        CHECK (kind IN ('invite', 'reply') OR step_index <> 0);

CREATE FUNCTION liauto.action_from_step() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_campaign  liauto.campaigns;
BEGIN
    SELECT * INTO v_campaign FROM liauto.campaigns
    WHERE id = NEW.campaign_id;
    NEW.sequence_version := v_campaign.sequence_version;
    IF v_campaign.sequence -> NEW.step_index ->> 'type' = 'invite' THEN
        NEW.kind := 'invite';
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION liauto.action_from_step() IS
    'BEFORE INSERT trigger of actions: the sequence version the action is '
    'planned from, and the kind of its step (liauto.step_kind knows only '
    'the index: the not_accepted branch''s invite sits after the main '
    'steps).';

CREATE TRIGGER actions_from_step BEFORE INSERT ON liauto.actions
    FOR EACH ROW WHEN (NEW.campaign_id IS NOT NULL)
    EXECUTE FUNCTION liauto.action_from_step();

CREATE FUNCTION liauto.event_sequence_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.meta := NEW.meta || jsonb_build_object('sequence_version',
        (SELECT x.sequence_version FROM liauto.actions AS x
         WHERE x.id = (NEW.meta ->> 'action_id')::uuid));
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION liauto.event_sequence_version() IS
    'BEFORE INSERT trigger of events: an event made by an action (sent '
    'invite or message) carries the sequence version the action was '
    'planned from in meta.sequence_version.';

CREATE TRIGGER events_sequence_version BEFORE INSERT ON liauto.events
    FOR EACH ROW
    WHEN (NEW.meta ->> 'action_id' ~
          '^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$'
          AND NOT NEW.meta ? 'sequence_version')
    EXECUTE FUNCTION liauto.event_sequence_version();

CREATE FUNCTION liauto.lead_end_of_path() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM liauto.campaigns AS c
               WHERE c.id = NEW.campaign_id
                 AND c.sequence -> NEW.current_step IS NOT NULL
                 AND c.sequence -> NEW.current_step ->> 'branch'
                     IS DISTINCT FROM NEW.branch)
    THEN
        NEW.status := 'completed';
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION liauto.lead_end_of_path() IS
    'BEFORE UPDATE trigger of leads: a connected lead whose next step '
    'belongs to another path (the main path''s last step is behind it and '
    'the not_accepted branch follows) has finished and completes.';

CREATE TRIGGER leads_end_of_path
    BEFORE UPDATE OF status, current_step ON liauto.leads
    FOR EACH ROW
    WHEN (NEW.status IN ('connected', 'messaged')
          AND (OLD.status IS DISTINCT FROM NEW.status
               OR OLD.current_step IS DISTINCT FROM NEW.current_step))
    EXECUTE FUNCTION liauto.lead_end_of_path();


-- ------------------------------------------------------------------------
-- Withdraw and end, or withdraw and continue with the branch
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.withdraw_after_days(p_campaign liauto.campaigns)
RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(
        (liauto.not_accepted_rule(p_campaign.sequence) ->> 'after_days')
            ::integer,
        p_campaign.auto_withdraw_days)
$$;

COMMENT ON FUNCTION liauto.withdraw_after_days(liauto.campaigns) IS
    'Days an invitation may stay pending before it is withdrawn: the '
    'invite''s if_not_accepted.after_days, else the campaign''s '
    'auto_withdraw_days (NULL: never).';

CREATE OR REPLACE FUNCTION liauto.pending_invitations(p_account_id uuid)
RETURNS TABLE (lead_id uuid, campaign_id uuid, invitation_id text,
               sent_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT l.id, l.campaign_id, x.external_id, l.last_step_sent_at
    FROM liauto.actions AS x
    JOIN liauto.leads AS l ON l.id = x.lead_id
    WHERE x.account_id = p_account_id AND x.kind = 'invite'
      AND x.status = 'sent' AND x.external_id IS NOT NULL
      AND l.status = 'invite_sent'
      AND NOT EXISTS (SELECT 1 FROM liauto.withdrawals AS w
                      WHERE w.lead_id = l.id
                        AND w.invitation_id = x.external_id
                        AND w.status IN ('withdrawn', 'not_pending'))
$$;

COMMENT ON FUNCTION liauto.pending_invitations(uuid) IS
    'The account''s invitations sent by this product whose lead has not '
    'accepted, replied or ended, and that were not withdrawn (a lead in '
    'the not_accepted branch has only its second invitation pending).';

CREATE OR REPLACE FUNCTION liauto.claim_withdrawal(p_account_id uuid,
                                                   p_lease interval)
RETURNS liauto.withdrawals
LANGUAGE plpgsql AS $$
DECLARE
    v_now      timestamptz := liauto.now();
    v_account  liauto.linkedin_accounts;
    v_day      date;
    v_row      liauto.withdrawals;
BEGIN
    -- Same pacing lock as the sends: the account row, skipped when held.
    SELECT * INTO v_account FROM liauto.linkedin_accounts AS a
    WHERE a.id = p_account_id AND a.status = 'ok'
      AND (a.cooldown_until IS NULL OR a.cooldown_until <= v_now)
      AND (a.next_action_at IS NULL OR a.next_action_at <= v_now)
    FOR NO KEY UPDATE SKIP LOCKED;
    IF NOT FOUND OR liauto.scheduler_paused() THEN
        RETURN NULL;
    END IF;
    v_day := (v_now AT TIME ZONE v_account.timezone)::date;

    -- A claim whose lease expired, or a retry that is due, goes first; a
    -- retry counts against the day it is claimed on.
    SELECT * INTO v_row FROM liauto.withdrawals AS w
    WHERE w.account_id = p_account_id
      AND ((w.status = 'claimed' AND w.lease_expires_at <= v_now)
           OR (w.status = 'scheduled' AND w.due_at <= v_now))
    ORDER BY w.due_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED;

    IF liauto.withdrawals_on(p_account_id, v_day)
       - (CASE WHEN v_row.status = 'claimed' AND v_row.local_day = v_day
               THEN 1 ELSE 0 END)
       >= v_account.daily_withdraw_limit
    THEN
        RETURN NULL;
    END IF;

    IF v_row.id IS NOT NULL THEN
        UPDATE liauto.withdrawals
        SET status = 'claimed', claim_token = gen_random_uuid(),
            claimed_at = v_now, lease_expires_at = v_now + p_lease,
            attempts = attempts + 1, local_day = v_day
        WHERE id = v_row.id
        RETURNING * INTO v_row;
    ELSE
        INSERT INTO liauto.withdrawals AS w
            (client_id, lead_id, campaign_id, account_id, invitation_id,
             claim_token, claimed_at, lease_expires_at, attempts, local_day,
             due_at)
        SELECT v_account.client_id, p.lead_id, p.campaign_id, p_account_id,
               p.invitation_id, gen_random_uuid(), v_now, v_now + p_lease,
               1, v_day, v_now
        FROM liauto.pending_invitations(p_account_id) AS p
        JOIN liauto.campaigns AS c ON c.id = p.campaign_id
        WHERE c.status = 'active'
          AND liauto.withdraw_after_days(c) IS NOT NULL
          AND p.sent_at <= v_now - make_interval(
                  days => liauto.withdraw_after_days(c))
          AND liauto.snap_to_working_hours(
                  v_now, c.timezone, c.working_hours_start,
                  c.working_hours_end, c.working_days) <= v_now
          AND NOT EXISTS (SELECT 1 FROM liauto.withdrawals AS o
                          WHERE o.lead_id = p.lead_id)
        ORDER BY p.sent_at, p.lead_id
        LIMIT 1
        ON CONFLICT (lead_id) DO NOTHING
        RETURNING * INTO v_row;
    END IF;

    IF v_row.id IS NOT NULL THEN
        UPDATE liauto.linkedin_accounts
        SET last_action_at = v_now,
            next_action_at = v_now + make_interval(
                secs => spacing_min_seconds
                        + random() * (spacing_max_seconds
                                      - spacing_min_seconds))
        WHERE id = p_account_id;
    END IF;
    RETURN v_row;
END
$$;

COMMENT ON FUNCTION liauto.claim_withdrawal(uuid, interval) IS
    'Claims one withdrawal for the account, or NULL: an expired claim or a '
    'due retry first, else the oldest of its pending invitations past its '
    'campaign''s liauto.withdraw_after_days (active campaigns, inside '
    'working hours; one withdrawal per lead), under the daily limit '
    'counted on the account''s local day; holds the account row and paces '
    'the account like a send.';

-- What a withdrawn invitation leads to: the branch when the campaign's
-- invite says so and the lead is still on the main path with a branch
-- to take; the end (withdrawn) otherwise. An invitation that was no
-- longer pending (not_pending: maybe accepted elsewhere) always ends.
CREATE FUNCTION liauto.after_withdrawal(p_row liauto.withdrawals,
                                        p_outcome text)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_campaign  liauto.campaigns;
    v_then      text;
BEGIN
    SELECT * INTO v_campaign FROM liauto.campaigns
    WHERE id = p_row.campaign_id;
    v_then := CASE
        WHEN p_outcome = 'withdrawn'
             AND liauto.not_accepted_rule(v_campaign.sequence) ->> 'then'
                 = 'branch'
             AND liauto.step_fits(
                     v_campaign.sequence,
                     liauto.main_step_count(v_campaign.sequence),
                     'not_accepted', 'pending')
        THEN 'branch' ELSE 'end' END;

    IF v_then = 'branch' THEN
        UPDATE liauto.leads
        SET status = 'pending', branch = 'not_accepted',
            current_step = liauto.main_step_count(v_campaign.sequence),
            last_step_sent_at = liauto.now()
        WHERE id = p_row.lead_id AND status = 'invite_sent'
          AND branch IS NULL;
        IF NOT FOUND THEN
            v_then := 'none';
        END IF;
    ELSE
        UPDATE liauto.leads
        SET status = 'withdrawn',
            error_reason = CASE p_outcome
                WHEN 'withdrawn' THEN 'invitation withdrawn after '
                    || coalesce(liauto.withdraw_after_days(v_campaign)::text,
                                '?')
                    || ' days without acceptance'
                ELSE 'invitation no longer pending at withdrawal time '
                     '(withdrawn or accepted elsewhere)' END
        WHERE id = p_row.lead_id AND status = 'invite_sent';
    END IF;

    RETURN jsonb_build_object(
        'outcome', p_outcome, 'then', v_then,
        'sequence_version', v_campaign.sequence_version)
        || CASE WHEN v_then = 'branch'
                THEN jsonb_build_object(
                         'branch', 'not_accepted',
                         'step_index',
                         liauto.main_step_count(v_campaign.sequence))
                ELSE '{}' END;
END
$$;

COMMENT ON FUNCTION liauto.after_withdrawal(liauto.withdrawals, text) IS
    'Moves the lead of a finished withdrawal on: into the not_accepted '
    'branch (pending at its first step, delays counted from now) when the '
    'invite''s if_not_accepted.then is "branch", else ends it withdrawn. '
    'Returns the meta of its invitation_withdrawn event (outcome, then: '
    'branch|end, sequence_version, and the branch and its first step).';

CREATE OR REPLACE FUNCTION engine.complete_withdrawal(p_id uuid,
                                                      p_claim_token uuid,
                                                      p_outcome text,
                                                      p_error text,
                                                      p_retry_at timestamptz)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_row  liauto.withdrawals;
BEGIN
    SELECT * INTO v_row FROM liauto.withdrawals
    WHERE id = p_id AND status = 'claimed' AND claim_token = p_claim_token
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 'stale';
    END IF;

    IF p_outcome = 'retry' AND v_row.attempts >= 5 THEN
        p_outcome := 'failed';
        p_error := format('gave up after %s attempts: %s', v_row.attempts,
                          p_error);
    END IF;

    UPDATE liauto.withdrawals
    SET status = CASE p_outcome WHEN 'retry' THEN 'scheduled'
                                ELSE p_outcome END,
        due_at = coalesce(p_retry_at, due_at),
        last_error = p_error, claim_token = NULL, lease_expires_at = NULL
    WHERE id = p_id;

    IF p_outcome IN ('withdrawn', 'not_pending') THEN
        INSERT INTO liauto.events (client_id, lead_id, campaign_id,
                                   account_id, type, occurred_at,
                                   external_id, meta)
        VALUES (v_row.client_id, v_row.lead_id, v_row.campaign_id,
                v_row.account_id, 'invitation_withdrawn', liauto.now(),
                v_row.invitation_id,
                liauto.after_withdrawal(v_row, p_outcome))
        ON CONFLICT (lead_id, type, external_id) DO NOTHING;
    END IF;
    RETURN p_outcome;
END
$$;

COMMENT ON FUNCTION engine.complete_withdrawal(uuid, uuid, text, text,
                                               timestamptz) IS
    'Records a withdrawal''s outcome under its claim token (stale: taken '
    'over, nothing done): withdrawn or not_pending move the lead on '
    '(liauto.after_withdrawal: the not_accepted branch or the end) with '
    'an invitation_withdrawn event saying which; retry schedules it '
    '(failed after 5 attempts); failed keeps the reason.';


-- ------------------------------------------------------------------------
-- A new version and the leads that wait
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.sequence_version_bump() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.sequence_version := CASE
        WHEN TG_OP = 'INSERT'
            THEN (NEW.sequence IS DISTINCT FROM '[]')::integer
        WHEN NEW.sequence IS DISTINCT FROM OLD.sequence
            THEN OLD.sequence_version + 1
        ELSE OLD.sequence_version END;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION liauto.sequence_version_bump() IS
    'BEFORE INSERT/UPDATE trigger of campaigns: a changed sequence is the '
    'next version (1 for the first steps); the number is never set by '
    'hand.';

CREATE TRIGGER campaigns_sequence_version_bump
    BEFORE INSERT OR UPDATE OF sequence, sequence_version
    ON liauto.campaigns
    FOR EACH ROW EXECUTE FUNCTION liauto.sequence_version_bump();

-- The rule the API states: a waiting lead keeps its position (the index
-- of its next unsent step) and continues there in the new version if that
-- step is still one of its path's (an invite while pending, a message
-- once connected, main or not_accepted branch as it was); otherwise its
-- path is over and it completes. A lead waiting for acceptance
-- (invite_sent) keeps waiting; the rule applies when it is accepted
-- (liauto.lead_end_of_path). Leads that ended keep everything. Actions
-- planned but not claimed for a step whose content changed are cancelled
-- and planned again from the new version; claimed ones (in flight) are
-- sent as claimed and keep their version.
CREATE FUNCTION liauto.move_leads_to_version(p_campaign_id uuid,
                                             p_old jsonb, p_new jsonb,
                                             p_version integer)
RETURNS void
LANGUAGE sql AS $$
    UPDATE liauto.actions AS x
    SET status = 'cancelled',
        last_error = format('sequence version %s changed step %s',
                            p_version, x.step_index)
    WHERE x.campaign_id = p_campaign_id AND x.status = 'scheduled'
      AND p_old -> x.step_index IS DISTINCT FROM p_new -> x.step_index;

    UPDATE liauto.leads AS l
    SET status = 'completed'
    WHERE l.campaign_id = p_campaign_id
      AND l.status IN ('pending', 'connected', 'messaged')
      AND NOT liauto.step_fits(p_new, l.current_step, l.branch, l.status)
      AND NOT (p_new -> l.current_step IS NULL
               AND p_old -> l.current_step IS NULL);
$$;

COMMENT ON FUNCTION liauto.move_leads_to_version(uuid, jsonb, jsonb,
                                                 integer) IS
    'Moves the campaign''s waiting leads to sequence p_new: each continues '
    'at the index of its next unsent step when that step still fits its '
    'path and status (liauto.step_fits), else completes; scheduled, '
    'unclaimed actions of changed steps are cancelled (planned again).';

CREATE FUNCTION liauto.sequence_version_record() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO liauto.sequence_versions (client_id, campaign_id, version,
                                          steps, created_at, created_by)
    VALUES (NEW.client_id, NEW.id, NEW.sequence_version, NEW.sequence,
            liauto.now(),
            (SELECT u.id FROM liauto.users AS u
             WHERE u.id::text = current_setting('liauto.actor', true)));
    IF TG_OP = 'UPDATE' THEN
        PERFORM liauto.move_leads_to_version(NEW.id, OLD.sequence,
                                             NEW.sequence,
                                             NEW.sequence_version);
    END IF;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION liauto.sequence_version_record() IS
    'AFTER trigger of campaigns: stores the new version (created_by: the '
    'API user in setting liauto.actor) and moves the waiting leads to it.';

CREATE TRIGGER campaigns_sequence_version_first
    AFTER INSERT ON liauto.campaigns
    FOR EACH ROW
    WHEN (NEW.sequence_version > 0)
    EXECUTE FUNCTION liauto.sequence_version_record();

CREATE TRIGGER campaigns_sequence_version_next
    AFTER UPDATE ON liauto.campaigns
    FOR EACH ROW
    WHEN (NEW.sequence_version <> OLD.sequence_version)
    EXECUTE FUNCTION liauto.sequence_version_record();


-- ------------------------------------------------------------------------
-- The API: GET/PUT /campaigns/{id}/sequence, GET .../sequence/versions
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.sequence_json(p_campaign liauto.campaigns)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('steps', p_campaign.sequence,
                              'version', p_campaign.sequence_version)
$$;

COMMENT ON FUNCTION liauto.sequence_json(liauto.campaigns) IS
    'The API representation of a campaign''s sequence: its steps and '
    'their version (0 until the first PUT).';

CREATE OR REPLACE FUNCTION api.campaigns_sequence_get(p_caller jsonb,
                                                      p_path text[],
                                                      p_query jsonb,
                                                      p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_envelope  text;
BEGIN
    PERFORM api.reject_query(p_query);
    RETURN QUERY SELECT * FROM api.ok(200, liauto.sequence_json(
        liauto.find_campaign(p_caller, liauto.path_id(p_path))));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.campaigns_sequence_get(jsonb, text[], jsonb,
                                               jsonb) IS
    'GET /campaigns/{id}/sequence → {"steps": [...], "version": n} ([] and '
    '0 until set).';

CREATE OR REPLACE FUNCTION api.campaigns_sequence_put(p_caller jsonb,
                                                      p_path text[],
                                                      p_query jsonb,
                                                      p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_campaign  liauto.campaigns;
    v_steps     jsonb;
    v_envelope  text;
BEGIN
    PERFORM api.reject_query(p_query);
    -- The lock serialises edits with start/pause and with each other, so
    -- versions are numbered without gaps.
    v_campaign := liauto.find_campaign(p_caller, liauto.path_id(p_path),
                                       true);
    PERFORM api.raise_invalid(api.validate_body(p_body,
        '{"steps": {"type": "array", "required": true}}'));
    v_steps := p_body -> 'steps';
    PERFORM api.raise_invalid(liauto.sequence_errors(v_steps));

    PERFORM set_config('liauto.actor', coalesce(p_caller ->> 'sub', ''),
                       true);
    UPDATE liauto.campaigns AS c SET sequence = v_steps
    WHERE c.id = v_campaign.id
    RETURNING * INTO v_campaign;
    PERFORM set_config('liauto.actor', '', true);
    RETURN QUERY SELECT * FROM api.ok(200, liauto.sequence_json(v_campaign));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.campaigns_sequence_put(jsonb, text[], jsonb,
                                               jsonb) IS
    'PUT /campaigns/{id}/sequence {"steps": [...]}: 422 with one error '
    'per bad step field (liauto.sequence_errors); else the steps become '
    'the next version (unchanged steps keep the version) and the waiting '
    'leads move to it (liauto.move_leads_to_version). Running campaigns '
    'may be edited.';

DROP FUNCTION liauto.reached_steps(uuid);

CREATE FUNCTION liauto.sequence_version_json(v liauto.sequence_versions)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', v.id,
        'campaign_id', v.campaign_id,
        'version', v.version,
        'steps', v.steps,
        'created_at', api.ts(v.created_at),
        'created_by', v.created_by)
$$;

COMMENT ON FUNCTION liauto.sequence_version_json(liauto.sequence_versions)
    IS 'The API representation of one sequence version.';

CREATE FUNCTION api.campaigns_sequence_versions(p_caller jsonb,
                                                p_path text[],
                                                p_query jsonb,
                                                p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_params    api.list_query;
    v_campaign  liauto.campaigns;
    v_envelope  text;
BEGIN
    v_params := api.list_params(p_query, '{created_at,version}', '{}');
    v_campaign := liauto.find_campaign(p_caller, liauto.path_id(p_path));
    RETURN QUERY SELECT * FROM api.keyset_page(v_params,
        'liauto.sequence_versions', 'liauto.sequence_version_json(t)',
        't.campaign_id = ($1 ->> ''campaign_id'')::uuid',
        jsonb_build_object('campaign_id', v_campaign.id));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.campaigns_sequence_versions(jsonb, text[], jsonb,
                                                    jsonb) IS
    'GET /campaigns/{id}/sequence/versions: every sequence the campaign '
    'has had (version, steps, created_at, created_by), newest first by '
    'default; sort created_at|version.';
