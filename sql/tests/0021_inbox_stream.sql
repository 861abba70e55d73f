-- The inbox event log behind the SSE stream (migration 0021): publishing
-- stores and describes the event, the notification stays under NOTIFY's
-- limit, the replay is per tenant and per assignee in id order, and
-- pruning keeps the last 24 hours.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(14);

INSERT INTO liauto.clients (id, name) VALUES
    ('a0000000-0000-0000-0000-000000000001', 'Client A'),
    ('b0000000-0000-0000-0000-000000000001', 'Client B');

CREATE TEMP TABLE ids AS
SELECT liauto.publish_inbox_event(
           'a0000000-0000-0000-0000-000000000001', 'message.created',
           'c0000000-0000-0000-0000-000000000001', NULL,
           '{"text": "hello"}') AS a1,
       liauto.publish_inbox_event(
           'b0000000-0000-0000-0000-000000000001', 'message.created',
           'c0000000-0000-0000-0000-000000000002', NULL, NULL) AS b1;
ALTER TABLE ids ADD COLUMN a2 bigint, ADD COLUMN a3 bigint;
UPDATE ids SET
    a2 = liauto.publish_inbox_event(
             'a0000000-0000-0000-0000-000000000001', 'conversation.updated',
             'c0000000-0000-0000-0000-000000000001',
             'e0000000-0000-0000-0000-000000000001', '{}'),
    a3 = liauto.publish_inbox_event(
             'a0000000-0000-0000-0000-000000000001', 'conversation.updated',
             'c0000000-0000-0000-0000-000000000003',
             'e0000000-0000-0000-0000-000000000002', '{}');

SELECT ok((SELECT a1 < b1 AND b1 < a2 AND a2 < a3 FROM ids),
          'ids grow in publishing order');

SELECT is((SELECT payload FROM liauto.inbox_events, ids WHERE id = b1),
          '{}'::jsonb, 'a NULL data is stored as {}');

SELECT is((SELECT liauto.inbox_notification(e)::jsonb - 'created_at'
           FROM liauto.inbox_events e, ids WHERE e.id = a1),
          jsonb_build_object('id', (SELECT a1 FROM ids),
              'client_id', 'a0000000-0000-0000-0000-000000000001',
              'type', 'message.created',
              'conversation_id', 'c0000000-0000-0000-0000-000000000001',
              'assignee_id', NULL, 'data', '{"text": "hello"}'::jsonb),
          'the notification is the whole event');

SELECT matches((SELECT liauto.inbox_notification(e)
                FROM liauto.inbox_events e, ids WHERE e.id = a1),
               '^\{[^\n]*\}$', 'on one line (an SSE data: line)');

SELECT matches((SELECT liauto.inbox_notification(e)::jsonb->>'created_at'
                FROM liauto.inbox_events e, ids WHERE e.id = a1),
               '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$',
               'created_at is ISO 8601 UTC');

-- a big message: the notification drops data, the replay keeps it
SELECT liauto.publish_inbox_event('a0000000-0000-0000-0000-000000000001',
                                  'message.created', NULL, NULL,
                                  jsonb_build_object('text',
                                                     repeat('x', 9000)));
SELECT is((SELECT liauto.inbox_notification(e)::jsonb ?| array['data']
                  OR NOT (liauto.inbox_notification(e)::jsonb->'truncated')
                         ::boolean
           FROM liauto.inbox_events e ORDER BY id DESC LIMIT 1),
          false, 'a notification over 7900 bytes goes without data, '
                 'marked truncated');
SELECT ok((SELECT octet_length(liauto.inbox_notification(e)) < 8000
           FROM liauto.inbox_events e ORDER BY id DESC LIMIT 1),
          'and fits a NOTIFY payload');
SELECT is((SELECT length(event::jsonb->'data'->>'text')
           FROM liauto.inbox_events_after(0, NULL, NULL, 1000)
           ORDER BY id DESC LIMIT 1),
          9000, 'the replay carries the whole event');

SELECT results_eq(
    $$SELECT e.id FROM ids, liauto.inbox_events_after(ids.a1 - 1,
          'a0000000-0000-0000-0000-000000000001', NULL, 3) e$$,
    $$SELECT unnest(ARRAY[a1, a2, a3]) FROM ids$$,
    'a tenant''s replay: its events only, oldest first, up to the limit');

SELECT results_eq(
    $$SELECT e.id FROM ids, liauto.inbox_events_after(ids.a1,
          'a0000000-0000-0000-0000-000000000001', NULL, 2) e$$,
    $$SELECT unnest(ARRAY[a2, a3]) FROM ids$$,
    'after an id: strictly later events');

SELECT results_eq(
    $$SELECT e.id FROM ids, liauto.inbox_events_after(ids.a1,
          'a0000000-0000-0000-0000-000000000001',
          'e0000000-0000-0000-0000-000000000001', 2) e$$,
    $$SELECT unnest(ARRAY[a2, (SELECT max(id) FROM liauto.inbox_events)])
      FROM ids$$,
    'an agent''s replay: unassigned and its own conversations');

SELECT is((SELECT liauto.inbox_last_event_id()),
          (SELECT max(id) FROM liauto.inbox_events),
          'a new listener starts at the newest event');

-- retention: move the clock a day ahead, publish one more, prune
UPDATE liauto.engine_clock SET clock_offset = interval '25 hours';
SELECT liauto.publish_inbox_event('a0000000-0000-0000-0000-000000000001',
                                  'conversation.updated', NULL, NULL, '{}');
SELECT is((SELECT liauto.prune_inbox_events()), 5::bigint,
          'pruning removes the events older than 24 hours');
SELECT is((SELECT count(*) FROM liauto.inbox_events), 1::bigint,
          'and keeps the recent one');

SELECT * FROM finish();
ROLLBACK;
