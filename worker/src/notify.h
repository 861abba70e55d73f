#ifndef LIAUTO_NOTIFY_H
#define LIAUTO_NOTIFY_H

#include "config.h"
#include "db.h"
#include "loop.h"

/*
 * The notifier runs two outboxes of migration 0024 on the worker's loop.
 * Every LIAUTO_ENGINE_TICK_MS (and at once on NOTIFY liauto_worker) it
 * claims due rows with a lease (FOR UPDATE SKIP LOCKED), sends each and
 * records the outcome: sent; retry after Retry-After or a backoff;
 * failed with the reason.
 *
 * - Emails (liauto.emails) through Resend, when RESEND_API_KEY is set:
 *   first it closes due reply batches and queues due weekly reports
 *   (liauto.plan_emails, at most every second), then sends each email
 *   under its Idempotency-Key. Exactly once lives in SQL and in the key:
 *   a claim taken over after a crash is sent again under the same key,
 *   which Resend answers without a second email.
 * - Outbound webhooks (liauto.webhook_deliveries), always: each delivery
 *   POSTed signed (webhook.c), at least once; receivers dedupe on the
 *   event id.
 */

typedef struct notify_s  notify_t;

/* NULL when out of memory. */
notify_t *notify_create(loop_t *loop, db_t *db, const liauto_config_t *cf);

/* A NOTIFY said something changed: plan and claim now. */
void notify_wake(notify_t *n);

/* Drops the sends in flight; their leases expire and they are sent
 * again (emails under the same key). */
void notify_destroy(notify_t *n);

#endif
