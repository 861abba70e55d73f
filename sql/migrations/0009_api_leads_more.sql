-- 0009_api_leads_more: more CSV header names and no 500 when two requests
-- add the same lead at once.
--
-- liauto.import_header_field also maps LinkedIn's own connections export
-- ("URL", "Company", "Position") and Sales Navigator's "Current Company" /
-- "Current Title"; liauto.lead_write answers 409 DUPLICATE, not a unique
-- violation, when a concurrent request commits the same person between its
-- duplicate check and its INSERT.

CREATE OR REPLACE FUNCTION liauto.import_header_field(p_name text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE regexp_replace(lower(p_name), '[[:space:]_\-\ufeff]', '',
                               'g')
               WHEN 'firstname' THEN 'first_name'
               WHEN 'lastname' THEN 'last_name'
               WHEN 'company' THEN 'company'
               WHEN 'companyname' THEN 'company'
               WHEN 'organization' THEN 'company'
               WHEN 'organisation' THEN 'company'
               WHEN 'title' THEN 'title'
               WHEN 'jobtitle' THEN 'title'
               WHEN 'position' THEN 'title'
               WHEN 'email' THEN 'email'
               WHEN 'emailaddress' THEN 'email'
               WHEN 'currentcompany' THEN 'company'
               WHEN 'currenttitle' THEN 'title'
               WHEN 'linkedinurl' THEN 'profile_url'
               WHEN 'profileurl' THEN 'profile_url'
               WHEN 'linkedinprofile' THEN 'profile_url'
               WHEN 'linkedinprofileurl' THEN 'profile_url'
               WHEN 'personlinkedinurl' THEN 'profile_url'
               WHEN 'linkedin' THEN 'profile_url'
               WHEN 'url' THEN 'profile_url'
               WHEN 'publicidentifier' THEN 'public_identifier'
           END
$$;

COMMENT ON FUNCTION liauto.import_header_field(text) IS
    'The lead field a CSV column maps to, ignoring case, blanks, _ and - '
    'and a UTF-8 BOM ("First Name", first_name, firstname; "Person '
    'Linkedin Url" of Apollo, "LinkedIn URL" / "Current Company" of Sales '
    'Navigator, "URL" of LinkedIn''s connections export), or NULL for a '
    'custom field.';

CREATE OR REPLACE FUNCTION liauto.lead_write(p_caller jsonb, p_lead_id uuid,
                                  p_campaign_id uuid, p_body jsonb)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_creating   boolean := p_lead_id IS NULL;
    v_stored     liauto.leads;
    v_campaign   liauto.campaigns;
    v_rules      jsonb := liauto.lead_rules();
    v_read_only  text[] := '{id,client_id,created_at,updated_at,'
                           'current_step,error_reason,last_step_sent_at}';
    v_errors     jsonb;
    v_values     jsonb;
    v_merged     jsonb;
    v_derived    text;
    v_existing   uuid;
    v_row        jsonb;
BEGIN
    IF v_creating THEN
        v_read_only := v_read_only || '{status}'::text[];
        v_rules := v_rules - 'status';
    ELSE
        v_stored := liauto.find_lead(p_caller, p_lead_id);
    END IF;
    IF p_campaign_id IS NOT NULL THEN
        v_campaign := liauto.find_campaign(p_caller, p_campaign_id);
    END IF;
    IF NOT v_creating OR p_campaign_id IS NOT NULL THEN
        -- The campaign is the path's, or the lead's own: a lead never
        -- moves between campaigns (its steps belong to one sequence).
        v_read_only := v_read_only || '{campaign_id}'::text[];
        v_rules := v_rules - 'campaign_id';
    END IF;

    v_errors := api.validate_body(p_body, v_rules, NOT v_creating,
                                  v_read_only);
    v_values := liauto.clean_strings(p_body);

    IF v_creating AND p_campaign_id IS NULL AND NOT v_errors ? 'campaign_id'
    THEN
        SELECT * INTO v_campaign FROM liauto.campaigns AS c
        WHERE c.id = (p_body ->> 'campaign_id')::uuid
          AND api.caller_sees(p_caller, c.client_id);
        IF NOT FOUND THEN
            v_errors := v_errors || '{"campaign_id": "unknown campaign"}';
        END IF;
    END IF;
    IF v_creating THEN
        v_values := v_values || jsonb_build_object(
            'campaign_id', v_campaign.id, 'client_id', v_campaign.client_id);
    END IF;

    IF p_body ->> 'status' = 'pending' AND NOT v_errors ? 'status'
       AND v_stored.status NOT IN ('pending', 'skipped', 'error')
    THEN
        v_errors := v_errors || '{"status": "only a skipped or failed lead '
                                'can go back to pending"}';
    END IF;
    IF p_body ? 'status' THEN
        v_values := v_values || '{"error_reason": null}';
    END IF;

    v_merged := coalesce(to_jsonb(v_stored), '{}') || v_values;
    SELECT * INTO v_errors, v_derived
    FROM liauto.lead_identity(v_merged, v_errors);
    PERFORM api.raise_invalid(v_errors);
    IF v_merged ->> 'public_identifier' IS NULL AND v_derived IS NOT NULL
    THEN
        v_values := v_values || jsonb_build_object('public_identifier',
                                                   v_derived);
    END IF;

    v_existing := liauto.existing_lead((v_merged ->> 'client_id')::uuid,
                                       v_derived,
                                       v_merged ->> 'profile_url',
                                       p_lead_id);
    IF v_existing IS NOT NULL THEN
        PERFORM api.raise_error(409, 'DUPLICATE',
            'this person is already a lead of the client',
            jsonb_build_object('existing_lead_id', v_existing));
    END IF;

    BEGIN
        IF v_creating THEN
            v_row := liauto.insert_json('liauto.leads', v_values);
        ELSE
            v_row := liauto.update_json('liauto.leads', p_lead_id,
                                        v_values);
        END IF;
    EXCEPTION WHEN unique_violation THEN
        -- A concurrent request added the person after the check above;
        -- this statement's new snapshot sees the lead it committed.
        PERFORM api.raise_error(409, 'DUPLICATE',
            'this person is already a lead of the client',
            jsonb_build_object('existing_lead_id', liauto.existing_lead(
                (v_merged ->> 'client_id')::uuid, v_derived,
                v_merged ->> 'profile_url', p_lead_id)));
    END;
    IF NOT v_creating THEN
        IF p_body ->> 'status' = 'skipped' THEN
            UPDATE liauto.actions AS a SET status = 'cancelled'
            WHERE a.lead_id = p_lead_id AND a.status = 'scheduled';
        END IF;
    END IF;

    RETURN QUERY SELECT * FROM api.ok(
        CASE WHEN v_creating THEN 201 ELSE 200 END,
        liauto.lead_json(jsonb_populate_record(NULL::liauto.leads, v_row)));
END
$$;
