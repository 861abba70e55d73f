#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "log.h"
#include "unipile.h"

#define UNIPILE_PAGE_LIMIT  100        /* every list route allows 100 */
#define UNIPILE_MAX_FORM    5       /* an InMail: 4 parts + linkedin[inmail] */

/* ---- classification ---------------------------------------------- */

typedef struct {
    long                status;
    const char         *type;          /* NULL: any type of that status */
    unipile_outcome_t   outcome;
    const char         *reason;
} unipile_rule_t;

/* First match wins: specific types before their status' default. */
static const unipile_rule_t  rules[] = {
    { 429, NULL, UNIPILE_ACCOUNT_COOLOFF,
      "rate limited by Unipile/LinkedIn: the account must cool off" },

    { 401, NULL, UNIPILE_ACCOUNT_BLOCKED,
      "account disconnected or its credentials were rejected" },

    { 403, "account_mismatch", UNIPILE_FINAL_LEAD,
      "the chat belongs to another account" },
    { 403, "resource_access_restricted", UNIPILE_FINAL_LEAD,
      "LinkedIn restricts access to this resource" },
    { 403, NULL, UNIPILE_ACCOUNT_BLOCKED,
      "account restricted by LinkedIn or lacking the feature" },

    { 422, "invalid_account", UNIPILE_ACCOUNT_BLOCKED,
      "Unipile does not accept this account" },
    { 422, "payment_error", UNIPILE_ACCOUNT_BLOCKED,
      "the account has a payment problem" },
    { 422, "cannot_resend_yet", UNIPILE_FINAL_LIMIT,
      "LinkedIn's invitation limit reached (weekly cap or re-invite "
      "cooldown): no more invitations today" },
    { 422, "limit_exceeded", UNIPILE_FINAL_LIMIT,
      "LinkedIn's limit for this action reached: stop for today" },
    { 422, "connection_limit_reached", UNIPILE_FINAL_LIMIT,
      "LinkedIn's connection limit reached: stop for today" },
    { 422, "insufficient_credits", UNIPILE_FINAL_LIMIT,
      "no InMail credits left" },
    { 422, "already_invited_recently", UNIPILE_FINAL_LEAD,
      "already invited recently: an invitation is pending" },
    { 422, "already_connected", UNIPILE_FINAL_LEAD,
      "already a connection" },
    { 422, "cannot_invite_attendee", UNIPILE_FINAL_LEAD,
      "LinkedIn does not allow inviting this person" },
    { 422, "no_connection_with_recipient", UNIPILE_FINAL_LEAD,
      "not a first-degree connection: cannot be messaged" },
    { 422, "invalid_recipient", UNIPILE_FINAL_LEAD,
      "LinkedIn rejects this recipient" },
    { 422, "blocked_recipient", UNIPILE_FINAL_LEAD,
      "the recipient has blocked the account" },
    { 422, "user_unreachable", UNIPILE_FINAL_LEAD,
      "the recipient cannot be reached" },
    { 422, "cannot_resend_within_24hrs", UNIPILE_FINAL_LEAD,
      "this person cannot be invited again within 24 hours" },
    { 422, "invalid_message", UNIPILE_FINAL_LEAD,
      "LinkedIn rejects the message" },
    { 422, "not_allowed_inmail", UNIPILE_FINAL_LEAD,
      "the account may not send InMails (not premium)" },
    { 422, NULL, UNIPILE_FINAL_LEAD,
      "LinkedIn refused the action for this person" },

    { 400, "too_many_characters", UNIPILE_FINAL_LEAD,
      "the note or message is longer than LinkedIn allows" },
    { 400, NULL, UNIPILE_FINAL_LEAD,
      "Unipile rejected the request as invalid" },
    { 404, NULL, UNIPILE_FINAL_LEAD,
      "not found (user, chat or account)" },
    { 415, NULL, UNIPILE_FINAL_LEAD,
      "Unipile rejected the content type" },
    { 501, NULL, UNIPILE_FINAL_LEAD,
      "Unipile does not offer this feature" },
};

static const char *const  outcome_names[] = {
    "SENT", "RETRY", "ACCOUNT_COOLOFF", "ACCOUNT_BLOCKED", "FINAL_LEAD",
    "FINAL_LIMIT", "UNKNOWN"
};


const char *
unipile_outcome_name(unipile_outcome_t outcome)
{
    return outcome_names[outcome];
}


static void
verdict_set(unipile_verdict_t *v, unipile_outcome_t outcome,
    const char *reason)
{
    v->outcome = outcome;
    v->reason = reason;
}


