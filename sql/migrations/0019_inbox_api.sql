-- 0019_inbox_api: the unified inbox's API (DESIGN §4, seed §9) and the
-- outbox of its replies.
--
--   GET  /inbox/conversations               api.inbox_conversations_list
--   GET  /inbox/conversations/{id}          api.inbox_conversations_get
--   GET  /inbox/conversations/{id}/messages api.inbox_messages_list
--   POST /inbox/conversations/{id}/reply    api.inbox_reply
--   POST .../read, .../unread               api.inbox_read, api.inbox_unread
--   POST .../assign                         api.inbox_assign
--   POST .../close, .../snooze, .../reopen  api.inbox_close, _snooze, _reopen
--   GET  /inbox/counters                    api.inbox_counters
--
-- Who sees a conversation (liauto.inbox_sees): admins every client's;
-- agents their client's that are assigned to them or to nobody; viewers
-- all of their client's, read only (the routes' role floor). Anything
-- else is a 404, by id, filter, search, cursor or counter.
--
-- A reply is a queued outbound message plus an action of kind 'reply' in
-- the outbox (liauto.actions). The worker claims it with
-- engine.claim_replies (one budget unit of the account's daily messages,
-- reserved with the claim, a lease and a claim token like the sequence
-- engine's), asks engine.check_reply right before the HTTP call and
-- records the outcome with engine.complete_reply; an expired lease is
-- reconciled against the chat's messages (engine.expired_replies,
-- engine.resolve_reply). The message row follows its action through a
-- trigger: queued -> sent (external id) | failed (the reason).


-- ------------------------------------------------------------------------
-- Sort keys that are never NULL, so keyset pages can use them
-- ------------------------------------------------------------------------

-- A conversation may exist before its first message is stored, and a
-- queued reply has no sent_at yet: api.keyset_page needs a non-NULL key.
ALTER TABLE liauto.conversations
    ADD COLUMN last_activity_at timestamptz NOT NULL
        GENERATED ALWAYS AS (coalesce(last_message_at, created_at)) STORED;
ALTER TABLE liauto.messages
    ADD COLUMN thread_at timestamptz NOT NULL
        GENERATED ALWAYS AS (coalesce(sent_at, created_at)) STORED;

COMMENT ON COLUMN liauto.conversations.last_activity_at IS
    'last_message_at, or created_at before any message: the inbox order.';
COMMENT ON COLUMN liauto.messages.thread_at IS
    'sent_at, or created_at while a reply is queued: the order in the '
    'thread (a queued reply is the newest).';

CREATE INDEX conversations_client_activity_idx
    ON liauto.conversations (client_id, last_activity_at, id);
CREATE INDEX messages_conversation_thread_idx
    ON liauto.messages (conversation_id, thread_at, id);
CREATE INDEX messages_action_idx
    ON liauto.messages (action_id) WHERE action_id IS NOT NULL;


-- ------------------------------------------------------------------------
-- The outbox learns replies
-- ------------------------------------------------------------------------

-- A reply belongs to a conversation, not to a lead's sequence: no lead,
-- campaign or step (so actions_live_step_key, unique on (lead_id,
-- step_index), never sees it, and steps keep their one-live-action rule).
ALTER TABLE liauto.actions
    ALTER COLUMN lead_id DROP NOT NULL,
    ALTER COLUMN campaign_id DROP NOT NULL,
    ALTER COLUMN step_index DROP NOT NULL,
    DROP CONSTRAINT actions_kind_check,
    ADD CONSTRAINT actions_kind_check
        CHECK (kind IN ('invite', 'message', 'reply')),
    DROP CONSTRAINT actions_kind_step_check,
    ADD CONSTRAINT actions_kind_step_check
        CHECK (kind = 'reply' OR (kind = 'invite') = (step_index = 0)),
    ADD CONSTRAINT actions_reply_refs_check
        CHECK ((kind = 'reply')
               = (lead_id IS NULL AND campaign_id IS NULL
                  AND step_index IS NULL));

COMMENT ON COLUMN liauto.actions.step_index IS
    'Index into campaigns.sequence; step 0 is always the invite. NULL for '
    'an inbox reply (kind reply), which has no lead, campaign or step.';

CREATE INDEX actions_reply_due_idx
    ON liauto.actions (due_at, id)
    WHERE kind = 'reply' AND status = 'scheduled';

-- A reply spends a message unit of the account's daily budget.
CREATE OR REPLACE FUNCTION liauto.release_action_budget(
    p_action liauto.actions)
RETURNS void
LANGUAGE sql AS $$
    SELECT liauto.release_budget(p_action.account_id,
                                 CASE p_action.kind WHEN 'reply'
                                      THEN 'message'
                                      ELSE p_action.kind END,
                                 p_action.claimed_at)
$$;

-- The sequence engine's claim and reconciliation leave replies alone:
-- their sending, outcomes and reconciliation are the reply path's
-- (worker/src/replies.c). claim_for_account is 0011's with the kind
-- filter; the expiry sweep is shared by both paths.
CREATE OR REPLACE FUNCTION liauto.claim_for_account(p_account_id uuid,
                                                    p_worker text,
                                                    p_lease interval)
RETURNS liauto.actions
LANGUAGE plpgsql AS $$
DECLARE
    v_now       timestamptz := liauto.now();
    v_account   liauto.linkedin_accounts;
    v_action    liauto.actions;
    v_campaign  liauto.campaigns;
    v_lead      liauto.leads;
    v_reason    text;
    v_open      timestamptz;
