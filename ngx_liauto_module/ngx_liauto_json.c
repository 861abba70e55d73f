
/*
 * Copyright (C) liauto
 *
 * JSON output: every body the module writes goes through ngx_liauto_send(),
 * and every failure is the envelope {"code","message","details"}.
 */


#include "ngx_liauto_module.h"
#include "ngx_liauto_json.h"


typedef struct {
    ngx_uint_t   status;
    const char  *code;
} ngx_liauto_status_code_t;


static u_char *ngx_liauto_json_scan_space(u_char *p, u_char *last);
static u_char *ngx_liauto_json_scan_scalar(u_char *p, u_char *last);
static u_char *ngx_liauto_json_scan_string(u_char *p, u_char *last);
static ngx_int_t ngx_liauto_json_details(ngx_pool_t *pool, int line,
    int column, const char *reason, ngx_str_t *details);
static ngx_int_t ngx_liauto_json_query_refuse(ngx_pool_t *pool,
    json_t *obj, ngx_liauto_json_refusal_t *why, const char *message,
    u_char *field, const char *reason);


static ngx_liauto_status_code_t  ngx_liauto_status_codes[] = {
    { NGX_HTTP_BAD_REQUEST,              "BAD_REQUEST" },
    { NGX_HTTP_UNAUTHORIZED,             "UNAUTHORIZED" },
    { NGX_HTTP_FORBIDDEN,                "FORBIDDEN" },
    { NGX_HTTP_NOT_FOUND,                "NOT_FOUND" },
    { NGX_HTTP_NOT_ALLOWED,              "METHOD_NOT_ALLOWED" },
    { NGX_HTTP_REQUEST_TIME_OUT,         "REQUEST_TIMEOUT" },
    { NGX_HTTP_CONFLICT,                 "CONFLICT" },
    { NGX_HTTP_LENGTH_REQUIRED,          "LENGTH_REQUIRED" },
    { NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "PAYLOAD_TOO_LARGE" },
    { NGX_HTTP_REQUEST_URI_TOO_LARGE,    "URI_TOO_LONG" },
    { NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,   "UNSUPPORTED_MEDIA_TYPE" },
    { 422,                               "VALIDATION_FAILED" },
    { NGX_HTTP_TOO_MANY_REQUESTS,        "RATE_LIMITED" },
    { NGX_HTTP_INTERNAL_SERVER_ERROR,    "INTERNAL_ERROR" },
    { NGX_HTTP_NOT_IMPLEMENTED,          "NOT_IMPLEMENTED" },
    { NGX_HTTP_BAD_GATEWAY,              "BAD_GATEWAY" },
    { NGX_HTTP_SERVICE_UNAVAILABLE,      "SERVICE_UNAVAILABLE" },
    { NGX_HTTP_GATEWAY_TIME_OUT,         "GATEWAY_TIMEOUT" },
    { 0, NULL }
};


const char *
ngx_liauto_status_code(ngx_uint_t status)
{
    ngx_liauto_status_code_t  *sc;

    for (sc = ngx_liauto_status_codes; sc->status; sc++) {
        if (sc->status == status) {
            return sc->code;
        }
    }

    return status >= 500 ? "INTERNAL_ERROR" : "BAD_REQUEST";
}


/*
 * The length of the well-formed UTF-8 sequence at p (RFC 3629 §4: no
 * overlong form, no surrogate, nothing above U+10FFFF), 0 if there is
 * none.  Stricter than ngx_utf8_decode(), which takes any byte >= 0x80 as
 * a continuation, while Postgres and JSON parsers refuse such text.
 */