/* Reads "type" (without "errors/"), title and detail of an error body. */
static void
read_error_body(const char *body, unipile_verdict_t *v)
{
    json_t      *json;
    const char  *type, *title, *detail;

    json = json_loads(body, 0, NULL);
    if (!json_is_object(json)) {
        json_decref(json);
        return;
    }

    type = json_string_value(json_object_get(json, "type"));
    title = json_string_value(json_object_get(json, "title"));
    detail = json_string_value(json_object_get(json, "detail"));

    if (type != NULL) {
        if (strncmp(type, "errors/", 7) == 0) {
            type += 7;
        }
        snprintf(v->type, sizeof(v->type), "%s", type);
    }

    snprintf(v->detail, sizeof(v->detail), "%s%s%s",
             title != NULL ? title : "",
             title != NULL && detail != NULL ? ": " : "",
             detail != NULL ? detail : "");
    json_decref(json);
}


static const unipile_rule_t *
find_rule(long status, const char *type)
{
    size_t  i;

    for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        if (rules[i].status == status
            && (rules[i].type == NULL || strcmp(rules[i].type, type) == 0))
        {
            return &rules[i];
        }
    }

    return NULL;
}


void
unipile_classify(const http_response_t *res, int is_send,
    unipile_verdict_t *v)
{
    const unipile_rule_t  *rule;

    memset(v, 0, sizeof(*v));
    v->status = res->status;
    v->retry_after_ms = -1;

    if (res->curl_code != CURLE_OK) {
        snprintf(v->detail, sizeof(v->detail), "%s", res->curl_error);

        if (!res->request_sent) {
            verdict_set(v, UNIPILE_RETRY,
                        "Unipile could not be reached (nothing was sent)");
        } else if (is_send) {
            verdict_set(v, UNIPILE_UNKNOWN,
                        "no answer after the request was sent: it may "
                        "have been applied");
        } else {
            verdict_set(v, UNIPILE_RETRY, "no answer from Unipile");
        }
        return;
    }

    if (res->status >= 200 && res->status < 300) {
        verdict_set(v, UNIPILE_SENT, "done");
        return;
    }

    read_error_body(res->body, v);

    rule = find_rule(res->status, v->type);
    if (rule != NULL) {
        verdict_set(v, rule->outcome, rule->reason);
        if (rule->outcome == UNIPILE_ACCOUNT_COOLOFF
            && res->retry_after_s >= 0)
        {
            v->retry_after_ms = res->retry_after_s * 1000;
        }
        return;
    }

    if (res->status == 504 && is_send) {
        verdict_set(v, UNIPILE_UNKNOWN,
                    "LinkedIn did not answer Unipile in time: the action "
                    "may have been applied");

    } else if (res->status >= 500) {
        verdict_set(v, UNIPILE_RETRY, "Unipile or LinkedIn failed");

    } else if (res->status >= 400) {
        verdict_set(v, UNIPILE_FINAL_LEAD,
                    "Unipile refused the request with an unexpected status");

    } else {
        verdict_set(v, is_send ? UNIPILE_UNKNOWN : UNIPILE_RETRY,
                    "unexpected HTTP status from Unipile");
    }
}


/* ---- tolerant readers --------------------------------------------- */

static const char *
get_string(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}


/* Unipile's flags are 0/1 on REST and booleans in webhooks. */
static int
get_flag(json_t *obj, const char *key)
{
    json_t  *v = json_object_get(obj, key);

    return json_is_true(v) || (json_is_integer(v)
                               && json_integer_value(v) != 0);
}


/*
 * Ids documented as strings have been seen as numbers elsewhere (the
 * 19-digit invitation id): make them strings in place so they can be
 * borrowed like the others.
 */
static const char *
get_id(json_t *obj, const char *key)
{
    char     text[32];
    json_t  *v = json_object_get(obj, key);

    if (json_is_integer(v)) {
        snprintf(text, sizeof(text), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(v));
        json_object_set_new(obj, key, json_string(text));
    }

    return get_string(obj, key);
}


int
unipile_parse_profile(json_t *obj, unipile_profile_t *p)
{
    json_t  *invitation;

    memset(p, 0, sizeof(*p));
    p->provider_id = get_string(obj, "provider_id");
    p->public_identifier = get_string(obj, "public_identifier");
    p->member_urn = get_id(obj, "member_urn");
    p->first_name = get_string(obj, "first_name");
    p->last_name = get_string(obj, "last_name");
    p->is_relationship = get_flag(obj, "is_relationship");

    invitation = json_object_get(obj, "invitation");
    if (json_is_object(invitation)) {
        p->invitation_type = get_string(invitation, "type");
        p->invitation_status = get_string(invitation, "status");
    }

    return p->provider_id != NULL ? 0 : -1;
}


