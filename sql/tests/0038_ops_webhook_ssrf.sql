-- Migration 0038, the SSRF guard of webhook subscriptions at creation:
-- URLs that are not http(s), carry credentials or name an internal
-- address literally (IPv4, IPv6, IPv4-mapped, numeric forms resolvers
-- read as IPv4, localhost) are a 422 on "url" saying why, nothing stored;
-- public addresses and names pass; liauto.webhook_allow_nets lifts the
-- refusal for the networks it lists only.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(12);

\ir lib/api_calls.sql

INSERT INTO liauto.clients (id, name) VALUES
    ('a0000000-0000-0000-0000-000000000001', 'Client A');

SET LOCAL liauto.webhook_allow_nets = '';

CREATE FUNCTION pg_temp.subscribe(p_url text) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT pg_temp.call('api.webhook_subscriptions_create',
                        pg_temp.agent_a(), '{}', '{}',
                        jsonb_build_object('url', p_url,
                                           'events',
                                           '["lead.replied"]'::jsonb))
$$;

-- the url error of each refused URL, NULL for one that was created
CREATE FUNCTION pg_temp.url_error(p_url text) RETURNS text
LANGUAGE sql AS $$
    SELECT CASE WHEN a ->> 'status' = '201' THEN NULL
                ELSE coalesce(a #>> '{body,details,url}',
                              'status ' || (a ->> 'status')) END
    FROM pg_temp.subscribe(p_url) AS a
$$;

CREATE TEMP TABLE internal (url text, kind text);
INSERT INTO internal VALUES
    ('http://127.0.0.1/h', 'loopback address (127.0.0.1)'),
    ('https://127.8.9.10:8443/h', 'loopback address (127.8.9.10)'),
    ('http://localhost:8080/', 'loopback address (127.0.0.1)'),
    ('http://api.LOCALHOST./x', 'loopback address (127.0.0.1)'),
    ('http://10.1.2.3/', 'private address (10.1.2.3)'),
    ('http://172.16.0.1/', 'private address (172.16.0.1)'),
    ('http://172.31.255.255/', 'private address (172.31.255.255)'),
    ('http://192.168.1.1/', 'private address (192.168.1.1)'),
    ('http://100.64.0.1/', 'private (carrier-grade NAT) address (100.64.0.1)'),
    ('http://169.254.169.254/latest/meta-data/', 'link-local address (169.254.169.254)'),
    ('http://224.0.0.1/', 'multicast address (224.0.0.1)'),
    ('http://0.0.0.0:80/', 'unspecified address (0.0.0.0)'),
    ('http://255.255.255.255/', 'reserved address (255.255.255.255)'),
    ('http://[::1]:8080/h', 'loopback address (::1)'),
    ('http://[::]/', 'unspecified address (::)'),
    ('http://[fe80::1]/', 'link-local address (fe80::1)'),
    ('http://[fd12:3456::1]/', 'private (unique local) address (fd12:3456::1)'),
    ('http://[FF02::1]/', 'multicast address (ff02::1)'),
    ('http://[::ffff:127.0.0.1]/', 'loopback address (::ffff:127.0.0.1)'),
    ('http://[::ffff:a9fe:a9fe]/',
     'link-local address (::ffff:169.254.169.254)'),
    ('http://[::ffff:10.0.0.1]:81/', 'private address (::ffff:10.0.0.1)');

SELECT is((SELECT array_agg(url || ': ' || coalesce(pg_temp.url_error(url),
                                                    'created'))
           FROM internal
           WHERE pg_temp.url_error(url) IS DISTINCT FROM
                 format('must not point at a %s: webhooks go to public '
                        'hosts only', kind)),
          NULL, 'every internal address is a 422 naming what it is');

SELECT is((SELECT array_agg(url || ': ' || coalesce(pg_temp.url_error(url),
                                                    'created'))
           FROM unnest(ARRAY['http://2130706433/', 'http://0x7f.0.0.1/',
                             'http://017.0.0.1/', 'http://127.1/',
                             'http://0x7f000001/', 'http://127.0.0.1.1/'])
                AS url
           WHERE pg_temp.url_error(url) IS DISTINCT FROM
                 'must be a host name or a canonical IP address (a.b.c.d)'),
          NULL, 'numeric hosts other than a.b.c.d are refused, not decoded');

SELECT is(pg_temp.url_error('http://[fe80::1%25eth0]/'),
          'must be a host name or an IP address', 'an IPv6 zone is refused');

SELECT is((SELECT array_agg(url || ': ' || coalesce(pg_temp.url_error(url),
                                                    'created'))
           FROM unnest(ARRAY['http://user:pw@hooks.example/',
                             'https://token@hooks.example/h',
                             'http://hooks.example@127.0.0.1/'])
                AS url
           WHERE pg_temp.url_error(url) IS DISTINCT FROM
                 'must not carry credentials (user:password@host)'),
          NULL, 'credentials in the URL are refused');

SELECT is((SELECT array_agg(url || ': ' || coalesce(pg_temp.url_error(url),
                                                    'created'))
           FROM unnest(ARRAY['ftp://hooks.example/', 'file:///etc/passwd',
                             'gopher://127.0.0.1/', 'http:/x',
                             'javascript:alert(1)'])
                AS url
           WHERE pg_temp.url_error(url) IS DISTINCT FROM
                 'must be an http:// or https:// URL'),
          NULL, 'other schemes are refused');

SELECT is(pg_temp.err(pg_temp.subscribe('http://169.254.169.254/')),
          pg_temp.invalid('{"url": "must not point at a link-local address '
                          '(169.254.169.254): webhooks go to public hosts '
                          'only"}'),
          'the answer is the 422 envelope with the url field error');
SELECT is((SELECT count(*) FROM liauto.webhook_subscriptions), 0::bigint,
          'nothing refused was stored');

SELECT is((SELECT array_agg(url || ': ' || pg_temp.url_error(url))
           FROM unnest(ARRAY['https://hooks.example.com/liauto',
                             'http://93.184.216.34:8080/h',
                             'https://[2606:4700::1111]/h',
                             'http://[::ffff:8.8.8.8]/',
                             'http://172.32.0.1/', 'http://11.0.0.1/',
                             'https://crm.example/h?x=1#y',
                             'http://1password.example/',
                             'http://127-0-0-1.example/'])
                AS url
           WHERE pg_temp.url_error(url) IS NOT NULL),
          NULL, 'public addresses and host names are subscribed');
SELECT is((SELECT count(*) FROM liauto.webhook_subscriptions), 9::bigint,
          '... all 9');

-- the allow-list lifts the refusal for its networks only
SET LOCAL liauto.webhook_allow_nets = '127.0.0.0/8, ::1';
SELECT is(ARRAY[pg_temp.url_error('http://127.0.0.1:9/h'),
                pg_temp.url_error('http://localhost:9/h'),
                pg_temp.url_error('http://[::1]/h'),
                pg_temp.url_error('http://[::ffff:127.0.0.2]/h')],
          ARRAY[NULL, NULL, NULL, NULL]::text[],
          'liauto.webhook_allow_nets allows the networks it lists');
SELECT is(pg_temp.url_error('http://10.0.0.1/'),
          'must not point at a private address (10.0.0.1): webhooks go to '
          'public hosts only', '... and no other');
SELECT is(pg_temp.url_error('http://user@127.0.0.1/'),
          'must not carry credentials (user:password@host)',
          '... and never credentials');

SELECT * FROM finish();
ROLLBACK;
