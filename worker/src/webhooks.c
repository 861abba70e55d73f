#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log.h"
#include "unipile.h"
#include "webhooks.h"

#define WEBHOOKS_CHANNEL          "liauto_webhooks"
#define WEBHOOKS_SWEEP_MS         2000
#define WEBHOOKS_SCHEDULE_EVERY   5000
#define WEBHOOKS_BATCH            100
#define WEBHOOKS_MAX_LOOKUPS      8
#define WEBHOOKS_MAX_JOBS         2
#define WEBHOOKS_JOB_LEASE_S      "300"
/* profile views are a scarce LinkedIn budget (~100 a day per account) */
#define WEBHOOKS_JOB_MAX_LOOKUPS  25

/* Reads only: the client may retry them itself. */
#define WEBHOOKS_HTTP_ATTEMPTS    3
#define WEBHOOKS_HTTP_BACKOFF_MS  500
#define WEBHOOKS_HTTP_BACKOFF_CAP 5000

#define WEBHOOKS_PENDING_SQL                                                \
    "SELECT webhooks.pending_events($1::integer)"

#define WEBHOOKS_PROCESS_SQL                                                \
    "SELECT webhooks.process_event($1::uuid, $2::jsonb)"

#define WEBHOOKS_SCHEDULE_SQL                                               \
    "SELECT webhooks.schedule_jobs($1::integer, $2::integer)"

#define WEBHOOKS_CLAIM_SQL                                                  \
    "SELECT id, job, unipile_account_id, params"                            \
    " FROM webhooks.claim_job($1, $2::integer)"

#define WEBHOOKS_FINISH_SQL                                                 \
    "SELECT webhooks.finish_job($1::uuid, $2)"

#define WEBHOOKS_POLL_PAGE_SQL                                              \
    "SELECT webhooks.poll_messages_page($1::uuid, $2::jsonb)"

#define WEBHOOKS_CHATS_PAGE_SQL                                             \
    "SELECT webhooks.backfill_conversations_page($1::uuid, $2::jsonb)"

#define WEBHOOKS_RELATION_SQL                                               \
    "SELECT webhooks.sync_relation($1::uuid, $2::jsonb, $3::jsonb)"

#define WEBHOOKS_HOOKS_PAGE_SQL                                             \
    "SELECT webhooks.store_webhooks_page($1::uuid, $2::jsonb)"

#define WEBHOOKS_HOOKS_PLAN_SQL                                             \
    "SELECT webhooks.webhook_plan($1::uuid, $2)"

#define WEBHOOKS_HOOK_CHANGED_SQL                                           \
    "SELECT webhooks.webhook_changed($1::uuid, $2, $3::jsonb)"

typedef enum {
    TASK_LOOKUP = 0,           /* a delivery waiting for a profile */
    TASK_JOB                   /* a fallback run */
} task_kind_t;

typedef enum {
    JOB_POLL_MESSAGES = 0,
    JOB_SYNC_RELATIONS,
    JOB_BACKFILL_CONVERSATIONS,
    JOB_MANAGE_WEBHOOKS
} job_kind_t;

/* What a manage_webhooks run does (params.action). */
typedef enum {
    HOOKS_LIST = 0,            /* refresh liauto.unipile_webhooks */
    HOOKS_ENSURE,              /* list, then delete and create (plan) */
    HOOKS_DELETE               /* one webhook, params.unipile_id */
} hooks_action_t;

typedef struct task_s  task_t;

struct task_s {
    webhooks_t   *w;
    task_t       *prev;
    task_t       *next;
    task_kind_t   kind;
    char          id[40];      /* the delivery's or the run's */
    char         *account_id;  /* Unipile's */
    char         *identifier;  /* TASK_LOOKUP: who to look up */

    /* TASK_JOB */
    job_kind_t    job;
    char         *since;
    char         *cursor;      /* next page; NULL: the first, or done */
    unsigned      pages;
    unsigned      max_pages;   /* 0: all */
    json_t       *pending;     /* relations waiting for their profile */
    size_t        next_pending;
    unsigned      lookups;

