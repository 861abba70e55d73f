#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "webhook.h"

#define SECRET                                                               \
    "whsec_00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

/* Known answers computed with `openssl dgst -sha256 -hmac "$SECRET"` over
 * "<t>.<body>" (the body holds UTF-8 bytes). */
static void
test_signature(void)
{
    char  sig[128];

    CHECK_INT_EQ(webhook_signature(SECRET, 1764547200,
                     "{\"id\":\"5b3c\",\"type\":\"lead.replied\","
                     "\"data\":{\"text\":\"h\xc3\xa9llo\"}}",
                     sig, sizeof(sig)), 0);
    CHECK_STR_EQ(sig, "t=1764547200,v1=a8a3156e19ee09b92b17e4991799a5a4"
                      "4388c74215ea1d95a2277372e9b1dcdb");

    /* one byte of the body changed: another signature */
    CHECK_INT_EQ(webhook_signature(SECRET, 1764547200,
                     "{\"id\":\"5b3d\",\"type\":\"lead.replied\","
                     "\"data\":{\"text\":\"h\xc3\xa9llo\"}}",
                     sig, sizeof(sig)), 0);
    CHECK_STR_EQ(sig, "t=1764547200,v1=d7a116fea8b347f112eca16416263d59"
                      "7c4b9541a5ef4de05c1c0eeaa18b7373");

    /* too small a buffer is refused, never truncated */
    CHECK_INT_EQ(webhook_signature(SECRET, 1764547200, "{}", sig, 40), -1);
}


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


static void
test_classify(void)
{
    http_response_t    res;
    webhook_verdict_t  v;

    answer(&res, 200, "");
    webhook_classify(&res, &v);
    CHECK_INT_EQ(v.outcome, WEBHOOK_DELIVERED);

    answer(&res, 204, "");
    webhook_classify(&res, &v);
    CHECK_INT_EQ(v.outcome, WEBHOOK_DELIVERED);

    answer(&res, 410, "gone");
    webhook_classify(&res, &v);
    CHECK_INT_EQ(v.outcome, WEBHOOK_FAILED);
    CHECK_STR_CONTAINS(v.reason, "410 Gone");

    answer(&res, 500, "oops");
    webhook_classify(&res, &v);
    CHECK_INT_EQ(v.outcome, WEBHOOK_RETRY);
    CHECK_STR_CONTAINS(v.reason, "HTTP 500: oops");

    answer(&res, 400, "bad signature");
    webhook_classify(&res, &v);
    CHECK_INT_EQ(v.outcome, WEBHOOK_RETRY);

    answer(&res, 429, "");
    res.retry_after_s = 30;
    webhook_classify(&res, &v);
    CHECK_INT_EQ(v.outcome, WEBHOOK_RETRY);
    CHECK_INT_EQ(v.retry_after_ms, 30000);

    answer(&res, 0, "");
    res.curl_code = CURLE_OPERATION_TIMEDOUT;
    res.curl_error = "Operation timed out after 15000 milliseconds";
    webhook_classify(&res, &v);
    CHECK_INT_EQ(v.outcome, WEBHOOK_RETRY);
    CHECK_STR_CONTAINS(v.reason, "timed out");
    CHECK_INT_EQ(v.status, 0);
}


void
test_webhook(void)
{
    test_signature();
    test_classify();
}
