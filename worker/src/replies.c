#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "completion.h"
#include "inflight.h"
#include "log.h"
#include "replies.h"

#define REPLIES_RECONCILE_EVERY_MS  5000
#define REPLIES_RECONCILE_LIMIT     "16"
#define REPLIES_MAX_IN_FLIGHT       16

/* The columns of liauto.actions a reply needs, in the RCOL_ order. */
#define REPLIES_COLUMNS                                                     \
    "id, claim_token, attempts, payload, "                                  \
    "to_char(claimed_at AT TIME ZONE 'UTC', "                               \
    "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

enum {
    RCOL_ID = 0,
    RCOL_TOKEN,
    RCOL_ATTEMPTS,
    RCOL_PAYLOAD,
    RCOL_CLAIMED_AT
};

#define REPLIES_CLAIM_SQL                                                   \
    "SELECT " REPLIES_COLUMNS " FROM engine.claim_replies($1, "            \
    "$2::integer, make_interval(secs => $3::integer))"

#define REPLIES_EXPIRED_SQL                                                 \
    "SELECT " REPLIES_COLUMNS " FROM engine.expired_replies($1::integer)"

#define REPLIES_CHECK_SQL                                                   \
    "SELECT engine.check_reply($1::uuid, $2::uuid)"

/* $6: seconds from the engine's clock until the retry, or NULL. */
#define REPLIES_COMPLETE_SQL                                                \
    "SELECT engine.complete_reply($1::uuid, $2::uuid, $3, $4, $5, "         \
    "liauto.now() + make_interval(secs => $6::double precision), $7)"

#define REPLIES_RESOLVE_SQL                                                 \
    "SELECT engine.resolve_reply($1::uuid, $2::boolean, $3, $4)"

typedef struct reply_s  reply_t;

struct reply_s {
    replies_t        *rp;
    inflight_item_t   node;
    int               reconciling;
    int               new_chat;        /* the chat was gone: started one */
    unsigned          attempts;
    char              id[40];
    char              token[40];
    char              claimed_at[32];
    json_t           *payload;
    char             *found_chat;      /* reconciling: the attendee's chat */
    /* borrowed from the payload */
    const char       *account_id;      /* Unipile's */
    const char       *chat_id;
    const char       *provider_id;     /* the attendee, for a new chat */
    const char       *text;
    const char       *conversation_id;
};

struct replies_s {
    loop_t                 *loop;
    db_t                   *db;
    const liauto_config_t  *cf;
    unipile_t              *unipile;
    loop_timer_t            tick;
    loop_timer_t            wake;
    uint64_t                next_reconcile_ms;
    inflight_t              replies;
};

static void replies_kick(replies_t *rp);


static const char *
payload_string(const json_t *payload, const char *key)
{
    const char  *s = json_string_value(json_object_get(payload, key));

    return s != NULL && s[0] != '\0' ? s : NULL;
}


static void
reply_free(reply_t *r)
{
    inflight_remove(&r->rp->replies, &r->node);
    json_decref(r->payload);
    free(r->found_chat);
    free(r);
}


/* A slot is free: claim the next reply now rather than a tick later. */
static void
reply_finish(reply_t *r)
{
    replies_t  *rp = r->rp;

    reply_free(r);
    replies_kick(rp);
}


static reply_t *
reply_from_row(replies_t *rp, PGresult *res, int row, int reconciling)
{
    reply_t       *r;
    json_error_t   jerr;

    r = calloc(1, sizeof(reply_t));
    if (r == NULL) {
        return NULL;
    }

    r->rp = rp;
    r->reconciling = reconciling;
    inflight_add(&rp->replies, &r->node);

    snprintf(r->id, sizeof(r->id), "%s", PQgetvalue(res, row, RCOL_ID));
    snprintf(r->token, sizeof(r->token), "%s",
             PQgetvalue(res, row, RCOL_TOKEN));
    snprintf(r->claimed_at, sizeof(r->claimed_at), "%s",
             PQgetvalue(res, row, RCOL_CLAIMED_AT));
    r->attempts = (unsigned) atoi(PQgetvalue(res, row, RCOL_ATTEMPTS));

    r->payload = json_loads(PQgetvalue(res, row, RCOL_PAYLOAD), 0, &jerr);
    r->account_id = payload_string(r->payload, "unipile_account_id");
    r->chat_id = payload_string(r->payload, "chat_id");
    r->provider_id = payload_string(r->payload, "provider_id");
    r->text = payload_string(r->payload, "text");
    r->conversation_id = payload_string(r->payload, "conversation_id");
    if (r->conversation_id == NULL) {
        r->conversation_id = "(none)";
    }

    return r;
}


