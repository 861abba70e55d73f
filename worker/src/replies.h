#ifndef LIAUTO_REPLIES_H
#define LIAUTO_REPLIES_H

#include "config.h"
#include "db.h"
#include "loop.h"
#include "unipile.h"

/*
 * Inbox replies (sql/migrations/0019_inbox_api.sql) on the worker's loop.
 * Every LIAUTO_ENGINE_TICK_MS (and on every NOTIFY liauto_worker) it
 * claims queued replies (engine.claim_replies, a lease of
 * LIAUTO_LEASE_SECONDS and a message unit of the account's budget), asks
 * engine.check_reply right before the HTTP call, sends each into its chat
 * (or, when Unipile no longer knows the chat, starts one with the
 * attendee) and records the outcome with engine.complete_reply: the
 * message becomes sent or failed with the reason. Every few seconds the
 * replies whose lease expired mid-send (engine.expired_replies) are
 * looked for in the chat (engine.resolve_reply), never resent blindly.
 */

typedef struct replies_s  replies_t;

/* Sends through u (the engine's client); NULL when out of memory. */
replies_t *replies_create(loop_t *loop, db_t *db, const liauto_config_t *cf,
    unipile_t *u);

/* A NOTIFY said there may be a reply to send: claim now. */
void replies_wake(replies_t *rp);

/* Drops the sends in flight (before the client is destroyed); their
 * leases expire and are reconciled. */
void replies_destroy(replies_t *rp);

#endif