size_t
ngx_liauto_utf8_len(u_char *p, u_char *last)
{
    u_char  lo, hi;
    size_t  n, i;

    if (*p < 0x80) {
        return 1;
    }

    if (*p < 0xc2 || *p > 0xf4) {
        return 0;
    }

    lo = 0x80;
    hi = 0xbf;

    if (*p < 0xe0) {
        n = 2;

    } else if (*p < 0xf0) {
        n = 3;
        lo = (*p == 0xe0) ? 0xa0 : lo;
        hi = (*p == 0xed) ? 0x9f : hi;

    } else {
        n = 4;
        lo = (*p == 0xf0) ? 0x90 : lo;
        hi = (*p == 0xf4) ? 0x8f : hi;
    }

    if ((size_t) (last - p) < n || p[1] < lo || p[1] > hi) {
        return 0;
    }

    for (i = 2; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf) {
            return 0;
        }
    }

    return n;
}


/*
 * A JSON string's contents.  JSON text is UTF-8: a byte that starts no
 * well-formed sequence (jansson's error messages quote the bytes of a
 * broken token as they are) becomes U+FFFD.
 */

ngx_int_t
ngx_liauto_json_escape(ngx_pool_t *pool, ngx_str_t *src, ngx_str_t *dst)
{
    size_t      len, n, bad;
    u_char     *p, *last, *q;
    ngx_str_t   text;

    last = src->data + src->len;
    bad = 0;

    for (p = src->data; p < last; p += n ? n : 1) {
        n = ngx_liauto_utf8_len(p, last);
        bad += (n == 0);
    }

    text = *src;

    if (bad) {
        text.data = ngx_pnalloc(pool, src->len + 2 * bad);
        if (text.data == NULL) {
            return NGX_ERROR;
        }

        q = text.data;

        for (p = src->data; p < last; p += n ? n : 1) {
            n = ngx_liauto_utf8_len(p, last);
            q = n ? ngx_cpymem(q, p, n) : ngx_cpymem(q, "\xef\xbf\xbd", 3);
        }

        text.len = q - text.data;
    }

    len = text.len + ngx_escape_json(NULL, text.data, text.len);

    /* nothing to escape (ids, roles, most URIs): the text itself */
    if (len == text.len) {
        *dst = text;
        return NGX_OK;
    }

    dst->data = ngx_pnalloc(pool, len);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_escape_json(dst->data, text.data, text.len);
    dst->len = len;

    return NGX_OK;
}


/*
 * A request body is one JSON object or array (jansson's flags: resource
 * routes refuse a key given twice).  NGX_OK, the value in *out when out is
 * not NULL (the caller json_decref()s it); NGX_DECLINED with the details
 * of the envelope: {"line":..,"column":..,"reason":".."}.  Needs no
 * request: t/fuzz/fuzz_json_body.c calls it with bytes.
 */

ngx_int_t
ngx_liauto_json_check(ngx_pool_t *pool, ngx_str_t *text, size_t flags,
    json_t **out, ngx_str_t *details)
{
    int            line, column;
    u_char        *p, *nul;
    json_t        *json;
    json_error_t   err;

    /*
     * jansson skips a NUL byte after a number or a literal ("[1\0]" is
     * [1]), but the body goes to Postgres as a C string that ends there
     */
    nul = ngx_strlchr(text->data, text->data + text->len, '\0');

    if (nul) {
        line = 1;
        column = 1;

        for (p = text->data; p < nul; p++) {
            line += (*p == '\n');
            column = (*p == '\n') ? 1 : column + 1;
        }

        return ngx_liauto_json_details(pool, line, column,
                                       "a NUL byte is not JSON", details);
    }

    json = json_loadb((char *) text->data, text->len, flags, &err);

    if (json == NULL) {
        return ngx_liauto_json_details(pool, err.line, err.column, err.text,
                                       details);
    }

    if (out) {
        *out = json;

    } else {
        json_decref(json);
    }

    return NGX_OK;
}


/*
 * NGX_OK: text is one JSON object that jansson (without
 * JSON_REJECT_DUPLICATES) accepts as well; NGX_DECLINED: not sure.  A
 * webhook's body only has to be an object, and building jansson's tree
 * of it was three quarters of what nginx spent on a delivery; anything
 * this scan does not vouch for (a \u escape, an exponent, a long number,
 * deep nesting, an error) is left to jansson, which decides and says
 * where it is wrong.
 */