/* ---------------------------------------------------------------- SQL */

static void
reply_complete(reply_t *r, const completion_t *c)
{
    char         retry[32];
    const char  *values[7];
    PGresult    *res;

    snprintf(retry, sizeof(retry), "%.3f", c->retry_in_s);

    values[0] = r->id;
    values[1] = r->token;
    values[2] = c->outcome;
    values[3] = c->external_id;
    values[4] = c->error[0] != '\0' ? c->error : NULL;
    values[5] = c->retry_in_s >= 0 ? retry : NULL;
    values[6] = c->conversation_id;

    res = db_exec_params(r->rp->db, "engine.complete_reply",
                         REPLIES_COMPLETE_SQL, 7, NULL, values);

    if (strcmp(c->outcome, "sent") == 0) {
        log_info("sent reply %s of conversation %s%s: message id %s%s",
                 r->id, r->conversation_id,
                 r->new_chat ? " in a new chat" : "",
                 c->external_id != NULL ? c->external_id : "(none)",
                 res == NULL ? "; NOT RECORDED, the lease will expire and "
                               "the send be reconciled" : "");

    } else {
        log_warn("reply %s of conversation %s %s: %s: %s -> %s",
                 r->id, r->conversation_id,
                 strcmp(c->outcome, "unknown") == 0 ? "maybe sent"
                                                    : "not sent",
                 c->outcome, c->error[0] != '\0' ? c->error : "no details",
                 res != NULL ? PQgetvalue(res, 0, 0) : "(not recorded)");
    }

    PQclear(res);
    reply_finish(r);
}


static void
reply_resolve(reply_t *r, int found, const char *external_id)
{
    const char  *values[4];
    PGresult    *res;

    values[0] = r->id;
    values[1] = found ? "true" : "false";
    values[2] = external_id;
    values[3] = r->found_chat;

    res = db_exec_params(r->rp->db, "engine.resolve_reply",
                         REPLIES_RESOLVE_SQL, 4, NULL, values);

    log_info("reconciled reply %s of conversation %s: %s in the chat%s%s "
             "-> %s", r->id, r->conversation_id,
             found ? "found" : "not found",
             external_id != NULL ? ", id " : "",
             external_id != NULL ? external_id : "",
             res != NULL ? PQgetvalue(res, 0, 0) : "(not recorded)");

    PQclear(res);
    reply_finish(r);
}


/* A reply that cannot be sent as it is (no text, nobody to send it to). */
static void
reply_refuse(reply_t *r, const char *why)
{
    completion_t  c;

    completion_init(&c, "final_lead", why);
    reply_complete(r, &c);
}


/* ------------------------------------------------------------- sending */

static void reply_send(reply_t *r);


static void
reply_on_sent(const unipile_result_t *res, void *data)
{
    reply_t       *r = data;
    completion_t   c;

    /* Unipile does not know the chat: the send certainly did not happen,
     * so a chat with the attendee may be started instead (once). */
    if (res->verdict.outcome == UNIPILE_FINAL_LEAD
        && res->verdict.status == 404 && !r->new_chat
        && r->provider_id != NULL)
    {
        log_info("reply %s: chat %s is gone (%s): starting a chat with %s",
                 r->id, r->chat_id, res->verdict.detail, r->provider_id);
        r->new_chat = 1;
        reply_send(r);
        return;
    }

    completion_from_result(&c, r->attempts, res, 1);

    if (res->verdict.outcome == UNIPILE_SENT) {
        c.external_id = res->message_id;
        c.conversation_id = res->chat_id;
    }

    reply_complete(r, &c);
}


