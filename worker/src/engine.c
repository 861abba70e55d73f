#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "completion.h"
#include "engine.h"
#include "inflight.h"
#include "log.h"
#include "template.h"
#include "unipile.h"

#define ENGINE_PLAN_EVERY_MS       2000
#define ENGINE_RECONCILE_EVERY_MS  5000
#define ENGINE_PLAN_LIMIT          "500"
#define ENGINE_RECONCILE_LIMIT     "16"
#define ENGINE_MAX_IN_FLIGHT       16

/* The client's quick retries inside one send. */
#define ENGINE_HTTP_ATTEMPTS       3
#define ENGINE_HTTP_BACKOFF_MS     500
#define ENGINE_HTTP_BACKOFF_CAP    5000

/* The columns of liauto.actions the engine reads, in the ACOL_ order. */
#define ENGINE_ACTION_COLUMNS                                               \
    "id, claim_token, kind, step_index, lead_id, attempts, payload, "      \
    "to_char(claimed_at AT TIME ZONE 'UTC', "                               \
    "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

enum {
    ACOL_ID = 0,
    ACOL_TOKEN,
    ACOL_KIND,
    ACOL_STEP,
    ACOL_LEAD,
    ACOL_ATTEMPTS,
    ACOL_PAYLOAD,
    ACOL_CLAIMED_AT
};

#define ENGINE_PLAN_SQL  "SELECT engine.plan_due($1::integer)"

#define ENGINE_CLAIM_SQL                                                    \
    "SELECT " ENGINE_ACTION_COLUMNS " FROM engine.claim_actions($1, "      \
    "$2::integer, make_interval(secs => $3::integer))"

#define ENGINE_EXPIRED_SQL                                                  \
    "SELECT " ENGINE_ACTION_COLUMNS                                         \
    " FROM engine.expired_claims($1::integer)"

#define ENGINE_CHECK_SQL                                                    \
    "SELECT engine.check_before_send($1::uuid, $2::uuid)"

/* The check right after a profile lookup keeps the lookup's ids too: one
 * round trip and one commit instead of two. */
#define ENGINE_CHECK_PROFILE_SQL                                            \
    "SELECT engine.check_before_send($1::uuid, $2::uuid), "                 \
    "engine.save_lead_profile($3::uuid, $4, $5)"

/* $6: seconds from the engine's clock until the retry, or NULL. */
#define ENGINE_COMPLETE_SQL                                                 \
    "SELECT engine.complete_action($1::uuid, $2::uuid, $3, $4, $5, "        \
    "liauto.now() + make_interval(secs => $6::double precision), $7)"

/* The outcomes gathered in one loop round, recorded in one transaction
 * (engine.complete_actions); a row per outcome: its index, the result. */
#define ENGINE_COMPLETE_BATCH_SQL                                           \
    "SELECT item, status FROM engine.complete_actions($1::jsonb)"

#define ENGINE_PROFILE_SQL                                                  \
    "SELECT engine.save_lead_profile($1::uuid, $2, $3)"

#define ENGINE_RESOLVE_SQL                                                  \
    "SELECT engine.resolve_unknown($1::uuid, $2::boolean, $3, "             \
    "$4::boolean)"

typedef enum {
    ACTION_SEND = 0,
    ACTION_RECONCILE
} action_mode_t;

typedef struct engine_action_s  engine_action_t;

struct engine_action_s {
    engine_t         *engine;
    inflight_item_t   node;            /* in engine.actions */
    inflight_item_t   done_node;       /* in engine.done, once it ended */
    action_mode_t     mode;
    int               is_invite;
    int               is_inmail;       /* a message to a non-connection */
    int               is_relation;     /* the profile says connected */
    int               profile_unsaved; /* member_urn not stored yet */
    unsigned          attempts;
    char              id[40];
    char              token[40];
    char              lead_id[40];
    char              step[12];
    char              claimed_at[32];
    json_t           *payload;
    const char       *account_id;      /* Unipile's, from the payload */
    const char       *who;             /* the lead, for the logs */
    char             *provider_id;
    char             *member_urn;
    char             *chat_id;
    char             *text;            /* rendered; NULL: invite, no note */
    completion_t      outcome;         /* ids below, owned */
    char             *external_id;
    char             *conversation_id;
};