BEGIN
    SELECT * INTO v_account FROM liauto.linkedin_accounts AS a
    WHERE a.id = p_account_id AND a.status = 'ok'
      AND (a.cooldown_until IS NULL OR a.cooldown_until <= v_now)
      AND (a.next_action_at IS NULL OR a.next_action_at <= v_now)
    FOR NO KEY UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    -- One send at a time per account, replies included.
    PERFORM FROM liauto.actions AS x
    WHERE x.account_id = p_account_id AND x.status = 'claimed';
    IF FOUND THEN
        RETURN NULL;
    END IF;

    FOR i IN 1..50 LOOP
        SELECT * INTO v_action FROM liauto.actions AS x
        WHERE x.account_id = p_account_id AND x.status = 'scheduled'
          AND x.due_at <= v_now AND x.kind <> 'reply'
        ORDER BY x.due_at, x.id
        LIMIT 1
        FOR UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;

        v_reason := liauto.unwanted_reason(v_action);
        IF v_reason IS NOT NULL THEN
            PERFORM liauto.finish_action(v_action.id, 'cancelled', v_reason);
            CONTINUE;
        END IF;

        SELECT * INTO v_campaign FROM liauto.campaigns
        WHERE id = v_action.campaign_id;
        v_open := liauto.snap_to_working_hours(
            v_now, v_campaign.timezone, v_campaign.working_hours_start,
            v_campaign.working_hours_end, v_campaign.working_days);
        IF v_open > v_now THEN
            UPDATE liauto.actions SET due_at = v_open
            WHERE id = v_action.id;
            CONTINUE;
        END IF;

        IF NOT liauto.reserve_budget(p_account_id, v_action.kind, v_now)
        THEN
            UPDATE liauto.actions AS x
            SET due_at = greatest(
                    coalesce(b.resets_at,
                             liauto.next_account_day(p_account_id, v_now)),
                    liauto.next_account_day(p_account_id, v_now))
            FROM liauto.budget_remaining(p_account_id, v_action.kind,
                                         v_now) AS b
            WHERE x.account_id = p_account_id AND x.status = 'scheduled'
              AND x.kind = v_action.kind AND x.due_at <= v_now;
            CONTINUE;
        END IF;

        SELECT * INTO v_lead FROM liauto.leads WHERE id = v_action.lead_id;
        UPDATE liauto.actions
        SET status = 'claimed', claim_token = gen_random_uuid(),
            lease_expires_at = v_now + p_lease, claimed_by = p_worker,
            claimed_at = v_now, attempts = attempts + 1,
            payload = liauto.action_payload(v_lead, v_campaign, v_account,
                                            v_action.step_index)
        WHERE id = v_action.id
        RETURNING * INTO v_action;

        UPDATE liauto.linkedin_accounts
        SET last_action_at = v_now,
            next_action_at = v_now + make_interval(
                secs => spacing_min_seconds
                        + random() * (spacing_max_seconds
                                      - spacing_min_seconds))
        WHERE id = p_account_id;

        RETURN v_action;
    END LOOP;

    RETURN NULL;
END
$$;

CREATE FUNCTION liauto.expire_claims(p_limit integer, p_replies boolean)
RETURNS SETOF liauto.actions
LANGUAGE plpgsql AS $$
DECLARE
    v_now  timestamptz := liauto.now();
BEGIN
    IF p_limit IS NULL OR p_limit < 1 THEN
        RAISE EXCEPTION 'expired_claims: limit must be positive, not %',
                        p_limit
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    RETURN QUERY
    UPDATE liauto.actions AS x
    SET status = 'unknown',
        last_error = CASE x.status WHEN 'claimed'
                          THEN 'lease expired during the send'
                          ELSE x.last_error END,
        lease_expires_at = v_now + interval '5 minutes'
    FROM (SELECT id FROM (
              (SELECT id, lease_expires_at FROM liauto.actions
               WHERE status = 'claimed' AND lease_expires_at <= v_now
                 AND (kind = 'reply') = p_replies
               ORDER BY lease_expires_at LIMIT p_limit)
              UNION ALL
              (SELECT id, lease_expires_at FROM liauto.actions
               WHERE status = 'unknown' AND lease_expires_at <= v_now
                 AND (kind = 'reply') = p_replies
               ORDER BY lease_expires_at LIMIT p_limit)) AS due
          ORDER BY lease_expires_at
          LIMIT p_limit) AS pick
    WHERE x.id = pick.id
      AND x.status IN ('claimed', 'unknown') AND x.lease_expires_at <= v_now
    RETURNING x.*;
END
$$;

COMMENT ON FUNCTION liauto.expire_claims(integer, boolean) IS
    'engine.expired_claims of 0011 for one path: sequence actions '
    '(p_replies false) or inbox replies (true). Up to p_limit expired '
    'claims turned unknown plus unknown ones due for a look, oldest '
    'first, each handed out again after 5 minutes.';

CREATE OR REPLACE FUNCTION engine.expired_claims(p_limit integer)
RETURNS SETOF liauto.actions
LANGUAGE sql AS $$
    SELECT * FROM liauto.expire_claims(p_limit, false)
$$;

CREATE FUNCTION engine.expired_replies(p_limit integer)
RETURNS SETOF liauto.actions
LANGUAGE sql AS $$
    SELECT * FROM liauto.expire_claims(p_limit, true)
$$;

COMMENT ON FUNCTION engine.expired_replies(integer) IS
    'The reply path''s reconciliation work (liauto.expire_claims): replies '
    'whose lease expired mid-send, and unknown ones due for a look.';


