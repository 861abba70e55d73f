-- 0029_leftovers_claiming_accounts: what the "leftovers" helper added to
-- issues 3 and 4 after 0020 was merged (0020 is applied as merged and
-- stays unchanged).
-- It depends on 0011 and 0020 and on nothing after them.
--
-- 6. Claiming reads an account's next action from its own index, does
--    not try accounts with a send in flight, and reads the weekly invite
--    window in one pass.
-- 7. Accounts out of ok are re-checked with Unipile by the worker and
--    restored when Unipile says they are OK again.

-- ------------------------------------------------------------------------
-- 6. Claiming: the account's next action from its own index, and no
--    account with a send in flight is tried
-- ------------------------------------------------------------------------
--
-- ./build.sh bench (t/bench/engine.sh: 6,000 invites, 64 accounts, no
-- pacing) showed claiming as most of the database time per send:
-- - claim_for_account's pick (account, scheduled, due, ORDER BY due_at,
--   id) walked actions_due_idx, which has the order but not the account,
--   filtering out every other account's actions (3,172 rows for one pick,
--   1.2-2 ms). actions_account_due_idx gets id as its last column, so the
--   pick is the first entry of the account's range.
-- - one send at a time per account: with several workers most accounts
--   have one in flight, and each was still locked and asked, to answer
--   NULL (30,117 claim_for_account calls for 6,000 claims with 4 workers,
--   9,582 after the first change, one per claim after this one).
--   claim_for_account still checks under the account's lock, so the rule
--   is unchanged.
-- - the weekly invite window was seven reads of rate_usage per claim.

DROP INDEX liauto.actions_account_due_idx;
CREATE INDEX actions_account_due_idx
    ON liauto.actions (account_id, due_at, id) WHERE status = 'scheduled';

-- Every invite claim sums the account's fullest 7-day window around the
-- day: one range read of the 13 days and a sum per window, instead of
-- seven reads (0.46 ms of each invite claim in the bench). A window
-- without rows counts 0, like before (invites >= 0).
CREATE OR REPLACE FUNCTION liauto.weekly_invites_used(p_account_id uuid,
                                                      p_day date)
RETURNS integer
LANGUAGE sql STABLE STRICT AS $$
    SELECT coalesce(max(w.used), 0)::integer
    FROM (SELECT sum(u.invites) AS used
          FROM liauto.rate_usage AS u
          JOIN generate_series(0, 6) AS k
              ON u.day BETWEEN p_day + k - 6 AND p_day + k
          WHERE u.account_id = p_account_id
            AND u.day BETWEEN p_day - 6 AND p_day + 6
          GROUP BY k) AS w
$$;

CREATE OR REPLACE FUNCTION engine.claim_actions(p_worker text,
                                                p_limit integer,
                                                p_lease interval)
RETURNS SETOF liauto.actions
LANGUAGE plpgsql AS $$
DECLARE
    v_now      timestamptz := liauto.now();
    v_account  uuid;
    v_action   liauto.actions;
    v_claimed  integer := 0;
BEGIN
    IF p_worker IS NULL OR p_worker = '' OR p_limit IS NULL OR p_limit < 1
       OR p_lease IS NULL OR p_lease <= interval '0'
    THEN
        RAISE EXCEPTION 'claim_actions: need a worker id, a positive limit '
                        'and a positive lease'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF liauto.scheduler_paused() THEN
        RETURN;
    END IF;

    -- Accounts that may act now, oldest due action first: one index probe
    -- per account (actions_account_due_idx) instead of a scan of every
    -- due action, since spacing allows one claim per account anyway; an
    -- account with a send in flight (actions_account_status_idx) waits.
    FOR v_account IN
        SELECT a.id
        FROM liauto.linkedin_accounts AS a
        CROSS JOIN LATERAL (
            SELECT x.due_at FROM liauto.actions AS x
            WHERE x.account_id = a.id AND x.status = 'scheduled'
              AND x.due_at <= v_now
            ORDER BY x.due_at
            LIMIT 1) AS head
        WHERE a.status = 'ok'
          AND (a.cooldown_until IS NULL OR a.cooldown_until <= v_now)
          AND (a.next_action_at IS NULL OR a.next_action_at <= v_now)
          AND NOT EXISTS (SELECT FROM liauto.actions AS f
                          WHERE f.account_id = a.id
                            AND f.status = 'claimed')
        ORDER BY head.due_at, a.id
    LOOP
        v_action := liauto.claim_for_account(v_account, p_worker, p_lease);
        CONTINUE WHEN v_action.id IS NULL;
        RETURN NEXT v_action;
        v_claimed := v_claimed + 1;
        EXIT WHEN v_claimed >= p_limit;
    END LOOP;
END
$$;