int
unipile_parse_message(json_t *obj, unipile_message_t *m)
{
    json_t  *attachments;

    memset(m, 0, sizeof(*m));
    m->id = get_string(obj, "id");
    m->chat_id = get_string(obj, "chat_id");
    m->sender_id = get_string(obj, "sender_id");
    m->text = get_string(obj, "text");
    m->timestamp = get_string(obj, "timestamp");
    m->is_sender = get_flag(obj, "is_sender");

    /* An array in real answers, a single object in old examples. */
    attachments = json_object_get(obj, "attachments");
    m->nattachments = json_is_array(attachments) ? json_array_size(attachments)
                      : json_is_object(attachments) ? 1 : 0;

    return m->id != NULL ? 0 : -1;
}


int
unipile_parse_chat(json_t *obj, unipile_chat_t *c)
{
    memset(c, 0, sizeof(*c));
    c->id = get_string(obj, "id");
    c->attendee_provider_id = get_string(obj, "attendee_provider_id");
    c->timestamp = get_string(obj, "timestamp");

    return c->id != NULL ? 0 : -1;
}


int
unipile_parse_invitation(json_t *obj, unipile_invitation_t *i)
{
    memset(i, 0, sizeof(*i));
    i->id = get_id(obj, "id");
    i->invited_user_id = get_string(obj, "invited_user_id");
    i->invited_user_public_id = get_string(obj, "invited_user_public_id");
    i->parsed_datetime = get_string(obj, "parsed_datetime");

    return i->id != NULL ? 0 : -1;
}


int
unipile_parse_relation(json_t *obj, unipile_relation_t *r)
{
    memset(r, 0, sizeof(*r));
    r->member_id = get_string(obj, "member_id");
    r->public_identifier = get_string(obj, "public_identifier");
    r->created_at_ms = json_number_value(json_object_get(obj, "created_at"));

    return r->member_id != NULL ? 0 : -1;
}


const char *
unipile_parse_account_status(json_t *obj)
{
    const char  *status;

    status = get_string(json_array_get(json_object_get(obj, "sources"), 0),
                        "status");
    return status != NULL ? status : "OK";
}


/* ---- URLs ----------------------------------------------------------- */

typedef struct {
    char    *data;
    size_t   len;
    size_t   cap;
    int      failed;
} strbuf_t;


static void
sb_add(strbuf_t *b, const char *s, size_t n)
{
    size_t   cap;
    char    *data;

    if (b->failed) {
        return;
    }

    if (b->len + n + 1 > b->cap) {
        cap = b->cap != 0 ? b->cap : 256;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        data = realloc(b->data, cap);
        if (data == NULL) {
            b->failed = 1;
            return;
        }
        b->data = data;
        b->cap = cap;
    }

    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}


static void
sb_str(strbuf_t *b, const char *s)
{
    sb_add(b, s, strlen(s));
}


/* Percent-encodes all but RFC 3986's unreserved characters. */
static void
sb_escaped(strbuf_t *b, const char *s)
{
    char                 hex[4];
    const unsigned char  *p;

    for (p = (const unsigned char *) s; *p != '\0'; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')
            || (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL)
        {
            sb_add(b, (const char *) p, 1);
        } else {
            snprintf(hex, sizeof(hex), "%%%02X", *p);
            sb_add(b, hex, 3);
        }
    }
}


/* Adds ?name=value or &name=value; a NULL value adds nothing. */
static void
sb_param(strbuf_t *b, const char *name, const char *value)
{
    if (value == NULL) {
        return;
    }

    sb_str(b, b->data != NULL && strchr(b->data, '?') != NULL ? "&" : "?");
    sb_str(b, name);
    sb_str(b, "=");
    sb_escaped(b, value);
}


static char *
sb_finish(strbuf_t *b)
{
    if (b->failed) {
        free(b->data);
        return NULL;
    }

    return b->data;
}


static int
is_loopback(const char *host)
{
    return strncmp(host, "127.", 4) == 0
           || strncmp(host, "localhost", 9) == 0
           || strncmp(host, "[::1]", 5) == 0;
}


char *
unipile_base_url(const char *dsn)
{
    size_t    len;
    strbuf_t  b;

    if (dsn == NULL || *dsn == '\0') {
        return NULL;
    }

    memset(&b, 0, sizeof(b));

    if (strncmp(dsn, "https://", 8) == 0 || strncmp(dsn, "http://", 7) == 0) {
        len = strlen(dsn);
        while (len > 0 && dsn[len - 1] == '/') {
            len--;
        }
        sb_add(&b, dsn, len);
        if (len < 7 || strcmp(b.data + len - 7, "/api/v1") != 0) {
            sb_str(&b, "/api/v1");
        }
        return sb_finish(&b);
    }

    if (strchr(dsn, '/') != NULL) {
        return NULL;
    }

    /* Unipile's DSNs are public hosts: a loopback one is the simulator. */
    sb_str(&b, is_loopback(dsn) ? "http://" : "https://");
    sb_str(&b, dsn);
    sb_str(&b, "/api/v1");
    return sb_finish(&b);
}