struct engine_s {
    loop_t                 *loop;
    db_t                   *db;
    const liauto_config_t  *cf;
    unipile_t              *unipile;
    loop_timer_t            tick;
    loop_timer_t            wake;
    loop_timer_t            flush;
    uint64_t                next_plan_ms;
    uint64_t                next_reconcile_ms;
    inflight_t              actions;
    inflight_t              done;      /* outcomes not recorded yet */
};

static void action_after_profile(engine_action_t *a);
static void engine_kick(engine_t *e);


static const char *
payload_string(const json_t *payload, const char *key)
{
    const char  *s = json_string_value(json_object_get(payload, key));

    return s != NULL && s[0] != '\0' ? s : NULL;
}


static char *
dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}


static void
action_free(engine_action_t *a)
{
    inflight_remove(&a->engine->actions, &a->node);
    json_decref(a->payload);
    free(a->provider_id);
    free(a->member_urn);
    free(a->chat_id);
    free(a->text);
    free(a->external_id);
    free(a->conversation_id);
    free(a);
}


/* A slot is free: claim the next action now rather than a tick later. */
static void
action_finish(engine_action_t *a)
{
    engine_t  *e = a->engine;

    action_free(a);
    engine_kick(e);
}


static engine_action_t *
action_from_row(engine_t *e, PGresult *res, int row, action_mode_t mode)
{
    engine_action_t  *a;
    json_error_t      jerr;

    a = calloc(1, sizeof(engine_action_t));
    if (a == NULL) {
        return NULL;
    }

    a->engine = e;
    a->mode = mode;
    inflight_add(&e->actions, &a->node);

    snprintf(a->id, sizeof(a->id), "%s", PQgetvalue(res, row, ACOL_ID));
    snprintf(a->token, sizeof(a->token), "%s",
             PQgetvalue(res, row, ACOL_TOKEN));
    snprintf(a->lead_id, sizeof(a->lead_id), "%s",
             PQgetvalue(res, row, ACOL_LEAD));
    snprintf(a->step, sizeof(a->step), "%s",
             PQgetvalue(res, row, ACOL_STEP));
    snprintf(a->claimed_at, sizeof(a->claimed_at), "%s",
             PQgetvalue(res, row, ACOL_CLAIMED_AT));
    a->is_invite = strcmp(PQgetvalue(res, row, ACOL_KIND), "invite") == 0;
    a->attempts = (unsigned) atoi(PQgetvalue(res, row, ACOL_ATTEMPTS));

    a->payload = json_loads(PQgetvalue(res, row, ACOL_PAYLOAD), 0, &jerr);
    a->is_inmail = json_is_true(json_object_get(a->payload, "inmail"));
    a->account_id = payload_string(a->payload, "unipile_account_id");
    a->provider_id = dup_or_null(payload_string(a->payload, "provider_id"));
    a->chat_id = dup_or_null(payload_string(a->payload, "conversation_id"));

    /* borrowed from the payload, which outlives every change above */
    a->who = payload_string(a->payload, "public_identifier");
    if (a->who == NULL) {
        a->who = payload_string(a->payload, "provider_id");
    }
    if (a->who == NULL) {
        a->who = a->lead_id;
    }

    return a;
}


static const char *
action_kind(const engine_action_t *a)
{
    return a->is_invite ? "invite" : "message";
}


/* ---------------------------------------------------------------- SQL */

