
/*
 * Copyright (C) liauto
 *
 * Operational endpoints: health.
 */


#include "ngx_liauto_module.h"
#include "ngx_liauto_json.h"
#include "ngx_liauto_ops.h"


static void ngx_liauto_ops_health_done(ngx_liauto_pg_query_t *q,
    PGresult *res);


ngx_int_t
ngx_liauto_ops_health(ngx_liauto_ctx_t *ctx)
{
    /* one round trip proves the database answers and the schema is there */
    return ngx_liauto_query(ctx,
                            "SELECT (api.health()::jsonb"
                            " || '{\"status\":\"ok\",\"database\":\"ok\"}'"
                            ")::text",
                            ngx_liauto_ops_health_done);
}


static void
ngx_liauto_ops_health_done(ngx_liauto_pg_query_t *q, PGresult *res)
{
    ngx_int_t            rc;
    ngx_uint_t           status;
    const char          *message;
    ngx_str_t            body, details, reason, escaped, state;
    ngx_liauto_ctx_t    *ctx;
    ngx_http_request_t  *r;

    ctx = q->data;
    r = ctx->request;

    if (q->rc == NGX_OK && PQresultStatus(res) == PGRES_TUPLES_OK
        && PQntuples(res) == 1)
    {
        body.data = (u_char *) PQgetvalue(res, 0, 0);
        body.len = PQgetlength(res, 0, 0);

        /* the result is freed when this handler returns */
        body.data = ngx_pstrdup(r->pool, &body);
        if (body.data == NULL) {
            ngx_liauto_finalize(ctx, NGX_ERROR);
            return;
        }

        ngx_liauto_finalize(ctx, ngx_liauto_send_json(r, NGX_HTTP_OK, &body));
        return;
    }

    status = NGX_HTTP_SERVICE_UNAVAILABLE;
    message = "the database is not available";

    if (q->rc == NGX_OK) {
        ngx_str_set(&state, "error");
        reason.data = (u_char *) PQresultErrorMessage(res);

    } else {
        if (q->rc == NGX_HTTP_GATEWAY_TIME_OUT) {
            status = NGX_HTTP_GATEWAY_TIME_OUT;
            message = "the database did not answer in time";
            ngx_str_set(&state, "timeout");

        } else {
            ngx_str_set(&state, "unreachable");
        }

        reason.data = q->error ? q->error : (u_char *) "";
    }

    reason.len = ngx_strlen(reason.data);

    while (reason.len && (reason.data[reason.len - 1] == '\n')) {
        reason.len--;
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "liauto: health check failed: database %V: %V",
                  &state, &reason);

    if (ngx_liauto_json_escape(r->pool, &reason, &escaped) != NGX_OK) {
        ngx_liauto_finalize(ctx, NGX_ERROR);
        return;
    }

    details.len = sizeof("{\"status\":\"error\",\"database\":\"\","
                         "\"reason\":\"\"}") - 1 + state.len + escaped.len;
    details.data = ngx_pnalloc(r->pool, details.len);
    if (details.data == NULL) {
        ngx_liauto_finalize(ctx, NGX_ERROR);
        return;
    }

    ngx_sprintf(details.data, "{\"status\":\"error\",\"database\":\"%V\","
                "\"reason\":\"%V\"}", &state, &escaped);

    rc = ngx_liauto_send_error(r, status, NULL, message, &details);
    ngx_liauto_finalize(ctx, rc);
}
