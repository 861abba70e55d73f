#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "backoff.h"
#include "log.h"
#include "notify.h"
#include "resend.h"
#include "webhook.h"

#define NOTIFY_PLAN_EVERY_MS   1000
#define NOTIFY_PLAN_LIMIT      "100"
#define NOTIFY_MAX_IN_FLIGHT   16

/* The outboxes' retries: 30 s, 1 min, 2 min, ... up to an hour. */
#define NOTIFY_RETRY_BASE_MS   30000
#define NOTIFY_RETRY_CAP_MS    3600000

#define NOTIFY_PLAN_SQL   "SELECT liauto.plan_emails($1::integer)"

/* The columns every claim answers first; the kind's own follow. */
enum {
    COL_ID = 0,
    COL_TOKEN,
    COL_ATTEMPTS,
    COL_KIND
};

#define NOTIFY_CLAIM_ARGS                                                   \
    "($1, $2::integer, make_interval(secs => $3::integer))"

/* $6: seconds from the engine's clock until the retry, or NULL. */
#define NOTIFY_COMPLETE_ARGS                                                \
    "($1::uuid, $2::uuid, $3, $4, $5, $6::double precision)"

typedef struct notify_item_s  notify_item_t;

/* One outbox: how to claim its rows, send one, record the outcome. */
typedef struct {
    const char  *what;                 /* for the logs */
    const char  *claim_fn;
    const char  *claim_sql;
    const char  *complete_fn;
    const char  *complete_sql;
    int        (*start)(notify_item_t *it, PGresult *res, int row);
} notify_kind_t;

/* What a send came to, for the kind's complete function. */
typedef struct {
    const char  *outcome;              /* "sent", "retry", "failed" */
    const char  *detail;               /* Resend's id, the HTTP status */
    const char  *reason;               /* NULL when sent */
    long         retry_after_ms;       /* -1: our backoff */
} notify_result_t;

struct notify_item_s {
    notify_t             *notify;
    const notify_kind_t  *kind;
    notify_item_t        *prev;
    notify_item_t        *next;
    char                  id[40];
    char                  token[40];
    unsigned              attempts;
    char                 *label;       /* for the logs */
    json_t               *to;          /* emails: the recipients */
    resend_call_t         resend_call;
    webhook_call_t        webhook_call;
};

struct notify_s {
    loop_t                 *loop;
    db_t                   *db;
    const liauto_config_t  *cf;
    resend_t               *resend;    /* NULL: emails off */
    webhook_t              *webhook;
    loop_timer_t            tick;
    loop_timer_t            wake;
    uint64_t                next_plan_ms;
    unsigned                in_flight;
    notify_item_t          *items;
};

static int email_start(notify_item_t *it, PGresult *res, int row);
static int webhook_start(notify_item_t *it, PGresult *res, int row);
static void notify_kick(notify_t *n);

static const notify_kind_t  email_kind = {
    "email",
    "liauto.claim_emails",
    "SELECT id, claim_token, attempts, idempotency_key, recipients, "
    "subject, html, text FROM liauto.claim_emails" NOTIFY_CLAIM_ARGS,
    "liauto.complete_email",
    "SELECT liauto.complete_email" NOTIFY_COMPLETE_ARGS,
    email_start
};

static const notify_kind_t  webhook_kind = {
    "webhook delivery",
    "liauto.claim_webhook_deliveries",
    "SELECT id, claim_token, attempts, url, secret, event_type, payload "
    "FROM liauto.claim_webhook_deliveries" NOTIFY_CLAIM_ARGS,
    "liauto.complete_webhook_delivery",
    "SELECT liauto.complete_webhook_delivery" NOTIFY_COMPLETE_ARGS,
    webhook_start
};


static void
item_free(notify_item_t *it)
{
    notify_t  *n = it->notify;

    if (it->prev != NULL) {
        it->prev->next = it->next;
    } else {
        n->items = it->next;
    }
    if (it->next != NULL) {
        it->next->prev = it->prev;
    }

    n->in_flight--;
    json_decref(it->to);
    free(it->label);
    free(it);
}


static notify_item_t *
item_from_row(notify_t *n, const notify_kind_t *kind, PGresult *res,
    int row)
{
    notify_item_t  *it;

    it = calloc(1, sizeof(notify_item_t));
    if (it == NULL) {
        return NULL;
    }

    it->notify = n;
    it->kind = kind;
    it->next = n->items;
    if (n->items != NULL) {
        n->items->prev = it;
    }
    n->items = it;
    n->in_flight++;

    snprintf(it->id, sizeof(it->id), "%s", PQgetvalue(res, row, COL_ID));
    snprintf(it->token, sizeof(it->token), "%s",
             PQgetvalue(res, row, COL_TOKEN));
    it->attempts = (unsigned) atoi(PQgetvalue(res, row, COL_ATTEMPTS));
    return it;
}


