-- 0013_api_lead_identity_limits: an over-long profile URL or public
-- identifier is a 422 / an invalid import row, not a 500.
--
-- Both are keys of unique btree indexes (0001), whose entries cannot
-- exceed 2704 bytes: a 3 kB URL in one CSV cell failed the whole import
-- with "index row size exceeds btree maximum". Limits: profile URL 2000
-- bytes, public identifier 200 characters (given or taken from the URL),
-- as the API rules already said for a given identifier.

CREATE OR REPLACE FUNCTION liauto.lead_identity(p_lead jsonb,
                                                INOUT p_errors jsonb,
                                                OUT public_identifier text)
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    public_identifier := p_lead ->> 'public_identifier';
    IF p_errors ?| '{public_identifier,profile_url}' THEN
        RETURN;
    END IF;

    IF octet_length(p_lead ->> 'profile_url') > 2000 THEN
        p_errors := p_errors || '{"profile_url": "must be at most 2000 '
                                'bytes"}';
    ELSIF p_lead ->> 'profile_url' IS NOT NULL
       AND coalesce(liauto.normalize_profile_url(p_lead ->> 'profile_url'),
                    '') !~ '^linkedin\.com/'
    THEN
        p_errors := p_errors || '{"profile_url": "must be a linkedin.com '
                                'URL"}';
    ELSIF public_identifier IS NULL AND p_lead ->> 'profile_url' IS NULL
    THEN
        p_errors := p_errors || '{"profile_url": "a lead needs a '
                                'profile_url or a public_identifier"}';
    ELSIF public_identifier IS NULL THEN
        public_identifier := liauto.public_identifier_from_url_key(
            liauto.normalize_profile_url(p_lead ->> 'profile_url'));
        IF length(public_identifier) > 200 THEN
            p_errors := p_errors || '{"profile_url": "its /in/ name is '
                                    'longer than 200 characters"}';
        END IF;
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION liauto.import_leads(p_campaign liauto.campaigns,
                                    p_header jsonb, p_rows jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_fields   jsonb;
    v_customs  jsonb;
    v_result   jsonb;
BEGIN
    -- Column name -> 0-based cell index; the first of two columns mapping
    -- to one field wins. Every unmapped named column is a custom field.
    SELECT jsonb_object_agg(field, pos) FILTER (WHERE field IS NOT NULL),
           coalesce(jsonb_agg(jsonb_build_array(name, pos))
                        FILTER (WHERE field IS NULL AND name <> ''),
                    '[]')
    INTO v_fields, v_customs
    FROM (SELECT DISTINCT ON (coalesce(field, name), field IS NULL)
                 field, name, pos
          FROM (SELECT liauto.import_header_field(h) AS field,
                       btrim(replace(h, U&'\FEFF', '')) AS name,
                       n - 1 AS pos
                FROM jsonb_array_elements_text(p_header)
                     WITH ORDINALITY AS c (h, n)) AS named
          ORDER BY coalesce(field, name), field IS NULL, pos) AS cols;

    IF NOT coalesce(v_fields ?| '{profile_url,public_identifier}', false)
    THEN
        PERFORM api.raise_invalid(jsonb_build_object('header',
            'no LinkedIn column: name one "LinkedIn URL", "Profile URL", '
            '"LinkedIn Profile", "Person Linkedin Url" or "Public '
            'Identifier"'));
    END IF;

    WITH cells AS (
        SELECT r.n AS row_number, r.cells,
               jsonb_typeof(r.cells) = 'array' AS is_list
        FROM jsonb_array_elements(p_rows) WITH ORDINALITY AS r (cells, n)
    ), named AS MATERIALIZED (
        -- A cell past the end of a short row, or of a row that is not a
        -- list at all, reads as NULL.
        SELECT c.row_number, c.cells, c.is_list,
               NULLIF(btrim(c.cells ->> (v_fields ->> 'first_name')::integer),
                      '') AS first_name,
               NULLIF(btrim(c.cells ->> (v_fields ->> 'last_name')::integer),
                      '') AS last_name,
               NULLIF(btrim(c.cells ->> (v_fields ->> 'company')::integer),
                      '') AS company,
               NULLIF(btrim(c.cells ->> (v_fields ->> 'title')::integer),
                      '') AS title,
               NULLIF(btrim(c.cells ->> (v_fields ->> 'email')::integer),
                      '') AS email,
               NULLIF(btrim(c.cells
                            ->> (v_fields ->> 'profile_url')::integer),
                      '') AS profile_url,
               NULLIF(btrim(c.cells
                            ->> (v_fields ->> 'public_identifier')::integer),
                      '') AS given_identifier
        FROM cells AS c
    ), keyed AS MATERIALIZED (
        -- MATERIALIZED: computed once per row, not once per later use.
        SELECT n.*, liauto.normalize_profile_url(n.profile_url) AS url_key
        FROM named AS n
    ), fields AS (
        SELECT n.row_number, n.is_list, n.first_name, n.last_name,
               n.company, n.title, n.email, n.profile_url, n.url_key,
               coalesce(n.given_identifier,
                        liauto.public_identifier_from_url_key(n.url_key))
                   AS public_identifier,
               (SELECT coalesce(jsonb_object_agg(k.e ->> 0,
                                    btrim(n.cells ->> (k.e ->> 1)::integer)),
                                '{}')
                FROM jsonb_array_elements(v_customs) AS k (e)
                WHERE btrim(n.cells ->> (k.e ->> 1)::integer) <> '')
                   AS custom_fields
        FROM keyed AS n
    ), checked AS (
        SELECT f.*,
               CASE
                   WHEN NOT f.is_list
                   THEN 'not a list of fields'
                   WHEN octet_length(f.profile_url) > 2000
                   THEN 'profile URL longer than 2000 bytes'
                   WHEN length(f.public_identifier) > 200
                   THEN 'public identifier longer than 200 characters'
                   WHEN f.profile_url IS NOT NULL
                        AND coalesce(f.url_key, '') !~ '^linkedin\.com/'
                   THEN 'profile URL is not a linkedin.com URL'
                   WHEN f.public_identifier IS NULL AND f.profile_url IS NULL
                   THEN 'no LinkedIn profile URL or public identifier'
                   WHEN f.email !~ '^[^@[:space:]]+@[^@[:space:]]+$'
                   THEN 'invalid email address'
               END AS reason,
               lower(f.public_identifier) AS identifier_key,
               gen_random_uuid() AS new_id
        FROM fields AS f
    ), matched AS (
        SELECT c.*, coalesce(by_identifier.id, by_url.id) AS existing_id
        FROM checked AS c
        LEFT JOIN liauto.leads AS by_identifier
               ON by_identifier.client_id = p_campaign.client_id
              AND lower(by_identifier.public_identifier) = c.identifier_key
        LEFT JOIN liauto.leads AS by_url
               ON by_url.client_id = p_campaign.client_id
              AND liauto.normalize_profile_url(by_url.profile_url)
                  = c.url_key
        WHERE c.reason IS NULL
    ), ranked AS (
        -- Window functions, not self-joins: the first row of the file
        -- with an identifier (or URL) and the lead it stands for (already
        -- there, or the one it is about to create).
        SELECT m.*,
               CASE WHEN m.identifier_key IS NOT NULL
                    THEN first_value(m.row_number) OVER by_identifier
               END AS first_by_identifier,
               CASE WHEN m.identifier_key IS NOT NULL
                    THEN first_value(coalesce(m.existing_id, m.new_id))
                         OVER by_identifier
               END AS lead_by_identifier,
               CASE WHEN m.url_key IS NOT NULL
                    THEN first_value(m.row_number) OVER by_url
               END AS first_by_url,
               CASE WHEN m.url_key IS NOT NULL
                    THEN first_value(coalesce(m.existing_id, m.new_id))
                         OVER by_url
               END AS lead_by_url
        FROM matched AS m
        WINDOW by_identifier AS (PARTITION BY m.identifier_key
                                 ORDER BY m.row_number),
               by_url AS (PARTITION BY m.url_key ORDER BY m.row_number)
    ), classified AS (
        SELECT r.*,
               r.existing_id IS NOT NULL
               OR coalesce(r.first_by_identifier < r.row_number, false)
               OR coalesce(r.first_by_url < r.row_number, false)
                   AS is_duplicate,
               CASE
                   WHEN r.existing_id IS NOT NULL THEN r.existing_id
                   WHEN r.first_by_identifier
                        <= coalesce(r.first_by_url, r.row_number)
                        AND r.first_by_identifier < r.row_number
                   THEN r.lead_by_identifier
                   WHEN r.first_by_url < r.row_number THEN r.lead_by_url
               END AS duplicate_of
        FROM ranked AS r
    ), inserted AS (
        INSERT INTO liauto.leads
            (id, client_id, campaign_id, first_name, last_name, company,
             title, email, public_identifier, profile_url, custom_fields)
        SELECT c.new_id, p_campaign.client_id, p_campaign.id, c.first_name,
               c.last_name, c.company, c.title, c.email,
               c.public_identifier, c.profile_url, c.custom_fields
        FROM classified AS c
        WHERE NOT c.is_duplicate
        ORDER BY c.row_number
        ON CONFLICT DO NOTHING
        RETURNING id
    ), duplicates AS (
        SELECT c.row_number, c.duplicate_of
        FROM classified AS c
        WHERE c.is_duplicate
        UNION ALL
        -- Taken by a concurrent import between our read and our insert.
        SELECT c.row_number, NULL
        FROM classified AS c
        WHERE NOT c.is_duplicate
          AND c.new_id NOT IN (SELECT i.id FROM inserted AS i)
    )
    SELECT jsonb_build_object(
        'imported', (SELECT count(*) FROM inserted),
        'duplicates', (SELECT count(*) FROM duplicates),
        'invalid', (SELECT count(*) FROM checked WHERE reason IS NOT NULL),
        'errors', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                       'row', row_number, 'reason', reason)
                                   ORDER BY row_number), '[]')
                   FROM checked WHERE reason IS NOT NULL),
        'duplicate_rows', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                       'row', row_number,
                                       'existing_lead_id', duplicate_of)
                                   ORDER BY row_number), '[]')
                           FROM duplicates))
    INTO v_result;

    RETURN v_result;
END
$$;