ngx_int_t
ngx_liauto_json_scan_object(ngx_str_t *text)
{
    u_char      *p, *last, close[NGX_LIAUTO_JSON_SCAN_DEPTH];
    ngx_uint_t   depth, state;

    enum {
        sw_value = 0,
        sw_key,
        sw_after
    };

    p = text->data;
    last = p + text->len;

    p = ngx_liauto_json_scan_space(p, last);

    if (p == last || *p != '{') {
        return NGX_DECLINED;
    }

    depth = 0;
    state = sw_value;

    for ( ;; ) {
        p = ngx_liauto_json_scan_space(p, last);

        if (p == last) {
            return (state == sw_after && depth == 0) ? NGX_OK : NGX_DECLINED;
        }

        switch (state) {

        case sw_value:
            if (*p == '{' || *p == '[') {
                if (depth == NGX_LIAUTO_JSON_SCAN_DEPTH) {
                    return NGX_DECLINED;
                }

                close[depth++] = (*p == '{') ? '}' : ']';
                p = ngx_liauto_json_scan_space(p + 1, last);

                if (p < last && *p == close[depth - 1]) {
                    depth--;
                    p++;
                    state = sw_after;

                } else {
                    state = (close[depth - 1] == '}') ? sw_key : sw_value;
                }

                break;
            }

            p = ngx_liauto_json_scan_scalar(p, last);
            state = sw_after;
            break;

        case sw_key:
            p = (*p == '"') ? ngx_liauto_json_scan_string(p, last) : NULL;

            if (p == NULL) {
                return NGX_DECLINED;
            }

            p = ngx_liauto_json_scan_space(p, last);

            if (p == last || *p != ':') {
                return NGX_DECLINED;
            }

            p++;
            state = sw_value;
            break;

        default: /* sw_after */
            if (depth == 0) {
                /* something after the object */
                return NGX_DECLINED;
            }

            if (*p == close[depth - 1]) {
                depth--;
                p++;
                break;
            }

            if (*p != ',') {
                return NGX_DECLINED;
            }

            p++;
            state = (close[depth - 1] == '}') ? sw_key : sw_value;
            break;
        }

        if (p == NULL) {
            return NGX_DECLINED;
        }
    }
}


