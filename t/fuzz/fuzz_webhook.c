
/*
 * Copyright (C) liauto
 *
 * Webhook deliveries as the module takes them: ngx_liauto_webhook_accept()
 * on a delivery's header values and body, with a shared secret
 * ("Unipile-Auth") and a Standard Webhooks signing key both configured.
 *
 * The input: a flags byte, then six lines (the secret header,
 * webhook-signature, content-type, user-agent, webhook-id,
 * webhook-timestamp), then the body.  Flag bits 0-5 say which of the six
 * headers are present; bit 6 appends a right "v1,<mac>" to the signature
 * header's value and bit 7 replaces the timestamp with now, so that the
 * signature path is reached with any id, body and other signatures.
 *
 * What must hold: a delivery is accepted only with the right secret or a
 * right v1 signature over id.timestamp.body within the tolerance; what is
 * stored is a JSON object without a NUL byte and headers that are a JSON
 * object of the kept ones; a refusal is a 401 or a 400 whose envelope is
 * JSON; and a delivery with the right secret (or signature) and an object
 * for a body is never refused.
 */


#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ngx_liauto_module.h"
#include "ngx_liauto_json.h"
#include "ngx_liauto_webhook.h"
#include "ngx_fuzz_support.h"


#define NGX_FUZZ_SECRET  "fuzz-unipile-secret"
#define NGX_FUZZ_KEY     "fuzz-standard-webhooks-key-32-by"
#define NGX_FUZZ_LINES   6


static ngx_liauto_webhook_conf_t  ngx_fuzz_wcf;


static void
ngx_fuzz_webhook_init(void)
{
    static u_char  digest[EVP_MAX_MD_SIZE];

    if (EVP_Digest(NGX_FUZZ_SECRET, sizeof(NGX_FUZZ_SECRET) - 1, digest,
                   NULL, EVP_sha256(), NULL)
        != 1)
    {
        ngx_fuzz_fail(__FILE__, __LINE__, "SHA-256 failed");
    }

    ngx_fuzz_wcf.secret_digest.data = digest;
    ngx_fuzz_wcf.secret_digest.len = 32;
    ngx_str_set(&ngx_fuzz_wcf.header, "unipile-auth");
    ngx_fuzz_wcf.tolerance = 300;
    ngx_fuzz_wcf.signing_key = EVP_PKEY_new_raw_private_key(EVP_PKEY_HMAC,
                                   NULL, (u_char *) NGX_FUZZ_KEY,
                                   sizeof(NGX_FUZZ_KEY) - 1);

    if (ngx_fuzz_wcf.signing_key == NULL) {
        ngx_fuzz_fail(__FILE__, __LINE__, "no HMAC key");
    }
}


/* "v1," base64(HMAC-SHA256(key, id.ts.body)), computed apart from it */

static ngx_str_t *
ngx_fuzz_webhook_sign(ngx_pool_t *pool, ngx_liauto_webhook_delivery_t *d)
{
    u_char        *msg, *p, md[EVP_MAX_MD_SIZE];
    ngx_str_t     *sig, mac, encoded;
    unsigned int   mdlen;

    msg = ngx_pnalloc(pool, d->id->len + d->timestamp->len + d->body.len + 2);
    sig = ngx_palloc(pool, sizeof(ngx_str_t));
    if (msg == NULL || sig == NULL) {
        ngx_fuzz_fail(__FILE__, __LINE__, "out of memory");
    }

    p = ngx_cpymem(msg, d->id->data, d->id->len);
    *p++ = '.';
    p = ngx_cpymem(p, d->timestamp->data, d->timestamp->len);
    *p++ = '.';
    p = ngx_cpymem(p, d->body.data, d->body.len);

    if (HMAC(EVP_sha256(), NGX_FUZZ_KEY, sizeof(NGX_FUZZ_KEY) - 1, msg,
             p - msg, md, &mdlen)
        == NULL)
    {
        ngx_fuzz_fail(__FILE__, __LINE__, "HMAC failed");
    }

    sig->data = ngx_pnalloc(pool, 3 + ngx_base64_encoded_length(mdlen));
    if (sig->data == NULL) {
        ngx_fuzz_fail(__FILE__, __LINE__, "out of memory");
    }

    ngx_memcpy(sig->data, "v1,", 3);
    mac.data = md;
    mac.len = mdlen;
    encoded.data = sig->data + 3;
    ngx_encode_base64(&encoded, &mac);
    sig->len = 3 + encoded.len;

    return sig;
}


/* does the space-separated list hold exactly this entry? */