-- ------------------------------------------------------------------------
-- The message follows its reply action
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.sync_reply_message() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_message  uuid := (NEW.payload ->> 'message_id')::uuid;
BEGIN
    IF NEW.status = 'sent' THEN
        -- The echo webhook may have adopted the row first (0016): keep
        -- its id; never take an id another row already holds.
        UPDATE liauto.messages AS m
        SET status = 'sent', error = NULL,
            sent_at = coalesce(m.sent_at, liauto.now()),
            external_message_id = coalesce(
                m.external_message_id,
                (SELECT NEW.external_id WHERE NOT EXISTS (
                     SELECT 1 FROM liauto.messages AS o
                     WHERE o.client_id = m.client_id
                       AND o.channel = m.channel
                       AND o.external_message_id = NEW.external_id)))
        WHERE m.id = v_message;

    ELSIF NEW.status IN ('failed', 'cancelled', 'needs_review') THEN
        UPDATE liauto.messages AS m
        SET status = 'failed',
            error = CASE NEW.status
                        WHEN 'needs_review'
                        THEN 'may have been sent: the provider cannot '
                             'tell; check the chat before resending'
                        ELSE coalesce(NEW.last_error, 'not sent') END
        WHERE m.id = v_message AND m.status <> 'sent';

    ELSIF NEW.status = 'scheduled' THEN
        -- Waiting again (cool-off, budget, retry): say why.
        UPDATE liauto.messages AS m
        SET error = NEW.last_error
        WHERE m.id = v_message AND m.status = 'queued'
          AND m.error IS DISTINCT FROM NEW.last_error;
    END IF;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION liauto.sync_reply_message() IS
    'Mirrors a reply action on its message (payload.message_id): sent -> '
    'sent with the provider''s id; failed, cancelled or needs_review -> '
    'failed with the reason (a message already sent stays sent); '
    'scheduled again -> still queued, error says why it waits.';

CREATE TRIGGER actions_sync_reply_message
    AFTER UPDATE OF status, last_error ON liauto.actions
    FOR EACH ROW
    WHEN (NEW.kind = 'reply' AND (OLD.status, OLD.last_error)
          IS DISTINCT FROM (NEW.status, NEW.last_error))
    EXECUTE FUNCTION liauto.sync_reply_message();


-- ------------------------------------------------------------------------
-- The reply path of the worker
-- ------------------------------------------------------------------------

CREATE FUNCTION engine.claim_replies(p_worker text, p_limit integer,
                                     p_lease interval)
RETURNS SETOF liauto.actions
LANGUAGE plpgsql AS $$
DECLARE
    v_now      timestamptz := liauto.now();
    v_action   liauto.actions;
    v_claimed  integer := 0;
BEGIN
    IF p_worker IS NULL OR p_worker = '' OR p_limit IS NULL OR p_limit < 1
       OR p_lease IS NULL OR p_lease <= interval '0'
    THEN
        RAISE EXCEPTION 'claim_replies: need a worker id, a positive limit '
                        'and a positive lease'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF liauto.scheduler_paused() THEN
        RETURN;
    END IF;

    FOR v_action IN
        SELECT x.* FROM liauto.actions AS x
        JOIN liauto.linkedin_accounts AS a ON a.id = x.account_id
        WHERE x.kind = 'reply' AND x.status = 'scheduled'
          AND x.due_at <= v_now AND a.status = 'ok'
          AND (a.cooldown_until IS NULL OR a.cooldown_until <= v_now)
        ORDER BY x.due_at, x.id
        LIMIT 4 * p_limit
        FOR UPDATE OF x SKIP LOCKED
    LOOP
        -- The account row serialises this with the engine's claim: one
        -- send at a time per account, whichever path claims it.
        PERFORM FROM liauto.linkedin_accounts AS a
        WHERE a.id = v_action.account_id
        FOR NO KEY UPDATE SKIP LOCKED;
        CONTINUE WHEN NOT FOUND;
        PERFORM FROM liauto.actions AS x
        WHERE x.account_id = v_action.account_id AND x.status = 'claimed';
        CONTINUE WHEN FOUND;

        IF NOT liauto.reserve_budget(v_action.account_id, 'message', v_now)
        THEN
            PERFORM liauto.reschedule_action(
                v_action.id,
                coalesce((SELECT b.resets_at FROM liauto.budget_remaining(
                              v_action.account_id, 'message', v_now) AS b),
                         v_now + interval '1 day'),
                'the account''s daily message limit is reached', false);
            CONTINUE;
        END IF;

        -- Human replies are not paced like the sequence (no spacing, no
        -- working hours): only the limits and the cool-off hold them.
        UPDATE liauto.actions
        SET status = 'claimed', claim_token = gen_random_uuid(),
            lease_expires_at = v_now + p_lease, claimed_by = p_worker,
            claimed_at = v_now, attempts = attempts + 1
        WHERE id = v_action.id
        RETURNING * INTO v_action;

        RETURN NEXT v_action;
        v_claimed := v_claimed + 1;
        EXIT WHEN v_claimed >= p_limit;
    END LOOP;
END
$$;

COMMENT ON FUNCTION engine.claim_replies(text, integer, interval) IS
    'Claims up to p_limit due inbox replies of accounts that are ok and '
    'not cooling off, at most one in flight per account (sequence sends '
    'included): each claim reserves a message unit of the account''s '
    'daily budget (liauto.reserve_budget), gets a claim token and a lease. '
    'A reply over the budget waits for the next local day, its message '
    'saying so. Nothing while the scheduler is paused.';

CREATE FUNCTION liauto.mark_reply_sent(p_action liauto.actions,
                                       p_external_id text, p_chat_id text)
RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE liauto.actions
    SET status = 'sent', external_id = p_external_id,
        lease_expires_at = NULL,
        payload = payload || jsonb_strip_nulls(
                                 jsonb_build_object('chat_id', p_chat_id))
    WHERE id = p_action.id;

    -- A chat started because the old one was gone is the conversation's
    -- chat from now on (unless another conversation of the client has it).
    UPDATE liauto.conversations AS c
    SET external_chat_id = p_chat_id
    WHERE c.id = (p_action.payload ->> 'conversation_id')::uuid
      AND p_chat_id IS NOT NULL AND c.external_chat_id <> p_chat_id
      AND NOT EXISTS (SELECT 1 FROM liauto.conversations AS o
                      WHERE o.client_id = c.client_id
                        AND o.channel = c.channel
                        AND o.external_chat_id = p_chat_id);
    RETURN 'sent';
END
$$;