/* ---- calls ---------------------------------------------------------- */

typedef struct unipile_call_s  unipile_call_t;

/* Fills res from the answer; -1: unreadable; 1: fetch call->url next. */
typedef int (*unipile_parse_pt)(unipile_call_t *call, json_t *body,
    unipile_result_t *res);

/* A search's test of one list item: 1 (and res filled) when it matches. */
typedef int (*unipile_match_pt)(json_t *item, const char *want,
    unipile_result_t *res);

typedef struct {
    const char        *name;
    const char        *method;
    int                is_send;
    unipile_parse_pt   parse;
    const char        *search_path;    /* searches: the list to page */
    unipile_match_pt   match;
} unipile_op_t;

typedef struct {
    char  *name;
    char  *value;
} unipile_field_t;

struct unipile_s {
    loop_t             *loop;
    http_t             *http;
    char               *base;
    char               *key_header;
    unipile_options_t   options;
    unipile_call_t     *calls;
};

struct unipile_call_s {
    unipile_t           *u;
    const unipile_op_t  *op;
    char                *url;
    char                *json;
    unipile_field_t      form[UNIPILE_MAX_FORM];
    unsigned             nform;
    char                *account_id;     /* searches: their next pages */
    char                *match;          /* searches: the provider id */
    unsigned             attempts;       /* requests, all pages included */
    unsigned             tries;          /* requests for the current URL */
    unsigned             pages;
    loop_timer_t         retry_timer;
    unipile_done_pt      done;
    void                *data;
    unipile_call_t      *next;
    unipile_call_t      *prev;
};


static void call_start(unipile_call_t *call);
static const unipile_op_t  op_get_account;


static void
call_free(unipile_call_t *call)
{
    unsigned  i;

    loop_timer_stop(&call->retry_timer);

    if (call->prev != NULL) {
        call->prev->next = call->next;
    } else {
        call->u->calls = call->next;
    }
    if (call->next != NULL) {
        call->next->prev = call->prev;
    }

    for (i = 0; i < call->nform; i++) {
        free(call->form[i].name);
        free(call->form[i].value);
    }
    free(call->url);
    free(call->json);
    free(call->account_id);
    free(call->match);
    free(call);
}


static void
call_finish(unipile_call_t *call, unipile_result_t *res)
{
    res->attempts = call->attempts;
    res->pages = call->pages;

    if (res->verdict.outcome == UNIPILE_SENT) {
        log_debug("unipile: %s done after %u request(s)", call->op->name,
                  call->attempts);
    } else {
        log_warn("unipile: %s: %s: %s (HTTP %ld %s%s%s) after %u "
                 "request(s)", call->op->name,
                 unipile_outcome_name(res->verdict.outcome),
                 res->verdict.reason, res->verdict.status,
                 res->verdict.type, res->verdict.type[0] ? " " : "",
                 res->verdict.detail, call->attempts);
    }

    call->done(res, call->data);
    json_decref(res->body);
    call_free(call);
}


static void
retry_fired(loop_timer_t *timer, void *data)
{
    (void) timer;
    call_start(data);
}


static int
call_retry(unipile_call_t *call, const unipile_verdict_t *v)
{
    uint64_t  delay;

    if (call->tries >= call->u->options.max_attempts) {
        return 0;
    }

    delay = backoff_delay_ms(call->tries - 1,
                             call->u->options.backoff_base_ms,
                             call->u->options.backoff_cap_ms,
                             backoff_random());

    log_info("unipile: %s: %s (HTTP %ld %s), retrying in %llu ms",
             call->op->name, v->reason, v->status, v->detail,
             (unsigned long long) delay);

    loop_timer_start(call->u->loop, &call->retry_timer, delay, 0,
                     retry_fired, call);
    return 1;
}


