#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "backoff.h"
#include "log.h"
#include "notify.h"
#include "resend.h"

#define NOTIFY_PLAN_EVERY_MS   1000
#define NOTIFY_PLAN_LIMIT      "100"
#define NOTIFY_MAX_IN_FLIGHT   8

/* The outbox's retries: 30 s, 1 min, 2 min, ... up to an hour. */
#define NOTIFY_RETRY_BASE_MS   30000
#define NOTIFY_RETRY_CAP_MS    3600000

#define NOTIFY_PLAN_SQL   "SELECT liauto.plan_emails($1::integer)"

enum {
    ECOL_ID = 0,
    ECOL_TOKEN,
    ECOL_KEY,
    ECOL_RECIPIENTS,
    ECOL_SUBJECT,
    ECOL_HTML,
    ECOL_TEXT,
    ECOL_ATTEMPTS
};

#define NOTIFY_CLAIM_SQL                                                    \
    "SELECT id, claim_token, idempotency_key, recipients, subject, html, " \
    "text, attempts FROM liauto.claim_emails($1, $2::integer, "            \
    "make_interval(secs => $3::integer))"

/* $6: seconds from the engine's clock until the retry, or NULL. */
#define NOTIFY_COMPLETE_SQL                                                 \
    "SELECT liauto.complete_email($1::uuid, $2::uuid, $3, $4, $5, "        \
    "$6::double precision)"

typedef struct notify_email_s  notify_email_t;

struct notify_email_s {
    notify_t        *notify;
    notify_email_t  *prev;
    notify_email_t  *next;
    char             id[40];
    char             token[40];
    unsigned         attempts;
    char            *key;
    json_t          *to;
};

struct notify_s {
    loop_t                 *loop;
    db_t                   *db;
    const liauto_config_t  *cf;
    resend_t               *resend;
    loop_timer_t            tick;
    loop_timer_t            wake;
    uint64_t                next_plan_ms;
    unsigned                in_flight;
    notify_email_t         *emails;
};

static void notify_kick(notify_t *n);


static void
email_free(notify_email_t *m)
{
    notify_t  *n = m->notify;

    if (m->prev != NULL) {
        m->prev->next = m->next;
    } else {
        n->emails = m->next;
    }
    if (m->next != NULL) {
        m->next->prev = m->prev;
    }

    n->in_flight--;
    json_decref(m->to);
    free(m->key);
    free(m);
}


static notify_email_t *
email_from_row(notify_t *n, PGresult *res, int row)
{
    notify_email_t  *m;

    m = calloc(1, sizeof(notify_email_t));
    if (m == NULL) {
        return NULL;
    }

    m->notify = n;
    m->next = n->emails;
    if (n->emails != NULL) {
        n->emails->prev = m;
    }
    n->emails = m;
    n->in_flight++;

    snprintf(m->id, sizeof(m->id), "%s", PQgetvalue(res, row, ECOL_ID));
    snprintf(m->token, sizeof(m->token), "%s",
             PQgetvalue(res, row, ECOL_TOKEN));
    m->attempts = (unsigned) atoi(PQgetvalue(res, row, ECOL_ATTEMPTS));
    m->key = strdup(PQgetvalue(res, row, ECOL_KEY));
    m->to = json_loads(PQgetvalue(res, row, ECOL_RECIPIENTS), 0, NULL);

    if (m->key == NULL || !json_is_array(m->to)) {
        email_free(m);
        return NULL;
    }

    return m;
}


/* Seconds until the retry: Resend's Retry-After, else our backoff. */
static double
retry_in_s(const notify_email_t *m, const resend_verdict_t *v)
{
    if (v->retry_after_ms >= 0) {
        return v->retry_after_ms / 1000.0;
    }

    return backoff_delay_ms(m->attempts > 0 ? m->attempts - 1 : 0,
                            NOTIFY_RETRY_BASE_MS, NOTIFY_RETRY_CAP_MS,
                            backoff_random()) / 1000.0;
}


