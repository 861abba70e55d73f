
/*
 * Copyright (C) liauto
 *
 * CSV imports: ngx_liauto_csv_to_json() on a body's bytes.  What it makes
 * of a file it accepts is {"header":[strings],"rows":[[strings],...]}, a
 * C string (it goes to Postgres as a parameter) that jsonb takes: UTF-8,
 * no \u0000; a file it refuses gets a reason.  The same bytes fed as a
 * request body arrives, in pieces cut anywhere, give the same answer.
 */


#include <jansson.h>

#include "ngx_liauto_module.h"
#include "ngx_liauto_csv.h"
#include "ngx_fuzz_support.h"


static ngx_int_t
ngx_fuzz_csv_are_strings(json_t *array)
{
    size_t   i;
    json_t  *v;

    if (!json_is_array(array)) {
        return 0;
    }

    json_array_foreach(array, i, v) {
        if (!json_is_string(v)) {
            return 0;
        }
    }

    return 1;
}


static void
ngx_fuzz_csv_check_json(ngx_str_t *out)
{
    size_t   i;
    json_t  *json, *rows, *row;

    ngx_fuzz_check(out->data[out->len] == '\0'
                   && ngx_strlen(out->data) == out->len,
                   "the JSON of an import is not a C string");
    /* without JSON_ALLOW_NUL, jansson refuses \u0000 as jsonb does */
    json = json_loadb((char *) out->data, out->len, JSON_REJECT_DUPLICATES,
                      NULL);

    ngx_fuzz_check(json_is_object(json) && json_object_size(json) == 2,
                   "the JSON of an import is not one object");
    ngx_fuzz_check(ngx_fuzz_csv_are_strings(json_object_get(json, "header")),
                   "the header is not an array of strings");

    rows = json_object_get(json, "rows");
    ngx_fuzz_check(json_is_array(rows), "rows is not an array");

    json_array_foreach(rows, i, row) {
        ngx_fuzz_check(ngx_fuzz_csv_are_strings(row),
                       "a row is not an array of strings");
    }

    json_decref(json);
}


/* the input again, in pieces whose lengths its own bytes choose */

static void
ngx_fuzz_csv_check_pieces(ngx_str_t *csv, ngx_int_t whole_rc,
    ngx_str_t *whole)
{
    size_t             i, n;
    ngx_int_t          rc;
    ngx_str_t          json, error;
    ngx_pool_t        *pool;
    ngx_liauto_csv_t  *parser;

    pool = ngx_fuzz_pool();

    parser = ngx_liauto_csv_create(pool);
    ngx_fuzz_check(parser != NULL, "no parser");

    for (i = 0; i < csv->len; i += n) {
        n = ngx_min(csv->len - i, (size_t) (csv->data[i] % 7) + 1);
        ngx_fuzz_check(ngx_liauto_csv_feed(parser, csv->data + i, n)
                       == NGX_OK, "feeding a piece failed");
    }

    rc = ngx_liauto_csv_finish(parser, &json, &error);

    ngx_fuzz_check(rc == whole_rc, "pieces and the whole file disagree");

    if (rc == NGX_OK) {
        ngx_fuzz_check(json.len == whole->len
                       && ngx_memcmp(json.data, whole->data, json.len) == 0,
                       "pieces make other JSON than the whole file");
    }

    ngx_destroy_pool(pool);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ngx_int_t    rc;
    ngx_str_t    csv, json, error;
    ngx_pool_t  *pool;

    pool = ngx_fuzz_pool();

    /* NUL-terminated, as ngx_liauto_api_read_body() leaves a body */
    csv.len = size;
    csv.data = ngx_pnalloc(pool, size + 1);
    if (csv.data == NULL) {
        ngx_fuzz_fail(__FILE__, __LINE__, "out of memory");
    }
    ngx_memcpy(csv.data, data, size);
    csv.data[size] = '\0';

    rc = ngx_liauto_csv_to_json(pool, &csv, &json, &error);

    ngx_fuzz_check(rc == NGX_OK || rc == NGX_DECLINED,
                   "the conversion failed with NGX_ERROR");

    if (rc == NGX_OK) {
        ngx_fuzz_csv_check_json(&json);
        ngx_fuzz_csv_check_pieces(&csv, rc, &json);

    } else {
        ngx_fuzz_check(error.len > 0, "a refused file has no reason");
        ngx_fuzz_csv_check_pieces(&csv, rc, NULL);
    }

    ngx_destroy_pool(pool);

    return 0;
}
