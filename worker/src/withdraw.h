#ifndef LIAUTO_WITHDRAW_H
#define LIAUTO_WITHDRAW_H

#include "config.h"
#include "db.h"
#include "loop.h"

/*
 * Auto-withdraw (issue 8): every few seconds, and on every wake-up, claims
 * the withdrawals that are due (engine.claim_withdrawals: our own
 * invitations still pending past their campaign's auto_withdraw_days,
 * under each account's daily limit, paced like the sends) and withdraws
 * each through Unipile's DELETE /users/invite/sent/{id}, recording the
 * outcome with engine.complete_withdrawal. A withdrawal whose answer is
 * lost is claimed again when its lease expires: withdrawing twice is a
 * harmless 404.
 */

typedef struct withdraw_s  withdraw_t;

/* NULL when Unipile is not configured or out of memory. */
withdraw_t *withdraw_create(loop_t *loop, db_t *db,
    const liauto_config_t *cf);

void withdraw_wake(withdraw_t *w);

void withdraw_destroy(withdraw_t *w);

#endif
