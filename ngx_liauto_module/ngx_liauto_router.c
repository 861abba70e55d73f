
/*
 * Copyright (C) liauto
 *
 * The route table: every operation of the API, by method and path pattern.
 * "{name}" matches one non-empty path segment, captured in ctx->params in
 * order.  t/ checks this table against openapi/openapi.yaml, so keep one
 * route per line in the form below.
 */


#include "ngx_liauto_module.h"
#include "ngx_liauto_router.h"
#include "ngx_liauto_json.h"
#include "ngx_liauto_ops.h"
#include "ngx_liauto_api.h"
#include "ngx_liauto_webhook.h"
#include "ngx_liauto_stream.h"
#include "ngx_liauto_metrics.h"


static ngx_int_t ngx_liauto_route_match(ngx_str_t *pattern, ngx_str_t *uri,
    ngx_liauto_ctx_t *ctx);
static ngx_int_t ngx_liauto_not_allowed(ngx_http_request_t *r,
    ngx_uint_t methods);


static ngx_liauto_route_t  ngx_liauto_routes[] = {

    { NGX_HTTP_GET, ngx_string("/api/v1/health"),
      ngx_liauto_ops_health, NGX_LIAUTO_ROUTE_PUBLIC, 0, NULL, NULL },

    { NGX_HTTP_GET, ngx_string("/api/v1/metrics"),
      ngx_liauto_metrics_handler, NGX_LIAUTO_ROUTE_PUBLIC, 0, NULL, NULL },

    { NGX_HTTP_POST, ngx_string("/api/v1/auth/login"),
      ngx_liauto_api_call,
      NGX_LIAUTO_ROUTE_PUBLIC|NGX_LIAUTO_ROUTE_BODY|NGX_LIAUTO_ROUTE_TOKENS,
      NGX_LIAUTO_ROLE_ANY, NGX_LIAUTO_SQL("api.auth_login") },

    { NGX_HTTP_POST, ngx_string("/api/v1/auth/refresh"),
      ngx_liauto_api_call,
      NGX_LIAUTO_ROUTE_PUBLIC|NGX_LIAUTO_ROUTE_BODY|NGX_LIAUTO_ROUTE_TOKENS,
      NGX_LIAUTO_ROLE_ANY, NGX_LIAUTO_SQL("api.auth_refresh") },

    { NGX_HTTP_POST, ngx_string("/api/v1/auth/logout"),
      ngx_liauto_api_call, NGX_LIAUTO_ROUTE_BODY,
      NGX_LIAUTO_ROLE_VIEWER, NGX_LIAUTO_SQL("api.auth_logout") },

    { NGX_HTTP_GET, ngx_string("/api/v1/auth/me"),
      ngx_liauto_api_call, 0,
      NGX_LIAUTO_ROLE_VIEWER, NGX_LIAUTO_SQL("api.auth_me") },

    { NGX_HTTP_GET, ngx_string("/api/v1/users"),
      ngx_liauto_api_call, 0,
      NGX_LIAUTO_ROLE_ADMIN, NGX_LIAUTO_SQL("api.users_list") },

    { NGX_HTTP_POST, ngx_string("/api/v1/users"),
      ngx_liauto_api_call, NGX_LIAUTO_ROUTE_BODY,
      NGX_LIAUTO_ROLE_ADMIN, NGX_LIAUTO_SQL("api.users_create") },

    { NGX_HTTP_GET, ngx_string("/api/v1/users/{id}"),
      ngx_liauto_api_call, 0,
      NGX_LIAUTO_ROLE_ADMIN, NGX_LIAUTO_SQL("api.users_get") },

    { NGX_HTTP_PATCH, ngx_string("/api/v1/users/{id}"),
      ngx_liauto_api_call, NGX_LIAUTO_ROUTE_BODY,
      NGX_LIAUTO_ROLE_ADMIN, NGX_LIAUTO_SQL("api.users_update") },

    { NGX_HTTP_DELETE, ngx_string("/api/v1/users/{id}"),
      ngx_liauto_api_call, 0,
      NGX_LIAUTO_ROLE_ADMIN, NGX_LIAUTO_SQL("api.users_delete") },

    { NGX_HTTP_GET, ngx_string("/api/v1/clients"),
      ngx_liauto_api_call, 0,
      NGX_LIAUTO_ROLE_VIEWER, NGX_LIAUTO_SQL("api.clients_list") },

    { NGX_HTTP_POST, ngx_string("/api/v1/clients"),
      ngx_liauto_api_call, NGX_LIAUTO_ROUTE_BODY,
      NGX_LIAUTO_ROLE_ADMIN, NGX_LIAUTO_SQL("api.clients_create") },

    { NGX_HTTP_GET, ngx_string("/api/v1/clients/{id}"),
      ngx_liauto_api_call, 0,
      NGX_LIAUTO_ROLE_VIEWER, NGX_LIAUTO_SQL("api.clients_get") },

    { NGX_HTTP_PATCH, ngx_string("/api/v1/clients/{id}"),
      ngx_liauto_api_call, NGX_LIAUTO_ROUTE_BODY,
      NGX_LIAUTO_ROLE_ADMIN, NGX_LIAUTO_SQL("api.clients_update") },

    { NGX_HTTP_DELETE, ngx_string("/api/v1/clients/{id}"),
      ngx_liauto_api_call, 0,
      NGX_LIAUTO_ROLE_ADMIN, NGX_LIAUTO_SQL("api.clients_delete") },

    { NGX_HTTP_GET, ngx_string("/api/v1/linkedin-accounts"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_VIEWER,
      NGX_LIAUTO_SQL("api.accounts_list") },

    { NGX_HTTP_POST, ngx_string("/api/v1/linkedin-accounts"),
      ngx_liauto_api_call, NGX_LIAUTO_ROUTE_BODY, NGX_LIAUTO_ROLE_AGENT,
      NGX_LIAUTO_SQL("api.accounts_create") },

    { NGX_HTTP_GET, ngx_string("/api/v1/linkedin-accounts/{id}"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_VIEWER,
      NGX_LIAUTO_SQL("api.accounts_get") },

    { NGX_HTTP_PATCH, ngx_string("/api/v1/linkedin-accounts/{id}"),
      ngx_liauto_api_call, NGX_LIAUTO_ROUTE_BODY, NGX_LIAUTO_ROLE_AGENT,
      NGX_LIAUTO_SQL("api.accounts_update") },

    { NGX_HTTP_DELETE, ngx_string("/api/v1/linkedin-accounts/{id}"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_AGENT,
      NGX_LIAUTO_SQL("api.accounts_delete") },

    { NGX_HTTP_GET, ngx_string("/api/v1/linkedin-accounts/{id}/budget"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_VIEWER,
      NGX_LIAUTO_SQL("api.accounts_budget") },

    { NGX_HTTP_GET, ngx_string("/api/v1/campaigns/{id}/analytics/variants"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_VIEWER,
      NGX_LIAUTO_SQL("api.campaigns_variants") },

    { NGX_HTTP_GET, ngx_string("/api/v1/linkedin-accounts/{id}/invitations"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_VIEWER,
      NGX_LIAUTO_SQL("api.accounts_invitations") },

    { NGX_HTTP_GET, ngx_string("/api/v1/blocklist"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_VIEWER,
      NGX_LIAUTO_SQL("api.blocklist_list") },

    { NGX_HTTP_POST, ngx_string("/api/v1/blocklist"),
      ngx_liauto_api_call, NGX_LIAUTO_ROUTE_BODY, NGX_LIAUTO_ROLE_AGENT,
      NGX_LIAUTO_SQL("api.blocklist_create") },

    { NGX_HTTP_DELETE, ngx_string("/api/v1/blocklist/{id}"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_AGENT,
      NGX_LIAUTO_SQL("api.blocklist_delete") },

    { NGX_HTTP_GET, ngx_string("/api/v1/campaigns"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_VIEWER,
      NGX_LIAUTO_SQL("api.campaigns_list") },

    { NGX_HTTP_POST, ngx_string("/api/v1/campaigns"),
      ngx_liauto_api_call, NGX_LIAUTO_ROUTE_BODY, NGX_LIAUTO_ROLE_AGENT,
      NGX_LIAUTO_SQL("api.campaigns_create") },

    { NGX_HTTP_GET, ngx_string("/api/v1/campaigns/{id}"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_VIEWER,
      NGX_LIAUTO_SQL("api.campaigns_get") },

    { NGX_HTTP_PATCH, ngx_string("/api/v1/campaigns/{id}"),
      ngx_liauto_api_call, NGX_LIAUTO_ROUTE_BODY, NGX_LIAUTO_ROLE_AGENT,
      NGX_LIAUTO_SQL("api.campaigns_update") },

    { NGX_HTTP_DELETE, ngx_string("/api/v1/campaigns/{id}"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_AGENT,
      NGX_LIAUTO_SQL("api.campaigns_delete") },

    { NGX_HTTP_GET, ngx_string("/api/v1/campaigns/{id}/sequence"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_VIEWER,
      NGX_LIAUTO_SQL("api.campaigns_sequence_get") },

    { NGX_HTTP_PUT, ngx_string("/api/v1/campaigns/{id}/sequence"),
      ngx_liauto_api_call, NGX_LIAUTO_ROUTE_BODY, NGX_LIAUTO_ROLE_AGENT,
      NGX_LIAUTO_SQL("api.campaigns_sequence_put") },

    { NGX_HTTP_GET, ngx_string("/api/v1/campaigns/{id}/sequence/versions"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_VIEWER,
      NGX_LIAUTO_SQL("api.campaigns_sequence_versions") },

    { NGX_HTTP_GET, ngx_string("/api/v1/campaigns/{id}/status"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_VIEWER,
      NGX_LIAUTO_SQL("api.campaigns_status") },

    { NGX_HTTP_POST, ngx_string("/api/v1/campaigns/{id}/actions/start"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_AGENT,
      NGX_LIAUTO_SQL("api.campaigns_start") },

    { NGX_HTTP_POST, ngx_string("/api/v1/campaigns/{id}/actions/pause"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_AGENT,
      NGX_LIAUTO_SQL("api.campaigns_pause") },

    { NGX_HTTP_GET, ngx_string("/api/v1/campaigns/{id}/leads"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_VIEWER,
      NGX_LIAUTO_SQL("api.campaign_leads_list") },

    { NGX_HTTP_POST, ngx_string("/api/v1/campaigns/{id}/leads"),
      ngx_liauto_api_call, NGX_LIAUTO_ROUTE_BODY, NGX_LIAUTO_ROLE_AGENT,
      NGX_LIAUTO_SQL("api.campaign_leads_create") },

    { NGX_HTTP_POST, ngx_string("/api/v1/campaigns/{id}/leads/import"),
      ngx_liauto_api_call, NGX_LIAUTO_ROUTE_CSV_IN, NGX_LIAUTO_ROLE_AGENT,
      NGX_LIAUTO_SQL("api.leads_import") },

    { NGX_HTTP_GET, ngx_string("/api/v1/campaigns/{id}/leads/export"),
      ngx_liauto_api_call, NGX_LIAUTO_ROUTE_CSV_OUT, NGX_LIAUTO_ROLE_VIEWER,
      NGX_LIAUTO_SQL("api.leads_export") },

    { NGX_HTTP_GET, ngx_string("/api/v1/campaigns/{id}/events/export"),
      ngx_liauto_api_call, NGX_LIAUTO_ROUTE_CSV_OUT, NGX_LIAUTO_ROLE_VIEWER,
      NGX_LIAUTO_SQL("api.lead_events_export") },

    { NGX_HTTP_GET, ngx_string("/api/v1/leads"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_VIEWER,
      NGX_LIAUTO_SQL("api.leads_list") },

    { NGX_HTTP_POST, ngx_string("/api/v1/leads"),
      ngx_liauto_api_call, NGX_LIAUTO_ROUTE_BODY, NGX_LIAUTO_ROLE_AGENT,
      NGX_LIAUTO_SQL("api.leads_create") },

    { NGX_HTTP_GET, ngx_string("/api/v1/leads/{id}"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_VIEWER,
      NGX_LIAUTO_SQL("api.leads_get") },

    { NGX_HTTP_PATCH, ngx_string("/api/v1/leads/{id}"),
      ngx_liauto_api_call, NGX_LIAUTO_ROUTE_BODY, NGX_LIAUTO_ROLE_AGENT,
      NGX_LIAUTO_SQL("api.leads_update") },

    { NGX_HTTP_DELETE, ngx_string("/api/v1/leads/{id}"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_AGENT,
      NGX_LIAUTO_SQL("api.leads_delete") },

    { NGX_HTTP_GET, ngx_string("/api/v1/leads/{id}/schedule"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_VIEWER,
      NGX_LIAUTO_SQL("api.leads_schedule") },

    { NGX_HTTP_GET, ngx_string("/api/v1/leads/{id}/events"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_VIEWER,
      NGX_LIAUTO_SQL("api.lead_events_list") },

    { NGX_HTTP_GET, ngx_string("/api/v1/automation/scheduler/status"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_VIEWER,
      NGX_LIAUTO_SQL("api.scheduler_status") },

    { NGX_HTTP_POST, ngx_string("/api/v1/automation/scheduler/actions/start"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_ADMIN,
      NGX_LIAUTO_SQL("api.scheduler_start") },

    { NGX_HTTP_POST, ngx_string("/api/v1/automation/scheduler/actions/stop"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_ADMIN,
      NGX_LIAUTO_SQL("api.scheduler_stop") },

    { NGX_HTTP_POST, ngx_string("/api/v1/webhooks/unipile/users"),
      ngx_liauto_webhook_deliver,
      NGX_LIAUTO_ROUTE_BODY|NGX_LIAUTO_ROUTE_WEBHOOK, NGX_LIAUTO_ROLE_ANY,
      NGX_LIAUTO_WEBHOOK_SQL("unipile_users") },

    { NGX_HTTP_POST, ngx_string("/api/v1/webhooks/unipile/messaging"),
      ngx_liauto_webhook_deliver,
      NGX_LIAUTO_ROUTE_BODY|NGX_LIAUTO_ROUTE_WEBHOOK, NGX_LIAUTO_ROLE_ANY,
      NGX_LIAUTO_WEBHOOK_SQL("unipile_messaging") },

    { NGX_HTTP_POST, ngx_string("/api/v1/webhooks/unipile/account-status"),
      ngx_liauto_webhook_deliver,
      NGX_LIAUTO_ROUTE_BODY|NGX_LIAUTO_ROUTE_WEBHOOK, NGX_LIAUTO_ROLE_ANY,
      NGX_LIAUTO_WEBHOOK_SQL("unipile_account_status") },

    { NGX_HTTP_GET, ngx_string("/api/v1/webhooks/health"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_ADMIN,
      NGX_LIAUTO_SQL("api.webhooks_health") },

    /* the unified inbox (sql/migrations/0019_inbox_api.sql) */
    { NGX_HTTP_GET, ngx_string("/api/v1/inbox/conversations"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_VIEWER,
      NGX_LIAUTO_SQL("api.inbox_conversations_list") },

    { NGX_HTTP_GET, ngx_string("/api/v1/inbox/conversations/{id}"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_VIEWER,
      NGX_LIAUTO_SQL("api.inbox_conversations_get") },

    { NGX_HTTP_GET, ngx_string("/api/v1/inbox/conversations/{id}/messages"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_VIEWER,
      NGX_LIAUTO_SQL("api.inbox_messages_list") },

    { NGX_HTTP_POST, ngx_string("/api/v1/inbox/conversations/{id}/reply"),
      ngx_liauto_api_call, NGX_LIAUTO_ROUTE_BODY, NGX_LIAUTO_ROLE_AGENT,
      NGX_LIAUTO_SQL("api.inbox_reply") },

    { NGX_HTTP_POST, ngx_string("/api/v1/inbox/conversations/{id}/read"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_AGENT,
      NGX_LIAUTO_SQL("api.inbox_read") },

    { NGX_HTTP_POST, ngx_string("/api/v1/inbox/conversations/{id}/unread"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_AGENT,
      NGX_LIAUTO_SQL("api.inbox_unread") },

    { NGX_HTTP_POST, ngx_string("/api/v1/inbox/conversations/{id}/assign"),
      ngx_liauto_api_call, NGX_LIAUTO_ROUTE_BODY, NGX_LIAUTO_ROLE_AGENT,
      NGX_LIAUTO_SQL("api.inbox_assign") },

    { NGX_HTTP_POST, ngx_string("/api/v1/inbox/conversations/{id}/close"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_AGENT,
      NGX_LIAUTO_SQL("api.inbox_close") },

    { NGX_HTTP_POST, ngx_string("/api/v1/inbox/conversations/{id}/snooze"),
      ngx_liauto_api_call, NGX_LIAUTO_ROUTE_BODY, NGX_LIAUTO_ROLE_AGENT,
      NGX_LIAUTO_SQL("api.inbox_snooze") },

    { NGX_HTTP_POST, ngx_string("/api/v1/inbox/conversations/{id}/reopen"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_AGENT,
      NGX_LIAUTO_SQL("api.inbox_reopen") },

    { NGX_HTTP_GET, ngx_string("/api/v1/inbox/counters"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_VIEWER,
      NGX_LIAUTO_SQL("api.inbox_counters") },

    /* Server-Sent Events, fed by LISTEN/NOTIFY (ngx_liauto_stream.c) */
    { NGX_HTTP_GET, ngx_string("/api/v1/inbox/stream"),
      ngx_liauto_stream_subscribe, 0, NGX_LIAUTO_ROLE_VIEWER, NULL, NULL },

    /* analytics (0018): read-only views of one tenant's numbers */
    { NGX_HTTP_GET, ngx_string("/api/v1/campaigns/{id}/analytics/summary"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_VIEWER,
      NGX_LIAUTO_SQL("api.analytics_summary") },

    { NGX_HTTP_GET,
      ngx_string("/api/v1/campaigns/{id}/analytics/timeseries"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_VIEWER,
      NGX_LIAUTO_SQL("api.analytics_timeseries") },

    { NGX_HTTP_GET, ngx_string("/api/v1/analytics/accounts/{id}/rate-usage"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_VIEWER,
      NGX_LIAUTO_SQL("api.analytics_rate_usage") },

    { NGX_HTTP_GET, ngx_string("/api/v1/analytics/campaigns/{id}/funnel"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_VIEWER,
      NGX_LIAUTO_SQL("api.analytics_funnel") },

    { NGX_HTTP_GET, ngx_string("/api/v1/analytics/real-time"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_VIEWER,
      NGX_LIAUTO_SQL("api.analytics_real_time") },

    { NGX_HTTP_GET,
      ngx_string("/api/v1/analytics/clients/{id}/comparative"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_VIEWER,
      NGX_LIAUTO_SQL("api.analytics_comparative") },

    { NGX_HTTP_GET, ngx_string("/api/v1/analytics/export"),
      ngx_liauto_api_call, NGX_LIAUTO_ROUTE_CSV_OUT, NGX_LIAUTO_ROLE_VIEWER,
      NGX_LIAUTO_SQL("api.analytics_export") },

    /* the XLSX report of a campaign (sql 0032, ngx_liauto_xlsx.c) */
    { NGX_HTTP_GET,
      ngx_string("/api/v1/campaigns/{id}/analytics/report.xlsx"),
      ngx_liauto_api_call, NGX_LIAUTO_ROUTE_XLSX_OUT, NGX_LIAUTO_ROLE_VIEWER,
      NGX_LIAUTO_SQL("api.analytics_report") },

    /* notifications and the weekly report (sql 0024) */
    { NGX_HTTP_GET, ngx_string("/api/v1/clients/{id}/notifications"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_AGENT,
      NGX_LIAUTO_SQL("api.client_notifications_get") },

    { NGX_HTTP_PUT, ngx_string("/api/v1/clients/{id}/notifications"),
      ngx_liauto_api_call, NGX_LIAUTO_ROUTE_BODY, NGX_LIAUTO_ROLE_AGENT,
      NGX_LIAUTO_SQL("api.client_notifications_put") },

    { NGX_HTTP_GET,
      ngx_string("/api/v1/clients/{id}/reports/weekly/preview"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_VIEWER,
      NGX_LIAUTO_SQL("api.client_weekly_report_preview") },

    /* outbound webhooks for integrators (sql 0024) */

    { NGX_HTTP_GET, ngx_string("/api/v1/webhook-subscriptions"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_VIEWER,
      NGX_LIAUTO_SQL("api.webhook_subscriptions_list") },

    { NGX_HTTP_POST, ngx_string("/api/v1/webhook-subscriptions"),
      ngx_liauto_api_call, NGX_LIAUTO_ROUTE_BODY, NGX_LIAUTO_ROLE_AGENT,
      NGX_LIAUTO_SQL("api.webhook_subscriptions_create") },

    { NGX_HTTP_DELETE, ngx_string("/api/v1/webhook-subscriptions/{id}"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_AGENT,
      NGX_LIAUTO_SQL("api.webhook_subscriptions_delete") },

    { NGX_HTTP_GET,
      ngx_string("/api/v1/webhook-subscriptions/{id}/deliveries"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_VIEWER,
      NGX_LIAUTO_SQL("api.webhook_deliveries_list") },

    /* one literal, longer than a line: t/030 reads the path from here */
    { NGX_HTTP_POST,
      ngx_string("/api/v1/webhook-subscriptions/{id}/deliveries/{delivery_id}/replay"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_AGENT,
      NGX_LIAUTO_SQL("api.webhook_delivery_replay") },

    /* fallbacks for missed webhooks, run by the worker (DESIGN §6) */
    { NGX_HTTP_POST, ngx_string("/api/v1/admin/backfill/replies"),
      ngx_liauto_api_call, NGX_LIAUTO_ROUTE_BODY, NGX_LIAUTO_ROLE_ADMIN,
      NGX_LIAUTO_SQL("api.admin_backfill_replies") },

    { NGX_HTTP_POST, ngx_string("/api/v1/admin/sync/relations"),
      ngx_liauto_api_call, NGX_LIAUTO_ROUTE_BODY, NGX_LIAUTO_ROLE_ADMIN,
      NGX_LIAUTO_SQL("api.admin_sync_relations") },

    { NGX_HTTP_POST, ngx_string("/api/v1/admin/backfill/conversations"),
      ngx_liauto_api_call, NGX_LIAUTO_ROUTE_BODY, NGX_LIAUTO_ROLE_ADMIN,
      NGX_LIAUTO_SQL("api.admin_backfill_conversations") },

    { NGX_HTTP_GET, ngx_string("/api/v1/admin/jobs/{id}"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_ADMIN,
      NGX_LIAUTO_SQL("api.admin_jobs_get") },

    { NGX_HTTP_GET, ngx_string("/api/v1/admin/migrations/status"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_ADMIN,
      NGX_LIAUTO_SQL("api.admin_migrations_status") },

    /* Unipile's webhooks, listed and changed by the worker as runs */

    { NGX_HTTP_GET, ngx_string("/api/v1/admin/webhooks"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_ADMIN,
      NGX_LIAUTO_SQL("api.admin_webhooks_list") },

    { NGX_HTTP_POST, ngx_string("/api/v1/admin/webhooks"),
      ngx_liauto_api_call, NGX_LIAUTO_ROUTE_BODY, NGX_LIAUTO_ROLE_ADMIN,
      NGX_LIAUTO_SQL("api.admin_webhooks_ensure") },

    { NGX_HTTP_DELETE, ngx_string("/api/v1/admin/webhooks/{id}"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_ADMIN,
      NGX_LIAUTO_SQL("api.admin_webhooks_delete") },

    /* sender rotation: a campaign's accounts and their results */

    { NGX_HTTP_GET, ngx_string("/api/v1/campaigns/{id}/senders"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_VIEWER,
      NGX_LIAUTO_SQL("api.campaigns_senders_get") },

    { NGX_HTTP_PUT, ngx_string("/api/v1/campaigns/{id}/senders"),
      ngx_liauto_api_call, NGX_LIAUTO_ROUTE_BODY, NGX_LIAUTO_ROLE_AGENT,
      NGX_LIAUTO_SQL("api.campaigns_senders_put") },

    { NGX_HTTP_GET, ngx_string("/api/v1/campaigns/{id}/analytics/senders"),
      ngx_liauto_api_call, 0, NGX_LIAUTO_ROLE_VIEWER,
      NGX_LIAUTO_SQL("api.campaigns_sender_analytics") },

    { 0, ngx_null_string, NULL, 0, 0, NULL, NULL }
};


typedef struct {
    ngx_uint_t   method;
    const char  *name;
} ngx_liauto_method_name_t;


static ngx_liauto_method_name_t  ngx_liauto_method_names[] = {
    { NGX_HTTP_GET,     "GET" },
    { NGX_HTTP_HEAD,    "HEAD" },
    { NGX_HTTP_POST,    "POST" },
    { NGX_HTTP_PUT,     "PUT" },
    { NGX_HTTP_PATCH,   "PATCH" },
    { NGX_HTTP_DELETE,  "DELETE" },
    { 0, NULL }
};


ngx_liauto_route_t *
ngx_liauto_route_table(void)
{
    return ngx_liauto_routes;
}


/* the name of a route's method (its first, for a route with several) */

const char *
ngx_liauto_route_method_name(ngx_uint_t methods)
{
    ngx_liauto_method_name_t  *m;

    for (m = ngx_liauto_method_names; m->name; m++) {
        if (methods & m->method) {
            return m->name;
        }
    }

    return "";
}


/*
 * Finds the route of r: NGX_OK with ctx->route set, or the status of the
 * error response already sent (404 or 405).
 */

ngx_int_t
ngx_liauto_route(ngx_http_request_t *r, ngx_liauto_ctx_t *ctx)
{
    ngx_uint_t           method, allowed;
    ngx_liauto_route_t  *rt;

    /* HEAD is served wherever GET is */
    method = (r->method == NGX_HTTP_HEAD) ? NGX_HTTP_GET : r->method;
    allowed = 0;

    for (rt = ngx_liauto_routes; rt->handler; rt++) {

        if (ngx_liauto_route_match(&rt->path, &r->uri, ctx) != NGX_OK) {
            continue;
        }

        if (rt->methods & method) {
            ctx->route = rt;
            return NGX_OK;
        }

        allowed |= rt->methods;
    }

    ctx->nparams = 0;

    if (allowed) {
        return ngx_liauto_not_allowed(r, allowed);
    }

    return ngx_liauto_send_error(r, NGX_HTTP_NOT_FOUND, NULL,
                                 "no such resource", NULL);
}


static ngx_int_t
ngx_liauto_route_match(ngx_str_t *pattern, ngx_str_t *uri,
    ngx_liauto_ctx_t *ctx)
{
    u_char  *p, *pe, *u, *ue, *start;

    p = pattern->data;
    pe = p + pattern->len;
    u = uri->data;
    ue = u + uri->len;

    ctx->nparams = 0;

    while (p < pe && u < ue) {

        if (*p != '{') {
            if (*p++ != *u++) {
                return NGX_DECLINED;
            }
            continue;
        }

        start = u;
        while (u < ue && *u != '/') {
            u++;
        }

        if (u == start || ctx->nparams == NGX_LIAUTO_MAX_PARAMS) {
            return NGX_DECLINED;
        }

        ctx->params[ctx->nparams].data = start;
        ctx->params[ctx->nparams].len = u - start;
        ctx->nparams++;

        while (p < pe && *p != '/') {
            p++;
        }
    }

    return (p == pe && u == ue) ? NGX_OK : NGX_DECLINED;
}


static ngx_int_t
ngx_liauto_not_allowed(ngx_http_request_t *r, ngx_uint_t methods)
{
    u_char                    *p;
    ngx_str_t                  details;
    ngx_table_elt_t           *h;
    ngx_liauto_method_name_t  *m;

    if (methods & NGX_HTTP_GET) {
        methods |= NGX_HTTP_HEAD;
    }

    /* "GET, HEAD, POST, PUT, PATCH, DELETE" plus the JSON details */
    p = ngx_pnalloc(r->pool, 128);
    if (p == NULL) {
        return NGX_ERROR;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Allow");
    h->value.data = p;

    for (m = ngx_liauto_method_names; m->name; m++) {
        if (methods & m->method) {
            p = ngx_sprintf(p, "%s%s", p == h->value.data ? "" : ", ",
                            m->name);
        }
    }

    h->value.len = p - h->value.data;

    details.len = sizeof("{\"allow\":\"\"}") - 1 + h->value.len;
    details.data = ngx_pnalloc(r->pool, details.len);
    if (details.data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(details.data, "{\"allow\":\"%V\"}", &h->value);

    return ngx_liauto_send_error(r, NGX_HTTP_NOT_ALLOWED, NULL,
                                 "method not allowed on this resource",
                                 &details);
}