static void
call_answered(const http_response_t *http_res, void *data)
{
    int               rc;
    unipile_call_t   *call = data;
    unipile_result_t  res;

    memset(&res, 0, sizeof(res));
    unipile_classify(http_res, call->op->is_send, &res.verdict);

    if (res.verdict.outcome == UNIPILE_SENT) {
        res.body = json_loads(http_res->body, 0, NULL);
        rc = json_is_object(res.body) ? call->op->parse(call, res.body, &res)
                                      : -1;
        if (rc == 1) {
            json_decref(res.body);
            call->pages++;
            call->tries = 0;
            call_start(call);
            return;
        }

        if (rc != 0) {
            verdict_set(&res.verdict,
                        call->op->is_send ? UNIPILE_UNKNOWN : UNIPILE_RETRY,
                        "Unipile's answer could not be read");
            snprintf(res.verdict.detail, sizeof(res.verdict.detail),
                     "%.200s", http_res->body);
        }
    }

    /* No lead in the question: what is missing is the account itself. */
    if (call->op == &op_get_account && res.verdict.status == 404) {
        verdict_set(&res.verdict, UNIPILE_ACCOUNT_BLOCKED,
                    "Unipile does not know this account (deleted?)");
    }

    if (res.verdict.outcome == UNIPILE_RETRY && call_retry(call, &res.verdict))
    {
        json_decref(res.body);
        return;
    }

    call_finish(call, &res);
}


static http_request_t *
call_request(unipile_call_t *call)
{
    unsigned         i;
    http_request_t  *req;

    req = http_request_create(call->op->method, call->url,
                              call->u->options.timeout_ms);
    if (req == NULL) {
        return NULL;
    }

    if (http_request_header(req, call->u->key_header) != 0
        || http_request_header(req, "accept: application/json") != 0
        || (call->json != NULL && http_request_json(req, call->json) != 0))
    {
        http_request_free(req);
        return NULL;
    }

    if (call->op->is_send) {
        http_request_no_replay(req);
    }

    for (i = 0; i < call->nform; i++) {
        if (http_request_form(req, call->form[i].name, call->form[i].value)
            != 0)
        {
            http_request_free(req);
            return NULL;
        }
    }

    return req;
}


static void
call_start(unipile_call_t *call)
{
    http_request_t    *req;
    unipile_result_t   res;

    call->attempts++;
    call->tries++;

    req = call_request(call);
    if (req != NULL && http_start(call->u->http, req, call_answered, call)
                       == 0)
    {
        return;
    }

    /* Nothing went out: the engine may simply try again later. */
    memset(&res, 0, sizeof(res));
    res.verdict.retry_after_ms = -1;
    verdict_set(&res.verdict, UNIPILE_RETRY,
                "out of memory while building the request");
    call_finish(call, &res);
}


static unipile_call_t *
call_create(unipile_t *u, const unipile_op_t *op, char *url,
    unipile_done_pt done, void *data)
{
    unipile_call_t  *call;

    if (url == NULL) {
        return NULL;
    }

    call = calloc(1, sizeof(unipile_call_t));
    if (call == NULL) {
        free(url);
        return NULL;
    }

    call->u = u;
    call->op = op;
    call->url = url;
    call->done = done;
    call->data = data;

    call->next = u->calls;
    if (u->calls != NULL) {
        u->calls->prev = call;
    }
    u->calls = call;
    return call;
}


static int
call_form(unipile_call_t *call, const char *name, const char *value)
{
    unipile_field_t  *f = &call->form[call->nform];

    f->name = strdup(name);
    f->value = strdup(value);
    call->nform++;
    return f->name != NULL && f->value != NULL ? 0 : -1;
}


/*
 * The first request goes out from the loop, so that done is never called
 * from inside the operation's own call.
 */
static int
call_launch(unipile_call_t *call, int built)
{
    if (built != 0) {
        call_free(call);
        return -1;
    }

    loop_timer_start(call->u->loop, &call->retry_timer, 0, 0, retry_fired,
                     call);
    return 0;
}


/* A call that needs nothing but its URL (the reads). */
static int
call_url(unipile_t *u, const unipile_op_t *op, char *url,
    unipile_done_pt done, void *data)
{
    unipile_call_t  *call;

    call = call_create(u, op, url, done, data);
    return call != NULL ? call_launch(call, 0) : -1;
}


/* "<base><path><escaped segment><rest>" */
static void
url_begin(strbuf_t *b, unipile_t *u, const char *path, const char *segment,
    const char *rest)
{
    memset(b, 0, sizeof(*b));
    sb_str(b, u->base);
    sb_str(b, path);
    if (segment != NULL) {
        sb_escaped(b, segment);
    }
    if (rest != NULL) {
        sb_str(b, rest);
    }
}


static char *
url_of(unipile_t *u, const char *path, const char *segment, const char *rest)
{
    strbuf_t  b;

    url_begin(&b, u, path, segment, rest);
    return sb_finish(&b);
}


/* A list route's URL: the filters, the cursor and the page size. */
static char *
list_url(unipile_t *u, const char *path, const char *segment,
    const char *rest, const char *account_id, const char *after,
    const char *cursor)
{
    char      limit[16];
    strbuf_t  b;

    snprintf(limit, sizeof(limit), "%u", u->options.page_limit);
    url_begin(&b, u, path, segment, rest);
    sb_param(&b, "account_id", account_id);
    sb_param(&b, "after", after);
    sb_param(&b, "limit", limit);
    sb_param(&b, "cursor", cursor);
    return sb_finish(&b);
}


