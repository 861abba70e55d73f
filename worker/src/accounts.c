#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts.h"
#include "log.h"

/* The first round waits for the database connection. */
#define ACCOUNTS_FIRST_MS   2000
#define ACCOUNTS_PER_ROUND  "20"

#define ACCOUNTS_DUE_SQL                                                    \
    "SELECT id, unipile_account_id FROM engine.accounts_to_recheck("        \
    "$1::integer, $2::integer)"

#define ACCOUNTS_RECORD_SQL                                                 \
    "SELECT engine.record_account_status($1::uuid, $2)"

struct accounts_s {
    db_t                   *db;
    const liauto_config_t  *cf;
    unipile_t              *unipile;
    loop_timer_t            timer;
    PGresult               *round;        /* NULL: no round in progress */
    int                     next;         /* row of round being asked */
};

static void accounts_ask_next(accounts_t *a);


static void
accounts_record(accounts_t *a, const char *id, const char *unipile_id,
    const char *status)
{
    const char  *values[2] = { id, status };
    PGresult    *res;

    res = db_exec_params(a->db, "engine.record_account_status",
                         ACCOUNTS_RECORD_SQL, 2, NULL, values);
    if (res == NULL) {
        return;
    }

    if (PQgetisnull(res, 0, 0)) {
        log_info("account %s (Unipile %s): Unipile reports %s; it is ok "
                 "already", id, unipile_id, status);

    } else if (strcmp(PQgetvalue(res, 0, 0), "ok") == 0) {
        log_info("account %s (Unipile %s): Unipile reports %s: back to ok, "
                 "its campaigns send again", id, unipile_id, status);

    } else {
        log_warn("account %s (Unipile %s): Unipile reports %s: stays %s, "
                 "asked again in %d s", id, unipile_id, status,
                 PQgetvalue(res, 0, 0), a->cf->account_recheck_seconds);
    }

    PQclear(res);
}


static void
accounts_on_status(const unipile_result_t *res, void *data)
{
    accounts_t  *a = data;
    const char  *id = PQgetvalue(a->round, a->next, 0);
    const char  *unipile_id = PQgetvalue(a->round, a->next, 1);

    if (res->verdict.outcome == UNIPILE_SENT
        && res->account_status != NULL)
    {
        accounts_record(a, id, unipile_id, res->account_status);

    } else {
        log_warn("account %s (Unipile %s): its status could not be read "
                 "from Unipile: %s (HTTP %ld); asked again in %d s", id,
                 unipile_id, res->verdict.reason, res->verdict.status,
                 a->cf->account_recheck_seconds);
    }

    a->next++;
    accounts_ask_next(a);
}


/* One account at a time; the round ends with the last answer. */
static void
accounts_ask_next(accounts_t *a)
{
    const char  *unipile_id;

    for ( /* void */ ; a->next < PQntuples(a->round); a->next++) {
        unipile_id = PQgetvalue(a->round, a->next, 1);
        if (unipile_get_account(a->unipile, unipile_id, accounts_on_status,
                                a) == 0)
        {
            return;
        }
        log_error("account %s (Unipile %s): asking Unipile failed (out of "
                  "memory)", PQgetvalue(a->round, a->next, 0), unipile_id);
    }

    PQclear(a->round);
    a->round = NULL;
}


static void
accounts_tick(loop_timer_t *timer, void *data)
{
    accounts_t  *a = data;
    char         every[16];
    const char  *values[2];
    PGresult    *res;

    (void) timer;

    if (a->round != NULL) {
        return;
    }

    snprintf(every, sizeof(every), "%d", a->cf->account_recheck_seconds);
    values[0] = every;
    values[1] = ACCOUNTS_PER_ROUND;

    res = db_exec_params(a->db, "engine.accounts_to_recheck",
                         ACCOUNTS_DUE_SQL, 2, NULL, values);
    if (res == NULL || PQntuples(res) == 0) {
        PQclear(res);
        return;
    }

    log_info("asking Unipile for the status of %d account(s) that are not "
             "ok", PQntuples(res));
    a->round = res;
    a->next = 0;
    accounts_ask_next(a);
}


accounts_t *
accounts_create(loop_t *loop, db_t *db, const liauto_config_t *cf,
    unipile_t *u)
{
    accounts_t  *a;

    a = calloc(1, sizeof(accounts_t));
    if (a == NULL) {
        return NULL;
    }

    a->db = db;
    a->cf = cf;
    a->unipile = u;
    loop_timer_start(loop, &a->timer, ACCOUNTS_FIRST_MS,
                     (uint64_t) cf->account_recheck_seconds * 1000,
                     accounts_tick, a);
    return a;
}


void
accounts_destroy(accounts_t *a)
{
    loop_timer_stop(&a->timer);
    PQclear(a->round);
    free(a);
}
