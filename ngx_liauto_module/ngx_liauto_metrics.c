
/*
 * Copyright (C) liauto
 *
 * GET /api/v1/metrics: Prometheus text.  Request counts and latency per
 * route and the outcome of every Postgres query are counted by all
 * workers in one shared memory zone (atomic adds, no lock), so whichever
 * worker a scrape reaches answers for the whole nginx; the numbers of the
 * product itself (workers alive, due and parked actions, backlogs) come
 * from api.metrics() in the same answer.  A scrape while Postgres is away
 * still answers, with liauto_database_up 0.
 */


#include "ngx_liauto_module.h"
#include "ngx_liauto_router.h"
#include "ngx_liauto_json.h"
#include "ngx_liauto_metrics.h"


#define NGX_LIAUTO_METRICS_CLASSES   5          /* 1xx .. 5xx */
#define NGX_LIAUTO_METRICS_BUCKETS   12         /* the last is +Inf */
#define NGX_LIAUTO_METRICS_OUTCOMES  5


typedef struct {
    ngx_atomic_t   status[NGX_LIAUTO_METRICS_CLASSES];
    ngx_atomic_t   buckets[NGX_LIAUTO_METRICS_BUCKETS];
    ngx_atomic_t   msec;                        /* sum of durations */
} ngx_liauto_metrics_route_t;


typedef struct {
    ngx_atomic_t                 queries[NGX_LIAUTO_METRICS_OUTCOMES];
    /* the last slot: requests no route matched (404, 405) */
    ngx_liauto_metrics_route_t   routes[1];
} ngx_liauto_metrics_t;


typedef u_char *(*ngx_liauto_metrics_print_pt)(u_char *p,
    ngx_liauto_metrics_route_t *m, ngx_str_t *label);


static ngx_int_t ngx_liauto_metrics_init_zone(ngx_shm_zone_t *zone,
    void *data);
static ngx_int_t ngx_liauto_metrics_log(ngx_http_request_t *r);
static void ngx_liauto_metrics_done(ngx_liauto_pg_query_t *q,
    PGresult *res);
static u_char *ngx_liauto_metrics_http(u_char *p);
static u_char *ngx_liauto_metrics_routes(u_char *p,
    ngx_liauto_metrics_print_pt print);
static u_char *ngx_liauto_metrics_counts(u_char *p,
    ngx_liauto_metrics_route_t *m, ngx_str_t *label);
static u_char *ngx_liauto_metrics_latency(u_char *p,
    ngx_liauto_metrics_route_t *m, ngx_str_t *label);
static u_char *ngx_liauto_metrics_queries(u_char *p);


static ngx_liauto_metrics_t  *ngx_liauto_metrics;
static ngx_uint_t             ngx_liauto_metrics_nroutes;

/* upper bounds of the latency buckets, in ms and as Prometheus prints them */
static ngx_msec_t  ngx_liauto_metrics_bounds[] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000
};

static char  *ngx_liauto_metrics_les[] = {
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5",
    "10", "+Inf"
};

static char  *ngx_liauto_metrics_outcomes[] = {
    "ok", "error", "unavailable", "timeout", "broken"
};

/* what a line costs at most, for sizing the answer */
#define NGX_LIAUTO_METRICS_LINE  (NGX_ATOMIC_T_LEN + 256)


ngx_int_t
ngx_liauto_metrics_init(ngx_conf_t *cf)
{
    size_t                      size;
    ngx_str_t                   name = ngx_string("liauto_metrics");
    ngx_shm_zone_t             *zone;
    ngx_liauto_route_t         *rt;
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    ngx_liauto_metrics_nroutes = 0;

    for (rt = ngx_liauto_route_table(); rt->handler; rt++) {
        ngx_liauto_metrics_nroutes++;
    }

    size = sizeof(ngx_liauto_metrics_t)
           + ngx_liauto_metrics_nroutes * sizeof(ngx_liauto_metrics_route_t);

    /* the slab allocator's own pages come first */
    zone = ngx_shared_memory_add(cf, &name,
                                 ngx_align(size, ngx_pagesize)
                                 + 8 * ngx_pagesize,
                                 &ngx_liauto_module);
    if (zone == NULL) {
        return NGX_ERROR;
    }

    zone->init = ngx_liauto_metrics_init_zone;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_liauto_metrics_log;

    return NGX_OK;
}