/* status: what engine.complete_action answered, NULL: not recorded. */
static void
action_recorded(engine_action_t *a, const char *status)
{
    const completion_t  *c = &a->outcome;

    if (strcmp(c->outcome, "sent") == 0) {
        log_info("sent %s (step %s) to %s (lead %s, action %s): "
                 "external id %s%s",
                 action_kind(a), a->step, a->who, a->lead_id, a->id,
                 a->external_id != NULL ? a->external_id : "(none)",
                 status == NULL ? "; NOT RECORDED, the lease will expire "
                                  "and the send be reconciled" : "");

    } else {
        /* after an unknown outcome the send may well have happened */
        log_warn("%s (step %s) to %s (lead %s, action %s) %s: %s: "
                 "%s -> action %s", action_kind(a), a->step, a->who,
                 a->lead_id, a->id,
                 strcmp(c->outcome, "unknown") == 0 ? "maybe sent"
                                                    : "not sent",
                 c->outcome,
                 c->error[0] != '\0' ? c->error : "no details",
                 status != NULL ? status : "(not recorded)");
    }

    action_finish(a);
}


/* One outcome on its own: when the batch it was part of failed. */
static void
action_complete_one(engine_action_t *a)
{
    char                 retry[32];
    const char          *values[7];
    const completion_t  *c = &a->outcome;
    PGresult            *res;

    snprintf(retry, sizeof(retry), "%.3f", c->retry_in_s);

    values[0] = a->id;
    values[1] = a->token;
    values[2] = c->outcome;
    values[3] = a->external_id;
    values[4] = c->error[0] != '\0' ? c->error : NULL;
    values[5] = c->retry_in_s >= 0 ? retry : NULL;
    values[6] = a->conversation_id;

    res = db_exec_params(a->engine->db, "engine.complete_action",
                         ENGINE_COMPLETE_SQL, 7, NULL, values);

    action_recorded(a, res != NULL ? PQgetvalue(res, 0, 0) : NULL);
    PQclear(res);
}


static json_t *
action_outcome_json(const engine_action_t *a)
{
    const completion_t  *c = &a->outcome;

    return json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:o, s:s?}",
                     "id", a->id, "claim_token", a->token,
                     "outcome", c->outcome, "external_id", a->external_id,
                     "error", c->error[0] != '\0' ? c->error : NULL,
                     "retry_in_s", c->retry_in_s >= 0
                                   ? json_real(c->retry_in_s) : json_null(),
                     "conversation_id", a->conversation_id);
}


/*
 * Records the outcomes that ended in this loop round with one call: with
 * many sends in flight their answers arrive together, and one round trip
 * and one commit for all of them is what lets the bookkeeping keep up.
 * A failed batch (a deadlock with another worker, a lost connection)
 * changed nothing; each outcome is then recorded on its own.
 */
static void
engine_flush(engine_t *e)
{
    int               failed = 0;
    unsigned          n, i, item;
    char             *body;
    json_t           *batch, *o;
    PGresult         *res;
    engine_action_t  *a, **list;
    const char       *values[1];

    n = e->done.count;
    if (n == 0) {
        return;
    }

    list = calloc(n, sizeof(engine_action_t *));
    if (list == NULL) {
        while (e->done.head != NULL) {
            a = inflight_data(e->done.head, engine_action_t, done_node);
            inflight_remove(&e->done, &a->done_node);
            action_complete_one(a);
        }
        return;
    }

    batch = json_array();

    for (i = 0; i < n; i++) {
        list[i] = inflight_data(e->done.head, engine_action_t, done_node);
        inflight_remove(&e->done, &list[i]->done_node);
        /* takes o, also when it fails (out of memory) */
        o = action_outcome_json(list[i]);
        if (json_array_append_new(batch, o) != 0) {
            failed = 1;
        }
    }

    body = !failed ? json_dumps(batch, JSON_COMPACT) : NULL;
    json_decref(batch);

    res = NULL;
    if (body != NULL) {
        values[0] = body;
        res = db_exec_params(e->db, "engine.complete_actions",
                             ENGINE_COMPLETE_BATCH_SQL, 1, NULL, values);
        free(body);
    }

    if (res == NULL) {
        for (i = 0; i < n; i++) {
            action_complete_one(list[i]);
        }

    } else {
        for (i = 0; i < (unsigned) PQntuples(res); i++) {
            item = (unsigned) atoi(PQgetvalue(res, i, 0));
            if (item >= 1 && item <= n && list[item - 1] != NULL) {
                action_recorded(list[item - 1], PQgetvalue(res, i, 1));
                list[item - 1] = NULL;
            }
        }
        for (i = 0; i < n; i++) {
            if (list[i] != NULL) {
                action_recorded(list[i], NULL);
            }
        }
        PQclear(res);
    }

    free(list);
}


