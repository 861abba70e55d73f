#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "resend.h"

typedef struct {
    long               status;
    const char        *body;
    resend_outcome_t   expected;
    const char        *reason_part;   /* NULL: not checked */
} case_t;

/* Every error name of the reference's §5.2 table, and the 2xx shapes. */
static const case_t  cases[] = {
    { 200, "{\"id\":\"49a3999c-0ce1-4ea6-ab68-afcd6dc2e794\"}",
      RESEND_SENT, NULL },
    { 200, "{}", RESEND_RETRY, "no email id" },
    { 200, "<html>ok</html>", RESEND_RETRY, "no email id" },

    { 400, "{\"statusCode\":400,\"name\":\"invalid_idempotency_key\","
           "\"message\":\"The key must be between 1-256 chars.\"}",
      RESEND_FAILED, "invalid_idempotency_key: The key must be between" },
    { 400, "{\"statusCode\":400,\"name\":\"validation_error\","
           "\"message\":\"API key is invalid\"}",
      RESEND_FAILED, "validation_error: API key is invalid (HTTP 400)" },
    { 401, "{\"statusCode\":401,\"name\":\"missing_api_key\","
           "\"message\":\"Missing API key\"}",
      RESEND_FAILED, "missing_api_key" },
    { 401, "{\"statusCode\":401,\"name\":\"restricted_api_key\","
           "\"message\":\"This API key is restricted\"}",
      RESEND_FAILED, "restricted_api_key" },
    { 403, "{\"statusCode\":403,\"name\":\"invalid_api_key\","
           "\"message\":\"API key is invalid\"}",
      RESEND_FAILED, "invalid_api_key" },
    { 403, "{\"statusCode\":403,\"name\":\"validation_error\","
           "\"message\":\"The domain.com domain is not verified\"}",
      RESEND_FAILED, "domain is not verified" },
    { 403, "{\"name\":\"invalid_from_address\",\"message\":\"bad\"}",
      RESEND_FAILED, "invalid_from_address" },
    { 403, "{\"name\":\"invalid_to_address\",\"message\":\"bad\"}",
      RESEND_FAILED, "invalid_to_address" },
    { 404, "{\"statusCode\":404,\"name\":\"not_found\","
           "\"message\":\"The requested endpoint does not exist.\"}",
      RESEND_FAILED, "not_found" },
    { 405, "{\"statusCode\":405,\"name\":\"method_not_allowed\","
           "\"message\":\"Method is not allowed.\"}",
      RESEND_FAILED, "method_not_allowed" },
    { 409, "{\"statusCode\":409,\"name\":\"invalid_idempotent_request\","
           "\"message\":\"Same idempotency key used with a different "
           "request payload.\"}",
      RESEND_FAILED, "invalid_idempotent_request" },
    { 409, "{\"statusCode\":409,\"name\":\"concurrent_idempotent_requests\","
           "\"message\":\"Same idempotency key used while original request "
           "is still in progress.\"}",
      RESEND_RETRY, "still being processed" },
    { 422, "{\"statusCode\":422,\"name\":\"validation_error\","
           "\"message\":\"Invalid `from` field\"}",
      RESEND_FAILED, "validation_error: Invalid `from` field (HTTP 422)" },
    { 422, "{\"name\":\"invalid_attachment\",\"message\":\"x\"}",
      RESEND_FAILED, "invalid_attachment" },
    { 422, "{\"name\":\"missing_required_field\",\"message\":\"Missing "
           "`to` field.\"}",
      RESEND_FAILED, "missing_required_field" },
    { 422, "{\"name\":\"missing_required_parameter\",\"message\":\"x\"}",
      RESEND_FAILED, "missing_required_parameter" },
    { 422, "{\"name\":\"invalid_parameter\",\"message\":\"x\"}",
      RESEND_FAILED, "invalid_parameter" },
    { 422, "{\"name\":\"invalid_scope\",\"message\":\"x\"}",
      RESEND_FAILED, "invalid_scope" },
    { 429, "{\"statusCode\":429,\"name\":\"rate_limit_exceeded\","
           "\"message\":\"Too many requests.\"}",
      RESEND_RETRY, "rate limited by Resend: rate_limit_exceeded" },
    { 429, "{\"name\":\"daily_quota_exceeded\",\"message\":\"x\"}",
      RESEND_RETRY, "daily_quota_exceeded" },
    { 429, "{\"name\":\"monthly_quota_exceeded\",\"message\":\"x\"}",
      RESEND_RETRY, "monthly_quota_exceeded" },
    { 500, "{\"statusCode\":500,\"name\":\"application_error\","
           "\"message\":\"An unexpected error occurred.\"}",
      RESEND_RETRY, "Resend failed: application_error" },
    { 503, "{\"name\":\"service_unavailable\",\"message\":\"x\"}",
      RESEND_RETRY, "service_unavailable" },
    { 502, "<html>Bad gateway</html>", RESEND_RETRY,
      "no error name (HTTP 502)" },
    { 302, "", RESEND_FAILED, "unexpected answer" },
};


static void
answer(http_response_t *res, long status, const char *body)
{
    memset(res, 0, sizeof(*res));
    res->status = status;
    res->body = body;
    res->body_len = strlen(body);
    res->curl_code = CURLE_OK;
    res->curl_error = "";
    res->request_sent = 1;
    res->retry_after_s = -1;
}


void
test_resend(void)
{
    size_t            i;
    http_response_t   res;
    resend_verdict_t  v;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        answer(&res, cases[i].status, cases[i].body);
        resend_classify(&res, &v);
        HARNESS_RECORD(v.outcome == cases[i].expected,
                       "HTTP %ld %s: %s, expected %s", cases[i].status,
                       cases[i].body, resend_outcome_name(v.outcome),
                       resend_outcome_name(cases[i].expected));
        if (cases[i].reason_part != NULL) {
            CHECK_STR_CONTAINS(v.reason, cases[i].reason_part);
        }
        CHECK_INT_EQ(v.status, cases[i].status);
    }

    /* the id of a sent email */
    answer(&res, 200, "{\"id\":\"49a3999c-0ce1-4ea6-ab68-afcd6dc2e794\"}");
    resend_classify(&res, &v);
    CHECK_STR_EQ(v.id, "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794");
    CHECK_INT_EQ(v.retry_after_ms, -1);

    /* 429: Retry-After kept */
    answer(&res, 429, "{\"name\":\"rate_limit_exceeded\"}");
    res.retry_after_s = 2;
    resend_classify(&res, &v);
    CHECK_INT_EQ(v.retry_after_ms, 2000);

    /* no answer, before or after the request went out: both retried,
     * the Idempotency-Key makes the second request harmless */
    answer(&res, 0, "");
    res.curl_code = CURLE_COULDNT_CONNECT;
    res.curl_error = "Failed to connect to 127.0.0.1 port 9: refused";
    res.request_sent = 0;
    resend_classify(&res, &v);
    CHECK_INT_EQ(v.outcome, RESEND_RETRY);
    CHECK_STR_CONTAINS(v.reason, "refused");

    res.curl_code = CURLE_OPERATION_TIMEDOUT;
    res.curl_error = "Operation timed out after 30000 milliseconds";
    res.request_sent = 1;
    resend_classify(&res, &v);
    CHECK_INT_EQ(v.outcome, RESEND_RETRY);
    CHECK_STR_CONTAINS(v.reason, "after the request was sent: Operation "
                       "timed out");
}