    /* JOB_MANAGE_WEBHOOKS */
    hooks_action_t  action;
    char           *unipile_id;    /* HOOKS_DELETE */
    json_t         *plan;          /* HOOKS_ENSURE: {delete, create} */
    size_t          next_op;       /* deletes first, then creates */
};

struct webhooks_s {
    loop_t                 *loop;
    db_t                   *db;
    const liauto_config_t  *cf;
    unipile_t              *unipile;      /* NULL: no lookups, no jobs */
    loop_timer_t            tick;
    loop_timer_t            wake;
    uint64_t                next_schedule_ms;
    unsigned                lookups;
    unsigned                jobs;
    task_t                 *tasks;
};

static void job_continue(task_t *t);
static void job_next_lookup(task_t *t);
static void hooks_next_op(task_t *t);
static void webhooks_kick(webhooks_t *w);


/* ---------------------------------------------------------------- tasks */

static task_t *
task_create(webhooks_t *w, task_kind_t kind, const char *id,
    const char *account_id)
{
    task_t  *t;

    t = calloc(1, sizeof(task_t));
    if (t == NULL) {
        return NULL;
    }

    t->account_id = strdup(account_id);
    if (t->account_id == NULL) {
        free(t);
        return NULL;
    }

    t->w = w;
    t->kind = kind;
    snprintf(t->id, sizeof(t->id), "%s", id);
    t->next = w->tasks;
    if (w->tasks != NULL) {
        w->tasks->prev = t;
    }
    w->tasks = t;

    if (kind == TASK_LOOKUP) {
        w->lookups++;
    } else {
        w->jobs++;
    }
    return t;
}


static void
task_free(task_t *t)
{
    webhooks_t  *w = t->w;

    if (t->prev != NULL) {
        t->prev->next = t->next;
    } else {
        w->tasks = t->next;
    }
    if (t->next != NULL) {
        t->next->prev = t->prev;
    }

    if (t->kind == TASK_LOOKUP) {
        w->lookups--;
    } else {
        w->jobs--;
    }

    free(t->account_id);
    free(t->identifier);
    free(t->since);
    free(t->cursor);
    json_decref(t->pending);
    free(t->unipile_id);
    json_decref(t->plan);
    free(t);
}


/*
 * What a profile lookup says, as the jsonb SQL expects: the UserProfile,
 * {"not_found": true} on a 404, or NULL when it did not answer (the
 * caller leaves the row or relation for a later try).
 */
static char *
lookup_json(const unipile_result_t *res, const char *who)
{
    if (res->verdict.outcome == UNIPILE_SENT && res->body != NULL) {
        return json_dumps(res->body, JSON_COMPACT);
    }

    if (res->verdict.status == 404) {
        return strdup("{\"not_found\": true}");
    }

    log_warn("profile lookup of %s failed (%s: %s); it is retried later",
             who, res->verdict.reason, res->verdict.detail);
    return NULL;
}


/* ---------------------------------------------------------- deliveries */

static void event_process(webhooks_t *w, const char *id, const char *lookup);


static void
event_on_profile(const unipile_result_t *res, void *data)
{
    task_t  *t = data;
    char    *lookup;

    lookup = lookup_json(res, t->identifier);
    if (lookup != NULL) {
        event_process(t->w, t->id, lookup);
        free(lookup);
    }
    task_free(t);
}


