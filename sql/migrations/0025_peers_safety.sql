-- 0025: safety features the leading outreach tools have (issue 8):
-- a per-client do-not-contact list, company-level care (stop everyone at
-- a company when one replies; a daily invite cap per company) and
-- account warm-up with a readable budget.
--
-- The do-not-contact list works through lead status: a matching lead is
-- 'skipped' (with the entry in error_reason) when it is created or its
-- identity changes, and when an entry is added, in that transaction.
-- engine.check_before_send already refuses a lead that is no longer
-- ready (lead_skipped), so an entry added while a step is claimed still
-- stops that send.

-- ------------------------------------------------------------------------
-- Do-not-contact
-- ------------------------------------------------------------------------

CREATE TABLE liauto.blocklist_entries (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id   uuid NOT NULL
                REFERENCES liauto.clients (id) ON DELETE CASCADE,
    kind        text NOT NULL
                CONSTRAINT blocklist_entries_kind_check
                CHECK (kind IN ('profile_url', 'public_identifier',
                                'company', 'domain')),
    value       text NOT NULL
                CONSTRAINT blocklist_entries_value_check
                CHECK (length(btrim(value)) BETWEEN 1 AND 2000),
    match_key   text NOT NULL,
    note        text
                CONSTRAINT blocklist_entries_note_check
                CHECK (length(note) <= 1000),
    created_by  uuid REFERENCES liauto.users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT blocklist_entries_key UNIQUE (client_id, kind, match_key)
);

COMMENT ON TABLE liauto.blocklist_entries IS
    'Per-client do-not-contact list (issue 8). match_key is the value '
    'normalised by liauto.blocklist_key; a lead matches by profile URL, '
    'public identifier, company name or the domain of its email or '
    'website.';

CREATE TRIGGER blocklist_entries_touch_updated_at
    BEFORE UPDATE ON liauto.blocklist_entries
    FOR EACH ROW EXECUTE FUNCTION liauto.touch_updated_at();

