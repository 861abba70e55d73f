#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inflight.h"
#include "log.h"
#include "unipile.h"
#include "withdraw.h"

#define WITHDRAW_EVERY_MS       5000
#define WITHDRAW_MAX_IN_FLIGHT  4
#define WITHDRAW_RETRY_S        900

#define WITHDRAW_CLAIM_SQL                                                  \
    "SELECT id, claim_token, unipile_account_id, invitation_id, lead_id, "  \
    "who FROM engine.claim_withdrawals($1::integer, "                       \
    "make_interval(secs => $2::integer))"

/* $5: seconds from the engine's clock until the retry, or NULL. */
#define WITHDRAW_COMPLETE_SQL                                               \
    "SELECT engine.complete_withdrawal($1::uuid, $2::uuid, $3, $4, "        \
    "liauto.now() + make_interval(secs => $5::double precision))"

enum {
    WCOL_ID = 0,
    WCOL_TOKEN,
    WCOL_ACCOUNT,
    WCOL_INVITATION,
    WCOL_LEAD,
    WCOL_WHO
};

typedef struct withdraw_item_s  withdraw_item_t;

struct withdraw_item_s {
    withdraw_t       *owner;
    inflight_item_t   node;
    char              id[40];
    char              token[40];
    char              lead_id[40];
    char             *account_id;
    char             *invitation_id;
    char             *who;
};

struct withdraw_s {
    loop_t                 *loop;
    db_t                   *db;
    const liauto_config_t  *cf;
    unipile_t              *unipile;       /* the engine's */
    loop_timer_t            tick;
    loop_timer_t            wake;
    inflight_t              items;
};


static void withdraw_kick(withdraw_t *w);


static void
item_free(withdraw_item_t *it)
{
    inflight_remove(&it->owner->items, &it->node);
    free(it->account_id);
    free(it->invitation_id);
    free(it->who);
    free(it);
}


static withdraw_item_t *
item_from_row(withdraw_t *w, PGresult *res, int row)
{
    withdraw_item_t  *it;

    it = calloc(1, sizeof(withdraw_item_t));
    if (it == NULL) {
        return NULL;
    }

    it->owner = w;
    inflight_add(&w->items, &it->node);

    snprintf(it->id, sizeof(it->id), "%s", PQgetvalue(res, row, WCOL_ID));
    snprintf(it->token, sizeof(it->token), "%s",
             PQgetvalue(res, row, WCOL_TOKEN));
    snprintf(it->lead_id, sizeof(it->lead_id), "%s",
             PQgetvalue(res, row, WCOL_LEAD));
    it->account_id = strdup(PQgetvalue(res, row, WCOL_ACCOUNT));
    it->invitation_id = strdup(PQgetvalue(res, row, WCOL_INVITATION));
    it->who = strdup(PQgetvalue(res, row, WCOL_WHO));

    if (it->account_id == NULL || it->invitation_id == NULL
        || it->who == NULL)
    {
        item_free(it);
        return NULL;
    }
    return it;
}


/* Records the outcome; the item is gone afterwards. */
static void
item_complete(withdraw_item_t *it, const char *outcome, const char *error,
    double retry_in_s)
{
    withdraw_t  *w = it->owner;
    char         retry[32];
    const char  *values[5];
    PGresult    *res;

    snprintf(retry, sizeof(retry), "%.3f", retry_in_s);
    values[0] = it->id;
    values[1] = it->token;
    values[2] = outcome;
    values[3] = error;
    values[4] = retry_in_s >= 0 ? retry : NULL;

    res = db_exec_params(w->db, "engine.complete_withdrawal",
                         WITHDRAW_COMPLETE_SQL, 5, NULL, values);
    if (res == NULL) {
        log_warn("withdrawal of the invitation to %s (%s) not recorded: "
                 "its lease expires and it is tried again",
                 it->who, it->id);
    } else {
        log_info("withdrawal of the invitation to %s (lead %s, "
                 "invitation %s): %s%s%s", it->who, it->lead_id,
                 it->invitation_id, PQgetvalue(res, 0, 0),
                 error != NULL ? ": " : "", error != NULL ? error : "");
        PQclear(res);
    }

    item_free(it);
    withdraw_kick(w);
}