static void
event_lookup(webhooks_t *w, const char *id, json_t *result)
{
    const char  *account, *identifier;
    task_t      *t;

    account = json_string_value(json_object_get(result, "account_id"));
    identifier = json_string_value(json_object_get(result, "identifier"));

    if (w->unipile == NULL || account == NULL || identifier == NULL
        || w->lookups >= WEBHOOKS_MAX_LOOKUPS)
    {
        /* the row comes back after its pause; its last try goes without */
        log_info("webhook %s needs a profile lookup of %s, not possible "
                 "now (Unipile off or busy): retried later", id,
                 identifier != NULL ? identifier : "?");
        return;
    }

    t = task_create(w, TASK_LOOKUP, id, account);
    if (t == NULL || (t->identifier = strdup(identifier)) == NULL) {
        log_error("out of memory: webhook %s waits for its retry", id);
        if (t != NULL) {
            task_free(t);
        }
        return;
    }

    log_info("webhook %s: sender unknown, looking up profile %s", id,
             identifier);
    if (unipile_get_profile(w->unipile, account, identifier,
                            event_on_profile, t) != 0)
    {
        log_error("out of memory: webhook %s waits for its retry", id);
        task_free(t);
    }
}


static void
event_log(const char *id, const char *outcome, json_t *result)
{
    char  *detail;

    detail = json_dumps(result, JSON_COMPACT);

    if (strcmp(outcome, "processed") == 0
        || strcmp(outcome, "ignored") == 0
        || strcmp(outcome, "unmatched") == 0)
    {
        /* unknown events are stored and skipped, with this line */
        log_info("webhook %s %s: %s", id, outcome,
                 detail != NULL ? detail : "");

    } else if (strcmp(outcome, "error") == 0
               || strcmp(outcome, "failed") == 0)
    {
        log_warn("webhook %s %s: %s", id,
                 strcmp(outcome, "failed") == 0
                 ? "given up after its last attempt"
                 : "could not be processed, retried later",
                 detail != NULL ? detail : "");

    } else {
        log_debug("webhook %s %s", id, outcome);
    }

    free(detail);
}


static void
event_process(webhooks_t *w, const char *id, const char *lookup)
{
    const char   *values[2] = { id, lookup };
    const char   *outcome;
    json_t       *result;
    json_error_t  jerr;
    PGresult     *res;

    res = db_exec_params(w->db, "webhooks.process_event",
                         WEBHOOKS_PROCESS_SQL, 2, NULL, values);
    if (res == NULL) {
        return;
    }

    result = json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
    PQclear(res);
    outcome = json_string_value(json_object_get(result, "outcome"));
    if (outcome == NULL) {
        log_error("webhook %s: unreadable outcome", id);
        json_decref(result);
        return;
    }

    if (strcmp(outcome, "needs_lookup") == 0) {
        event_lookup(w, id, result);
    } else {
        event_log(id, outcome, result);
    }
    json_decref(result);
}


/* Returns how many rows were due. */
static int
events_sweep(webhooks_t *w)
{
    char         limit[16];
    const char  *values[1] = { limit };
    int          row, n;
    PGresult    *res;

    snprintf(limit, sizeof(limit), "%d", WEBHOOKS_BATCH);
    res = db_exec_params(w->db, "webhooks.pending_events",
                         WEBHOOKS_PENDING_SQL, 1, NULL, values);
    if (res == NULL) {
        return 0;
    }

    n = PQntuples(res);
    for (row = 0; row < n; row++) {
        event_process(w, PQgetvalue(res, row, 0), NULL);
    }
    PQclear(res);
    return n;
}


/* ---------------------------------------------------------------- jobs */

static const char *
job_name(job_kind_t job)
{
    switch (job) {
    case JOB_POLL_MESSAGES:
        return "poll_messages";
    case JOB_SYNC_RELATIONS:
        return "sync_relations";
    case JOB_BACKFILL_CONVERSATIONS:
        return "backfill_conversations";
    default:
        return "manage_webhooks";
    }
}