static ngx_int_t
ngx_liauto_metrics_init_zone(ngx_shm_zone_t *zone, void *data)
{
    size_t            size;
    ngx_slab_pool_t  *shpool;

    /* a reload keeps the counters of the zone it reuses */
    if (data) {
        zone->data = data;
        ngx_liauto_metrics = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    size = sizeof(ngx_liauto_metrics_t)
           + ngx_liauto_metrics_nroutes * sizeof(ngx_liauto_metrics_route_t);

    ngx_liauto_metrics = ngx_slab_calloc(shpool, size);
    if (ngx_liauto_metrics == NULL) {
        return NGX_ERROR;
    }

    shpool->data = ngx_liauto_metrics;
    zone->data = ngx_liauto_metrics;

    return NGX_OK;
}


/* every request of a liauto_api location, once, when it is logged */

static ngx_int_t
ngx_liauto_metrics_log(ngx_http_request_t *r)
{
    ngx_uint_t                   i, status;
    ngx_msec_int_t               ms;
    ngx_time_t                  *tp;
    ngx_liauto_ctx_t            *ctx;
    ngx_liauto_loc_conf_t       *llcf;
    ngx_liauto_metrics_route_t  *m;

    llcf = ngx_http_get_module_loc_conf(r, ngx_liauto_module);
    status = r->headers_out.status;

    if (!llcf->api || ngx_liauto_metrics == NULL || status < 100) {
        return NGX_OK;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_liauto_module);

    m = &ngx_liauto_metrics->routes[ngx_liauto_metrics_nroutes];

    if (ctx && ctx->route) {
        m = &ngx_liauto_metrics->routes[ctx->route - ngx_liauto_route_table()];
    }

    tp = ngx_timeofday();
    ms = (ngx_msec_int_t) ((tp->sec - r->start_sec) * 1000
                           + (tp->msec - r->start_msec));
    ms = ngx_max(ms, 0);

    for (i = 0; i < NGX_LIAUTO_METRICS_BUCKETS - 1; i++) {
        if ((ngx_msec_t) ms <= ngx_liauto_metrics_bounds[i]) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&m->buckets[i], 1);
    (void) ngx_atomic_fetch_add(&m->msec, ms);
    (void) ngx_atomic_fetch_add(
               &m->status[ngx_min(status / 100, NGX_LIAUTO_METRICS_CLASSES)
                          - 1],
               1);

    return NGX_OK;
}


/* the end of every Postgres query of this nginx, from ngx_liauto_pg.c */

void
ngx_liauto_metrics_query(ngx_int_t rc, PGresult *res)
{
    ngx_uint_t        outcome;
    ExecStatusType    st;

    if (ngx_liauto_metrics == NULL) {
        return;
    }

    switch (rc) {

    case NGX_OK:
        st = PQresultStatus(res);
        outcome = (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) ? 0 : 1;
        break;

    case NGX_HTTP_SERVICE_UNAVAILABLE:
        outcome = 2;
        break;

    case NGX_HTTP_GATEWAY_TIME_OUT:
        outcome = 3;
        break;

    default:
        outcome = 4;
    }

    (void) ngx_atomic_fetch_add(&ngx_liauto_metrics->queries[outcome], 1);
}


ngx_int_t
ngx_liauto_metrics_handler(ngx_liauto_ctx_t *ctx)
{
    return ngx_liauto_query(ctx, "SELECT api.metrics()",
                            ngx_liauto_metrics_done);
}


static void
ngx_liauto_metrics_done(ngx_liauto_pg_query_t *q, PGresult *res)
{
    size_t               size;
    u_char              *p;
    ngx_str_t            body, db;
    ngx_liauto_ctx_t    *ctx;
    ngx_http_request_t  *r;

    static ngx_str_t  type = ngx_string("text/plain; version=0.0.4; "
                                        "charset=utf-8");

    ctx = q->data;
    r = ctx->request;

    if (q->rc == NGX_OK && PQresultStatus(res) == PGRES_TUPLES_OK
        && PQntuples(res) == 1)
    {
        db.data = (u_char *) PQgetvalue(res, 0, 0);
        db.len = PQgetlength(res, 0, 0);

    } else {
        /* the module's own numbers still tell what went wrong */
        ngx_str_set(&db, "# HELP liauto_database_up Whether api.metrics() "
                         "answered.\n"
                         "# TYPE liauto_database_up gauge\n"
                         "liauto_database_up 0\n");
    }

    size = db.len + NGX_LIAUTO_METRICS_LINE
                    * (8 + NGX_LIAUTO_METRICS_OUTCOMES
                       + (ngx_liauto_metrics_nroutes + 1)
                         * (NGX_LIAUTO_METRICS_CLASSES
                            + NGX_LIAUTO_METRICS_BUCKETS + 2));

    body.data = ngx_pnalloc(r->pool, size);
    if (body.data == NULL) {
        ngx_liauto_finalize(ctx, NGX_ERROR);
        return;
    }

    p = ngx_liauto_metrics_http(body.data);
    p = ngx_liauto_metrics_queries(p);
    p = ngx_cpymem(p, db.data, db.len);

    body.len = p - body.data;

    ngx_liauto_finalize(ctx, ngx_liauto_send(r, NGX_HTTP_OK, &type, &body));
}


/* each family's lines together, as the text format wants them */

static u_char *
ngx_liauto_metrics_http(u_char *p)
{
    p = ngx_sprintf(p, "# HELP liauto_http_requests_total Requests "
                    "answered, by route and status class.\n"
                    "# TYPE liauto_http_requests_total counter\n");
    p = ngx_liauto_metrics_routes(p, ngx_liauto_metrics_counts);

    p = ngx_sprintf(p, "# HELP liauto_http_request_duration_seconds From "
                    "the request line to the log, by route.\n"
                    "# TYPE liauto_http_request_duration_seconds "
                    "histogram\n");

    return ngx_liauto_metrics_routes(p, ngx_liauto_metrics_latency);
}


/* the lines of print() for every route that served anything */

static u_char *
ngx_liauto_metrics_routes(u_char *p, ngx_liauto_metrics_print_pt print)
{
    u_char                      *name;
    ngx_str_t                    label;
    ngx_uint_t                   i, j;
    ngx_atomic_t                 total;
    ngx_liauto_route_t          *rt;
    ngx_liauto_metrics_route_t  *m;

    u_char  buf[256];

    rt = ngx_liauto_route_table();

    for (i = 0; i <= ngx_liauto_metrics_nroutes; i++) {
        m = &ngx_liauto_metrics->routes[i];
        total = 0;

        for (j = 0; j < NGX_LIAUTO_METRICS_BUCKETS; j++) {
            total += m->buckets[j];
        }

        if (total == 0) {
            continue;
        }

        if (i == ngx_liauto_metrics_nroutes) {
            ngx_str_set(&label, "route=\"unmatched\"");

        } else {
            name = (u_char *) ngx_liauto_route_method_name(rt[i].methods);
            label.data = buf;
            label.len = ngx_snprintf(buf, sizeof(buf),
                                     "method=\"%s\",route=\"%V\"",
                                     name, &rt[i].path)
                        - buf;
        }

        p = print(p, m, &label);
    }

    return p;
}


static u_char *
ngx_liauto_metrics_counts(u_char *p, ngx_liauto_metrics_route_t *m,
    ngx_str_t *label)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_LIAUTO_METRICS_CLASSES; i++) {
        if (m->status[i]) {
            p = ngx_sprintf(p, "liauto_http_requests_total{%V,"
                            "code=\"%uixx\"} %uA\n",
                            label, i + 1, m->status[i]);
        }
    }

    return p;
}