static void
item_on_cancel(const unipile_result_t *res, void *data)
{
    withdraw_item_t  *it = data;
    char              why[384];
    double            retry_in_s;

    snprintf(why, sizeof(why), "%s%s%s", res->verdict.reason,
             res->verdict.detail[0] != '\0' ? ": " : "",
             res->verdict.detail);

    switch (res->verdict.outcome) {

    case UNIPILE_SENT:
        item_complete(it, "withdrawn", NULL, -1);
        return;

    case UNIPILE_FINAL_LEAD:
        if (res->verdict.status == 404) {
            item_complete(it, "not_pending", NULL, -1);
            return;
        }
        item_complete(it, "failed", why, -1);
        return;

    case UNIPILE_ACCOUNT_COOLOFF:
    case UNIPILE_ACCOUNT_BLOCKED:
    case UNIPILE_RETRY:
    case UNIPILE_UNKNOWN:
        /* a lost answer is fine to retry: a second DELETE is a 404 */
        retry_in_s = res->verdict.retry_after_ms > 0
                     ? (double) res->verdict.retry_after_ms / 1000
                     : WITHDRAW_RETRY_S;
        item_complete(it, "retry", why, retry_in_s);
        return;

    default:
        item_complete(it, "failed", why, -1);
        return;
    }
}


static void
withdraw_claim(withdraw_t *w)
{
    char              limit[16], lease[16];
    const char       *values[2];
    PGresult         *res;
    withdraw_item_t  *it;
    int               row;

    if (inflight_room(&w->items) == 0) {
        return;
    }

    snprintf(limit, sizeof(limit), "%u", inflight_room(&w->items));
    snprintf(lease, sizeof(lease), "%d", w->cf->lease_seconds);
    values[0] = limit;
    values[1] = lease;

    res = db_exec_params(w->db, "engine.claim_withdrawals",
                         WITHDRAW_CLAIM_SQL, 2, NULL, values);
    if (res == NULL) {
        return;
    }

    for (row = 0; row < PQntuples(res); row++) {
        it = item_from_row(w, res, row);
        if (it == NULL) {
            log_error("out of memory: withdrawal %s left to its lease",
                      PQgetvalue(res, row, WCOL_ID));
            continue;
        }
        if (unipile_cancel_invitation(w->unipile, it->account_id,
                                      it->invitation_id, item_on_cancel,
                                      it) != 0)
        {
            log_error("out of memory: withdrawal %s left to its lease",
                      it->id);
            item_free(it);
        }
    }
    PQclear(res);
}


static void
withdraw_on_timer(loop_timer_t *timer, void *data)
{
    (void) timer;
    withdraw_claim(data);
}


/* Runs from the loop, not from inside a callback of the db or client. */
static void
withdraw_kick(withdraw_t *w)
{
    loop_timer_start(w->loop, &w->wake, 0, 0, withdraw_on_timer, w);
}


withdraw_t *
withdraw_create(loop_t *loop, db_t *db, const liauto_config_t *cf,
    unipile_t *u)
{
    withdraw_t  *w;

    w = calloc(1, sizeof(withdraw_t));
    if (w == NULL) {
        return NULL;
    }

    w->loop = loop;
    w->db = db;
    w->cf = cf;
    inflight_init(&w->items, WITHDRAW_MAX_IN_FLIGHT);
    w->unipile = u;
    loop_timer_start(loop, &w->tick, WITHDRAW_EVERY_MS, WITHDRAW_EVERY_MS,
                     withdraw_on_timer, w);
    return w;
}


void
withdraw_wake(withdraw_t *w)
{
    withdraw_kick(w);
}


void
withdraw_destroy(withdraw_t *w)
{
    loop_timer_stop(&w->tick);
    loop_timer_stop(&w->wake);

    while (w->items.head != NULL) {
        item_free(inflight_data(w->items.head, withdraw_item_t, node));
    }
    free(w);
}