static void
job_finish(task_t *t, const char *error)
{
    const char  *values[2] = { t->id, error };
    webhooks_t  *w = t->w;
    PGresult    *res;

    res = db_exec_params(w->db, "webhooks.finish_job", WEBHOOKS_FINISH_SQL,
                         2, NULL, values);
    PQclear(res);

    if (error != NULL) {
        log_warn("%s run %s%s%s failed: %s", job_name(t->job), t->id,
                 t->account_id[0] != '\0' ? " for account " : "",
                 t->account_id, error);
    } else {
        log_info("%s run %s%s%s done (%u page(s))", job_name(t->job),
                 t->id, t->account_id[0] != '\0' ? " for account " : "",
                 t->account_id, t->pages);
    }

    task_free(t);
    webhooks_kick(w);
}


/* One page of a list to its SQL function; -1 when the database failed. */
static int
job_store_page(task_t *t, const char *sql, const char *what, json_t *items)
{
    char        *json;
    const char  *values[2];
    PGresult    *res;

    json = json_dumps(items, JSON_COMPACT);
    if (json == NULL) {
        return -1;
    }

    values[0] = t->id;
    values[1] = json;
    res = db_exec_params(t->w->db, what, sql, 2, NULL, values);
    free(json);
    if (res == NULL) {
        return -1;
    }
    PQclear(res);
    return 0;
}


/* A relation to SQL: 1 when it waits for a profile lookup. */
static int
job_relation(task_t *t, json_t *relation, const char *lookup)
{
    char         *json;
    const char   *values[3];
    const char   *outcome;
    json_t       *result;
    json_error_t  jerr;
    PGresult     *res;
    int           rc;

    json = json_dumps(relation, JSON_COMPACT);
    if (json == NULL) {
        return -1;
    }

    values[0] = t->id;
    values[1] = json;
    values[2] = lookup;
    res = db_exec_params(t->w->db, "webhooks.sync_relation",
                         WEBHOOKS_RELATION_SQL, 3, NULL, values);
    free(json);
    if (res == NULL) {
        return -1;
    }

    result = json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
    PQclear(res);
    outcome = json_string_value(json_object_get(result, "outcome"));
    rc = outcome != NULL && strcmp(outcome, "needs_lookup") == 0;
    json_decref(result);
    return rc;
}


static int
job_relations_page(task_t *t, json_t *items)
{
    size_t   i;
    json_t  *item;
    int      rc;

    json_array_foreach(items, i, item) {
        rc = job_relation(t, item, NULL);
        if (rc < 0) {
            return -1;
        }
        if (rc == 1) {
            json_array_append(t->pending, item);
        }
    }
    return 0;
}


static void
job_on_page(const unipile_result_t *res, void *data)
{
    task_t  *t = data;
    char     error[384];
    int      rc;

    if (res->verdict.outcome != UNIPILE_SENT || res->items == NULL) {
        snprintf(error, sizeof(error), "page %u: %s (%s)", t->pages + 1,
                 res->verdict.reason, res->verdict.detail);
        job_finish(t, error);
        return;
    }

    t->pages++;
    free(t->cursor);
    t->cursor = res->cursor != NULL ? strdup(res->cursor) : NULL;

    switch (t->job) {
    case JOB_POLL_MESSAGES:
        rc = job_store_page(t, WEBHOOKS_POLL_PAGE_SQL,
                            "webhooks.poll_messages_page", res->items);
        break;
    case JOB_BACKFILL_CONVERSATIONS:
        rc = job_store_page(t, WEBHOOKS_CHATS_PAGE_SQL,
                            "webhooks.backfill_conversations_page",
                            res->items);
        break;
    case JOB_MANAGE_WEBHOOKS:
        rc = job_store_page(t, WEBHOOKS_HOOKS_PAGE_SQL,
                            "webhooks.store_webhooks_page", res->items);
        break;
    default:
        rc = job_relations_page(t, res->items);
        break;
    }

    if (rc != 0) {
        job_finish(t, "the database did not take the page");
        return;
    }

    job_next_lookup(t);
}


