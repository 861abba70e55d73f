#ifndef LIAUTO_WEBHOOKS_H
#define LIAUTO_WEBHOOKS_H

#include "config.h"
#include "db.h"
#include "loop.h"

/*
 * Reply detection on the worker (DESIGN §6): processes the deliveries the
 * edge stored in liauto.webhook_events, and runs the fallbacks that catch
 * what webhooks missed. Everything that decides lives in SQL (migration
 * 0017); this file only moves data between Unipile and the database.
 *
 * Deliveries: on NOTIFY liauto_webhooks '<id>' and every
 * WEBHOOKS_SWEEP_MS, the due unprocessed rows (webhooks.pending_events)
 * are processed one transaction each (webhooks.process_event, which skips
 * rows another worker holds). An outcome needs_lookup is answered with a
 * profile lookup (GET /users/{id}) and the row processed again with the
 * profile (or {"not_found": true} on a 404); a lookup that fails is left
 * to the row's retry pause.
 *
 * Fallback jobs (liauto.sync_jobs): webhooks.schedule_jobs requests the
 * periodic runs (a poll every LIAUTO_POLL_INTERVAL seconds of the last
 * LIAUTO_POLL_LOOKBACK seconds of messages, relations and chats daily),
 * NOTIFY liauto_webhooks 'job:<id>' announces admin and catch-up runs,
 * and webhooks.claim_job hands each run to one worker, which pages
 * through Unipile and gives every page to SQL. manage_webhooks runs
 * (admin) list Unipile's webhooks into liauto.unipile_webhooks, delete
 * and register them as webhooks.webhook_plan says (LIAUTO_WEBHOOK_URL,
 * the secret header LIAUTO_WEBHOOK_SECRET), or delete one.
 *
 * Without Unipile (UNIPILE_DSN) deliveries are still processed: lookups
 * and jobs wait.
 */

typedef struct webhooks_s  webhooks_t;

/* NULL when out of memory. */
webhooks_t *webhooks_create(loop_t *loop, db_t *db,
    const liauto_config_t *cf);

/* The connection is (again) up: LISTEN liauto_webhooks, look for work. */
void webhooks_connected(webhooks_t *w);

/* A NOTIFY; returns 1 when it was on liauto_webhooks (ours). */
int webhooks_notify(webhooks_t *w, const char *channel, const char *payload);

/* Drops lookups and jobs in flight (rows and runs are retried later). */
void webhooks_destroy(webhooks_t *w);

#endif