/* Seconds until the retry: the answer's Retry-After, else our backoff. */
static double
retry_in_s(const notify_item_t *it, long retry_after_ms)
{
    if (retry_after_ms >= 0) {
        return retry_after_ms / 1000.0;
    }

    return backoff_delay_ms(it->attempts > 0 ? it->attempts - 1 : 0,
                            NOTIFY_RETRY_BASE_MS, NOTIFY_RETRY_CAP_MS,
                            backoff_random()) / 1000.0;
}


static void
item_complete(notify_item_t *it, const notify_result_t *r)
{
    char         retry[32];
    const char  *values[6], *status;
    notify_t    *n = it->notify;
    PGresult    *res;

    values[0] = it->id;
    values[1] = it->token;
    values[2] = r->outcome;
    values[3] = r->detail;
    values[4] = r->reason;
    values[5] = NULL;

    if (strcmp(r->outcome, "retry") == 0) {
        snprintf(retry, sizeof(retry), "%.3f",
                 retry_in_s(it, r->retry_after_ms));
        values[5] = retry;
    }

    res = db_exec_params(n->db, it->kind->complete_fn,
                         it->kind->complete_sql, 6, NULL, values);
    status = res == NULL ? "(not recorded: the lease will expire and it "
                           "be sent again)"
             : PQgetisnull(res, 0, 0) ? "(not recorded: the claim was "
                                        "taken over)"
             : PQgetvalue(res, 0, 0);

    if (r->reason == NULL) {
        log_info("%s %s (%s) sent (%s) -> %s", it->kind->what, it->id,
                 it->label, r->detail != NULL ? r->detail : "", status);
    } else {
        log_warn("%s %s (%s) not sent (attempt %u): %s%s%s -> %s",
                 it->kind->what, it->id, it->label, it->attempts,
                 r->reason, values[5] != NULL ? "; retry in s " : "",
                 values[5] != NULL ? values[5] : "", status);
    }

    PQclear(res);
    item_free(it);
    notify_kick(n);
}


/* ------------------------------------------------------------ emails */

static void
email_on_sent(const resend_verdict_t *v, void *data)
{
    notify_result_t  r;

    r.outcome = v->outcome == RESEND_SENT ? "sent"
                : v->outcome == RESEND_RETRY ? "retry" : "failed";
    r.detail = v->outcome == RESEND_SENT ? v->id : NULL;
    r.reason = v->outcome == RESEND_SENT ? NULL : v->reason;
    r.retry_after_ms = v->retry_after_ms;
    item_complete(data, &r);
}


static int
email_start(notify_item_t *it, PGresult *res, int row)
{
    resend_email_t  email;

    it->label = strdup(PQgetvalue(res, row, COL_KIND));
    it->to = json_loads(PQgetvalue(res, row, COL_KIND + 1), 0, NULL);
    if (it->label == NULL || !json_is_array(it->to)) {
        return -1;
    }

    email.from = it->notify->cf->notify_from;
    email.to = it->to;
    email.idempotency_key = it->label;
    email.subject = PQgetvalue(res, row, COL_KIND + 2);
    email.html = PQgetvalue(res, row, COL_KIND + 3);
    email.text = PQgetvalue(res, row, COL_KIND + 4);

    it->resend_call.done = email_on_sent;
    it->resend_call.data = it;
    return resend_send(it->notify->resend, &email, &it->resend_call);
}


/* ---------------------------------------------------------- webhooks */

static void
webhook_on_answer(const webhook_verdict_t *v, void *data)
{
    char             status[16];
    notify_result_t  r;

    snprintf(status, sizeof(status), "%ld", v->status);
    r.outcome = v->outcome == WEBHOOK_DELIVERED ? "sent"
                : v->outcome == WEBHOOK_RETRY ? "retry" : "failed";
    r.detail = status;
    r.reason = v->outcome == WEBHOOK_DELIVERED ? NULL : v->reason;
    r.retry_after_ms = v->retry_after_ms;
    item_complete(data, &r);
}


static int
webhook_start(notify_item_t *it, PGresult *res, int row)
{
    webhook_delivery_t  d;

    d.id = it->id;
    d.url = PQgetvalue(res, row, COL_KIND);
    d.secret = PQgetvalue(res, row, COL_KIND + 1);
    d.event_type = PQgetvalue(res, row, COL_KIND + 2);
    d.body = PQgetvalue(res, row, COL_KIND + 3);

    if (asprintf(&it->label, "%s to %s", d.event_type, d.url) < 0) {
        it->label = NULL;
        return -1;
    }

    it->webhook_call.done = webhook_on_answer;
    it->webhook_call.data = it;
    return webhook_deliver(it->notify->webhook, &d, &it->webhook_call);
}