static int
call_search(unipile_t *u, const unipile_op_t *op, const char *account_id,
    const char *want, unipile_done_pt done, void *data)
{
    unipile_call_t  *call;

    call = call_create(u, op, list_url(u, op->search_path, NULL, NULL,
                                       account_id, NULL, NULL),
                       done, data);
    if (call == NULL) {
        return -1;
    }

    call->pages = 1;
    call->account_id = strdup(account_id);
    call->match = strdup(want);
    return call_launch(call, call->account_id != NULL && call->match != NULL
                             ? 0 : -1);
}


/* ---- answers -------------------------------------------------------- */

static int
parse_profile(unipile_call_t *call, json_t *body, unipile_result_t *res)
{
    (void) call;
    return unipile_parse_profile(body, &res->profile);
}


static int
parse_invite(unipile_call_t *call, json_t *body, unipile_result_t *res)
{
    (void) call;
    res->invitation_id = get_id(body, "invitation_id");
    return res->invitation_id != NULL ? 0 : -1;
}


/* chat_id and message_id are "string or null" in the spec. */
static int
parse_chat_started(unipile_call_t *call, json_t *body, unipile_result_t *res)
{
    (void) call;
    res->chat_id = get_string(body, "chat_id");
    res->message_id = get_string(body, "message_id");
    return 0;
}


static int
parse_message_sent(unipile_call_t *call, json_t *body, unipile_result_t *res)
{
    (void) call;
    res->message_id = get_string(body, "message_id");
    return 0;
}


static int
parse_list(unipile_call_t *call, json_t *body, unipile_result_t *res)
{
    json_t  *cursor;

    (void) call;
    res->items = json_object_get(body, "items");
    cursor = json_object_get(body, "cursor");
    res->cursor = json_string_value(cursor);

    return json_is_array(res->items)
           && (json_is_string(cursor) || json_is_null(cursor)
               || cursor == NULL) ? 0 : -1;
}


static int
match_chat(json_t *item, const char *provider_id, unipile_result_t *res)
{
    unipile_chat_t  chat;

    if (unipile_parse_chat(item, &chat) != 0
        || chat.attendee_provider_id == NULL
        || strcmp(chat.attendee_provider_id, provider_id) != 0)
    {
        return 0;
    }

    res->chat_id = chat.id;
    return 1;
}


static int
match_invitation(json_t *item, const char *provider_id,
    unipile_result_t *res)
{
    unipile_invitation_t  inv;

    if (unipile_parse_invitation(item, &inv) != 0
        || inv.invited_user_id == NULL
        || strcmp(inv.invited_user_id, provider_id) != 0)
    {
        return 0;
    }

    res->invitation_id = inv.id;
    return 1;
}


/* Pages through the op's list until an item matches or none is left. */
static int
parse_search(unipile_call_t *call, json_t *body, unipile_result_t *res)
{
    size_t   i;
    json_t  *item;

    if (parse_list(call, body, res) != 0) {
        return -1;
    }

    json_array_foreach(res->items, i, item) {
        if (call->op->match(item, call->match, res)) {
            return 0;
        }
    }

    if (res->cursor == NULL) {
        return 0;
    }

    free(call->url);
    call->url = list_url(call->u, call->op->search_path, NULL, NULL,
                         call->account_id, NULL, res->cursor);
    return call->url != NULL ? 1 : -1;
}


static int
parse_account(unipile_call_t *call, json_t *body, unipile_result_t *res)
{
    (void) call;
    if (get_string(body, "id") == NULL) {
        return -1;
    }
    res->account_status = unipile_parse_account_status(body);
    return 0;
}


/* create, delete and cancel answer an object we only need to be one */
static int
parse_object(unipile_call_t *call, json_t *body, unipile_result_t *res)
{
    (void) call;
    (void) res;
    return json_is_object(body) ? 0 : -1;
}


static const unipile_op_t  op_get_profile =
    { "get_profile", "GET", 0, parse_profile, NULL, NULL };
static const unipile_op_t  op_invite =
    { "invite", "POST", 1, parse_invite, NULL, NULL };
static const unipile_op_t  op_list_sent_invitations =
    { "list_sent_invitations", "GET", 0, parse_list, NULL, NULL };
static const unipile_op_t  op_list_relations =
    { "list_relations", "GET", 0, parse_list, NULL, NULL };
static const unipile_op_t  op_list_chats =
    { "list_chats", "GET", 0, parse_list, NULL, NULL };
static const unipile_op_t  op_find_chat_with =
    { "find_chat_with", "GET", 0, parse_search, "/chats", match_chat };