static void
engine_on_flush(loop_timer_t *timer, void *data)
{
    (void) timer;
    engine_flush(data);
}


/*
 * The action's outcome, recorded with the others of this loop round
 * (engine_flush); the ids are copied, the answer they point into goes.
 */
static void
action_complete(engine_action_t *a, const completion_t *c)
{
    engine_t  *e = a->engine;

    a->outcome = *c;
    a->external_id = dup_or_null(c->external_id);
    a->conversation_id = dup_or_null(c->conversation_id);
    a->outcome.external_id = NULL;
    a->outcome.conversation_id = NULL;

    if ((c->external_id != NULL && a->external_id == NULL)
        || (c->conversation_id != NULL && a->conversation_id == NULL))
    {
        log_error("out of memory: the outcome of action %s left to its "
                  "lease", a->id);
        action_finish(a);
        return;
    }

    inflight_add(&e->done, &a->done_node);
    if (!loop_timer_active(&e->flush)) {
        loop_timer_start(e->loop, &e->flush, 0, 0, engine_on_flush, e);
    }
}


/*
 * found: 1 found at the provider, 0 provably not there, -1 the provider
 * cannot tell (the action is parked for review, never resent).
 */
static void
action_resolve(engine_action_t *a, int found, const char *external_id)
{
    const char  *values[4];
    PGresult    *res;

    values[0] = a->id;
    values[1] = found == 1 ? "true" : "false";
    values[2] = external_id;
    values[3] = found >= 0 ? "true" : "false";

    res = db_exec_params(a->engine->db, "engine.resolve_unknown",
                         ENGINE_RESOLVE_SQL, 4, NULL, values);

    log_info("reconciled %s (step %s) to %s (lead %s, action %s): %s at "
             "the provider%s%s -> action %s", action_kind(a), a->step,
             a->who, a->lead_id, a->id,
             found == 1 ? "found" : found == 0 ? "not found"
                                               : "cannot tell",
             external_id != NULL ? ", id " : "",
             external_id != NULL ? external_id : "",
             res != NULL ? PQgetvalue(res, 0, 0) : "(not recorded)");

    PQclear(res);
    action_finish(a);
}


/* ------------------------------------------------------------ outcomes */

/*
 * A failed lookup that a later round may get an answer to: Unipile down
 * or slow, the account rate limited or disconnected for now.
 */
static int
lookup_may_recover(const unipile_verdict_t *v)
{
    return v->outcome == UNIPILE_RETRY
           || v->outcome == UNIPILE_ACCOUNT_COOLOFF
           || v->outcome == UNIPILE_ACCOUNT_BLOCKED;
}


/*
 * A step before the send failed (or answered without what the send
 * needs). A send is recorded as not sent; a reconciliation is left for
 * its next round (expired_claims hands it out again) when the lookup may
 * work later, else parked for review.
 */
static void
action_fail_early(engine_action_t *a, const unipile_result_t *res,
    const char *what)
{
    completion_t  c;

    if (a->mode == ACTION_RECONCILE) {
        if (res != NULL && !lookup_may_recover(&res->verdict)) {
            /* the lookup itself is refused: asking again will not tell */
            log_warn("cannot reconcile %s (step %s) to %s (action %s): %s: "
                     "%s (HTTP %ld)", action_kind(a), a->step, a->who,
                     a->id, what, res->verdict.reason, res->verdict.status);
            action_resolve(a, -1, NULL);
            return;
        }
        log_warn("cannot reconcile %s (step %s) to %s (action %s) yet: %s: "
                 "%s", action_kind(a), a->step, a->who, a->id, what,
                 res != NULL ? res->verdict.reason : "out of memory");
        action_finish(a);
        return;
    }

    if (res == NULL) {
        log_error("%s (step %s) to %s (action %s) dropped: %s: out of "
                  "memory", action_kind(a), a->step, a->who, a->id, what);
        action_finish(a);
        return;
    }

    completion_from_result(&c, a->attempts, res, 0);
    if (strcmp(c.outcome, "sent") == 0) {
        completion_init(&c, "final_lead", what);
    } else {
        snprintf(c.error + strlen(c.error), sizeof(c.error) - strlen(c.error),
                 " (%s)", what);
    }

    action_complete(a, &c);
}