static ngx_int_t
ngx_fuzz_webhook_has_entry(ngx_str_t *list, ngx_str_t *entry)
{
    u_char  *p, *last, *start;

    p = list->data;
    last = p + list->len;

    while (p < last) {
        start = p;

        while (p < last && *p != ' ') {
            p++;
        }

        if ((size_t) (p - start) == entry->len
            && ngx_memcmp(start, entry->data, entry->len) == 0)
        {
            return 1;
        }

        p++;
    }

    return 0;
}


/* the right signature is there and the timestamp within the tolerance */

static ngx_int_t
ngx_fuzz_webhook_signed(ngx_pool_t *pool, ngx_liauto_webhook_delivery_t *d)
{
    time_t  ts;

    if (d->id == NULL || d->timestamp == NULL || d->signature == NULL) {
        return 0;
    }

    ts = ngx_atotm(d->timestamp->data, d->timestamp->len);

    return ts != NGX_ERROR
           && ts >= ngx_time() - 300 && ts <= ngx_time() + 300
           && ngx_fuzz_webhook_has_entry(d->signature,
                                         ngx_fuzz_webhook_sign(pool, d));
}


/* duplicate keys are the sender's business: jsonb keeps the last */

static ngx_int_t
ngx_fuzz_webhook_is_object(ngx_str_t *body)
{
    json_t     *json;
    ngx_int_t   ok;

    if (ngx_strlchr(body->data, body->data + body->len, '\0') != NULL) {
        return 0;
    }

    json = json_loadb((char *) body->data, body->len, 0, NULL);
    ok = json_is_object(json);
    json_decref(json);

    return ok;
}


static void
ngx_fuzz_webhook_check_headers(ngx_liauto_webhook_delivery_t *d,
    ngx_str_t *headers, ngx_int_t by_secret)
{
    json_t      *json, *value;
    ngx_str_t   *sent;
    const char  *key;

    ngx_fuzz_check(ngx_strlen(headers->data) == headers->len,
                   "the stored headers are not NUL-terminated");

    json = json_loadb((char *) headers->data, headers->len,
                      JSON_REJECT_DUPLICATES, NULL);
    ngx_fuzz_check(json_is_object(json), "the stored headers are not JSON");

    json_object_foreach(json, key, value) {
        ngx_fuzz_check(json_is_string(value), "a header is not a string");

        if (ngx_strcmp(key, "liauto-auth") == 0) {
            ngx_fuzz_check(ngx_strcmp(json_string_value(value),
                                      by_secret ? "secret" : "signature")
                           == 0, "liauto-auth does not say how");
            continue;
        }

        sent = ngx_strcmp(key, "content-type") == 0 ? d->content_type
               : ngx_strcmp(key, "user-agent") == 0 ? d->user_agent
               : ngx_strcmp(key, "webhook-id") == 0 ? d->id
               : ngx_strcmp(key, "webhook-timestamp") == 0 ? d->timestamp
               : NULL;

        ngx_fuzz_check(sent != NULL, "a header that is not kept is stored");
        ngx_fuzz_check(sent->len == json_string_length(value)
                       && ngx_memcmp(sent->data, json_string_value(value),
                                     sent->len) == 0,
                       "a stored header is not what was sent");
    }

    ngx_fuzz_check(json_object_get(json, "liauto-auth") != NULL,
                   "liauto-auth is not stored");

    json_decref(json);
}


static void
ngx_fuzz_webhook_check_refusal(ngx_pool_t *pool,
    ngx_liauto_webhook_verdict_t *v)
{
    ngx_str_t  message, envelope;

    ngx_fuzz_check(v->status == 400 || v->status == 401,
                   "a refusal is neither a 400 nor a 401");
    ngx_fuzz_check(v->message != NULL, "a refusal without a message");
    ngx_fuzz_check(v->status != 401 || v->why != NULL,
                   "a 401 without its reason");

    if (v->status == 400) {
        ngx_fuzz_check(ngx_fuzz_is_json_object(v->details.data,
                                               v->details.len),
                       "the details of a 400 are not JSON");

        message.data = (u_char *) v->message;
        message.len = ngx_strlen(v->message);

        ngx_fuzz_check(ngx_liauto_envelope(pool, 400, NULL, &message,
                                           &v->details, &envelope)
                       == NGX_OK, "no envelope");
        ngx_fuzz_check(ngx_fuzz_is_json_object(envelope.data, envelope.len),
                       "the 400 envelope is not JSON");
    }
}


/* the next line of the input into *line; NULL when absent */

