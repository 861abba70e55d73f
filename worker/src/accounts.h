#ifndef LIAUTO_ACCOUNTS_H
#define LIAUTO_ACCOUNTS_H

#include "config.h"
#include "db.h"
#include "loop.h"
#include "unipile.h"

/*
 * Re-checks LinkedIn accounts that are out of ok (an error the engine
 * recorded, a status webhook): soon after start and every
 * LIAUTO_ACCOUNT_RECHECK_SECONDS it takes the accounts not asked about
 * for that long (engine.accounts_to_recheck), asks Unipile for each
 * (GET /api/v1/accounts/{id}, one at a time) and records the answer
 * (engine.record_account_status): an account Unipile reports OK sends
 * again. Status webhooks only fire on transitions; this finds the ones
 * missed and the accounts the engine gave up on.
 */

typedef struct accounts_s  accounts_t;

/* u: the engine's client, which must outlive the checker. */
accounts_t *accounts_create(loop_t *loop, db_t *db,
    const liauto_config_t *cf, unipile_t *u);

/* Drops a round in progress (its accounts are asked again next round). */
void accounts_destroy(accounts_t *a);

#endif