/*
 * The action cannot be sent (nothing to send, nobody to send it to): a
 * send is recorded with the outcome; a claim being reconciled was
 * certainly not sent either.
 */
static void
action_refuse(engine_action_t *a, const char *outcome, const char *why)
{
    completion_t  c;

    if (a->mode == ACTION_RECONCILE) {
        action_resolve(a, 0, NULL);
        return;
    }

    completion_init(&c, outcome, why);
    action_complete(a, &c);
}


/* ------------------------------------------------------------- sending */

static void
action_on_sent(const unipile_result_t *res, void *data)
{
    engine_action_t  *a = data;
    completion_t      c;

    completion_from_result(&c, a->attempts, res, 1);

    if (res->verdict.outcome == UNIPILE_SENT) {
        c.external_id = a->is_invite ? res->invitation_id : res->message_id;
        c.conversation_id = res->chat_id != NULL ? res->chat_id : a->chat_id;
    }

    action_complete(a, &c);
}


static void
action_send_now(engine_action_t *a)
{
    engine_t    *e = a->engine;
    const char  *values[5] = { a->id, a->token, a->lead_id, a->provider_id,
                               a->member_urn };
    PGresult    *res;
    int          rc;

    res = db_exec_params(e->db, "engine.check_before_send",
                         a->profile_unsaved ? ENGINE_CHECK_PROFILE_SQL
                                            : ENGINE_CHECK_SQL,
                         a->profile_unsaved ? 5 : 2, NULL, values);
    a->profile_unsaved = 0;
    if (res == NULL) {
        log_warn("%s (step %s) to %s (action %s) not sent: no answer from "
                 "engine.check_before_send (the lease will expire)",
                 action_kind(a), a->step, a->who, a->id);
        action_finish(a);
        return;
    }

    if (strcmp(PQgetvalue(res, 0, 0), "ok") != 0) {
        log_info("%s (step %s) to %s (lead %s, action %s) not sent: %s",
                 action_kind(a), a->step, a->who, a->lead_id, a->id,
                 PQgetvalue(res, 0, 0));
        PQclear(res);
        action_finish(a);
        return;
    }

    PQclear(res);

    if (a->is_invite) {
        rc = unipile_invite(e->unipile, a->account_id, a->provider_id,
                            a->text, action_on_sent, a);

    } else if (a->chat_id != NULL) {
        rc = unipile_send_message(e->unipile, a->chat_id, a->text,
                                  a->account_id, action_on_sent, a);

    } else if (a->is_inmail) {
        rc = unipile_start_inmail(e->unipile, a->account_id, a->provider_id,
                                  a->text, action_on_sent, a);

    } else {
        rc = unipile_start_chat(e->unipile, a->account_id, a->provider_id,
                                a->text, action_on_sent, a);
    }

    if (rc != 0) {
        /* checked but never sent: the lease expires, reconciling finds
         * nothing and the step is scheduled again */
        action_fail_early(a, NULL, "starting the send");
    }
}


/* -------------------------------------------------------- reconciling */

static void
action_on_messages(const unipile_result_t *res, void *data)
{
    engine_action_t    *a = data;
    unipile_message_t   m;
    json_t             *item;
    size_t              i;

    if (res->verdict.outcome != UNIPILE_SENT) {
        action_fail_early(a, res, "listing the chat's messages");
        return;
    }

    /* ours, with the step's text, sent after the claim */
    json_array_foreach(res->items, i, item) {
        if (unipile_parse_message(item, &m) == 0 && m.is_sender
            && m.text != NULL && strcmp(m.text, a->text) == 0
            && (m.timestamp == NULL || strcmp(m.timestamp, a->claimed_at) >= 0))
        {
            action_resolve(a, 1, m.id);
            return;
        }
    }

    action_resolve(a, 0, NULL);
}