static void
reply_send(reply_t *r)
{
    unipile_t  *u = r->rp->unipile;
    int         rc;

    if (r->chat_id != NULL && !r->new_chat) {
        rc = unipile_send_message(u, r->chat_id, r->text, r->account_id,
                                  reply_on_sent, r);
    } else {
        r->new_chat = 1;
        rc = unipile_start_chat(u, r->account_id, r->provider_id, r->text,
                                reply_on_sent, r);
    }

    if (rc != 0) {
        /* checked but never sent: the lease expires, reconciling finds
         * nothing and the reply is scheduled again */
        log_error("reply %s not sent: out of memory starting the send",
                  r->id);
        reply_finish(r);
    }
}


static void
reply_start(reply_t *r)
{
    const char  *values[2] = { r->id, r->token };
    PGresult    *res;

    if (r->payload == NULL || r->account_id == NULL || r->text == NULL) {
        reply_refuse(r, "the reply has no text or no Unipile account id");
        return;
    }
    if (r->chat_id == NULL && r->provider_id == NULL) {
        reply_refuse(r, "the conversation has no chat and no attendee to "
                     "start one with");
        return;
    }

    res = db_exec_params(r->rp->db, "engine.check_reply", REPLIES_CHECK_SQL,
                         2, NULL, values);
    if (res == NULL) {
        log_warn("reply %s not sent: no answer from engine.check_reply "
                 "(the lease will expire)", r->id);
        reply_finish(r);
        return;
    }

    if (strcmp(PQgetvalue(res, 0, 0), "ok") != 0) {
        log_info("reply %s of conversation %s not sent: %s", r->id,
                 r->conversation_id, PQgetvalue(res, 0, 0));
        PQclear(res);
        reply_finish(r);
        return;
    }

    PQclear(res);
    reply_send(r);
}


/* -------------------------------------------------------- reconciling */

static void reply_reconcile(reply_t *r);


/* The attendee's chat, when the conversation's is gone (the reply may
 * have gone out in a chat started for it). */
static void
reply_on_chat(const unipile_result_t *res, void *data)
{
    reply_t  *r = data;

    if (res->verdict.outcome != UNIPILE_SENT) {
        log_warn("cannot reconcile reply %s yet: looking for the chat with "
                 "%s: %s", r->id, r->provider_id, res->verdict.reason);
        reply_finish(r);
        return;
    }

    if (res->chat_id == NULL) {
        /* no chat with the attendee at all: nothing was sent */
        reply_resolve(r, 0, NULL);
        return;
    }

    r->found_chat = strdup(res->chat_id);
    if (r->found_chat == NULL) {
        log_error("cannot reconcile reply %s: out of memory", r->id);
        reply_finish(r);
        return;
    }

    reply_reconcile(r);
}


static void
reply_on_messages(const unipile_result_t *res, void *data)
{
    reply_t            *r = data;
    unipile_message_t   m;
    json_t             *item;
    size_t              i;

    if (res->verdict.outcome == UNIPILE_FINAL_LEAD
        && res->verdict.status == 404 && r->found_chat == NULL
        && r->provider_id != NULL)
    {
        if (unipile_find_chat_with(r->rp->unipile, r->account_id,
                                   r->provider_id, reply_on_chat, r) != 0)
        {
            log_error("cannot reconcile reply %s: out of memory", r->id);
            reply_finish(r);
        }
        return;
    }

    if (res->verdict.outcome != UNIPILE_SENT) {
        /* expired_replies hands it out again in a few minutes */
        log_warn("cannot reconcile reply %s yet: listing chat %s: %s",
                 r->id, r->found_chat != NULL ? r->found_chat : r->chat_id,
                 res->verdict.reason);
        reply_finish(r);
        return;
    }

    /* ours, with the reply's text, sent after the claim */
    json_array_foreach(res->items, i, item) {
        if (unipile_parse_message(item, &m) == 0 && m.is_sender
            && m.text != NULL && strcmp(m.text, r->text) == 0
            && (m.timestamp == NULL
                || strcmp(m.timestamp, r->claimed_at) >= 0))
        {
            reply_resolve(r, 1, m.id);
            return;
        }
    }

    reply_resolve(r, 0, NULL);
}