COMMENT ON FUNCTION engine.claim_actions(text, integer, interval) IS
    'Claims up to p_limit due actions, at most one per account, in one '
    'transaction: each claim reserves its budget unit (liauto.'
    'reserve_budget), gets a new claim_token, lease_expires_at = now + '
    'p_lease, claimed_by, attempts + 1, a fresh payload, and moves the '
    'account''s next_action_at by a random spacing. Rows and accounts held '
    'by another claimer are skipped (SKIP LOCKED), so concurrent workers '
    'never claim the same action nor exceed a limit; accounts with a send '
    'in flight are not tried. Returns nothing while the scheduler is '
    'paused.';


-- ------------------------------------------------------------------------
-- 7. Re-checking accounts that are not ok
-- ------------------------------------------------------------------------
--
-- An account the engine set to error (a 401/403, DESIGN §5) or that a
-- status webhook took out of ok came back only with another webhook,
-- which Unipile sends on transitions only and may never arrive. The
-- worker asks Unipile (GET /api/v1/accounts/{id}) at start and every
-- LIAUTO_ACCOUNT_RECHECK_SECONDS for such accounts and records what it
-- says.

CREATE TABLE liauto.account_status_checks (
    account_id  uuid PRIMARY KEY
                REFERENCES liauto.linkedin_accounts ON DELETE CASCADE,
    checked_at  timestamptz NOT NULL
);

COMMENT ON TABLE liauto.account_status_checks IS
    'When a worker last asked Unipile for an account''s status (engine '
    'time); a table of its own so the bookkeeping neither locks the '
    'account row claims use nor changes its updated_at.';

CREATE FUNCTION engine.accounts_to_recheck(p_every_seconds integer,
                                           p_limit integer)
RETURNS TABLE (id uuid, unipile_account_id text)
LANGUAGE sql AS $$
    -- Taking an account is writing its check time: of two workers only
    -- the one whose upsert changes the row gets it.
    WITH taken AS (
        INSERT INTO liauto.account_status_checks AS k (account_id,
                                                       checked_at)
        SELECT a.id, liauto.now()
        FROM liauto.linkedin_accounts AS a
        LEFT JOIN liauto.account_status_checks AS c ON c.account_id = a.id
        WHERE a.status NOT IN ('ok', 'deleted')
          AND a.unipile_account_id IS NOT NULL
          AND (c.checked_at IS NULL
               OR c.checked_at <= liauto.now()
                                  - make_interval(secs => p_every_seconds))
        ORDER BY c.checked_at NULLS FIRST, a.id
        LIMIT p_limit
        ON CONFLICT (account_id) DO UPDATE
            SET checked_at = EXCLUDED.checked_at
            WHERE k.checked_at <= EXCLUDED.checked_at
                                  - make_interval(secs => p_every_seconds)
        RETURNING k.account_id)
    SELECT a.id, a.unipile_account_id
    FROM taken AS t JOIN liauto.linkedin_accounts AS a ON a.id = t.account_id
$$;

COMMENT ON FUNCTION engine.accounts_to_recheck(integer, integer) IS
    'Up to p_limit accounts neither ok nor deleted whose status was not '
    'asked of Unipile in the last p_every_seconds (engine clock), marked '
    'as asked now; several workers never get the same account.';

CREATE FUNCTION engine.record_account_status(p_account_id uuid,
                                             p_unipile_status text)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_status  text := CASE upper(p_unipile_status)
        WHEN 'OK' THEN 'ok' WHEN 'CREATION_SUCCESS' THEN 'ok'
        WHEN 'RECONNECTED' THEN 'ok' WHEN 'SYNC_SUCCESS' THEN 'ok'
        WHEN 'CONNECTING' THEN 'connecting'
        WHEN 'CREDENTIALS' THEN 'credentials'
        WHEN 'PERMISSIONS' THEN 'permissions'
        WHEN 'STOPPED' THEN 'stopped' WHEN 'DELETED' THEN 'deleted'
        ELSE 'error' END;
    v_new     text;
BEGIN
    -- Only an account out of ok: taking one out is for the engine's
    -- outcomes and the status webhooks, not for a poll that may have
    -- crossed them.
    UPDATE liauto.linkedin_accounts
    SET status = v_status,
        status_reason = CASE
            WHEN v_status = 'ok' THEN NULL
            WHEN v_status = status THEN status_reason
            ELSE format('Unipile reports the account as %s',
                        p_unipile_status) END
    WHERE id = p_account_id AND status <> 'ok'
    RETURNING status INTO v_new;

    IF v_new = 'ok' THEN
        -- the engines plan and claim for it again at once
        PERFORM pg_notify('liauto_worker', 'account');
    END IF;
    RETURN v_new;
END
$$;

COMMENT ON FUNCTION engine.record_account_status(uuid, text) IS
    'What Unipile says of an account out of ok (its status word: OK, '
    'CREDENTIALS, ...): OK, CREATION_SUCCESS, RECONNECTED and SYNC_SUCCESS '
    'restore it to ok (status_reason cleared, workers notified); another '
    'status is recorded in lower case (unknown words as error) with the '
    'reason. Returns the account''s status, or NULL when it is ok already '
    'or unknown.';