/* cumulative buckets, the sum in seconds, the count */

static u_char *
ngx_liauto_metrics_latency(u_char *p, ngx_liauto_metrics_route_t *m,
    ngx_str_t *label)
{
    ngx_uint_t    i;
    ngx_atomic_t  total, msec;

    total = 0;

    for (i = 0; i < NGX_LIAUTO_METRICS_BUCKETS; i++) {
        total += m->buckets[i];
        p = ngx_sprintf(p, "liauto_http_request_duration_seconds_bucket{"
                        "%V,le=\"%s\"} %uA\n",
                        label, ngx_liauto_metrics_les[i], total);
    }

    msec = m->msec;

    return ngx_sprintf(p, "liauto_http_request_duration_seconds_sum{%V} "
                       "%uA.%03uA\n"
                       "liauto_http_request_duration_seconds_count{%V} %uA\n",
                       label, msec / 1000, msec % 1000, label, total);
}


static u_char *
ngx_liauto_metrics_queries(u_char *p)
{
    ngx_uint_t  i;

    p = ngx_sprintf(p, "# HELP liauto_pg_queries_total Postgres queries of "
                    "the module, by outcome (error: the query failed; "
                    "unavailable: no connection in time; timeout: no answer "
                    "in time; broken: the connection broke).\n"
                    "# TYPE liauto_pg_queries_total counter\n");

    for (i = 0; i < NGX_LIAUTO_METRICS_OUTCOMES; i++) {
        p = ngx_sprintf(p, "liauto_pg_queries_total{outcome=\"%s\"} %uA\n",
                        ngx_liauto_metrics_outcomes[i],
                        ngx_liauto_metrics->queries[i]);
    }

    return p;
}
