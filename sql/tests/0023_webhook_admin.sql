-- Webhook management (migration 0023): the cache of Unipile's webhooks,
-- the plan that keeps exactly one correct webhook per source under our
-- URL (the seed's messaging webhook pointed at /users is removed), the
-- admin API's requests.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(13);

SET LOCAL timezone = 'UTC';
SELECT liauto.set_clock('2026-11-24 10:00Z');

-- a run that has listed Unipile's webhooks
SELECT liauto.request_job('manage_webhooks', 'test:ensure', NULL, NULL,
                          '{"action": "ensure"}', NULL) IS NOT NULL AS asked;
SELECT is((SELECT job FROM webhooks.claim_job('w1', 60)), 'manage_webhooks',
          'a run without an account is claimed');
SELECT is(webhooks.store_webhooks_page(
              (SELECT id FROM liauto.sync_jobs
               WHERE period_key = 'test:ensure'), '[
    {"object": "Webhook", "id": "wh-users", "source": "users",
     "request_url": "https://app.example/api/v1/webhooks/unipile/users",
     "headers": [{"key": "Unipile-Auth", "value": "s3cret"}]},
    {"object": "Webhook", "id": "wh-msg-wrong", "source": "messaging",
     "request_url": "https://app.example/api/v1/webhooks/unipile/users",
     "headers": [{"key": "Unipile-Auth", "value": "s3cret"}]},
    {"object": "Webhook", "id": "wh-users-2", "source": "users",
     "request_url": "https://app.example/api/v1/webhooks/unipile/users",
     "headers": [{"key": "Unipile-Auth", "value": "s3cret"}]},
    {"object": "Webhook", "id": "wh-status-nosecret",
     "source": "account_status",
     "request_url":
         "https://app.example/api/v1/webhooks/unipile/account-status"},
    {"object": "Webhook", "id": "wh-other", "source": "messaging",
     "request_url": "https://crm.example/hook"}]'), 5,
          'five webhooks listed');
SELECT is((SELECT count(*)::integer FROM liauto.unipile_webhooks
           WHERE 's3cret' = ANY (header_keys)
              OR header_keys::text LIKE '%s3cret%'), 0,
          'no header value (the secret) is kept');

INSERT INTO liauto.unipile_webhooks (unipile_id, source, request_url,
                                     seen_at)
VALUES ('wh-gone', 'users', 'https://app.example/api/v1/webhooks/unipile/x',
        '2026-11-20 10:00Z');

SELECT is(webhooks.webhook_plan(
              (SELECT id FROM liauto.sync_jobs
               WHERE period_key = 'test:ensure'),
              'https://app.example/api/v1/webhooks/unipile/') -> 'delete',
          '["wh-msg-wrong", "wh-status-nosecret", "wh-users-2"]',
          'delete: the messaging webhook at /users, the second users '
          'webhook, the one without secret; not other apps'' webhooks');
SELECT is(jsonb_path_query_array(webhooks.webhook_plan(
              (SELECT id FROM liauto.sync_jobs
               WHERE period_key = 'test:ensure'),
              'https://app.example/api/v1/webhooks/unipile'),
              '$.create[*].request_url'),
          '["https://app.example/api/v1/webhooks/unipile/account-status",
            "https://app.example/api/v1/webhooks/unipile/messaging"]',
          'create: the sources without a correct webhook, at their URL');
SELECT ok(webhooks.webhook_plan(
              (SELECT id FROM liauto.sync_jobs
               WHERE period_key = 'test:ensure'),
              'https://app.example/api/v1/webhooks/unipile')
          @? '$.create[*] ? (@.source == "account_status"
                             && @.events[*] == "ok")',
          'account_status is registered with ok (back-to-OK catch-up)');
SELECT is((SELECT count(*)::integer FROM liauto.unipile_webhooks
           WHERE unipile_id = 'wh-gone'), 0,
          'a webhook the run did not list any more is forgotten');

SELECT webhooks.webhook_changed(
    (SELECT id FROM liauto.sync_jobs WHERE period_key = 'test:ensure'),
    'wh-msg-wrong', NULL);
SELECT webhooks.webhook_changed(
    (SELECT id FROM liauto.sync_jobs WHERE period_key = 'test:ensure'),
    'wh-new', '{"source": "messaging", "request_url":
                "https://app.example/api/v1/webhooks/unipile/messaging"}');
SELECT results_eq(
    $$SELECT unipile_id, source FROM liauto.unipile_webhooks
      WHERE request_url LIKE 'https://app.example/%' ORDER BY unipile_id$$,
    $$VALUES ('wh-new', 'messaging'), ('wh-status-nosecret',
              'account_status'), ('wh-users', 'users'),
             ('wh-users-2', 'users')$$,
    'deleted and created webhooks are reflected in the cache');
SELECT is((SELECT counts FROM liauto.sync_jobs
           WHERE period_key = 'test:ensure'),
          '{"pages": 1, "created": 1, "deleted": 1, "webhooks": 5}',
          'and in the run''s counts');

-- the API asks for runs
SELECT is((SELECT a.status || ' ' || (a.body::jsonb ->> 'job')
           FROM api.admin_webhooks_delete(
              '{"role": "admin"}', ARRAY[(SELECT id::text
                                          FROM liauto.unipile_webhooks
                                          WHERE unipile_id = 'wh-users-2')],
              '{}', NULL) AS a), '202 manage_webhooks',
          'DELETE asks for a run: 202 with the run');
SELECT is((SELECT params FROM liauto.sync_jobs
           WHERE period_key LIKE 'delete:%'),
          '{"action": "delete", "unipile_id": "wh-users-2"}',
          'that deletes the webhook by its Unipile id');

SELECT isnt((SELECT a.body::jsonb ->> 'refresh_job_id'
             FROM api.admin_webhooks_list('{"role": "admin"}', '{}', '{}',
                                          NULL) AS a), NULL,
            'GET /admin/webhooks asks for a fresh list');
SELECT is((SELECT a.body::jsonb ->> 'refresh_job_id'
           FROM api.admin_webhooks_list('{"role": "admin"}', '{}', '{}',
                                        NULL) AS a), NULL,
          '... at most once a minute');

SELECT * FROM finish();
ROLLBACK;
