#ifndef LIAUTO_ENGINE_H
#define LIAUTO_ENGINE_H

#include "config.h"
#include "db.h"
#include "loop.h"
#include "unipile.h"

/*
 * The sequence engine's sending loop (DESIGN §5) on the worker's loop.
 * Every LIAUTO_ENGINE_TICK_MS (and on every NOTIFY liauto_worker) it plans
 * due steps (engine.plan_due, at most every few seconds), claims actions
 * (engine.claim_actions with a lease of LIAUTO_LEASE_SECONDS) and sends
 * each through Unipile: render the template, resolve the lead, ask
 * engine.check_before_send right before the HTTP call, then record the
 * outcome with engine.complete_action. Every few seconds it reconciles
 * claims whose lease expired (engine.expired_claims) against Unipile's
 * sent invitations and chat messages (engine.resolve_unknown).
 *
 * Exactly-once lives in SQL (claim tokens, leases, the reserved budget);
 * the engine never sends without an "ok" from check_before_send, so any
 * number of workers may run it.
 */

typedef struct engine_s  engine_t;

/* NULL when Unipile is not configured (UNIPILE_DSN) or out of memory. */
engine_t *engine_create(loop_t *loop, db_t *db, const liauto_config_t *cf);

/* The engine's Unipile client, shared with the other users of the loop
 * (inbox replies, withdrawals, account re-checks). */
unipile_t *engine_unipile(engine_t *e);

/* A NOTIFY said there is work: plan and claim now. */
void engine_wake(engine_t *e);

/* Drops the sends in flight; their leases expire and are reconciled. */
void engine_destroy(engine_t *e);

#endif