static void
action_on_invitation(const unipile_result_t *res, void *data)
{
    engine_action_t  *a = data;

    if (res->verdict.outcome != UNIPILE_SENT) {
        action_fail_early(a, res, "looking for the sent invitation");
        return;
    }

    /* an invitation accepted meanwhile is no longer pending */
    action_resolve(a, res->invitation_id != NULL || a->is_relation,
                   res->invitation_id);
}


static void
action_reconcile_in_chat(engine_action_t *a)
{
    if (a->chat_id == NULL) {
        /* no chat with the lead: the message was never sent */
        action_resolve(a, 0, NULL);
        return;
    }

    if (unipile_list_chat_messages(a->engine->unipile, a->chat_id, NULL,
                                   action_on_messages, a) != 0)
    {
        action_fail_early(a, NULL, "listing the chat's messages");
    }
}


/* ------------------------------------------------ shared: the lead, chat */

static void
action_on_chat(const unipile_result_t *res, void *data)
{
    engine_action_t  *a = data;

    if (res->verdict.outcome != UNIPILE_SENT) {
        action_fail_early(a, res, "looking for the chat with the lead");
        return;
    }

    a->chat_id = dup_or_null(res->chat_id);

    if (a->mode == ACTION_SEND) {
        action_send_now(a);
    } else {
        action_reconcile_in_chat(a);
    }
}


/*
 * Later steps find the ids in their payload instead of a lookup. Stored
 * here before a lookup or reconciliation; a send stores them with its
 * check (ENGINE_CHECK_PROFILE_SQL).
 */
static void
action_save_profile(engine_action_t *a)
{
    const char  *values[3];
    PGresult    *res;

    if (!a->profile_unsaved) {
        return;
    }
    a->profile_unsaved = 0;

    values[0] = a->lead_id;
    values[1] = a->provider_id;
    values[2] = a->member_urn;

    res = db_exec_params(a->engine->db, "engine.save_lead_profile",
                         ENGINE_PROFILE_SQL, 3, NULL, values);
    PQclear(res);
}


static void
action_on_profile(const unipile_result_t *res, void *data)
{
    engine_action_t  *a = data;

    if (res->verdict.outcome != UNIPILE_SENT
        || res->profile.provider_id == NULL)
    {
        action_fail_early(a, res, "resolving the lead's LinkedIn profile");
        return;
    }

    free(a->provider_id);
    a->provider_id = strdup(res->profile.provider_id);
    a->member_urn = dup_or_null(res->profile.member_urn);
    a->is_relation = res->profile.is_relationship;
    if (a->provider_id == NULL
        || (res->profile.member_urn != NULL && a->member_urn == NULL))
    {
        action_fail_early(a, NULL, "resolving the lead's LinkedIn profile");
        return;
    }
    a->profile_unsaved = 1;

    action_after_profile(a);
}


static void
action_after_profile(engine_action_t *a)
{
    unipile_t  *u = a->engine->unipile;
    int         rc;

    if (a->mode == ACTION_SEND && (a->is_invite || a->chat_id != NULL)) {
        action_send_now(a);
        return;
    }

    action_save_profile(a);

    if (a->is_invite) {
        rc = unipile_find_sent_invitation(u, a->account_id, a->provider_id,
                                          action_on_invitation, a);

    } else if (a->chat_id == NULL) {
        rc = unipile_find_chat_with(u, a->account_id, a->provider_id,
                                    action_on_chat, a);

    } else {
        action_reconcile_in_chat(a);
        return;
    }

    if (rc != 0) {
        action_fail_early(a, NULL, "looking the lead up");
    }
}