static ngx_str_t *
ngx_fuzz_webhook_line(ngx_pool_t *pool, u_char **p, u_char *last,
    ngx_uint_t present)
{
    u_char     *nl;
    ngx_str_t  *line;

    nl = ngx_strlchr(*p, last, '\n');
    if (nl == NULL) {
        nl = last;
    }

    line = ngx_palloc(pool, sizeof(ngx_str_t));
    if (line == NULL) {
        ngx_fuzz_fail(__FILE__, __LINE__, "out of memory");
    }

    /* a copy of exactly its bytes: a read past them is caught */
    line->len = nl - *p;
    line->data = ngx_pnalloc(pool, line->len + 1);
    if (line->data == NULL) {
        ngx_fuzz_fail(__FILE__, __LINE__, "out of memory");
    }
    ngx_memcpy(line->data, *p, line->len);

    *p = (nl < last) ? nl + 1 : last;

    return present ? line : NULL;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                         *p, *last, *input;
    ngx_int_t                       rc, by_secret, signed_ok, object;
    ngx_str_t                      *lines[NGX_FUZZ_LINES], *good, *sig;
    ngx_uint_t                      i, flags;
    ngx_pool_t                     *pool;
    ngx_liauto_webhook_verdict_t    v;
    ngx_liauto_webhook_delivery_t   d;

    if (size == 0) {
        return 0;
    }

    if (ngx_fuzz_wcf.signing_key == NULL) {
        ngx_fuzz_webhook_init();
    }

    pool = ngx_fuzz_pool();
    flags = data[0];

    input = ngx_pnalloc(pool, size);
    if (input == NULL) {
        ngx_fuzz_fail(__FILE__, __LINE__, "out of memory");
    }
    ngx_memcpy(input, data + 1, size - 1);

    p = input;
    last = input + size - 1;

    for (i = 0; i < NGX_FUZZ_LINES; i++) {
        lines[i] = ngx_fuzz_webhook_line(pool, &p, last, flags & (1 << i));
    }

    d.secret = lines[0];
    d.signature = lines[1];
    d.content_type = lines[2];
    d.user_agent = lines[3];
    d.id = lines[4];
    d.timestamp = lines[5];

    /* the body as ngx_liauto_api_read_body() leaves it: NUL-terminated */
    d.body.len = last - p;
    d.body.data = ngx_pnalloc(pool, d.body.len + 1);
    if (d.body.data == NULL) {
        ngx_fuzz_fail(__FILE__, __LINE__, "out of memory");
    }
    ngx_memcpy(d.body.data, p, d.body.len);
    d.body.data[d.body.len] = '\0';

    if ((flags & 0x80) && d.timestamp) {
        d.timestamp->data = ngx_pnalloc(pool, NGX_TIME_T_LEN);
        if (d.timestamp->data == NULL) {
            ngx_fuzz_fail(__FILE__, __LINE__, "out of memory");
        }
        d.timestamp->len = ngx_sprintf(d.timestamp->data, "%T", ngx_time())
                           - d.timestamp->data;
    }

    if ((flags & 0x40) && d.id && d.timestamp && d.signature) {
        good = ngx_fuzz_webhook_sign(pool, &d);
        sig = ngx_palloc(pool, sizeof(ngx_str_t));
        if (sig == NULL) {
            ngx_fuzz_fail(__FILE__, __LINE__, "out of memory");
        }
        sig->len = d.signature->len + 1 + good->len;
        sig->data = ngx_pnalloc(pool, sig->len);
        if (sig->data == NULL) {
            ngx_fuzz_fail(__FILE__, __LINE__, "out of memory");
        }
        ngx_sprintf(sig->data, "%V %V", d.signature, good);
        d.signature = sig;
    }

    by_secret = d.secret != NULL
                && d.secret->len == sizeof(NGX_FUZZ_SECRET) - 1
                && ngx_memcmp(d.secret->data, NGX_FUZZ_SECRET,
                              d.secret->len) == 0;
    signed_ok = ngx_fuzz_webhook_signed(pool, &d);
    object = ngx_fuzz_webhook_is_object(&d.body);

    rc = ngx_liauto_webhook_accept(pool, &ngx_fuzz_wcf, &d, &v);

    ngx_fuzz_check(rc == NGX_OK || rc == NGX_DECLINED,
                   "checking a delivery failed with NGX_ERROR");

    if (rc == NGX_OK) {
        ngx_fuzz_check(by_secret || signed_ok,
                       "a delivery without the secret or a valid signature "
                       "was accepted");
        ngx_fuzz_check(object, "a body that is not a JSON object (or holds "
                       "a NUL byte) was accepted");
        ngx_fuzz_webhook_check_headers(&d, &v.headers, by_secret);

    } else {
        ngx_fuzz_check(!((by_secret || signed_ok) && object),
                       "an authentic delivery of a JSON object was refused");
        ngx_fuzz_check(v.status == 401 || by_secret || signed_ok,
                       "an unauthenticated delivery was answered 400: the "
                       "body was looked at first");
        ngx_fuzz_webhook_check_refusal(pool, &v);
    }

    ngx_destroy_pool(pool);

    return 0;
}