static u_char *
ngx_liauto_json_scan_space(u_char *p, u_char *last)
{
    while (p < last
           && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    {
        p++;
    }

    return p;
}


/* a string, a literal or a short number without exponent; NULL: not sure */

static u_char *
ngx_liauto_json_scan_scalar(u_char *p, u_char *last)
{
    u_char     *start;
    ngx_uint_t  i;

    static const char  *literals[] = { "true", "false", "null", NULL };

    if (*p == '"') {
        return ngx_liauto_json_scan_string(p, last);
    }

    for (i = 0; literals[i]; i++) {
        if (*p == (u_char) literals[i][0]) {
            return ((size_t) (last - p) >= ngx_strlen(literals[i])
                    && ngx_strncmp(p, literals[i], ngx_strlen(literals[i]))
                       == 0)
                   ? p + ngx_strlen(literals[i]) : NULL;
        }
    }

    /* -?(0|[1-9][0-9]*)(\.[0-9]+)?, short enough for any json_int_t */
    start = p;

    if (p < last && *p == '-') {
        p++;
    }

    if (p == last || *p < '0' || *p > '9'
        || (*p == '0' && p + 1 < last && p[1] >= '0' && p[1] <= '9'))
    {
        return NULL;
    }

    while (p < last && *p >= '0' && *p <= '9') {
        p++;
    }

    if (p < last && *p == '.') {
        p++;

        if (p == last || *p < '0' || *p > '9') {
            return NULL;
        }

        while (p < last && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    if (p - start > NGX_LIAUTO_JSON_SCAN_NUMBER
        || (p < last && (*p == 'e' || *p == 'E')))
    {
        return NULL;
    }

    return p;
}


/* p at the opening quote: past the closing one; NULL: not sure */

static u_char *
ngx_liauto_json_scan_string(u_char *p, u_char *last)
{
    size_t  n;

    /* \u is jansson's to check (it refuses \u0000 and lone surrogates) */
    static u_char  escapes[] = "\"\\/bfnrt";

    for (p++; p < last; p += n) {

        if (*p == '"') {
            return p + 1;
        }

        if (*p == '\\') {
            if (p + 1 == last
                || ngx_strlchr(escapes, escapes + sizeof(escapes) - 1, p[1])
                   == NULL)
            {
                return NULL;
            }

            n = 2;
            continue;
        }

        if (*p < 0x20) {
            return NULL;
        }

        n = ngx_liauto_utf8_len(p, last);

        if (n == 0) {
            return NULL;
        }
    }

    return NULL;
}


/*
 * The query string as a flat JSON object of decoded strings, NUL-ended in
 * out.  NGX_DECLINED with *why when it cannot be one: a parameter given
 * twice (which one would win is not obvious to a caller), too long, not
 * UTF-8, or holding a NUL byte ("%00": jsonb has no \u0000, and a key would
 * end there).  Needs no request: t/fuzz/fuzz_query.c calls it with bytes.
 */

ngx_int_t
ngx_liauto_json_query(ngx_pool_t *pool, ngx_str_t *args, ngx_str_t *out,
    ngx_liauto_json_refusal_t *why)
{
    u_char     *p, *last, *amp, *eq, *dst, *src;
    json_t     *obj;
    ngx_str_t   key, value;
    char       *dump;
    size_t      len, key_len;
    u_char      buf[2][1024];

    obj = json_object();
    if (obj == NULL) {
        return NGX_ERROR;
    }

    p = args->data;
    last = p + args->len;

    while (p < last) {
        amp = ngx_strlchr(p, last, '&');
        if (amp == NULL) {
            amp = last;
        }

        if (amp == p) {
            p++;
            continue;
        }

        eq = ngx_strlchr(p, amp, '=');

        key.data = p;
        key.len = (eq ? eq : amp) - p;
        value.data = eq ? eq + 1 : amp;
        value.len = amp - value.data;

        if (key.len >= sizeof(buf[0]) || value.len >= sizeof(buf[1])) {
            return ngx_liauto_json_query_refuse(pool, obj, why,
                                                "a query parameter is too "
                                                "long", (u_char *) "query",
                                                "at most 1023 bytes each");
        }

        /* application/x-www-form-urlencoded: '+' is a space */
        for (src = key.data; src < key.data + key.len; src++) {
            buf[0][src - key.data] = (*src == '+') ? ' ' : *src;
        }
        for (src = value.data; src < value.data + value.len; src++) {
            buf[1][src - value.data] = (*src == '+') ? ' ' : *src;
        }

        src = buf[0];
        dst = buf[0];
        ngx_unescape_uri(&dst, &src, key.len, 0);
        key_len = dst - buf[0];
        *dst = '\0';

        src = buf[1];
        dst = buf[1];
        ngx_unescape_uri(&dst, &src, value.len, 0);
        len = dst - buf[1];

        if (ngx_strlen(buf[0]) != key_len
            || ngx_strlchr(buf[1], buf[1] + len, '\0') != NULL)
        {
            return ngx_liauto_json_query_refuse(pool, obj, why,
                                                "a query parameter holds a "
                                                "NUL byte",
                                                (u_char *) "query",
                                                "%00 is not allowed");
        }

        if (json_object_get(obj, (char *) buf[0]) != NULL) {
            return ngx_liauto_json_query_refuse(pool, obj, why,
                                                "a query parameter is "
                                                "given twice", buf[0],
                                                "given more than once");
        }

        if (json_object_set_new(obj, (char *) buf[0],
                                json_stringn((char *) buf[1], len))
            != 0)
        {
            return ngx_liauto_json_query_refuse(pool, obj, why,
                                                "a query parameter is not "
                                                "valid UTF-8",
                                                (u_char *) "query",
                                                "must be UTF-8 text");
        }

        p = amp + 1;
    }

    dump = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);

    if (dump == NULL) {
        return NGX_ERROR;
    }

    len = ngx_strlen(dump) + 1;
    out->data = ngx_pnalloc(pool, len);

    if (out->data == NULL) {
        free(dump);
        return NGX_ERROR;
    }

    ngx_memcpy(out->data, dump, len);
    out->len = len - 1;
    free(dump);

    return NGX_OK;
}


/* NGX_DECLINED with *why; field is copied out of the parser's buffer */

static ngx_int_t
ngx_liauto_json_query_refuse(ngx_pool_t *pool, json_t *obj,
    ngx_liauto_json_refusal_t *why, const char *message, u_char *field,
    const char *reason)
{
    size_t  len;

    json_decref(obj);

    why->message = message;
    why->reason = reason;

    len = ngx_strlen(field) + 1;
    why->field = ngx_pnalloc(pool, len);

    if (why->field == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(why->field, field, len);

    return NGX_DECLINED;
}


/* NGX_DECLINED with {"line":..,"column":..,"reason":".."} in details */

static ngx_int_t
ngx_liauto_json_details(ngx_pool_t *pool, int line, int column,
    const char *reason, ngx_str_t *details)
{
    u_char     *p;
    ngx_str_t   text, escaped;

    text.data = (u_char *) reason;
    text.len = ngx_strlen(reason);

    if (ngx_liauto_json_escape(pool, &text, &escaped) != NGX_OK) {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(pool, escaped.len + 64);
    if (p == NULL) {
        return NGX_ERROR;
    }

    details->data = p;
    details->len = ngx_sprintf(p, "{\"line\":%d,\"column\":%d,\"reason\":"
                               "\"%V\"}", line, column, &escaped)
                   - p;

    return NGX_DECLINED;
}


/* details is raw JSON (an object) or NULL for {} */

ngx_int_t
ngx_liauto_envelope(ngx_pool_t *pool, ngx_uint_t status, const char *code,
    ngx_str_t *message, ngx_str_t *details, ngx_str_t *out)
{
    size_t      len;
    u_char     *p;
    ngx_str_t   msg, empty = ngx_string("{}");

    if (code == NULL) {
        code = ngx_liauto_status_code(status);
    }

    if (details == NULL || details->len == 0) {
        details = &empty;
    }

    if (ngx_liauto_json_escape(pool, message, &msg) != NGX_OK) {
        return NGX_ERROR;
    }

    len = sizeof("{\"code\":\"\",\"message\":\"\",\"details\":}") - 1
          + ngx_strlen(code) + msg.len + details->len;

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;
    out->len = ngx_sprintf(p, "{\"code\":\"%s\",\"message\":\"%V\","
                           "\"details\":%V}", code, &msg, details) - p;

    return NGX_OK;
}


ngx_int_t
ngx_liauto_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *content_type, ngx_str_t *body)
{
    ngx_int_t          rc;
    ngx_buf_t         *b;
    ngx_chain_t        out;
    ngx_liauto_ctx_t  *ctx;

    ctx = ngx_liauto_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->responded = 1;

    r->headers_out.status = status;
    r->headers_out.content_length_n = body->len;
    r->headers_out.content_type = *content_type;
    r->headers_out.content_type_len = content_type->len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = body->data;
    b->last = body->data + body->len;
    b->memory = body->len ? 1 : 0;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_liauto_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *body)
{
    static ngx_str_t  type = ngx_string("application/json");

    return ngx_liauto_send(r, status, &type, body);
}


ngx_int_t
ngx_liauto_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message, ngx_str_t *details)
{
    ngx_str_t  body, msg;

    msg.data = (u_char *) message;
    msg.len = ngx_strlen(message);

    if (ngx_liauto_envelope(r->pool, status, code, &msg, details, &body)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_liauto_send_json(r, status, &body);
}