COMMENT ON FUNCTION liauto.mark_reply_sent(liauto.actions, text, text) IS
    'The one "reply sent" transition (completion and reconciliation): '
    'action sent with the provider''s message id (the trigger marks the '
    'message sent), a newly started chat kept as the conversation''s.';

CREATE FUNCTION liauto.reply_already_sent(p_action liauto.actions)
RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT m.external_message_id FROM liauto.messages AS m
    WHERE m.id = (p_action.payload ->> 'message_id')::uuid
      AND m.status = 'sent' AND m.external_message_id IS NOT NULL
$$;

COMMENT ON FUNCTION liauto.reply_already_sent(liauto.actions) IS
    'The provider id of the reply''s message when its echo already came '
    'back (0016 adopts the queued row), else NULL: proof it was sent.';

CREATE FUNCTION engine.check_reply(p_action_id uuid, p_claim_token uuid)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_action  liauto.actions := liauto.lock_claim(p_action_id,
                                                  p_claim_token);
    v_sent    text := liauto.reply_already_sent(v_action);
BEGIN
    IF v_action.id IS NOT NULL AND v_sent IS NOT NULL THEN
        PERFORM liauto.mark_reply_sent(v_action, v_sent, NULL);
        RETURN 'already_sent';
    END IF;
    RETURN engine.check_before_send(p_action_id, p_claim_token);
END
$$;

COMMENT ON FUNCTION engine.check_reply(uuid, uuid) IS
    'engine.check_before_send for a reply (ok: send now; stale, '
    'lease_expired, account_cooling_off, ...: do not), plus already_sent '
    'when the message came back from the provider meanwhile.';

CREATE FUNCTION engine.complete_reply(p_action_id uuid, p_claim_token uuid,
                                      p_outcome text, p_external_id text,
                                      p_error text, p_retry_at timestamptz,
                                      p_chat_id text)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_action  liauto.actions := liauto.lock_claim(p_action_id,
                                                  p_claim_token);
BEGIN
    IF v_action.id IS NULL THEN
        RETURN 'stale';
    END IF;
    IF p_outcome = 'sent' THEN
        RETURN liauto.mark_reply_sent(v_action, p_external_id, p_chat_id);
    END IF;
    -- Every other outcome means for a reply what it means for a step:
    -- retries, cool-off, blocked account, limits, unknown. A reply has
    -- no lead, so final_* just fail it (the trigger fails the message).
    RETURN engine.complete_action(p_action_id, p_claim_token, p_outcome,
                                  p_external_id, p_error, p_retry_at);
END
$$;

COMMENT ON FUNCTION engine.complete_reply(uuid, uuid, text, text, text,
                                          timestamptz, text) IS
    'Records a reply''s outcome, fenced by the claim token: sent -> '
    'liauto.mark_reply_sent; anything else as engine.complete_action. '
    'Returns the action''s new status (stale for a foreign token).';

CREATE FUNCTION engine.resolve_reply(p_action_id uuid, p_found boolean,
                                     p_external_id text,
                                     p_chat_id text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_action  liauto.actions;
    v_sent    text;
BEGIN
    SELECT * INTO v_action FROM liauto.actions
    WHERE id = p_action_id AND status = 'unknown' AND kind = 'reply'
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 'stale';
    END IF;

    v_sent := coalesce(liauto.reply_already_sent(v_action),
                       CASE WHEN p_found THEN p_external_id END);
    IF v_sent IS NOT NULL OR p_found THEN
        RETURN liauto.mark_reply_sent(v_action, v_sent, p_chat_id);
    END IF;
    RETURN engine.resolve_unknown(p_action_id, false, NULL, true);
END
$$;

COMMENT ON FUNCTION engine.resolve_reply(uuid, boolean, text, text) IS
    'The reconciler''s verdict on an unknown reply: found in the chat (or '
    'its echo already stored) -> sent, p_chat_id the chat it was found in '
    'when the conversation''s was gone; provably not there -> budget unit '
    'back and scheduled again (failed after engine_max_attempts).';


-- ------------------------------------------------------------------------
-- Visibility and representations
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.inbox_sees(p_caller jsonb, p_client_id uuid,
                                  p_assignee uuid)
RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT api.caller_sees(p_caller, p_client_id)
           AND (p_caller ->> 'role' IS DISTINCT FROM 'agent'
                OR p_assignee IS NULL
                OR p_assignee = (p_caller ->> 'sub')::uuid)
$$;

COMMENT ON FUNCTION liauto.inbox_sees(jsonb, uuid, uuid) IS
    'The inbox''s tenant rule: api.caller_sees, and an agent only sees '
    'conversations assigned to it or to nobody. Plain SQL, inlined.';

CREATE FUNCTION liauto.conversation_status(p_status text,
                                           p_snoozed_until timestamptz)
RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_status = 'snoozed' AND p_snoozed_until <= liauto.now()
                THEN 'open' ELSE p_status END
$$;

COMMENT ON FUNCTION liauto.conversation_status(text, timestamptz) IS
    'The status the API shows and filters by: a snooze that is over is '
    'open again (no job needs to wake it).';

CREATE FUNCTION liauto.message_json(m liauto.messages) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', m.id,
        'conversation_id', m.conversation_id,
        'direction', m.direction,
        'status', m.status,
        'error', m.error,
        'text', m.text,
        'sender_name', m.sender_name,
        'sender_external_id', m.sender_external_id,
        'attachments', m.attachments,
        'external_message_id', m.external_message_id,
        'author_user_id', m.author_user_id,
        'sent_at', api.ts(m.sent_at),
        'received_at', api.ts(m.received_at),
        'read_at', api.ts(m.read_at),
        'thread_at', api.ts(m.thread_at),
        'created_at', api.ts(m.created_at))
$$;

COMMENT ON FUNCTION liauto.message_json(liauto.messages) IS
    'The API representation of an inbox message.';