/*
 * Renders the step and finds the lead's provider id (a profile lookup
 * when the lead has none yet; always for reconciling an invite, which
 * also tells whether it was accepted meanwhile).
 */
static void
action_start(engine_action_t *a)
{
    char         err[256];
    const char  *tmpl, *identifier;

    if (a->payload == NULL || a->account_id == NULL) {
        action_refuse(a, "account_blocked", "the account has no Unipile "
                      "account id (or the action no payload)");
        return;
    }

    tmpl = payload_string(a->payload, "template");

    if (tmpl != NULL) {
        a->text = template_render(tmpl, json_object_get(a->payload, "vars"),
                                  err, sizeof(err));
        if (a->text == NULL) {
            action_refuse(a, "final_lead", err);
            return;
        }

    } else if (!a->is_invite) {
        action_refuse(a, "final_lead", "the message step has no text");
        return;
    }

    if (a->provider_id != NULL
        && !(a->mode == ACTION_RECONCILE && a->is_invite))
    {
        action_after_profile(a);
        return;
    }

    identifier = a->provider_id;
    if (identifier == NULL) {
        identifier = payload_string(a->payload, "public_identifier");
    }
    if (identifier == NULL) {
        identifier = payload_string(a->payload, "profile_url");
    }
    if (identifier == NULL) {
        action_refuse(a, "final_lead", "the lead has no LinkedIn "
                      "identifier (provider id, public identifier or "
                      "profile URL)");
        return;
    }

    if (unipile_get_profile(a->engine->unipile, a->account_id, identifier,
                            action_on_profile, a) != 0)
    {
        action_fail_early(a, NULL, "resolving the lead's LinkedIn profile");
    }
}


/* ---------------------------------------------------------------- tick */

static void
engine_take_rows(engine_t *e, PGresult *res, action_mode_t mode)
{
    int               row;
    engine_action_t  *a;

    for (row = 0; row < PQntuples(res); row++) {
        a = action_from_row(e, res, row, mode);
        if (a == NULL) {
            log_error("out of memory: action %s left to its lease",
                      PQgetvalue(res, row, ACOL_ID));
            continue;
        }
        action_start(a);
    }
}


static void
engine_plan(engine_t *e)
{
    const char  *values[1] = { ENGINE_PLAN_LIMIT };
    PGresult    *res;

    res = db_exec_params(e->db, "engine.plan_due", ENGINE_PLAN_SQL, 1, NULL,
                         values);
    if (res != NULL && strcmp(PQgetvalue(res, 0, 0), "0") != 0) {
        log_info("planned %s due step(s)", PQgetvalue(res, 0, 0));

        /* a full batch: more may be due, plan again on the next tick */
        if (strcmp(PQgetvalue(res, 0, 0), ENGINE_PLAN_LIMIT) == 0) {
            e->next_plan_ms = 0;
        }
    }
    PQclear(res);
}


static void
engine_reconcile(engine_t *e)
{
    const char  *values[1] = { ENGINE_RECONCILE_LIMIT };
    PGresult    *res;

    res = db_exec_params(e->db, "engine.expired_claims", ENGINE_EXPIRED_SQL,
                         1, NULL, values);
    if (res == NULL) {
        return;
    }

    if (PQntuples(res) > 0) {
        log_info("reconciling %d send(s) whose outcome is unknown (lease "
                 "expired or the answer lost)", PQntuples(res));
    }
    engine_take_rows(e, res, ACTION_RECONCILE);
    PQclear(res);
}


static void
engine_claim(engine_t *e)
{
    char         limit[16], lease[16];
    const char  *values[3];
    PGresult    *res;

    if (inflight_room(&e->actions) == 0) {
        return;
    }

    snprintf(limit, sizeof(limit), "%u", inflight_room(&e->actions));
    snprintf(lease, sizeof(lease), "%d", e->cf->lease_seconds);
    values[0] = e->cf->worker_id;
    values[1] = limit;
    values[2] = lease;

    res = db_exec_params(e->db, "engine.claim_actions", ENGINE_CLAIM_SQL, 3,
                         NULL, values);
    if (res == NULL) {
        return;
    }

    engine_take_rows(e, res, ACTION_SEND);
    PQclear(res);
}