static const unipile_op_t  op_find_sent_invitation =
    { "find_sent_invitation", "GET", 0, parse_search, "/users/invite/sent",
      match_invitation };
static const unipile_op_t  op_start_chat =
    { "start_chat", "POST", 1, parse_chat_started, NULL, NULL };
static const unipile_op_t  op_send_message =
    { "send_message", "POST", 1, parse_message_sent, NULL, NULL };
static const unipile_op_t  op_list_chat_messages =
    { "list_chat_messages", "GET", 0, parse_list, NULL, NULL };
static const unipile_op_t  op_list_messages =
    { "list_messages", "GET", 0, parse_list, NULL, NULL };
static const unipile_op_t  op_get_account =
    { "get_account", "GET", 0, parse_account, NULL, NULL };
/* A DELETE changes LinkedIn: never replayed on a reused connection. */
static const unipile_op_t  op_cancel_invitation =
    { "cancel_invitation", "DELETE", 1, parse_object, NULL, NULL };
static const unipile_op_t  op_list_webhooks =
    { "list_webhooks", "GET", 0, parse_list, NULL, NULL };
static const unipile_op_t  op_create_webhook =
    { "create_webhook", "POST", 1, parse_object, NULL, NULL };
static const unipile_op_t  op_delete_webhook =
    { "delete_webhook", "DELETE", 1, parse_object, NULL, NULL };


/* ---- the API -------------------------------------------------------- */

unipile_t *
unipile_create(loop_t *loop, const unipile_options_t *options)
{
    size_t      len;
    unipile_t  *u;

    u = calloc(1, sizeof(unipile_t));
    if (u == NULL) {
        return NULL;
    }

    u->loop = loop;
    u->options = *options;
    if (u->options.max_attempts == 0) {
        u->options.max_attempts = 1;
    }
    if (u->options.page_limit == 0 || u->options.page_limit > 100) {
        u->options.page_limit = UNIPILE_PAGE_LIMIT;
    }

    u->base = unipile_base_url(options->dsn);
    if (u->base == NULL) {
        log_error("unipile: UNIPILE_DSN \"%s\" is not host:port or an "
                  "http(s) URL", options->dsn != NULL ? options->dsn : "");
        free(u);
        return NULL;
    }

    len = sizeof("X-API-KEY: ") + strlen(options->api_key);
    u->key_header = malloc(len);
    u->http = http_create(loop);
    if (u->key_header == NULL || u->http == NULL) {
        unipile_destroy(u);
        return NULL;
    }
    snprintf(u->key_header, len, "X-API-KEY: %s", options->api_key);

    return u;
}


void
unipile_destroy(unipile_t *u)
{
    /* Freeing the calls first: http_destroy() calls nobody back. */
    while (u->calls != NULL) {
        call_free(u->calls);
    }

    if (u->http != NULL) {
        http_destroy(u->http);
    }
    free(u->key_header);
    free(u->base);
    free(u);
}


int
unipile_get_profile(unipile_t *u, const char *account_id,
    const char *identifier, unipile_done_pt done, void *data)
{
    strbuf_t  b;

    url_begin(&b, u, "/users/", identifier, NULL);
    sb_param(&b, "account_id", account_id);

    return call_url(u, &op_get_profile, sb_finish(&b), done, data);
}


int
unipile_invite(unipile_t *u, const char *account_id,
    const char *provider_id, const char *note, unipile_done_pt done,
    void *data)
{
    json_t          *body;
    unipile_call_t  *call;

    call = call_create(u, &op_invite,
                       url_of(u, "/users/invite", NULL, NULL),
                       done, data);
    if (call == NULL) {
        return -1;
    }

    body = json_pack("{s:s, s:s}", "provider_id", provider_id,
                     "account_id", account_id);
    if (body != NULL && note != NULL) {
        json_object_set_new(body, "message", json_string(note));
    }
    call->json = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);

    return call_launch(call, call->json != NULL ? 0 : -1);
}


int
unipile_list_sent_invitations(unipile_t *u, const char *account_id,
    const char *cursor, unipile_done_pt done, void *data)
{
    return call_url(u, &op_list_sent_invitations,
                    list_url(u, "/users/invite/sent", NULL, NULL,
                             account_id, NULL, cursor),
                    done, data);
}


int
unipile_list_relations(unipile_t *u, const char *account_id,
    const char *cursor, unipile_done_pt done, void *data)
{
    return call_url(u, &op_list_relations,
                    list_url(u, "/users/relations", NULL, NULL, account_id,
                             NULL, cursor),
                    done, data);
}