CREATE FUNCTION liauto.conversation_json(c liauto.conversations)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', c.id,
        'client_id', c.client_id,
        'account_id', c.account_id,
        'channel', c.channel,
        'external_chat_id', c.external_chat_id,
        'lead_id', c.lead_id,
        'campaign_id', c.campaign_id,
        'subject', c.subject,
        'status', liauto.conversation_status(c.status, c.snoozed_until),
        'snoozed_until', api.ts(c.snoozed_until),
        'assigned_to_user_id', c.assigned_to_user_id,
        'unread_count', c.unread_count,
        'last_message_at', api.ts(c.last_message_at),
        'last_inbound_at', api.ts(c.last_inbound_at),
        'last_activity_at', api.ts(c.last_activity_at),
        'created_at', api.ts(c.created_at),
        'updated_at', api.ts(c.updated_at),
        'participants', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'id', p.id, 'role', p.role,
                       'display_name', p.display_name,
                       'provider_id', p.provider_id,
                       'public_identifier', p.public_identifier,
                       'member_id', p.member_id)
                   ORDER BY p.created_at, p.id)
            FROM liauto.participants AS p
            WHERE p.conversation_id = c.id), '[]'),
        'last_message', (
            SELECT liauto.message_json(m) FROM liauto.messages AS m
            WHERE m.conversation_id = c.id
            ORDER BY m.thread_at DESC, m.id DESC
            LIMIT 1))
$$;

COMMENT ON FUNCTION liauto.conversation_json(liauto.conversations) IS
    'The API representation of a conversation, with its participants and '
    'its latest message (null before the first).';

CREATE FUNCTION liauto.find_conversation(p_caller jsonb, p_id uuid,
                                         p_lock boolean DEFAULT false)
RETURNS liauto.conversations
LANGUAGE plpgsql AS $$
DECLARE
    v_conversation  liauto.conversations;
BEGIN
    IF p_lock THEN
        SELECT * INTO v_conversation FROM liauto.conversations AS c
        WHERE c.id = p_id
          AND liauto.inbox_sees(p_caller, c.client_id, c.assigned_to_user_id)
        FOR NO KEY UPDATE;
    ELSE
        SELECT * INTO v_conversation FROM liauto.conversations AS c
        WHERE c.id = p_id
          AND liauto.inbox_sees(p_caller, c.client_id,
                                c.assigned_to_user_id);
    END IF;
    IF NOT FOUND THEN
        PERFORM api.raise_error(404, 'NOT_FOUND', 'conversation not found');
    END IF;
    RETURN v_conversation;
END
$$;

COMMENT ON FUNCTION liauto.find_conversation(jsonb, uuid, boolean) IS
    'The conversation p_id if the caller may see it (liauto.inbox_sees), '
    'else 404; p_lock takes the row lock that serialises changes.';


-- ------------------------------------------------------------------------
-- Lists
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.inbox_filter_errors(p_caller jsonb, p_query jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'filter[status]',
        CASE WHEN p_query ->> 'filter[status]'
                  NOT IN ('open', 'closed', 'snoozed')
             THEN 'must be one of: open, closed, snoozed' END,
        'filter[assignee]',
        CASE WHEN p_query ->> 'filter[assignee]' !~*
                  '^(me|none|[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12})$'
             THEN 'must be me, none or a user id' END,
        'filter[unread]',
        CASE WHEN p_query ->> 'filter[unread]' NOT IN ('true', 'false')
             THEN 'must be true or false' END,
        'filter[campaign_id]',
        CASE WHEN p_query ->> 'filter[campaign_id]' !~*
                  '^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$'
             THEN 'must be a UUID' END,
        'filter[client_id]',
        CASE WHEN p_query ->> 'filter[client_id]' !~*
                  '^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$'
             THEN 'must be a UUID' END,
        'filter[search]',
        CASE WHEN length(btrim(p_query ->> 'filter[search]')) NOT
                  BETWEEN 1 AND 200
             THEN 'must be 1 to 200 characters' END))
$$;

COMMENT ON FUNCTION liauto.inbox_filter_errors(jsonb, jsonb) IS
    'Field errors of the conversation filters, {} when they are fine.';

