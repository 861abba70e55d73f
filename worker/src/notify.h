#ifndef LIAUTO_NOTIFY_H
#define LIAUTO_NOTIFY_H

#include "config.h"
#include "db.h"
#include "loop.h"

/*
 * The notifier: sends the emails of liauto.emails (migration 0024)
 * through Resend. Every LIAUTO_ENGINE_TICK_MS (at most every second for
 * the planning, and at once on NOTIFY liauto_worker) it closes due reply
 * batches and queues due weekly reports (liauto.plan_emails), claims due
 * emails with a lease (liauto.claim_emails, FOR UPDATE SKIP LOCKED) and
 * sends each under its Idempotency-Key, then records the outcome
 * (liauto.complete_email): sent; retry after Retry-After or a backoff
 * (429, 5xx, no answer); failed with Resend's reason (other 4xx).
 *
 * Exactly once lives in SQL and in the key: any number of workers may
 * run it, and a claim taken over after a crash is sent again under the
 * same key, which Resend answers without a second email.
 */

typedef struct notify_s  notify_t;

/* NULL when RESEND_API_KEY is not set (or out of memory). */
notify_t *notify_create(loop_t *loop, db_t *db, const liauto_config_t *cf);

/* A NOTIFY said something changed: plan and claim now. */
void notify_wake(notify_t *n);

/* Drops the sends in flight; their leases expire and they are sent
 * again, under the same key. */
void notify_destroy(notify_t *n);

#endif