static void
email_on_sent(const resend_verdict_t *v, void *data)
{
    char             retry[32];
    const char      *values[6], *status;
    notify_email_t  *m = data;
    notify_t        *n = m->notify;
    PGresult        *res;

    values[0] = m->id;
    values[1] = m->token;
    values[2] = v->outcome == RESEND_SENT ? "sent"
                : v->outcome == RESEND_RETRY ? "retry" : "failed";
    values[3] = v->outcome == RESEND_SENT ? v->id : NULL;
    values[4] = v->outcome == RESEND_SENT ? NULL : v->reason;
    values[5] = NULL;

    if (v->outcome == RESEND_RETRY) {
        snprintf(retry, sizeof(retry), "%.3f", retry_in_s(m, v));
        values[5] = retry;
    }

    res = db_exec_params(n->db, "liauto.complete_email", NOTIFY_COMPLETE_SQL,
                         6, NULL, values);
    status = res == NULL ? "(not recorded: the lease will expire and the "
                           "email be sent again under the same key)"
             : PQgetisnull(res, 0, 0) ? "(not recorded: the claim was "
                                        "taken over)"
             : PQgetvalue(res, 0, 0);

    if (v->outcome == RESEND_SENT) {
        log_info("email %s (%s) sent: Resend id %s -> %s", m->id, m->key,
                 v->id, status);
    } else {
        log_warn("email %s (%s) not sent (attempt %u): %s%s%s -> %s",
                 m->id, m->key, m->attempts, v->reason,
                 values[5] != NULL ? "; retry in s " : "",
                 values[5] != NULL ? values[5] : "", status);
    }

    PQclear(res);
    email_free(m);
    notify_kick(n);
}


static void
email_send(notify_email_t *m, PGresult *res, int row)
{
    notify_t        *n = m->notify;
    resend_email_t   email;

    email.from = n->cf->notify_from;
    email.to = m->to;
    email.subject = PQgetvalue(res, row, ECOL_SUBJECT);
    email.html = PQgetvalue(res, row, ECOL_HTML);
    email.text = PQgetvalue(res, row, ECOL_TEXT);
    email.idempotency_key = m->key;

    if (resend_send(n->resend, &email, email_on_sent, m) != 0) {
        log_error("email %s (%s) not sent: out of memory (its lease will "
                  "expire and it be claimed again)", m->id, m->key);
        email_free(m);
    }
}


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
notify_claim(notify_t *n)
{
    int              row;
    char             limit[16], lease[16];
    const char      *values[3];
    PGresult        *res;
    notify_email_t  *m;

    if (n->in_flight >= NOTIFY_MAX_IN_FLIGHT) {
        return;
    }

    snprintf(limit, sizeof(limit), "%u", NOTIFY_MAX_IN_FLIGHT - n->in_flight);
    snprintf(lease, sizeof(lease), "%d", n->cf->lease_seconds);
    values[0] = n->cf->worker_id;
    values[1] = limit;
    values[2] = lease;

    res = db_exec_params(n->db, "liauto.claim_emails", NOTIFY_CLAIM_SQL, 3,
                         NULL, values);
    if (res == NULL) {
        return;
    }

    for (row = 0; row < PQntuples(res); row++) {
        m = email_from_row(n, res, row);
        if (m == NULL) {
            log_error("email %s left to its lease: out of memory or "
                      "unreadable recipients", PQgetvalue(res, row, ECOL_ID));
            continue;
        }
        email_send(m, res, row);
    }

    PQclear(res);
}


static void
notify_on_timer(loop_timer_t *timer, void *data)
{
    notify_t  *n = data;
    uint64_t   now = loop_now_ms();

    (void) timer;

    if (now >= n->next_plan_ms) {
        n->next_plan_ms = now + NOTIFY_PLAN_EVERY_MS;
        notify_plan(n);
    }

    notify_claim(n);
}


notify_t *
notify_create(loop_t *loop, db_t *db, const liauto_config_t *cf)
{
    notify_t          *n;
    resend_options_t   o;

    if (cf->resend_api_key == NULL) {
        log_warn("RESEND_API_KEY not set: notifications are off (reply "
                 "emails and weekly reports wait in liauto.emails)");
        return NULL;
    }

    n = calloc(1, sizeof(notify_t));
    if (n == NULL) {
        return NULL;
    }

    o.base_url = cf->resend_base_url;
    o.api_key = cf->resend_api_key;
    o.timeout_ms = (long) cf->resend_timeout * 1000;

    n->resend = resend_create(loop, &o);
    if (n->resend == NULL) {
        log_error("notifications are off: out of memory");
        free(n);
        return NULL;
    }

    n->loop = loop;
    n->db = db;
    n->cf = cf;
    loop_timer_start(loop, &n->tick, (uint64_t) cf->engine_tick_ms,
                     (uint64_t) cf->engine_tick_ms, notify_on_timer, n);
    log_info("notifications on: every %d ms, Resend at %s, from %s",
             cf->engine_tick_ms, cf->resend_base_url, cf->notify_from);
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
    resend_destroy(n->resend);

    while (n->emails != NULL) {
        email_free(n->emails);
    }

    free(n);
}