CREATE FUNCTION liauto.inbox_filters(p_caller jsonb, p_query jsonb,
                                     OUT sql text, OUT args jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_errors  jsonb := liauto.inbox_filter_errors(p_caller, p_query);
BEGIN
    IF v_errors <> '{}' THEN
        PERFORM api.raise_error(400, 'BAD_REQUEST',
                                'invalid query parameters', v_errors);
    END IF;

    args := jsonb_build_object(
        'caller', p_caller,
        'own_client', CASE WHEN p_caller ->> 'role' <> 'admin'
                           THEN p_caller ->> 'client_id' END,
        'client_id', p_query ->> 'filter[client_id]',
        'status', p_query ->> 'filter[status]',
        'assignee', CASE lower(p_query ->> 'filter[assignee]')
                        WHEN 'me' THEN p_caller ->> 'sub'
                        ELSE lower(p_query ->> 'filter[assignee]') END,
        'unread', p_query ->> 'filter[unread]',
        'campaign_id', p_query ->> 'filter[campaign_id]',
        'search', btrim(p_query ->> 'filter[search]'));

    -- The rule, then the same tenant as a plain equality the planner can
    -- match to (client_id, last_activity_at, id); client values only in
    -- $1.
    sql := 'liauto.inbox_sees($1 -> ''caller'', t.client_id,'
        || '                  t.assigned_to_user_id)'
        || ' AND ($1 ->> ''own_client'' IS NULL'
        || '      OR t.client_id = ($1 ->> ''own_client'')::uuid)'
        || ' AND ($1 ->> ''client_id'' IS NULL'
        || '      OR t.client_id = ($1 ->> ''client_id'')::uuid)'
        || ' AND ($1 ->> ''status'' IS NULL'
        || '      OR liauto.conversation_status(t.status, t.snoozed_until)'
        || '         = $1 ->> ''status'')'
        || ' AND ($1 ->> ''assignee'' IS NULL'
        || '      OR ($1 ->> ''assignee'' = ''none'''
        || '          AND t.assigned_to_user_id IS NULL)'
        || '      OR t.assigned_to_user_id::text = $1 ->> ''assignee'')'
        || ' AND ($1 ->> ''unread'' IS NULL'
        || '      OR (t.unread_count > 0) = ($1 ->> ''unread'')::boolean)'
        || ' AND ($1 ->> ''campaign_id'' IS NULL'
        || '      OR t.campaign_id = ($1 ->> ''campaign_id'')::uuid)'
        || ' AND ($1 ->> ''search'' IS NULL'
        || '      OR EXISTS (SELECT 1 FROM liauto.messages AS m'
        || '                 WHERE m.conversation_id = t.id'
        || '                   AND m.search @@ plainto_tsquery(''simple'','
        || '                                      $1 ->> ''search'')))';
END
$$;

COMMENT ON FUNCTION liauto.inbox_filters(jsonb, jsonb) IS
    'WHERE clause (alias t = conversations) and $1 arguments of the '
    'conversation list and counters: the inbox rule, filter[client_id], '
    'filter[status] (open includes snoozes that are over), '
    'filter[assignee] me|none|<user id>, filter[unread] true|false, '
    'filter[campaign_id], filter[search] (full-text over message text, '
    'every word must match). 400 naming every bad filter.';

CREATE FUNCTION liauto.with_sort(p_query jsonb, p_sort text,
                                 p_order text)
RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('sort', p_sort, 'order', p_order)
           || coalesce(p_query, '{}')
$$;

COMMENT ON FUNCTION liauto.with_sort(jsonb, text, text) IS
    'The query with this list''s default sort and order where the client '
    'gave none (api.list_params defaults to created_at desc).';

CREATE FUNCTION api.inbox_conversations_list(p_caller jsonb, p_path text[],
                                             p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_query     jsonb := liauto.with_sort(p_query, 'last_activity_at',
                                          'desc');
    v_params    api.list_query;
    v_filter    record;
    v_envelope  text;
BEGIN
    v_params := api.list_params(v_query, '{last_activity_at}',
        '{client_id,status,assignee,unread,campaign_id,search}');
    v_filter := liauto.inbox_filters(p_caller, p_query);
    RETURN QUERY SELECT * FROM api.keyset_page(v_params,
        'liauto.conversations', 'liauto.conversation_json(t)',
        v_filter.sql, v_filter.args);
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.inbox_conversations_list(jsonb, text[], jsonb,
                                                 jsonb) IS
    'GET /inbox/conversations: newest activity first (order=asc for the '
    'oldest), the filters of liauto.inbox_filters, keyset pages.';

CREATE FUNCTION api.inbox_conversations_get(p_caller jsonb, p_path text[],
                                            p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_envelope  text;
BEGIN
    PERFORM api.reject_query(p_query);
    RETURN QUERY SELECT * FROM api.ok(200, liauto.conversation_json(
        liauto.find_conversation(p_caller, liauto.path_id(p_path))));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.inbox_conversations_get(jsonb, text[], jsonb,
                                                jsonb) IS
    'GET /inbox/conversations/{id}: participants and latest message.';

CREATE FUNCTION api.inbox_messages_list(p_caller jsonb, p_path text[],
                                        p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_params        api.list_query;
    v_conversation  liauto.conversations;
    v_envelope      text;
BEGIN
    v_params := api.list_params(
        liauto.with_sort(p_query, 'thread_at', 'asc'), '{thread_at}', '{}');
    v_conversation := liauto.find_conversation(p_caller,
                                               liauto.path_id(p_path));
    RETURN QUERY SELECT * FROM api.keyset_page(v_params,
        'liauto.messages', 'liauto.message_json(t)',
        't.conversation_id = ($1 ->> ''conversation_id'')::uuid',
        jsonb_build_object('conversation_id', v_conversation.id));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.inbox_messages_list(jsonb, text[], jsonb, jsonb) IS
    'GET /inbox/conversations/{id}/messages: oldest first (order=desc '
    'for newest first), by thread_at, keyset pages.';


-- ------------------------------------------------------------------------
-- Counters
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.inbox_counts(p_where text, p_args jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_counts  jsonb;
BEGIN
    -- p_where is liauto.inbox_filters' text; values travel in $1 only.
    EXECUTE format($q$
        WITH v AS (
            SELECT t.assigned_to_user_id AS assignee,
                   coalesce(t.assigned_to_user_id
                            = ($1 #>> '{caller,sub}')::uuid, false) AS mine,
                   liauto.conversation_status(t.status, t.snoozed_until)
                       = 'open' AS open,
                   t.unread_count > 0 AS unread
            FROM liauto.conversations AS t WHERE %s)
        SELECT jsonb_build_object(
            'queues', (
                SELECT jsonb_build_object(
                    'mine', jsonb_build_object(
                        'open', count(*) FILTER (WHERE v.open AND v.mine),
                        'unread', count(*) FILTER (WHERE v.unread
                                                   AND v.mine)),
                    'unassigned', jsonb_build_object(
                        'open', count(*) FILTER (WHERE v.open
                                                 AND v.assignee IS NULL),
                        'unread', count(*) FILTER (WHERE v.unread
                                                   AND v.assignee IS NULL)),
                    'all', jsonb_build_object(
                        'open', count(*) FILTER (WHERE v.open),
                        'unread', count(*) FILTER (WHERE v.unread)))
                FROM v),
            'by_assignee', coalesce((
                SELECT jsonb_agg(jsonb_build_object(
                           'user_id', g.assignee, 'open', g.open,
                           'unread', g.unread) ORDER BY g.assignee)
                FROM (SELECT v.assignee,
                             count(*) FILTER (WHERE v.open) AS open,
                             count(*) FILTER (WHERE v.unread) AS unread
                      FROM v WHERE v.assignee IS NOT NULL
                      GROUP BY v.assignee) AS g), '[]'))
        $q$, p_where)
    INTO v_counts USING p_args;
    RETURN v_counts;
END
$$;

COMMENT ON FUNCTION liauto.inbox_counts(text, jsonb) IS
    'Open and unread conversation counts of what the caller sees, by '
    'queue (mine, unassigned, all) and by assignee.';

CREATE FUNCTION api.inbox_counters(p_caller jsonb, p_path text[],
                                   p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_filter    record;
    v_bad       jsonb;
    v_envelope  text;
BEGIN
    SELECT jsonb_object_agg(k, 'unknown parameter') INTO v_bad
    FROM jsonb_object_keys(coalesce(p_query, '{}')) AS k
    WHERE k NOT IN ('filter[client_id]', 'filter[campaign_id]');
    IF v_bad IS NOT NULL THEN
        PERFORM api.raise_error(400, 'BAD_REQUEST',
                                'invalid query parameters', v_bad);
    END IF;
    v_filter := liauto.inbox_filters(p_caller, p_query);
    RETURN QUERY SELECT * FROM api.ok(200, liauto.inbox_counts(
        v_filter.sql, v_filter.args));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.inbox_counters(jsonb, text[], jsonb, jsonb) IS
    'GET /inbox/counters: {"queues": {"mine"|"unassigned"|"all": '
    '{"open", "unread"}}, "by_assignee": [{"user_id", "open", '
    '"unread"}]}, over what the caller sees; filter[client_id], '
    'filter[campaign_id].';


-- ------------------------------------------------------------------------
-- Changing a conversation
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.assignee_error(p_client_id uuid, p_user_id uuid)
RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN p_user_id IS NULL THEN NULL
        WHEN NOT EXISTS (
            SELECT 1 FROM liauto.users AS u
            WHERE u.id = p_user_id
              AND (u.client_id = p_client_id
                   OR (u.role = 'admin' AND u.client_id IS NULL)))
            THEN 'unknown user'
        WHEN NOT EXISTS (
            SELECT 1 FROM liauto.users AS u
            WHERE u.id = p_user_id AND u.role IN ('agent', 'admin'))
            THEN 'must be an agent or an admin (viewers cannot answer)'
    END
$$;

COMMENT ON FUNCTION liauto.assignee_error(uuid, uuid) IS
    'Why p_user_id cannot be assigned a conversation of p_client_id, or '
    'NULL: it must be an agent or admin of that client (or an admin of '
    'every client); a user of another client is unknown.';

CREATE FUNCTION liauto.body_time(p_body jsonb, p_field text,
                                 INOUT p_errors jsonb,
                                 OUT value timestamptz)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_errors ? p_field THEN
        RETURN;
    END IF;
    BEGIN
        value := api.query_timestamp(p_body, p_field);
    EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
        p_errors := p_errors || jsonb_build_object(
                        p_field, 'must be an ISO 8601 timestamp');
    END;
END
$$;

COMMENT ON FUNCTION liauto.body_time(jsonb, text, jsonb) IS
    'A timestamp field of a body, parsed like a timestamp query parameter '
    '(ISO 8601 only), or a field error.';

-- One conversation action: validation, the change and the answer. Every
-- route below is this with its p_action; the caller's visibility is
-- checked first, so another tenant's conversation is a 404 before any
-- body error.
CREATE FUNCTION liauto.conversation_action(p_caller jsonb, p_path text[],
                                           p_query jsonb, p_body jsonb,
                                           p_action text)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_conversation  liauto.conversations;
    v_errors        jsonb := '{}';
    v_until         timestamptz;
    v_user          uuid;
    v_envelope      text;
BEGIN
    PERFORM api.reject_query(p_query);
    v_conversation := liauto.find_conversation(
        p_caller, liauto.path_id(p_path), true);

    CASE p_action
    WHEN 'assign' THEN
        v_errors := api.validate_body(p_body,
            '{"user_id": {"type": "uuid", "nullable": true,
                          "required": true}}');
        IF NOT v_errors ? 'user_id' THEN
            v_user := (p_body ->> 'user_id')::uuid;
            v_errors := jsonb_strip_nulls(jsonb_build_object('user_id',
                liauto.assignee_error(v_conversation.client_id, v_user)));
        END IF;
        PERFORM api.raise_invalid(v_errors);
        UPDATE liauto.conversations AS c SET assigned_to_user_id = v_user
        WHERE c.id = v_conversation.id;

    WHEN 'snooze' THEN
        v_errors := api.validate_body(p_body,
            '{"until": {"type": "string", "min": 1, "max": 64,
                        "required": true}}');
        SELECT * INTO v_errors, v_until
        FROM liauto.body_time(p_body, 'until', v_errors);
        IF v_until <= liauto.now() THEN
            v_errors := v_errors || '{"until": "must be in the future"}';
        END IF;
        PERFORM api.raise_invalid(v_errors);
        UPDATE liauto.conversations AS c
        SET status = 'snoozed', snoozed_until = v_until
        WHERE c.id = v_conversation.id;

    WHEN 'close', 'reopen' THEN
        UPDATE liauto.conversations AS c
        SET status = CASE p_action WHEN 'close' THEN 'closed'
                                   ELSE 'open' END,
            snoozed_until = NULL
        WHERE c.id = v_conversation.id;

    WHEN 'read' THEN
        UPDATE liauto.messages AS m SET read_at = liauto.now()
        WHERE m.conversation_id = v_conversation.id
          AND m.direction = 'inbound' AND m.read_at IS NULL;
        UPDATE liauto.conversations AS c SET unread_count = 0
        WHERE c.id = v_conversation.id AND c.unread_count <> 0;

    WHEN 'unread' THEN
        -- The latest inbound message is unread again; without one the
        -- conversation is still flagged (unread_count 1).
        UPDATE liauto.messages AS m SET read_at = NULL
        WHERE m.id = (SELECT l.id FROM liauto.messages AS l
                      WHERE l.conversation_id = v_conversation.id
                        AND l.direction = 'inbound'
                      ORDER BY l.thread_at DESC, l.id DESC LIMIT 1);
        UPDATE liauto.conversations AS c
        SET unread_count = greatest(c.unread_count, 1)
        WHERE c.id = v_conversation.id;
    END CASE;

    RETURN QUERY SELECT * FROM api.ok(200, liauto.conversation_json(
        (SELECT c FROM liauto.conversations AS c
         WHERE c.id = v_conversation.id)));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION liauto.conversation_action(jsonb, text[], jsonb, jsonb,
                                               text) IS
    'POST /inbox/conversations/{id}/<action> for assign {user_id|null}, '
    'snooze {until}, close, reopen, read (unread_count 0, inbound '
    'messages read_at) and unread (the latest inbound message unread, '
    'unread_count at least 1); 200 with the conversation.';

DO $$
DECLARE
    v_action  text;
BEGIN
    FOREACH v_action IN ARRAY ARRAY['assign', 'snooze', 'close', 'reopen',
                                    'read', 'unread']
    LOOP
        EXECUTE format(
            'CREATE FUNCTION api.%1$I(p_caller jsonb, p_path text[], '
            '    p_query jsonb, p_body jsonb) '
            'RETURNS TABLE (status integer, body text) '
            'LANGUAGE sql AS $f$ '
            '    SELECT * FROM liauto.conversation_action(p_caller, p_path, '
            '        p_query, p_body, %2$L) $f$',
            'inbox_' || v_action, v_action);
        EXECUTE format(
            'COMMENT ON FUNCTION api.%I(jsonb, text[], jsonb, jsonb) IS %L',
            'inbox_' || v_action,
            'POST /inbox/conversations/{id}/' || v_action
            || ' (liauto.conversation_action).');
    END LOOP;
END
$$;


-- ------------------------------------------------------------------------
-- Replying
-- ------------------------------------------------------------------------

CREATE FUNCTION liauto.queue_reply(p_caller jsonb,
                                   p_conversation liauto.conversations,
                                   p_text text)
RETURNS liauto.messages
LANGUAGE plpgsql AS $$
DECLARE
    v_now      timestamptz := liauto.now();
    v_account  liauto.linkedin_accounts;
    v_message  liauto.messages;
    v_action   uuid;
BEGIN
    SELECT * INTO v_account FROM liauto.linkedin_accounts AS a
    WHERE a.id = p_conversation.account_id
      AND a.client_id = p_conversation.client_id;
    IF NOT FOUND THEN
        PERFORM api.raise_error(409, 'CONFLICT',
            'the conversation has no linkedin account to reply from',
            '{"account_id": "none"}');
    END IF;

    INSERT INTO liauto.messages AS m
           (client_id, conversation_id, direction, status, sender_name,
            sender_external_id, text, author_user_id, received_at,
            created_at)
    VALUES (p_conversation.client_id, p_conversation.id, 'outbound',
            'queued', v_account.name, v_account.provider_user_id, p_text,
            (SELECT u.id FROM liauto.users AS u
             WHERE u.id = (p_caller ->> 'sub')::uuid),
            v_now, v_now)
    RETURNING * INTO v_message;

    -- Who to start a chat with if the conversation's is gone: the
    -- attendee that is not our own account.
    INSERT INTO liauto.actions (client_id, account_id, kind, due_at,
                                payload)
    VALUES (p_conversation.client_id, v_account.id, 'reply', v_now,
            jsonb_build_object(
                'message_id', v_message.id,
                'conversation_id', p_conversation.id,
                'chat_id', p_conversation.external_chat_id,
                'unipile_account_id', v_account.unipile_account_id,
                'provider_id', (
                    SELECT p.provider_id FROM liauto.participants AS p
                    WHERE p.conversation_id = p_conversation.id
                      AND p.role = 'attendee'
                      AND p.provider_id IS DISTINCT FROM
                          v_account.provider_user_id
                    ORDER BY p.created_at, p.id LIMIT 1),
                'text', p_text))
    RETURNING id INTO v_action;

    UPDATE liauto.messages AS m SET action_id = v_action
    WHERE m.id = v_message.id
    RETURNING * INTO v_message;

    UPDATE liauto.conversations AS c
    SET last_message_at = greatest(c.last_message_at, v_now)
    WHERE c.id = p_conversation.id;

    PERFORM pg_notify('liauto_worker', jsonb_build_object(
        'event', 'reply_queued', 'action_id', v_action)::text);
    RETURN v_message;
END
$$;

COMMENT ON FUNCTION liauto.queue_reply(jsonb, liauto.conversations, text) IS
    'Queues a reply: the outbound message (queued, authored by the '
    'caller) and its outbox action (kind reply, due now, payload: chat, '
    'account, attendee, text), and wakes the workers. 409 when the '
    'conversation has no account of its client to send from.';

CREATE FUNCTION api.inbox_reply(p_caller jsonb, p_path text[],
                                p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_conversation  liauto.conversations;
    v_envelope      text;
BEGIN
    PERFORM api.reject_query(p_query);
    v_conversation := liauto.find_conversation(
        p_caller, liauto.path_id(p_path), true);
    PERFORM api.raise_invalid(api.validate_body(p_body,
        '{"text": {"type": "string", "min": 1, "max": 8000,
                   "required": true}}'));
    RETURN QUERY SELECT * FROM api.ok(202, liauto.message_json(
        liauto.queue_reply(p_caller, v_conversation, p_body ->> 'text')));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.inbox_reply(jsonb, text[], jsonb, jsonb) IS
    'POST /inbox/conversations/{id}/reply {text} -> 202 with the queued '
    'message; the worker sends it (engine.claim_replies) and the message '
    'becomes sent or failed with the reason.';