static void
job_on_profile(const unipile_result_t *res, void *data)
{
    task_t  *t = data;
    json_t  *relation;
    char    *lookup;

    relation = json_array_get(t->pending, t->next_pending++);
    lookup = lookup_json(res, json_string_value(
                                  json_object_get(relation, "member_id")));
    if (lookup != NULL && job_relation(t, relation, lookup) < 0) {
        free(lookup);
        job_finish(t, "the database did not take a relation");
        return;
    }
    free(lookup);
    job_next_lookup(t);
}


/* Relations of the page without a public identifier, one at a time. */
static void
job_next_lookup(task_t *t)
{
    json_t      *relation;
    const char  *member;

    while (t->next_pending < json_array_size(t->pending)) {
        if (t->lookups >= WEBHOOKS_JOB_MAX_LOOKUPS) {
            log_warn("%s run %s: %u profile lookups made, the other %zu "
                     "relation(s) wait for the next run", job_name(t->job),
                     t->id, t->lookups,
                     json_array_size(t->pending) - t->next_pending);
            break;
        }

        relation = json_array_get(t->pending, t->next_pending);
        member = json_string_value(json_object_get(relation, "member_id"));
        if (member == NULL) {
            t->next_pending++;
            continue;
        }

        t->lookups++;
        if (unipile_get_profile(t->w->unipile, t->account_id, member,
                                job_on_profile, t) != 0)
        {
            job_finish(t, "out of memory");
        }
        return;
    }

    json_array_clear(t->pending);
    t->next_pending = 0;
    job_continue(t);
}


/* ---------------------------------------------------- webhook management */

static void
hooks_changed(task_t *t, const char *unipile_id, const char *created)
{
    const char  *values[3] = { t->id, unipile_id, created };
    PGresult    *res;

    res = db_exec_params(t->w->db, "webhooks.webhook_changed",
                         WEBHOOKS_HOOK_CHANGED_SQL, 3, NULL, values);
    PQclear(res);
}


static void
hooks_on_deleted(const unipile_result_t *res, void *data)
{
    task_t  *t = data;
    char     error[384];
    json_t  *id;

    id = t->plan != NULL
         ? json_array_get(json_object_get(t->plan, "delete"), t->next_op)
         : NULL;

    /* a 404 is a webhook already gone: what we wanted */
    if (res->verdict.outcome != UNIPILE_SENT && res->verdict.status != 404) {
        snprintf(error, sizeof(error), "deleting a webhook: %s (%s)",
                 res->verdict.reason, res->verdict.detail);
        job_finish(t, error);
        return;
    }

    hooks_changed(t, id != NULL ? json_string_value(id) : t->unipile_id,
                  NULL);
    log_info("%s run %s: webhook %s deleted", job_name(t->job), t->id,
             id != NULL ? json_string_value(id) : t->unipile_id);

    if (t->plan == NULL) {
        job_finish(t, NULL);
        return;
    }
    t->next_op++;
    hooks_next_op(t);
}


static void
hooks_on_created(const unipile_result_t *res, void *data)
{
    task_t      *t = data;
    char         error[384], *created;
    size_t       ndelete;
    json_t      *body;
    const char  *id;

    ndelete = json_array_size(json_object_get(t->plan, "delete"));
    body = json_array_get(json_object_get(t->plan, "create"),
                          t->next_op - ndelete);
    id = json_string_value(json_object_get(res->body, "webhook_id"));

    if (res->verdict.outcome != UNIPILE_SENT || id == NULL) {
        snprintf(error, sizeof(error), "registering a webhook: %s (%s)",
                 res->verdict.reason, res->verdict.detail);
        job_finish(t, error);
        return;
    }

    created = json_dumps(body, JSON_COMPACT);
    hooks_changed(t, id, created);
    log_info("%s run %s: webhook %s registered for %s", job_name(t->job),
             t->id, id, json_string_value(json_object_get(body, "source")));
    free(created);

    t->next_op++;
    hooks_next_op(t);
}