/* -------------------------------------------------------------- tick */

static void
notify_plan(notify_t *n)
{
    const char  *values[1] = { NOTIFY_PLAN_LIMIT };
    PGresult    *res;

    res = db_exec_params(n->db, "liauto.plan_emails", NOTIFY_PLAN_SQL, 1,
                         NULL, values);
    if (res != NULL && strcmp(PQgetvalue(res, 0, 0), "0") != 0) {
        log_info("queued %s email(s): reply batches closed and weekly "
                 "reports due", PQgetvalue(res, 0, 0));
    }
    PQclear(res);
}


static void
notify_claim(notify_t *n, const notify_kind_t *kind)
{
    int             row;
    char            limit[16], lease[16];
    const char     *values[3];
    PGresult       *res;
    notify_item_t  *it;

    if (n->in_flight >= NOTIFY_MAX_IN_FLIGHT) {
        return;
    }

    snprintf(limit, sizeof(limit), "%u", NOTIFY_MAX_IN_FLIGHT - n->in_flight);
    snprintf(lease, sizeof(lease), "%d", n->cf->lease_seconds);
    values[0] = n->cf->worker_id;
    values[1] = limit;
    values[2] = lease;

    res = db_exec_params(n->db, kind->claim_fn, kind->claim_sql, 3, NULL,
                         values);
    if (res == NULL) {
        return;
    }

    for (row = 0; row < PQntuples(res); row++) {
        it = item_from_row(n, kind, res, row);
        if (it == NULL || kind->start(it, res, row) != 0) {
            /* the claim's lease expires and it is sent then */
            log_error("%s %s not sent now: out of memory or unreadable; "
                      "retried when its lease expires", kind->what,
                      PQgetvalue(res, row, COL_ID));
            if (it != NULL) {
                item_free(it);
            }
        }
    }

    PQclear(res);
}


static void
notify_on_timer(loop_timer_t *timer, void *data)
{
    notify_t  *n = data;
    uint64_t   now = loop_now_ms();

    (void) timer;

    if (n->resend != NULL) {
        if (now >= n->next_plan_ms) {
            n->next_plan_ms = now + NOTIFY_PLAN_EVERY_MS;
            notify_plan(n);
        }
        notify_claim(n, &email_kind);
    }

    notify_claim(n, &webhook_kind);
}


notify_t *
notify_create(loop_t *loop, db_t *db, const liauto_config_t *cf)
{
    char               err[256];
    notify_t          *n;
    resend_options_t   o;

    n = calloc(1, sizeof(notify_t));
    if (n == NULL) {
        return NULL;
    }

    n->webhook = webhook_create(loop, (long) cf->webhook_timeout * 1000,
                                cf->webhook_allow_nets, err, sizeof(err));
    if (n->webhook == NULL) {
        log_error("outbound webhooks: LIAUTO_WEBHOOK_ALLOW_NETS: %s", err);
        free(n);
        return NULL;
    }

    if (cf->resend_api_key != NULL) {
        o.base_url = cf->resend_base_url;
        o.api_key = cf->resend_api_key;
        o.timeout_ms = (long) cf->resend_timeout * 1000;
        n->resend = resend_create(loop, &o);
        if (n->resend == NULL) {
            notify_destroy(n);
            return NULL;
        }
        log_info("emails on: through Resend at %s, from %s",
                 cf->resend_base_url, cf->notify_from);

    } else {
        log_warn("RESEND_API_KEY not set: emails are off (reply "
                 "notifications and weekly reports wait in liauto.emails)");
    }

    n->loop = loop;
    n->db = db;
    n->cf = cf;
    loop_timer_start(loop, &n->tick, (uint64_t) cf->engine_tick_ms,
                     (uint64_t) cf->engine_tick_ms, notify_on_timer, n);
    log_info("outbound webhooks on: every %d ms, %d s per delivery",
             cf->engine_tick_ms, cf->webhook_timeout);
    return n;
}


/* Runs from the loop, not from inside a callback of the db or client. */
static void
notify_kick(notify_t *n)
{
    loop_timer_start(n->loop, &n->wake, 0, 0, notify_on_timer, n);
}


void
notify_wake(notify_t *n)
{
    n->next_plan_ms = 0;
    notify_kick(n);
}


void
notify_destroy(notify_t *n)
{
    loop_timer_stop(&n->tick);
    loop_timer_stop(&n->wake);

    /* the requests in flight go first: they point into the items */
    if (n->resend != NULL) {
        resend_destroy(n->resend);
    }
    webhook_destroy(n->webhook);

    while (n->items != NULL) {
        item_free(n->items);
    }

    free(n);
}
