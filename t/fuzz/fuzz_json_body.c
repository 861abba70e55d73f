
/*
 * Copyright (C) liauto
 *
 * JSON request bodies as the module takes them: ngx_liauto_json_check() on
 * the body's bytes (NUL-terminated, as ngx_liauto_api_read_body() leaves
 * them).  A body it accepts goes to Postgres as a C string, so it holds no
 * NUL byte; a body it refuses gets a 400 envelope that is itself valid
 * JSON, whatever bytes jansson's error message quotes.
 *
 * Webhook payloads (Unipile's and Resend's, in the seed corpus) are parsed
 * by the same function without refusing duplicate keys, the value kept:
 * whatever the API takes, a webhook receiver takes too.  The webhook's
 * fast scan (ngx_liauto_json_scan_object()) vouches only for objects that
 * jansson accepts.
 */


#include "ngx_liauto_module.h"
#include "ngx_liauto_json.h"
#include "ngx_fuzz_support.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t      *json;
    ngx_int_t    rc, api_rc;
    ngx_str_t    body, details, envelope;
    ngx_pool_t  *pool;

    static ngx_str_t  message = ngx_string("the request body is not valid "
                                           "JSON");

    pool = ngx_fuzz_pool();

    body.len = size;
    body.data = ngx_pnalloc(pool, size + 1);
    if (body.data == NULL) {
        ngx_fuzz_fail(__FILE__, __LINE__, "out of memory");
    }
    ngx_memcpy(body.data, data, size);
    body.data[size] = '\0';

    rc = ngx_liauto_json_check(pool, &body, JSON_REJECT_DUPLICATES, NULL,
                               &details);

    ngx_fuzz_check(rc == NGX_OK || rc == NGX_DECLINED,
                   "the check failed with NGX_ERROR");

    if (rc == NGX_OK) {
        ngx_fuzz_check(ngx_strlen(body.data) == body.len,
                       "an accepted body has a NUL byte");

    } else {
        ngx_fuzz_check(ngx_fuzz_is_json_object(details.data, details.len),
                       "the details of a refused body are not JSON");

        ngx_fuzz_check(ngx_liauto_envelope(pool, 400, NULL, &message,
                                           &details, &envelope)
                       == NGX_OK, "no envelope");
        ngx_fuzz_check(ngx_fuzz_is_json_object(envelope.data, envelope.len),
                       "the 400 envelope is not JSON");
    }

    api_rc = rc;
    json = NULL;
    rc = ngx_liauto_json_check(pool, &body, 0, &json, &details);

    ngx_fuzz_check(rc == NGX_OK || rc == NGX_DECLINED,
                   "the webhook check failed with NGX_ERROR");
    ngx_fuzz_check((rc == NGX_OK) == (json != NULL),
                   "the webhook check kept no value, or one it refused");
    ngx_fuzz_check(rc == NGX_OK || api_rc != NGX_OK,
                   "a webhook body the API takes is refused");
    ngx_fuzz_check(json == NULL || json_is_object(json)
                   || json_is_array(json),
                   "a body is neither an object nor an array");

    ngx_fuzz_check(ngx_liauto_json_scan_object(&body) == NGX_DECLINED
                   || (rc == NGX_OK && json_is_object(json)),
                   "the scan vouched for a body jansson refuses");

    json_decref(json);

    ngx_destroy_pool(pool);

    return 0;
}