/* The body of POST /webhooks: the plan's, plus our secret header. */
static char *
hooks_create_body(task_t *t, json_t *create)
{
    json_t  *body;
    char    *json;

    body = json_deep_copy(create);
    if (body == NULL) {
        return NULL;
    }

    json_object_set_new(body, "headers", json_pack(
        "[{s:s, s:s}, {s:s, s:s}]",
        "key", "Unipile-Auth", "value", t->w->cf->webhook_secret,
        "key", "Content-Type", "value", "application/json"));
    json = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    return json;
}


/* The plan's deletes, then its creates, one at a time. */
static void
hooks_next_op(task_t *t)
{
    size_t       ndelete, ncreate;
    char        *body;
    unipile_t   *u = t->w->unipile;
    int          rc;

    ndelete = json_array_size(json_object_get(t->plan, "delete"));
    ncreate = json_array_size(json_object_get(t->plan, "create"));

    if (t->next_op < ndelete) {
        rc = unipile_delete_webhook(u, json_string_value(json_array_get(
                 json_object_get(t->plan, "delete"), t->next_op)),
                 hooks_on_deleted, t);

    } else if (t->next_op < ndelete + ncreate) {
        body = hooks_create_body(t, json_array_get(
                   json_object_get(t->plan, "create"), t->next_op - ndelete));
        rc = body != NULL
             ? unipile_create_webhook(u, body, hooks_on_created, t) : -1;
        free(body);

    } else {
        job_finish(t, NULL);
        return;
    }

    if (rc != 0) {
        job_finish(t, "out of memory");
    }
}


/* Every webhook is listed: what an ensure run must change. */
static void
hooks_plan(task_t *t)
{
    const char    *values[2] = { t->id, t->w->cf->webhook_url };
    json_error_t   jerr;
    PGresult      *res;

    if (t->w->cf->webhook_url == NULL || t->w->cf->webhook_secret == NULL) {
        job_finish(t, "LIAUTO_WEBHOOK_URL and LIAUTO_WEBHOOK_SECRET are "
                      "needed to register webhooks");
        return;
    }

    res = db_exec_params(t->w->db, "webhooks.webhook_plan",
                         WEBHOOKS_HOOKS_PLAN_SQL, 2, NULL, values);
    if (res == NULL) {
        job_finish(t, "the database did not plan the webhooks");
        return;
    }
    t->plan = json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
    PQclear(res);
    if (t->plan == NULL) {
        job_finish(t, "unreadable webhook plan");
        return;
    }

    log_info("%s run %s: %zu misconfigured webhook(s) to delete, %zu "
             "source(s) to register", job_name(t->job), t->id,
             json_array_size(json_object_get(t->plan, "delete")),
             json_array_size(json_object_get(t->plan, "create")));
    t->next_op = 0;
    hooks_next_op(t);
}


/* ---------------------------------------------------------------- paging */

static void
job_continue(task_t *t)
{
    unipile_t  *u = t->w->unipile;
    int         rc;

    if (t->job == JOB_MANAGE_WEBHOOKS && t->action == HOOKS_DELETE) {
        if (unipile_delete_webhook(u, t->unipile_id, hooks_on_deleted, t)
            != 0)
        {
            job_finish(t, "out of memory");
        }
        return;
    }

    if (t->pages > 0
        && (t->cursor == NULL
            || (t->max_pages != 0 && t->pages >= t->max_pages)))
    {
        if (t->job == JOB_MANAGE_WEBHOOKS && t->action == HOOKS_ENSURE) {
            hooks_plan(t);
        } else {
            job_finish(t, NULL);
        }
        return;
    }

    switch (t->job) {
    case JOB_POLL_MESSAGES:
        rc = unipile_list_messages(u, t->account_id, t->since, t->cursor,
                                   job_on_page, t);
        break;
    case JOB_SYNC_RELATIONS:
        rc = unipile_list_relations(u, t->account_id, t->cursor,
                                    job_on_page, t);
        break;
    case JOB_MANAGE_WEBHOOKS:
        rc = unipile_list_webhooks(u, t->cursor, job_on_page, t);
        break;
    default:
        rc = unipile_list_chats(u, t->account_id, t->cursor, job_on_page, t);
        break;
    }

    if (rc != 0) {
        job_finish(t, "out of memory");
    }
}