static void
reply_reconcile(reply_t *r)
{
    if (r->chat_id == NULL || r->text == NULL || r->account_id == NULL) {
        /* no chat was ever known: whatever started, the message check
         * in engine.resolve_reply (its echo) still decides */
        reply_resolve(r, 0, NULL);
        return;
    }

    if (unipile_list_chat_messages(r->rp->unipile,
                                   r->found_chat != NULL ? r->found_chat
                                                         : r->chat_id,
                                   NULL, reply_on_messages, r) != 0)
    {
        log_error("cannot reconcile reply %s: out of memory", r->id);
        reply_finish(r);
    }
}


/* ---------------------------------------------------------------- tick */

static void
replies_take_rows(replies_t *rp, PGresult *res, int reconciling)
{
    int       row;
    reply_t  *r;

    for (row = 0; row < PQntuples(res); row++) {
        r = reply_from_row(rp, res, row, reconciling);
        if (r == NULL) {
            log_error("out of memory: reply %s left to its lease",
                      PQgetvalue(res, row, RCOL_ID));
            continue;
        }

        if (reconciling) {
            reply_reconcile(r);
        } else {
            reply_start(r);
        }
    }
}


static void
replies_reconcile(replies_t *rp)
{
    const char  *values[1] = { REPLIES_RECONCILE_LIMIT };
    PGresult    *res;

    res = db_exec_params(rp->db, "engine.expired_replies",
                         REPLIES_EXPIRED_SQL, 1, NULL, values);
    if (res == NULL) {
        return;
    }

    if (PQntuples(res) > 0) {
        log_info("reconciling %d reply(ies) whose outcome is unknown (lease "
                 "expired or the answer lost)", PQntuples(res));
    }
    replies_take_rows(rp, res, 1);
    PQclear(res);
}


static void
replies_claim(replies_t *rp)
{
    char         limit[16], lease[16];
    const char  *values[3];
    PGresult    *res;

    if (inflight_room(&rp->replies) == 0) {
        return;
    }

    snprintf(limit, sizeof(limit), "%u", inflight_room(&rp->replies));
    snprintf(lease, sizeof(lease), "%d", rp->cf->lease_seconds);
    values[0] = rp->cf->worker_id;
    values[1] = limit;
    values[2] = lease;

    res = db_exec_params(rp->db, "engine.claim_replies", REPLIES_CLAIM_SQL,
                         3, NULL, values);
    if (res == NULL) {
        return;
    }

    replies_take_rows(rp, res, 0);
    PQclear(res);
}


static void
replies_on_timer(loop_timer_t *timer, void *data)
{
    replies_t  *rp = data;
    uint64_t    now = loop_now_ms();

    (void) timer;

    if (now >= rp->next_reconcile_ms) {
        rp->next_reconcile_ms = now + REPLIES_RECONCILE_EVERY_MS;
        replies_reconcile(rp);
    }

    replies_claim(rp);
}


replies_t *
replies_create(loop_t *loop, db_t *db, const liauto_config_t *cf,
    unipile_t *u)
{
    replies_t  *rp;

    rp = calloc(1, sizeof(replies_t));
    if (rp == NULL) {
        return NULL;
    }

    rp->loop = loop;
    rp->db = db;
    rp->cf = cf;
    inflight_init(&rp->replies, REPLIES_MAX_IN_FLIGHT);
    rp->unipile = u;
    loop_timer_start(loop, &rp->tick, (uint64_t) cf->engine_tick_ms,
                     (uint64_t) cf->engine_tick_ms, replies_on_timer, rp);
    log_info("inbox replies on: every %d ms, lease %d s", cf->engine_tick_ms,
             cf->lease_seconds);
    return rp;
}


/* Runs from the loop, not from inside a callback of the db or client. */
static void
replies_kick(replies_t *rp)
{
    loop_timer_start(rp->loop, &rp->wake, 0, 0, replies_on_timer, rp);
}


void
replies_wake(replies_t *rp)
{
    replies_kick(rp);
}


void
replies_destroy(replies_t *rp)
{
    loop_timer_stop(&rp->tick);
    loop_timer_stop(&rp->wake);

    while (rp->replies.head != NULL) {
        reply_free(inflight_data(rp->replies.head, reply_t, node));
    }

    free(rp);
}