static void
engine_run(engine_t *e)
{
    uint64_t  now = loop_now_ms();

    if (now >= e->next_plan_ms) {
        e->next_plan_ms = now + ENGINE_PLAN_EVERY_MS;
        engine_plan(e);
    }

    if (now >= e->next_reconcile_ms) {
        e->next_reconcile_ms = now + ENGINE_RECONCILE_EVERY_MS;
        engine_reconcile(e);
    }

    engine_claim(e);
}


static void
engine_on_timer(loop_timer_t *timer, void *data)
{
    (void) timer;
    engine_run(data);
}


engine_t *
engine_create(loop_t *loop, db_t *db, const liauto_config_t *cf)
{
    engine_t           *e;
    unipile_options_t   o;

    if (cf->unipile_dsn == NULL || cf->unipile_api_key == NULL) {
        log_warn("UNIPILE_DSN or UNIPILE_API_KEY not set: the sequence "
                 "engine is off (nothing will be sent)");
        return NULL;
    }

    e = calloc(1, sizeof(engine_t));
    if (e == NULL) {
        return NULL;
    }

    memset(&o, 0, sizeof(o));
    o.dsn = cf->unipile_dsn;
    o.api_key = cf->unipile_api_key;
    o.timeout_ms = (long) cf->unipile_timeout * 1000;
    o.max_attempts = ENGINE_HTTP_ATTEMPTS;
    o.backoff_base_ms = ENGINE_HTTP_BACKOFF_MS;
    o.backoff_cap_ms = ENGINE_HTTP_BACKOFF_CAP;

    e->unipile = unipile_create(loop, &o);
    if (e->unipile == NULL) {
        log_error("the sequence engine is off: UNIPILE_DSN \"%s\" is not "
                  "usable (or out of memory)", cf->unipile_dsn);
        free(e);
        return NULL;
    }

    /* reconciling while a send may still land would resend it */
    if ((uint64_t) cf->lease_seconds * 1000
        <= (uint64_t) o.timeout_ms * o.max_attempts + o.backoff_cap_ms)
    {
        log_warn("LIAUTO_LEASE_SECONDS=%d is not longer than a send may "
                 "take (UNIPILE_TIMEOUT=%d s, %u attempts): a slow send "
                 "could be reconciled as lost and sent twice",
                 cf->lease_seconds, cf->unipile_timeout, o.max_attempts);
    }

    e->loop = loop;
    e->db = db;
    e->cf = cf;
    inflight_init(&e->actions, ENGINE_MAX_IN_FLIGHT);
    inflight_init(&e->done, ENGINE_MAX_IN_FLIGHT);
    loop_timer_start(loop, &e->tick, (uint64_t) cf->engine_tick_ms,
                     (uint64_t) cf->engine_tick_ms, engine_on_timer, e);
    log_info("sequence engine on: every %d ms, lease %d s, Unipile at %s",
             cf->engine_tick_ms, cf->lease_seconds, cf->unipile_dsn);
    return e;
}


/* Runs from the loop, not from inside a callback of the db or client. */
static void
engine_kick(engine_t *e)
{
    loop_timer_start(e->loop, &e->wake, 0, 0, engine_on_timer, e);
}


unipile_t *
engine_unipile(engine_t *e)
{
    return e->unipile;
}


void
engine_wake(engine_t *e)
{
    e->next_plan_ms = 0;
    engine_kick(e);
}


void
engine_destroy(engine_t *e)
{
    /* the outcomes of this round are known: record them before going */
    engine_flush(e);

    loop_timer_stop(&e->tick);
    loop_timer_stop(&e->wake);
    loop_timer_stop(&e->flush);
    unipile_destroy(e->unipile);

    /* sends still in flight: their leases expire, they are reconciled */
    while (e->actions.head != NULL) {
        action_free(inflight_data(e->actions.head, engine_action_t, node));
    }

    free(e);
}
