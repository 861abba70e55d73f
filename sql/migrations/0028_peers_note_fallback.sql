-- 0028: the note fallback made visible (issue 8). When LinkedIn refuses an
-- invite's note (too long for the account: free accounts allow 200
-- characters; or the monthly allowance of personalised invitations is
-- spent), the campaign's note_fallback decides: send_without_note (the
-- default) sends the invite again without it, and the lead and its
-- connection_request_sent event say so (note_dropped); stop ends the lead
-- in error saying the note was refused. Never silently.

ALTER TABLE liauto.leads ADD COLUMN invite_note_dropped text;

COMMENT ON COLUMN liauto.leads.invite_note_dropped IS
    'Why this lead''s invite goes (or went) without its note: the '
    'provider''s refusal of the note; NULL while the note is sent.';

CREATE FUNCTION liauto.note_refusal(p_error text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT p_error ~* 'too_many_characters'
        OR p_error ~* '(personali[sz]ed|custom)[^:]*(note|message|invitation)'
$$;

COMMENT ON FUNCTION liauto.note_refusal(text) IS
    'Whether an invite''s error (as the worker records it: reason, type, '
    'detail, status) is a refusal of its note rather than of the '
    'invitation: errors/too_many_characters, or a limit whose detail '
    'speaks of personalised/custom notes, messages or invitations.';

ALTER FUNCTION liauto.action_payload(liauto.leads, liauto.campaigns,
                                     liauto.linkedin_accounts, integer)
    RENAME TO variant_payload;

CREATE FUNCTION liauto.action_payload(p_lead liauto.leads,
                                      p_campaign liauto.campaigns,
                                      p_account liauto.linkedin_accounts,
                                      p_step integer)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT liauto.variant_payload(p_lead, p_campaign, p_account, p_step)
           || CASE WHEN p_step = 0 AND p_lead.invite_note_dropped IS NOT NULL
                   THEN jsonb_build_object(
                            'template', NULL,
                            'note_dropped', p_lead.invite_note_dropped)
                   ELSE '{}' END
$$;

COMMENT ON FUNCTION liauto.action_payload(liauto.leads, liauto.campaigns,
                                          liauto.linkedin_accounts, integer)
    IS 'liauto.variant_payload; an invite whose note the provider refused '
       '(and the campaign sends without) has no template and says why in '
       'note_dropped.';

ALTER FUNCTION engine.complete_action(uuid, uuid, text, text, text,
                                      timestamptz, text)
    RENAME TO complete_action_outcome;

CREATE FUNCTION engine.complete_action(p_action_id uuid, p_claim_token uuid,
                                       p_outcome text, p_external_id text,
                                       p_error text, p_retry_at timestamptz,
                                       p_conversation_id text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_action  liauto.actions;
    v_policy  text;
BEGIN
    IF p_outcome IN ('final_lead', 'final_limit')
       AND liauto.note_refusal(p_error)
    THEN
        v_action := liauto.lock_claim(p_action_id, p_claim_token);
        SELECT c.note_fallback INTO v_policy
        FROM liauto.campaigns AS c WHERE c.id = v_action.campaign_id;

        IF v_action.kind = 'invite'
           AND v_action.payload ->> 'template' IS NOT NULL
        THEN
            IF v_policy = 'send_without_note' THEN
                -- refused outright: the unit and the attempt go back
                UPDATE liauto.leads SET invite_note_dropped = p_error
                WHERE id = v_action.lead_id;
                PERFORM liauto.release_action_budget(v_action);
                PERFORM liauto.reschedule_action(
                    v_action.id, liauto.now(),
                    'note refused, sending without it: ' || p_error, true);
                RETURN 'scheduled';
            END IF;
            p_outcome := 'final_lead';
            p_error := 'the invite''s note was refused and the campaign '
                       'stops rather than send without it: ' || p_error;
        END IF;
    END IF;

    RETURN engine.complete_action_outcome(p_action_id, p_claim_token,
                                          p_outcome, p_external_id, p_error,
                                          p_retry_at, p_conversation_id);
END
$$;

COMMENT ON FUNCTION engine.complete_action(uuid, uuid, text, text, text,
                                           timestamptz, text) IS
    'engine.complete_action_outcome, and the note fallback: a refusal of '
    'an invite''s note (liauto.note_refusal) with note_fallback '
    'send_without_note records the reason on the lead and schedules the '
    'invite again now, without the note (unit and attempt given back); '
    'with stop the lead ends in error saying so.';