CREATE FUNCTION liauto.company_key(p_company text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT NULLIF(regexp_replace(lower(btrim(p_company)), '\s+', ' ', 'g'),
                  '')
$$;

COMMENT ON FUNCTION liauto.company_key(text) IS
    'Company names compared case- and spacing-insensitively.';

CREATE FUNCTION liauto.domain_key(p_value text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT NULLIF(
        regexp_replace(
            regexp_replace(
                regexp_replace(lower(btrim(p_value)),
                               '^([a-z][a-z0-9+.-]*://)?(www\.)?', ''),
                '[/?#:].*$', ''),
            '\.+$', ''),
        '')
$$;

COMMENT ON FUNCTION liauto.domain_key(text) IS
    'A domain from a bare domain or a URL: lower case, no scheme, www., '
    'port or path.';

CREATE FUNCTION liauto.blocklist_key(p_kind text, p_value text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE p_kind
        WHEN 'profile_url' THEN liauto.normalize_profile_url(p_value)
        WHEN 'public_identifier' THEN NULLIF(lower(btrim(p_value)), '')
        WHEN 'company' THEN liauto.company_key(p_value)
        WHEN 'domain' THEN liauto.domain_key(p_value)
    END
$$;

COMMENT ON FUNCTION liauto.blocklist_key(text, text) IS
    'The match key of a do-not-contact value of a kind.';

-- The domains a lead is reachable under: its email's and its website's
-- (custom field website or domain), each with its parent domains, so an
-- entry for acme.com also matches jane@eu.acme.com.
CREATE FUNCTION liauto.lead_domains(p_email text, p_custom_fields jsonb)
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(DISTINCT array_to_string(
                        parts[k:array_length(parts, 1)], '.')), '{}')
    FROM (SELECT string_to_array(d, '.') AS parts
          FROM unnest(ARRAY[
                   liauto.domain_key(split_part(p_email, '@', 2)),
                   liauto.domain_key(p_custom_fields ->> 'website'),
                   liauto.domain_key(p_custom_fields ->> 'domain')]) AS d
          WHERE d LIKE '%.%') AS s,
         generate_series(1, array_length(parts, 1) - 1) AS k
$$;

COMMENT ON FUNCTION liauto.lead_domains(text, jsonb) IS
    'Domains (with parents, down to two labels) of a lead''s email and '
    'website, for domain entries of the do-not-contact list.';

CREATE FUNCTION liauto.blocklist_match(p_client_id uuid, p_lead liauto.leads)
RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT 'blocklisted ' || b.kind || ' "' || b.value || '"'
    FROM liauto.blocklist_entries AS b
    WHERE b.client_id = p_client_id
      AND ((b.kind = 'profile_url'
            AND b.match_key = liauto.normalize_profile_url(
                                  p_lead.profile_url))
           OR (b.kind = 'public_identifier'
               AND b.match_key = lower(coalesce(
                   p_lead.public_identifier,
                   liauto.public_identifier_from_url_key(
                       liauto.normalize_profile_url(p_lead.profile_url)))))
           OR (b.kind = 'company'
               AND b.match_key = liauto.company_key(p_lead.company))
           OR (b.kind = 'domain'
               AND b.match_key = ANY (liauto.lead_domains(
                                          p_lead.email,
                                          p_lead.custom_fields))))
    ORDER BY b.created_at, b.id
    LIMIT 1
$$;

COMMENT ON FUNCTION liauto.blocklist_match(uuid, liauto.leads) IS
    'Why the lead is on its client''s do-not-contact list (kind and '
    'value of the first matching entry), or NULL.';

-- Statuses in which a lead may still be contacted: what a new entry or a
-- company's reply stops.
CREATE FUNCTION liauto.lead_in_flight(p_status text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT p_status IN ('pending', 'invite_sent', 'connected', 'messaged')
$$;

COMMENT ON FUNCTION liauto.lead_in_flight(text) IS
    'True while the sequence may still send to a lead in this status.';

CREATE FUNCTION liauto.skip_blocklisted_lead() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_reason  text;
BEGIN
    IF NOT liauto.lead_in_flight(NEW.status) THEN
        RETURN NEW;
    END IF;
    v_reason := liauto.blocklist_match(NEW.client_id, NEW);
    IF v_reason IS NOT NULL THEN
        NEW.status := 'skipped';
        NEW.error_reason := v_reason;
        -- counted for the import summary of this transaction
        PERFORM set_config('liauto.blocklisted',
            (coalesce(nullif(current_setting('liauto.blocklisted', true),
                             ''), '0')::integer + 1)::text, true);
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION liauto.skip_blocklisted_lead() IS
    'BEFORE INSERT OR UPDATE OF the identity columns of leads: a lead '
    'still in flight that matches the do-not-contact list becomes '
    'skipped, with the entry as its reason.';

CREATE TRIGGER leads_skip_blocklisted
    BEFORE INSERT OR UPDATE OF profile_url, public_identifier, company,
                               email, custom_fields, status
    ON liauto.leads
    FOR EACH ROW EXECUTE FUNCTION liauto.skip_blocklisted_lead();

-- Company and domain entries match through these.
CREATE INDEX leads_client_company_idx
    ON liauto.leads (client_id, liauto.company_key(company))
    WHERE company IS NOT NULL;

CREATE FUNCTION liauto.skip_leads_matching(p_entry liauto.blocklist_entries)
RETURNS integer
LANGUAGE sql AS $$
    WITH hit AS (
        SELECT l.id
        FROM liauto.leads AS l
        WHERE l.client_id = p_entry.client_id
          AND liauto.lead_in_flight(l.status)
          AND CASE p_entry.kind
                  WHEN 'company'
                  THEN liauto.company_key(l.company) = p_entry.match_key
                  WHEN 'public_identifier'
                  THEN lower(l.public_identifier) = p_entry.match_key
                       OR liauto.public_identifier_from_url_key(
                              liauto.normalize_profile_url(l.profile_url))
                          = p_entry.match_key
                  WHEN 'profile_url'
                  THEN liauto.normalize_profile_url(l.profile_url)
                       = p_entry.match_key
                  ELSE p_entry.match_key = ANY (liauto.lead_domains(
                                                    l.email,
                                                    l.custom_fields))
              END
        FOR UPDATE
    ), skipped AS (
        UPDATE liauto.leads AS l
        SET status = 'skipped',
            error_reason = 'blocklisted ' || p_entry.kind || ' "'
                           || p_entry.value || '"'
        FROM hit
        WHERE l.id = hit.id
        RETURNING 1
    )
    SELECT count(*)::integer FROM skipped
$$;

COMMENT ON FUNCTION liauto.skip_leads_matching(liauto.blocklist_entries) IS
    'Skips the client''s in-flight leads that a new entry matches; the '
    'number skipped. Their scheduled or claimed actions are cancelled by '
    'engine.check_before_send (lead_skipped) before any HTTP call.';

CREATE FUNCTION liauto.blocklist_json(b liauto.blocklist_entries)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', b.id,
        'client_id', b.client_id,
        'kind', b.kind,
        'value', b.value,
        'note', b.note,
        'created_by', b.created_by,
        'created_at', api.ts(b.created_at))
$$;

COMMENT ON FUNCTION liauto.blocklist_json(liauto.blocklist_entries) IS
    'The API representation of a do-not-contact entry.';

CREATE FUNCTION api.blocklist_list(p_caller jsonb, p_path text[],
                                   p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_params    api.list_query;
    v_envelope  text;
BEGIN
    v_params := api.list_params(p_query, '{created_at,value}',
                                '{client_id,kind,search}');
    IF NOT coalesce(p_query ->> 'filter[client_id]', '') ~*
           '^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$'
       AND p_query ? 'filter[client_id]'
    THEN
        PERFORM api.raise_error(400, 'BAD_REQUEST', 'invalid filter',
            '{"filter[client_id]": "must be a UUID"}');
    END IF;
    RETURN QUERY SELECT * FROM api.keyset_page(v_params,
        'liauto.blocklist_entries', 'liauto.blocklist_json(t)',
        'api.caller_sees($1 -> ''caller'', t.client_id)'
        || ' AND ($1 ->> ''client_id'' IS NULL'
        || '      OR t.client_id = ($1 ->> ''client_id'')::uuid)'
        || ' AND ($1 ->> ''kind'' IS NULL OR t.kind = $1 ->> ''kind'')'
        || ' AND ($1 ->> ''search'' IS NULL'
        || '      OR t.value ILIKE $1 ->> ''search'')',
        jsonb_build_object(
            'caller', p_caller,
            'client_id', p_query ->> 'filter[client_id]',
            'kind', p_query ->> 'filter[kind]',
            'search', api.like_pattern(p_query ->> 'filter[search]')));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.blocklist_list(jsonb, text[], jsonb, jsonb) IS
    'GET /blocklist: the entries of the clients the caller sees; sort '
    'created_at|value; filter[client_id], filter[kind], filter[search] '
    '(substring of the value, case-insensitive).';

CREATE FUNCTION api.blocklist_create(p_caller jsonb, p_path text[],
                                     p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_errors    jsonb;
    v_client    uuid;
    v_entry     liauto.blocklist_entries;
    v_key       text;
    v_envelope  text;
BEGIN
    PERFORM api.reject_query(p_query);
    v_errors := api.validate_body(p_body, '{
        "kind": {"type": "string", "required": true,
                 "enum": ["profile_url", "public_identifier", "company",
                          "domain"]},
        "value": {"type": "string", "min": 1, "max": 2000,
                  "required": true},
        "note": {"type": "string", "max": 1000, "nullable": true},
        "client_id": {"type": "uuid"}}', false,
        '{id,created_at,updated_at,created_by}');
    SELECT * INTO v_errors, v_client
    FROM liauto.body_client_id(p_caller, p_body, v_errors);

    IF NOT v_errors ?| '{kind,value}' THEN
        v_key := liauto.blocklist_key(p_body ->> 'kind', p_body ->> 'value');
        IF p_body ->> 'kind' = 'profile_url'
           AND coalesce(v_key, '') !~ '^linkedin\.com/in/.'
        THEN
            v_errors := v_errors || '{"value": "must be a linkedin.com/in/ '
                                    'profile URL"}';
        ELSIF p_body ->> 'kind' = 'domain'
              AND coalesce(v_key, '') !~ '^[a-z0-9-]+(\.[a-z0-9-]+)+$'
        THEN
            v_errors := v_errors || '{"value": "must be a domain such as '
                                    'example.com"}';
        ELSIF v_key IS NULL THEN
            v_errors := v_errors || '{"value": "must not be blank"}';
        END IF;
    END IF;
    PERFORM api.raise_invalid(v_errors);

    INSERT INTO liauto.blocklist_entries AS b
        (client_id, kind, value, match_key, note, created_by)
    VALUES (v_client, p_body ->> 'kind', btrim(p_body ->> 'value'), v_key,
            p_body ->> 'note', (p_caller ->> 'sub')::uuid)
    ON CONFLICT (client_id, kind, match_key) DO NOTHING
    RETURNING * INTO v_entry;
    IF v_entry.id IS NULL THEN
        PERFORM api.raise_error(409, 'DUPLICATE',
            'this value is already on the client''s do-not-contact list',
            jsonb_build_object('id', (
                SELECT b.id FROM liauto.blocklist_entries AS b
                WHERE b.client_id = v_client AND b.kind = p_body ->> 'kind'
                  AND b.match_key = v_key)));
    END IF;

    RETURN QUERY SELECT * FROM api.ok(201,
        liauto.blocklist_json(v_entry) || jsonb_build_object(
            'leads_skipped', liauto.skip_leads_matching(v_entry)));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.blocklist_create(jsonb, text[], jsonb, jsonb) IS
    'POST /blocklist {kind, value, note?, client_id? (admins)} → 201 the '
    'entry plus leads_skipped: the client''s in-flight leads it matched, '
    'now skipped in the same transaction. 409 DUPLICATE for a value '
    'already listed (same normalised key).';

CREATE FUNCTION api.blocklist_delete(p_caller jsonb, p_path text[],
                                     p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_envelope  text;
BEGIN
    PERFORM api.reject_query(p_query);
    DELETE FROM liauto.blocklist_entries AS b
    WHERE b.id = liauto.path_id(p_path)
      AND api.caller_sees(p_caller, b.client_id);
    IF NOT FOUND THEN
        PERFORM api.raise_error(404, 'NOT_FOUND',
                                'do-not-contact entry not found');
    END IF;
    RETURN QUERY SELECT * FROM api.ok(204, NULL);
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.blocklist_delete(jsonb, text[], jsonb, jsonb) IS
    'DELETE /blocklist/{id} → 204. Leads it skipped stay skipped: '
    'contacting them again is a deliberate new import.';


-- ------------------------------------------------------------------------
-- Company-level care
-- ------------------------------------------------------------------------

ALTER TABLE liauto.campaigns
    ADD COLUMN stop_company_on_reply boolean NOT NULL DEFAULT false,
    ADD COLUMN company_daily_invite_cap integer
        CONSTRAINT campaigns_company_daily_invite_cap_check
        CHECK (company_daily_invite_cap BETWEEN 1 AND 1000);

COMMENT ON COLUMN liauto.campaigns.stop_company_on_reply IS
    'When a lead of this campaign replies, every in-flight lead of the '
    'client at the same company (liauto.company_key) is skipped.';
COMMENT ON COLUMN liauto.campaigns.company_daily_invite_cap IS
    'At most this many invites a day (campaign timezone) to people of one '
    'company, across the client''s campaigns; NULL = no cap.';

CREATE FUNCTION liauto.stop_company_on_reply() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE liauto.leads AS l
    SET status = 'skipped',
        error_reason = 'company_replied: lead ' || NEW.id || ' of "'
                       || NEW.company || '" replied'
    FROM liauto.campaigns AS c
    WHERE c.id = NEW.campaign_id AND c.stop_company_on_reply
      AND l.client_id = NEW.client_id AND l.id <> NEW.id
      AND liauto.company_key(l.company) = liauto.company_key(NEW.company)
      AND liauto.lead_in_flight(l.status);
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION liauto.stop_company_on_reply() IS
    'AFTER UPDATE OF status trigger of leads: a reply in a campaign with '
    'stop_company_on_reply skips the client''s other in-flight leads at '
    'the same company (their claimed steps are then cancelled by '
    'engine.check_before_send).';

CREATE TRIGGER leads_stop_company_on_reply
    AFTER UPDATE OF status ON liauto.leads
    FOR EACH ROW
    WHEN (NEW.status = 'responded' AND OLD.status <> 'responded'
          AND NEW.company IS NOT NULL)
    EXECUTE FUNCTION liauto.stop_company_on_reply();

-- Invites sent (or in flight) today to the company of an invite action's
-- lead, counted across the client's campaigns by their actions.
CREATE FUNCTION liauto.company_invites_on(p_client_id uuid, p_company text,
                                          p_from timestamptz,
                                          p_to timestamptz,
                                          p_except uuid)
RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT count(*)::integer
    FROM liauto.leads AS l
    JOIN liauto.actions AS x ON x.lead_id = l.id
    WHERE l.client_id = p_client_id
      AND liauto.company_key(l.company) = liauto.company_key(p_company)
      AND x.kind = 'invite' AND x.id <> p_except
      AND x.status IN ('claimed', 'sent', 'unknown', 'needs_review')
      AND x.claimed_at >= p_from AND x.claimed_at < p_to
$$;

COMMENT ON FUNCTION liauto.company_invites_on(uuid, text, timestamptz,
                                              timestamptz, uuid) IS
    'Invites to one company claimed in [p_from, p_to) that went or may '
    'have gone out, other than p_except.';

-- When an action must wait although it is wanted: the account cooling
-- off after a 429, or its lead's company at its daily invite cap.
CREATE FUNCTION liauto.send_delay(p_action liauto.actions,
                                  OUT wait_until timestamptz,
                                  OUT reason text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_campaign  liauto.campaigns;
    v_company   text;
    v_day       date;
BEGIN
    SELECT a.cooldown_until INTO wait_until
    FROM liauto.linkedin_accounts AS a
    WHERE a.id = p_action.account_id AND a.cooldown_until > liauto.now();
    IF FOUND THEN
        reason := 'account_cooling_off';
        RETURN;
    END IF;

    SELECT * INTO v_campaign FROM liauto.campaigns
    WHERE id = p_action.campaign_id;
    SELECT l.company INTO v_company FROM liauto.leads AS l
    WHERE l.id = p_action.lead_id;
    IF p_action.kind <> 'invite' OR v_campaign.company_daily_invite_cap IS NULL
       OR liauto.company_key(v_company) IS NULL
    THEN
        RETURN;
    END IF;

    v_day := (liauto.now() AT TIME ZONE v_campaign.timezone)::date;
    IF liauto.company_invites_on(
           p_action.client_id, v_company,
           liauto.resolve_local_time(v_day::timestamp, v_campaign.timezone),
           liauto.resolve_local_time((v_day + 1)::timestamp,
                                     v_campaign.timezone),
           p_action.id) >= v_campaign.company_daily_invite_cap
    THEN
        wait_until := liauto.snap_to_working_hours(
            liauto.resolve_local_time((v_day + 1)::timestamp,
                                      v_campaign.timezone),
            v_campaign.timezone, v_campaign.working_hours_start,
            v_campaign.working_hours_end, v_campaign.working_days);
        reason := 'company_daily_cap';
    END IF;
END
$$;

COMMENT ON FUNCTION liauto.send_delay(liauto.actions) IS
    'Why a wanted action must wait and until when (account_cooling_off, '
    'company_daily_cap), or NULLs to send now.';

CREATE OR REPLACE FUNCTION engine.check_before_send(p_action_id uuid,
                                                    p_claim_token uuid)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_action  liauto.actions := liauto.lock_claim(p_action_id,
                                                  p_claim_token);
    v_reason  text;
    v_delay   record;
BEGIN
    IF v_action.id IS NULL THEN
        RETURN 'stale';
    END IF;

    -- The worker asks right before the HTTP call and will not send on
    -- any answer but ok, so whatever is refused here definitely did not
    -- happen: the unit goes back.
    IF v_action.lease_expires_at <= liauto.now() THEN
        PERFORM liauto.release_action_budget(v_action);
        PERFORM liauto.reschedule_action(v_action.id, liauto.now(),
                                         'lease expired before the send',
                                         true);
        RETURN 'lease_expired';
    END IF;

    v_reason := liauto.unwanted_reason(v_action);
    IF v_reason IS NOT NULL THEN
        PERFORM liauto.release_action_budget(v_action);
        PERFORM liauto.finish_action(v_action.id, 'cancelled', v_reason);
        RETURN v_reason;
    END IF;

    -- A rate limit hit since the claim (e.g. by an inbox reply) or the
    -- company's invite cap reached by another campaign holds the send.
    v_delay := liauto.send_delay(v_action);
    IF v_delay.reason IS NOT NULL THEN
        PERFORM liauto.release_action_budget(v_action);
        PERFORM liauto.reschedule_action(v_action.id, v_delay.wait_until,
                                         v_delay.reason, true);
        RETURN v_delay.reason;
    END IF;

    RETURN 'ok';
END
$$;

COMMENT ON FUNCTION engine.check_before_send(uuid, uuid) IS
    'Called right before the HTTP call: ok means send now. stale: the '
    'claim is no longer this token''s (do nothing). lease_expired: back to '
    'scheduled, unit released. account_cooling_off / company_daily_cap '
    '(liauto.send_delay): rescheduled to when it may go, unit released. '
    'Any other answer is why the action is not wanted any more '
    '(lead_responded, lead_skipped, campaign_paused, scheduler_paused, '
    'account_<status>, ...): it is cancelled and its unit released.';


-- ------------------------------------------------------------------------
-- Account warm-up and the readable budget
-- ------------------------------------------------------------------------

ALTER TABLE liauto.linkedin_accounts
    ADD COLUMN warmup_days integer NOT NULL DEFAULT 0
        CONSTRAINT linkedin_accounts_warmup_days_check
        CHECK (warmup_days BETWEEN 0 AND 90),
    ADD COLUMN warmup_start_percent integer NOT NULL DEFAULT 20
        CONSTRAINT linkedin_accounts_warmup_start_percent_check
        CHECK (warmup_start_percent BETWEEN 1 AND 100),
    ADD COLUMN warmup_started_on date;

COMMENT ON COLUMN liauto.linkedin_accounts.warmup_days IS
    'Days over which the daily limits ramp up to their configured value '
    '(0 = no warm-up). See liauto.daily_limit for the formula.';
COMMENT ON COLUMN liauto.linkedin_accounts.warmup_started_on IS
    'First local day of the warm-up, set when warmup_days is set '
    '(liauto.start_warmup); NULL = the local day the account was created.';

CREATE FUNCTION liauto.start_warmup() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR OLD.warmup_days <> NEW.warmup_days THEN
        NEW.warmup_started_on := (liauto.now() AT TIME ZONE NEW.timezone)::date;
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION liauto.start_warmup() IS
    'Setting or changing warmup_days starts the ramp again today (the '
    'account''s local day).';

CREATE TRIGGER linkedin_accounts_start_warmup
    BEFORE INSERT OR UPDATE OF warmup_days ON liauto.linkedin_accounts
    FOR EACH ROW
    WHEN (NEW.warmup_days > 0)
    EXECUTE FUNCTION liauto.start_warmup();

CREATE FUNCTION liauto.warmup_first_day(p_account liauto.linkedin_accounts)
RETURNS date
LANGUAGE sql STABLE AS $$
    SELECT coalesce(p_account.warmup_started_on,
                    (p_account.created_at AT TIME ZONE p_account.timezone)
                        ::date)
$$;

COMMENT ON FUNCTION liauto.warmup_first_day(liauto.linkedin_accounts) IS
    'Local day 0 of the account''s warm-up.';

CREATE FUNCTION liauto.daily_limit(p_account liauto.linkedin_accounts,
                                   p_kind text, p_day date)
RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN p_account.warmup_days = 0 OR configured = 0
             OR p_day - first_day >= p_account.warmup_days
        THEN configured
        ELSE greatest(1, floor(configured
                 * (p_account.warmup_start_percent
                    + (100 - p_account.warmup_start_percent)
                      * greatest(p_day - first_day, 0)::numeric
                      / p_account.warmup_days)
                 / 100))::integer
    END
    FROM (SELECT CASE p_kind WHEN 'invite'
                             THEN p_account.daily_invite_limit
                             ELSE p_account.daily_message_limit END
                     AS configured,
                 liauto.warmup_first_day(p_account) AS first_day) AS x
$$;

COMMENT ON FUNCTION liauto.daily_limit(liauto.linkedin_accounts, text,
                                       date) IS
    'The daily invite or message limit in force on local day p_day. '
    'Warm-up: on day n of the warm-up (n = 0 on warmup_started_on) the '
    'limit is floor(L * (p + (100 - p) * n / D) / 100), at least 1, where '
    'L is the configured limit, p warmup_start_percent and D '
    'warmup_days; from day D on it is L. E.g. L 25, p 20, D 10: 5, 7, 9, '
    '11, 13, 15, 17, 19, 21, 23, then 25.';

CREATE OR REPLACE FUNCTION liauto.reserve_budget(p_account_id uuid, p_kind text,
                                      p_at timestamptz)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_account  liauto.linkedin_accounts;
    v_day      date;
    v_limit    integer;
    v_done     boolean;
BEGIN
    PERFORM liauto.check_budget_kind(p_kind);

    -- Invites are also capped over the last 7 days, a sum over other rows
    -- than the one the upsert locks: two reservations for different days
    -- (around midnight) could both pass it. Serialise invite reservations
    -- per account; NO KEY UPDATE leaves foreign-key checks unblocked.
    IF p_kind = 'invite' THEN
        SELECT * INTO v_account FROM liauto.linkedin_accounts
        WHERE id = p_account_id FOR NO KEY UPDATE;
    ELSE
        SELECT * INTO v_account FROM liauto.linkedin_accounts
        WHERE id = p_account_id;
    END IF;
    IF NOT FOUND THEN
        RETURN false;
    END IF;

    v_day := (p_at AT TIME ZONE v_account.timezone)::date;
    v_limit := liauto.daily_limit(v_account, p_kind, v_day);

    -- One statement: the first unit of the day inserts the row, later
    -- ones update it under its row lock, and the daily test is evaluated
    -- on the locked, latest row, so concurrent callers never pass the
    -- limit together.
    INSERT INTO liauto.rate_usage AS u (account_id, day, invites, messages)
    SELECT p_account_id, v_day, (p_kind = 'invite')::integer,
           (p_kind = 'message')::integer
    WHERE v_limit > 0
      AND (p_kind = 'message'
           OR liauto.weekly_invites_used(p_account_id, v_day)
              < v_account.weekly_invite_limit)
    ON CONFLICT (account_id, day) DO UPDATE
    SET invites = u.invites + excluded.invites,
        messages = u.messages + excluded.messages
    WHERE CASE p_kind WHEN 'invite' THEN u.invites ELSE u.messages END
          < v_limit
    RETURNING true INTO v_done;

    RETURN coalesce(v_done, false);
END
$$;

COMMENT ON FUNCTION liauto.reserve_budget(uuid, text, timestamptz) IS
    'Takes one invite or message unit of the account''s budget for the '
    'local day of p_at (call it with liauto.now() in the transaction that '
    'claims the action). True when taken; false when the daily limit in '
    'force that day (liauto.daily_limit: warm-up included) or for invites '
    'the 7-local-day weekly_invite_limit is reached, or the account does '
    'not exist. Race-free in READ COMMITTED: an upsert whose WHERE sees '
    'the locked row, and invites serialised per account.';

CREATE OR REPLACE FUNCTION liauto.budget_remaining(p_account_id uuid,
                                                   p_kind text,
                                                   p_at timestamptz)
RETURNS TABLE (remaining integer, resets_at timestamptz, limited_by text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_account      liauto.linkedin_accounts;
    v_day          date;
    v_used         integer;
    v_daily_left   integer;
    v_weekly_left  integer;
    v_weekly_day   date;
BEGIN
    PERFORM liauto.check_budget_kind(p_kind);

    SELECT * INTO v_account FROM liauto.linkedin_accounts
    WHERE id = p_account_id;
    IF NOT FOUND THEN
        RETURN;
    END IF;

    v_day := (p_at AT TIME ZONE v_account.timezone)::date;
    SELECT CASE p_kind WHEN 'invite' THEN u.invites ELSE u.messages END
    INTO v_used
    FROM liauto.rate_usage AS u
    WHERE u.account_id = p_account_id AND u.day = v_day;

    v_daily_left := greatest(liauto.daily_limit(v_account, p_kind, v_day)
                             - coalesce(v_used, 0), 0);
    remaining := v_daily_left;
    limited_by := 'daily';
    resets_at := liauto.resolve_local_time((v_day + 1)::timestamp,
                                           v_account.timezone);

    IF p_kind = 'invite' THEN
        v_weekly_left := greatest(
            v_account.weekly_invite_limit
            - liauto.weekly_invites_used(p_account_id, v_day), 0);

        IF v_weekly_left < v_daily_left
           OR (v_weekly_left = 0 AND v_daily_left = 0)
        THEN
            remaining := v_weekly_left;
            limited_by := 'weekly';
        END IF;

        IF v_weekly_left = 0 THEN
            -- The first later local day on which one more invite fits.
            SELECT v_day + k INTO v_weekly_day
            FROM generate_series(1, 7) AS k
            WHERE liauto.weekly_invites_used(p_account_id, v_day + k)
                  < v_account.weekly_invite_limit
            ORDER BY k
            LIMIT 1;
            resets_at := greatest(
                resets_at,
                liauto.resolve_local_time(v_weekly_day::timestamp,
                                          v_account.timezone));
            IF v_weekly_day IS NULL THEN
                resets_at := NULL;
            END IF;
        END IF;
    END IF;

    -- warm-up never makes a limit 0: only a configured 0 never resets
    IF liauto.daily_limit(v_account, p_kind, v_day) = 0 THEN
        resets_at := NULL;
    END IF;

    RETURN NEXT;
END
$$;

COMMENT ON FUNCTION liauto.budget_remaining(uuid, text, timestamptz) IS
    'Units of p_kind the account may still send on p_at''s local day '
    '(warm-up included), when more become available (resets_at: the next '
    'local midnight, or for an exhausted weekly invite cap the first local '
    'day whose 7-day window has room; NULL when a limit is 0) and which '
    'cap binds (daily|weekly). For the API and liauto.explain_wait.';


-- ------------------------------------------------------------------------
-- The new fields in the API
-- ------------------------------------------------------------------------

-- auto-withdraw (used from 0027) and the note fallback (0028)
ALTER TABLE liauto.campaigns
    ADD COLUMN auto_withdraw_days integer DEFAULT 21
        CONSTRAINT campaigns_auto_withdraw_days_check
        CHECK (auto_withdraw_days BETWEEN 1 AND 365);

COMMENT ON COLUMN liauto.campaigns.auto_withdraw_days IS
    'Withdraw an invitation of this campaign still pending this many days '
    'after it was sent; NULL = never.';

ALTER TABLE liauto.campaigns
    ADD COLUMN note_fallback text NOT NULL DEFAULT 'send_without_note'
        CONSTRAINT campaigns_note_fallback_check
        CHECK (note_fallback IN ('send_without_note', 'stop'));

COMMENT ON COLUMN liauto.campaigns.note_fallback IS
    'When the provider refuses an invite''s note (too long for the '
    'account, monthly note allowance spent): send the invite without it '
    '(recorded on the lead and its event) or stop the lead (used from '
    '0028).';

ALTER TABLE liauto.linkedin_accounts
    ADD COLUMN daily_withdraw_limit integer NOT NULL DEFAULT 20
        CONSTRAINT linkedin_accounts_daily_withdraw_limit_check
        CHECK (daily_withdraw_limit BETWEEN 0 AND 1000);

COMMENT ON COLUMN liauto.linkedin_accounts.daily_withdraw_limit IS
    'At most this many automatic withdrawals a local day (0 = none).';


-- The representations and body rules of 0006 are kept under a new name
-- and extended, not copied.
ALTER FUNCTION liauto.account_json(liauto.linkedin_accounts)
    RENAME TO account_core_json;
ALTER FUNCTION liauto.account_rules() RENAME TO account_core_rules;
ALTER FUNCTION liauto.campaign_json(liauto.campaigns)
    RENAME TO campaign_core_json;
ALTER FUNCTION liauto.campaign_rules() RENAME TO campaign_core_rules;

CREATE FUNCTION liauto.account_json(a liauto.linkedin_accounts)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT liauto.account_core_json(a) || jsonb_build_object(
        'warmup_days', a.warmup_days,
        'warmup_start_percent', a.warmup_start_percent,
        'warmup_started_on', a.warmup_started_on,
        'daily_withdraw_limit', a.daily_withdraw_limit)
$$;

COMMENT ON FUNCTION liauto.account_json(liauto.linkedin_accounts) IS
    'The API representation of a LinkedIn account: the core fields and '
    'warm-up and withdraw settings.';

CREATE FUNCTION liauto.account_rules() RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT liauto.account_core_rules() || '{
        "warmup_days": {"type": "int", "min": 0, "max": 90},
        "warmup_start_percent": {"type": "int", "min": 1, "max": 100},
        "daily_withdraw_limit": {"type": "int", "min": 0, "max": 1000}
    }'::jsonb
$$;

COMMENT ON FUNCTION liauto.account_rules() IS
    'Body rules (api.validate_body) of POST and PATCH /linkedin-accounts.';

CREATE FUNCTION liauto.campaign_json(c liauto.campaigns) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT liauto.campaign_core_json(c) || jsonb_build_object(
        'stop_company_on_reply', c.stop_company_on_reply,
        'company_daily_invite_cap', c.company_daily_invite_cap,
        'auto_withdraw_days', c.auto_withdraw_days,
        'note_fallback', c.note_fallback)
$$;

COMMENT ON FUNCTION liauto.campaign_json(liauto.campaigns) IS
    'The API representation of a campaign: the core fields and the '
    'company, withdraw and note-fallback policies.';

CREATE FUNCTION liauto.campaign_rules() RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT liauto.campaign_core_rules() || '{
        "stop_company_on_reply": {"type": "bool"},
        "company_daily_invite_cap": {"type": "int", "min": 1, "max": 1000,
                                     "nullable": true},
        "auto_withdraw_days": {"type": "int", "min": 1, "max": 365,
                               "nullable": true},
        "note_fallback": {"type": "string",
                          "enum": ["send_without_note", "stop"]}
    }'::jsonb
$$;

COMMENT ON FUNCTION liauto.campaign_rules() IS
    'Body rules (api.validate_body) of POST and PATCH /campaigns.';


CREATE FUNCTION liauto.budget_json(p_account liauto.linkedin_accounts,
                                   p_kind text, p_at timestamptz)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'configured_limit', CASE p_kind
                                WHEN 'invite'
                                THEN p_account.daily_invite_limit
                                ELSE p_account.daily_message_limit END,
        'daily_limit', liauto.daily_limit(p_account, p_kind, day),
        'used', coalesce((SELECT CASE p_kind WHEN 'invite' THEN u.invites
                                             ELSE u.messages END
                          FROM liauto.rate_usage AS u
                          WHERE u.account_id = p_account.id
                            AND u.day = x.day), 0),
        'remaining', b.remaining,
        'limited_by', b.limited_by,
        'resets_at', api.ts(b.resets_at))
    FROM (SELECT (p_at AT TIME ZONE p_account.timezone)::date AS day) AS x,
         liauto.budget_remaining(p_account.id, p_kind, p_at) AS b
$$;

COMMENT ON FUNCTION liauto.budget_json(liauto.linkedin_accounts, text,
                                       timestamptz) IS
    'One kind''s budget of an account at p_at, for '
    'GET /linkedin-accounts/{id}/budget.';

CREATE FUNCTION api.accounts_budget(p_caller jsonb, p_path text[],
                                    p_query jsonb, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_account   liauto.linkedin_accounts;
    v_day       date;
    v_envelope  text;
BEGIN
    PERFORM api.reject_query(p_query);
    v_account := liauto.find_account(p_caller, liauto.path_id(p_path));
    v_day := (liauto.now() AT TIME ZONE v_account.timezone)::date;
    RETURN QUERY SELECT * FROM api.ok(200, jsonb_build_object(
        'account_id', v_account.id,
        'timezone', v_account.timezone,
        'day', v_day,
        'invite', liauto.budget_json(v_account, 'invite', liauto.now())
                  || jsonb_build_object(
                         'weekly_limit', v_account.weekly_invite_limit,
                         'weekly_used', liauto.weekly_invites_used(
                                            v_account.id, v_day)),
        'message', liauto.budget_json(v_account, 'message', liauto.now()),
        'warmup', CASE WHEN v_account.warmup_days > 0 THEN
            jsonb_build_object(
                'days', v_account.warmup_days,
                'start_percent', v_account.warmup_start_percent,
                'started_on', liauto.warmup_first_day(v_account),
                'day', v_day - liauto.warmup_first_day(v_account),
                'complete', v_day - liauto.warmup_first_day(v_account)
                            >= v_account.warmup_days)
        END));
EXCEPTION WHEN SQLSTATE 'LIAPI' THEN
    GET STACKED DIAGNOSTICS v_envelope = PG_EXCEPTION_DETAIL;
    RETURN QUERY SELECT * FROM api.error_from(v_envelope);
END
$$;

COMMENT ON FUNCTION api.accounts_budget(jsonb, text[], jsonb, jsonb) IS
    'GET /linkedin-accounts/{id}/budget: per action kind the daily limit '
    'in force today (warm-up included), used, remaining, which cap binds '
    'and when it resets; the weekly invite window; the warm-up progress.';
