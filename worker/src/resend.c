#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resend.h"

#define RESEND_USER_AGENT  "User-Agent: liauto-worker"

struct resend_s {
    http_t          *http;
    char            *url;              /* <base>/emails */
    char            *auth_header;
    long             timeout_ms;
};

static const char *const  outcome_names[] = { "SENT", "RETRY", "FAILED" };


const char *
resend_outcome_name(resend_outcome_t outcome)
{
    return outcome_names[outcome];
}


/* The "name" and "message" of Resend's {"statusCode","name","message"}. */
typedef struct {
    char  name[64];
    char  message[256];
} resend_error_t;


static void
read_error(const char *body, resend_error_t *e)
{
    json_t      *json;
    const char  *name, *message;

    json = json_loads(body, 0, NULL);
    name = json_string_value(json_object_get(json, "name"));
    message = json_string_value(json_object_get(json, "message"));

    snprintf(e->name, sizeof(e->name), "%s",
             name != NULL ? name : "no error name");
    snprintf(e->message, sizeof(e->message), "%s%s",
             message != NULL ? ": " : "", message != NULL ? message : "");
    json_decref(json);
}


static void
verdict_set(resend_verdict_t *v, resend_outcome_t outcome, const char *what,
    const resend_error_t *e)
{
    v->outcome = outcome;
    snprintf(v->reason, sizeof(v->reason), "%s: %s%s (HTTP %ld)", what,
             e->name, e->message, v->status);
}


static void
read_id(const char *body, resend_verdict_t *v)
{
    json_t      *json;
    const char  *id;

    json = json_loads(body, 0, NULL);
    id = json_string_value(json_object_get(json, "id"));

    if (id != NULL && id[0] != '\0' && strlen(id) < sizeof(v->id)) {
        v->outcome = RESEND_SENT;
        snprintf(v->id, sizeof(v->id), "%s", id);

    } else {
        /* accepted or not, the same key makes asking again harmless */
        v->outcome = RESEND_RETRY;
        snprintf(v->reason, sizeof(v->reason), "Resend's answer has no "
                 "email id: %.200s (HTTP %ld)", body, v->status);
    }

    json_decref(json);
}


void
resend_classify(const http_response_t *res, resend_verdict_t *v)
{
    resend_error_t  e;

    memset(v, 0, sizeof(*v));
    v->status = res->status;
    v->retry_after_ms = -1;

    if (res->curl_code != CURLE_OK) {
        v->outcome = RESEND_RETRY;
        snprintf(v->reason, sizeof(v->reason), "no answer from Resend%s: "
                 "%s", res->request_sent ? " after the request was sent"
                                         : "", res->curl_error);
        return;
    }

    if (res->status >= 200 && res->status < 300) {
        read_id(res->body, v);
        return;
    }

    read_error(res->body, &e);

    if (res->status == 429) {
        if (res->retry_after_s >= 0) {
            v->retry_after_ms = res->retry_after_s * 1000;
        }
        verdict_set(v, RESEND_RETRY, "rate limited by Resend", &e);

    } else if (res->status == 409
               && strcmp(e.name, "concurrent_idempotent_requests") == 0)
    {
        verdict_set(v, RESEND_RETRY, "the same email is still being "
                    "processed by Resend", &e);

    } else if (res->status >= 500) {
        verdict_set(v, RESEND_RETRY, "Resend failed", &e);

    } else if (res->status >= 400) {
        verdict_set(v, RESEND_FAILED, "Resend refused the email", &e);

    } else {
        verdict_set(v, RESEND_FAILED, "unexpected answer from Resend", &e);
    }
}


resend_t *
resend_create(loop_t *loop, const resend_options_t *options)
{
    size_t     len;
    resend_t  *r;

    r = calloc(1, sizeof(resend_t));
    if (r == NULL) {
        return NULL;
    }

    len = strlen(options->base_url);
    while (len > 0 && options->base_url[len - 1] == '/') {
        len--;
    }

    r->http = http_create(loop);
    r->url = malloc(len + sizeof("/emails"));
    r->auth_header = malloc(strlen(options->api_key)
                            + sizeof("Authorization: Bearer "));

    if (r->http == NULL || r->url == NULL || r->auth_header == NULL) {
        resend_destroy(r);
        return NULL;
    }

    memcpy(r->url, options->base_url, len);
    strcpy(r->url + len, "/emails");
    sprintf(r->auth_header, "Authorization: Bearer %s", options->api_key);
    r->timeout_ms = options->timeout_ms;
    return r;
}


void
resend_destroy(resend_t *r)
{
    if (r->http != NULL) {
        http_destroy(r->http);
    }

    free(r->url);
    free(r->auth_header);
    free(r);
}


static void
call_answered(const http_response_t *res, void *data)
{
    resend_call_t     *call = data;
    resend_verdict_t   v;

    resend_classify(res, &v);
    call->done(&v, call->data);
}


/* The JSON body; NULL when out of memory. */
static char *
email_json(const resend_email_t *email)
{
    char    *body;
    json_t  *json;

    json = json_pack("{s:s, s:O, s:s, s:s, s:s}", "from", email->from,
                     "to", email->to, "subject", email->subject,
                     "html", email->html, "text", email->text);
    if (json == NULL) {
        return NULL;
    }

    /* the same email is the same bytes: Resend compares payloads */
    body = json_dumps(json, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(json);
    return body;
}


int
resend_send(resend_t *r, const resend_email_t *email, resend_call_t *call)
{
    int              rc = -1;
    char            *body, *key_header = NULL;
    http_request_t  *req;

    body = email_json(email);
    req = http_request_create("POST", r->url, r->timeout_ms);

    if (body == NULL || req == NULL
        || asprintf(&key_header, "Idempotency-Key: %s",
                    email->idempotency_key) < 0)
    {
        key_header = NULL;
        goto done;
    }

    if (http_request_header(req, r->auth_header) != 0
        || http_request_header(req, key_header) != 0
        || http_request_header(req, RESEND_USER_AGENT) != 0
        || http_request_json(req, body) != 0)
    {
        goto done;
    }

    rc = http_start(r->http, req, call_answered, call);
    req = NULL;                 /* freed by http_start() on failure */

done:

    if (req != NULL) {
        http_request_free(req);
    }
    free(key_header);
    free(body);
    return rc;
}