static int
job_kind(const char *name, job_kind_t *job)
{
    if (strcmp(name, "poll_messages") == 0) {
        *job = JOB_POLL_MESSAGES;
    } else if (strcmp(name, "sync_relations") == 0) {
        *job = JOB_SYNC_RELATIONS;
    } else if (strcmp(name, "backfill_conversations") == 0) {
        *job = JOB_BACKFILL_CONVERSATIONS;
    } else if (strcmp(name, "manage_webhooks") == 0) {
        *job = JOB_MANAGE_WEBHOOKS;
    } else {
        return -1;
    }
    return 0;
}


/* A manage_webhooks run's action and webhook from its params. */
static int
hooks_params(task_t *t, json_t *params)
{
    const char  *action, *id;

    action = json_string_value(json_object_get(params, "action"));
    id = json_string_value(json_object_get(params, "unipile_id"));

    if (action == NULL || strcmp(action, "list") == 0) {
        t->action = HOOKS_LIST;
    } else if (strcmp(action, "ensure") == 0) {
        t->action = HOOKS_ENSURE;
    } else if (strcmp(action, "delete") == 0 && id != NULL) {
        t->action = HOOKS_DELETE;
        t->unipile_id = strdup(id);
        return t->unipile_id != NULL ? 0 : -1;
    } else {
        return -1;
    }
    return 0;
}


static void
job_start(webhooks_t *w, PGresult *res)
{
    const char    *since;
    json_t        *params;
    json_error_t   jerr;
    task_t        *t;
    int            rc;

    /* webhooks are workspace-wide: no account */
    t = task_create(w, TASK_JOB, PQgetvalue(res, 0, 0),
                    PQgetvalue(res, 0, 2));
    if (t == NULL) {
        log_error("out of memory: run %s is retried when its lease ends",
                  PQgetvalue(res, 0, 0));
        return;
    }

    params = json_loads(PQgetvalue(res, 0, 3), 0, &jerr);
    since = json_string_value(json_object_get(params, "since"));
    t->max_pages = (unsigned) json_integer_value(
                                  json_object_get(params, "max_pages"));
    t->since = since != NULL ? strdup(since) : NULL;
    t->pending = json_array();

    rc = job_kind(PQgetvalue(res, 0, 1), &t->job);
    if (rc == 0 && t->job == JOB_MANAGE_WEBHOOKS) {
        rc = hooks_params(t, params);
    }
    json_decref(params);

    if (rc != 0 || t->pending == NULL || (since != NULL && t->since == NULL))
    {
        job_finish(t, "unknown job or params, or out of memory");
        return;
    }

    log_info("%s run %s%s%s started%s%s", job_name(t->job), t->id,
             t->account_id[0] != '\0' ? " for account " : "",
             t->account_id, t->since != NULL ? ", since " : "",
             t->since != NULL ? t->since : "");
    job_continue(t);
}


static void
jobs_run(webhooks_t *w)
{
    char         interval[16], lookback[16];
    const char  *values[2];
    uint64_t     now = loop_now_ms(), every;
    PGresult    *res;

    if (w->unipile == NULL) {
        return;
    }

    if (now >= w->next_schedule_ms) {
        /* a poll interval shorter than our pace still gets its polls */
        every = (uint64_t) w->cf->poll_interval * 1000;
        if (every > WEBHOOKS_SCHEDULE_EVERY) {
            every = WEBHOOKS_SCHEDULE_EVERY;
        }
        w->next_schedule_ms = now + every;
        snprintf(interval, sizeof(interval), "%d", w->cf->poll_interval);
        snprintf(lookback, sizeof(lookback), "%d", w->cf->poll_lookback);
        values[0] = interval;
        values[1] = lookback;
        res = db_exec_params(w->db, "webhooks.schedule_jobs",
                             WEBHOOKS_SCHEDULE_SQL, 2, NULL, values);
        PQclear(res);
    }

    values[0] = w->cf->worker_id;
    values[1] = WEBHOOKS_JOB_LEASE_S;
    while (w->jobs < WEBHOOKS_MAX_JOBS) {
        res = db_exec_params(w->db, "webhooks.claim_job", WEBHOOKS_CLAIM_SQL,
                             2, NULL, values);
        if (res == NULL || PQntuples(res) == 0) {
            PQclear(res);
            return;
        }
        job_start(w, res);
        PQclear(res);
    }
}