int
unipile_list_chats(unipile_t *u, const char *account_id,
    const char *cursor, unipile_done_pt done, void *data)
{
    return call_url(u, &op_list_chats,
                    list_url(u, "/chats", NULL, NULL, account_id, NULL,
                             cursor),
                    done, data);
}


int
unipile_find_chat_with(unipile_t *u, const char *account_id,
    const char *provider_id, unipile_done_pt done, void *data)
{
    return call_search(u, &op_find_chat_with, account_id, provider_id, done,
                       data);
}


int
unipile_find_sent_invitation(unipile_t *u, const char *account_id,
    const char *provider_id, unipile_done_pt done, void *data)
{
    return call_search(u, &op_find_sent_invitation, account_id, provider_id,
                       done, data);
}


/* A new 1:1 chat; an InMail (premium accounts) reaches a non-connection. */
static int
start_chat(unipile_t *u, const char *account_id, const char *provider_id,
    const char *text, int inmail, unipile_done_pt done, void *data)
{
    unipile_call_t  *call;

    call = call_create(u, &op_start_chat,
                       url_of(u, "/chats", NULL, NULL),
                       done, data);
    if (call == NULL) {
        return -1;
    }

    /* One attendees_ids part per id, as Unipile's own SDK sends them. */
    return call_launch(call,
                       call_form(call, "account_id", account_id)
                       | call_form(call, "attendees_ids", provider_id)
                       | call_form(call, "text", text)
                       | call_form(call, "linkedin[api]", "classic")
                       | (inmail ? call_form(call, "linkedin[inmail]", "true")
                                 : 0));
}


int
unipile_start_chat(unipile_t *u, const char *account_id,
    const char *provider_id, const char *text, unipile_done_pt done,
    void *data)
{
    return start_chat(u, account_id, provider_id, text, 0, done, data);
}


int
unipile_start_inmail(unipile_t *u, const char *account_id,
    const char *provider_id, const char *text, unipile_done_pt done,
    void *data)
{
    return start_chat(u, account_id, provider_id, text, 1, done, data);
}


int
unipile_send_message(unipile_t *u, const char *chat_id, const char *text,
    const char *account_id, unipile_done_pt done, void *data)
{
    unipile_call_t  *call;

    call = call_create(u, &op_send_message,
                       url_of(u, "/chats/", chat_id, "/messages"),
                       done, data);
    if (call == NULL) {
        return -1;
    }

    /* account_id makes Unipile refuse a chat of another account. */
    return call_launch(call,
                       call_form(call, "text", text)
                       | (account_id != NULL
                          ? call_form(call, "account_id", account_id) : 0));
}


int
unipile_list_chat_messages(unipile_t *u, const char *chat_id,
    const char *cursor, unipile_done_pt done, void *data)
{
    return call_url(u, &op_list_chat_messages,
                    list_url(u, "/chats/", chat_id, "/messages", NULL, NULL,
                             cursor),
                    done, data);
}


int
unipile_list_messages(unipile_t *u, const char *account_id,
    const char *after, const char *cursor, unipile_done_pt done,
    void *data)
{
    return call_url(u, &op_list_messages,
                    list_url(u, "/messages", NULL, NULL, account_id, after,
                             cursor),
                    done, data);
}


int
unipile_get_account(unipile_t *u, const char *account_id,
    unipile_done_pt done, void *data)
{
    return call_url(u, &op_get_account,
                    url_of(u, "/accounts/", account_id, NULL), done, data);
}


int
unipile_cancel_invitation(unipile_t *u, const char *account_id,
    const char *invitation_id, unipile_done_pt done, void *data)
{
    strbuf_t  b;

    url_begin(&b, u, "/users/invite/sent/", invitation_id, NULL);
    sb_param(&b, "account_id", account_id);

    return call_url(u, &op_cancel_invitation, sb_finish(&b), done, data);
}


int
unipile_list_webhooks(unipile_t *u, const char *cursor, unipile_done_pt done,
    void *data)
{
    return call_url(u, &op_list_webhooks,
                    list_url(u, "/webhooks", NULL, NULL, NULL, NULL, cursor),
                    done, data);
}


int
unipile_create_webhook(unipile_t *u, const char *json, unipile_done_pt done,
    void *data)
{
    unipile_call_t  *call;

    call = call_create(u, &op_create_webhook,
                       url_of(u, "/webhooks", NULL, NULL), done, data);
    if (call == NULL) {
        return -1;
    }

    call->json = strdup(json);
    return call_launch(call, call->json != NULL ? 0 : -1);
}


int
unipile_delete_webhook(unipile_t *u, const char *webhook_id,
    unipile_done_pt done, void *data)
{
    return call_url(u, &op_delete_webhook,
                    url_of(u, "/webhooks/", webhook_id, NULL), done, data);
}