/* ---------------------------------------------------------------- tick */

static void
webhooks_on_timer(loop_timer_t *timer, void *data)
{
    webhooks_t  *w = data;

    (void) timer;

    /* after any work, again at once: deliveries that came in meanwhile
     * were not notified (api.ingest_webhook wakes an idle processor only) */
    if (events_sweep(w) > 0) {
        webhooks_kick(w);
    }
    jobs_run(w);
}


/* Runs from the loop, not from inside a callback of the db or client. */
static void
webhooks_kick(webhooks_t *w)
{
    loop_timer_start(w->loop, &w->wake, 0, 0, webhooks_on_timer, w);
}


webhooks_t *
webhooks_create(loop_t *loop, db_t *db, const liauto_config_t *cf)
{
    webhooks_t         *w;
    unipile_options_t   o;

    w = calloc(1, sizeof(webhooks_t));
    if (w == NULL) {
        return NULL;
    }

    w->loop = loop;
    w->db = db;
    w->cf = cf;

    if (cf->unipile_dsn != NULL && cf->unipile_api_key != NULL) {
        memset(&o, 0, sizeof(o));
        o.dsn = cf->unipile_dsn;
        o.api_key = cf->unipile_api_key;
        o.timeout_ms = (long) cf->unipile_timeout * 1000;
        o.max_attempts = WEBHOOKS_HTTP_ATTEMPTS;
        o.backoff_base_ms = WEBHOOKS_HTTP_BACKOFF_MS;
        o.backoff_cap_ms = WEBHOOKS_HTTP_BACKOFF_CAP;
        w->unipile = unipile_create(loop, &o);
    }

    if (w->unipile == NULL) {
        log_warn("webhook processing without Unipile (UNIPILE_DSN not set "
                 "or not usable): no profile lookups, no polling fallback");
    }

    loop_timer_start(loop, &w->tick, WEBHOOKS_SWEEP_MS, WEBHOOKS_SWEEP_MS,
                     webhooks_on_timer, w);
    log_info("webhook processing on: sweep every %d ms, polling every %d s "
             "over the last %d s", WEBHOOKS_SWEEP_MS, cf->poll_interval,
             cf->poll_lookback);
    return w;
}


void
webhooks_connected(webhooks_t *w)
{
    PGresult  *res;

    res = db_exec_params(w->db, "LISTEN " WEBHOOKS_CHANNEL,
                         "LISTEN " WEBHOOKS_CHANNEL, 0, NULL, NULL);
    PQclear(res);
    webhooks_kick(w);
}


int
webhooks_notify(webhooks_t *w, const char *channel, const char *payload)
{
    if (strcmp(channel, WEBHOOKS_CHANNEL) != 0) {
        return 0;
    }

    /* '<delivery id>' or 'job:<run id>': either way, look for work now */
    log_debug("wake-up on \"%s\": %s", channel, payload);
    webhooks_kick(w);
    return 1;
}


void
webhooks_destroy(webhooks_t *w)
{
    loop_timer_stop(&w->tick);
    loop_timer_stop(&w->wake);

    if (w->unipile != NULL) {
        unipile_destroy(w->unipile);
    }

    while (w->tasks != NULL) {
        task_free(w->tasks);
    }

    free(w);
}
