#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "unipile.h"

#define READ  0
#define SEND  1

typedef struct {
    long                status;
    const char         *type;
    int                 is_send;
    unipile_outcome_t   expected;
} case_t;

/* Every error type of the reference's §0.1 table (which holds §1.1's and
 * §2.5's), for the operation kind where the answer differs. */
static const case_t  cases[] = {
    { 400, "errors/invalid_parameters", SEND, UNIPILE_FINAL_LEAD },
    { 400, "errors/malformed_request", SEND, UNIPILE_FINAL_LEAD },
    { 400, "errors/content_too_large", SEND, UNIPILE_FINAL_LEAD },
    { 400, "errors/invalid_url", READ, UNIPILE_FINAL_LEAD },
    { 400, "errors/too_many_characters", SEND, UNIPILE_FINAL_LEAD },
    { 400, "errors/unescaped_characters", SEND, UNIPILE_FINAL_LEAD },
    { 400, "errors/missing_parameters", READ, UNIPILE_FINAL_LEAD },

    { 401, "errors/missing_credentials", READ, UNIPILE_ACCOUNT_BLOCKED },
    { 401, "errors/multiple_sessions", SEND, UNIPILE_ACCOUNT_BLOCKED },
    { 401, "errors/invalid_checkpoint_solution", SEND,
      UNIPILE_ACCOUNT_BLOCKED },
    { 401, "errors/checkpoint_error", SEND, UNIPILE_ACCOUNT_BLOCKED },
    { 401, "errors/invalid_credentials", SEND, UNIPILE_ACCOUNT_BLOCKED },
    { 401, "errors/expired_credentials", SEND, UNIPILE_ACCOUNT_BLOCKED },
    { 401, "errors/insufficient_privileges", SEND, UNIPILE_ACCOUNT_BLOCKED },
    { 401, "errors/disconnected_account", SEND, UNIPILE_ACCOUNT_BLOCKED },
    { 401, "errors/disconnected_feature", SEND, UNIPILE_ACCOUNT_BLOCKED },
    { 401, "errors/invalid_credentials_but_valid_account_imap", READ,
      UNIPILE_ACCOUNT_BLOCKED },
    { 401, "errors/expired_link", READ, UNIPILE_ACCOUNT_BLOCKED },
    { 401, "errors/wrong_account", READ, UNIPILE_ACCOUNT_BLOCKED },
    { 401, "errors/captcha_not_supported", READ, UNIPILE_ACCOUNT_BLOCKED },

    { 403, "errors/account_restricted", SEND, UNIPILE_ACCOUNT_BLOCKED },
    { 403, "errors/account_mismatch", SEND, UNIPILE_FINAL_LEAD },
    { 403, "errors/insufficient_permissions", READ,
      UNIPILE_ACCOUNT_BLOCKED },
    { 403, "errors/session_mismatch", SEND, UNIPILE_ACCOUNT_BLOCKED },
    { 403, "errors/feature_not_subscribed", SEND, UNIPILE_ACCOUNT_BLOCKED },
    { 403, "errors/subscription_required", SEND, UNIPILE_ACCOUNT_BLOCKED },
    { 403, "errors/unknown_authentication_context", SEND,
      UNIPILE_ACCOUNT_BLOCKED },
    { 403, "errors/action_required", SEND, UNIPILE_ACCOUNT_BLOCKED },
    { 403, "errors/resource_access_restricted", READ, UNIPILE_FINAL_LEAD },

    { 404, "errors/resource_not_found", READ, UNIPILE_FINAL_LEAD },
    { 404, "errors/invalid_resource_identifier", SEND, UNIPILE_FINAL_LEAD },
    { 415, "errors/unsupported_media_type", SEND, UNIPILE_FINAL_LEAD },

    { 422, "errors/invalid_account", SEND, UNIPILE_ACCOUNT_BLOCKED },
    { 422, "errors/invalid_recipient", SEND, UNIPILE_FINAL_LEAD },
    { 422, "errors/no_connection_with_recipient", SEND,
      UNIPILE_FINAL_LEAD },
    { 422, "errors/blocked_recipient", SEND, UNIPILE_FINAL_LEAD },
    { 422, "errors/user_unreachable", SEND, UNIPILE_FINAL_LEAD },
    { 422, "errors/unprocessable_entity", SEND, UNIPILE_FINAL_LEAD },
    { 422, "errors/action_already_performed", SEND, UNIPILE_FINAL_LEAD },
    { 422, "errors/invalid_message", SEND, UNIPILE_FINAL_LEAD },
    { 422, "errors/invalid_post", SEND, UNIPILE_FINAL_LEAD },
    { 422, "errors/not_allowed_inmail", SEND, UNIPILE_FINAL_LEAD },
    { 422, "errors/insufficient_credits", SEND, UNIPILE_FINAL_LIMIT },
    { 422, "errors/cannot_resend_yet", SEND, UNIPILE_FINAL_LIMIT },
    { 422, "errors/cannot_resend_within_24hrs", SEND, UNIPILE_FINAL_LEAD },
    { 422, "errors/limit_exceeded", SEND, UNIPILE_FINAL_LIMIT },
    { 422, "errors/already_invited_recently", SEND, UNIPILE_FINAL_LEAD },
    { 422, "errors/cannot_invite_attendee", SEND, UNIPILE_FINAL_LEAD },
    { 422, "errors/already_connected", SEND, UNIPILE_FINAL_LEAD },
    { 422, "errors/connection_limit_reached", SEND, UNIPILE_FINAL_LIMIT },
    { 422, "errors/payment_error", SEND, UNIPILE_ACCOUNT_BLOCKED },
    { 422, "errors/comments_disabled", SEND, UNIPILE_FINAL_LEAD },
    { 422, "errors/insufficient_job_slot", SEND, UNIPILE_FINAL_LEAD },

    /* Some clients saw the type without its prefix. */
    { 422, "cannot_resend_yet", SEND, UNIPILE_FINAL_LIMIT },
    { 422, "already_invited_recently", SEND, UNIPILE_FINAL_LEAD },
    { 403, "account_restricted", SEND, UNIPILE_ACCOUNT_BLOCKED },

    { 429, "errors/too_many_requests", SEND, UNIPILE_ACCOUNT_COOLOFF },
    { 429, "errors/too_many_requests", READ, UNIPILE_ACCOUNT_COOLOFF },

    { 500, "errors/unexpected_error", SEND, UNIPILE_RETRY },
    { 500, "errors/provider_error", SEND, UNIPILE_RETRY },
    { 500, "errors/authentication_intent_error", READ, UNIPILE_RETRY },
    { 501, "errors/not_implemented", READ, UNIPILE_FINAL_LEAD },
    { 502, NULL, SEND, UNIPILE_RETRY },
    { 503, "errors/no_client_session", SEND, UNIPILE_RETRY },
    { 503, "errors/no_channel", SEND, UNIPILE_RETRY },
    { 503, "errors/no_handler", SEND, UNIPILE_RETRY },
    { 503, "errors/network_down", SEND, UNIPILE_RETRY },
    { 503, "errors/service_unavailable", READ, UNIPILE_RETRY },
    { 504, "errors/request_timeout", READ, UNIPILE_RETRY },
    { 504, "errors/request_timeout", SEND, UNIPILE_UNKNOWN },

    { 200, NULL, SEND, UNIPILE_SENT },
    { 201, NULL, SEND, UNIPILE_SENT },
    { 409, NULL, SEND, UNIPILE_FINAL_LEAD },
};


static void
response(http_response_t *res, long status, const char *body)
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
test_every_error_type(void)
{
    char               body[256];
    size_t             i;
    const char        *suffix;
    http_response_t    res;
    unipile_verdict_t  v;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (cases[i].type != NULL) {
            snprintf(body, sizeof(body), "{\"status\":%ld,\"type\":\"%s\","
                     "\"title\":\"T\",\"detail\":\"D\"}", cases[i].status,
                     cases[i].type);
        } else {
            snprintf(body, sizeof(body), "<html>bad gateway</html>");
        }

        response(&res, cases[i].status, body);
        unipile_classify(&res, cases[i].is_send, &v);

        HARNESS_RECORD(v.outcome == cases[i].expected,
                       "%ld %s (%s) -> %s, expected %s", cases[i].status,
                       cases[i].type ? cases[i].type : "(no body)",
                       cases[i].is_send ? "send" : "read",
                       unipile_outcome_name(v.outcome),
                       unipile_outcome_name(cases[i].expected));

        if (cases[i].type != NULL && cases[i].status >= 400) {
            suffix = strncmp(cases[i].type, "errors/", 7) == 0
                     ? cases[i].type + 7 : cases[i].type;
            CHECK_STR_EQ(v.type, suffix);
            CHECK_STR_EQ(v.detail, "T: D");
        }
        CHECK(v.reason != NULL && v.reason[0] != '\0');
    }
}


static void
test_reasons_and_retry_after(void)
{
    http_response_t    res;
    unipile_verdict_t  v;

    response(&res, 422, "{\"status\":422,\"type\":\"errors/cannot_resend_yet\","
             "\"title\":\"Cannot resend yet\",\"detail\":\"You have reached "
             "a temporary provider limit. Please try again later.\"}");
    unipile_classify(&res, SEND, &v);
    CHECK_INT_EQ(v.outcome, UNIPILE_FINAL_LIMIT);
    CHECK_STR_CONTAINS(v.reason, "invitation limit");
    CHECK_STR_CONTAINS(v.detail, "temporary provider limit");
    CHECK_INT_EQ(v.status, 422);

    response(&res, 400, "{\"status\":400,\"type\":\"errors/too_many_"
             "characters\",\"title\":\"Too many characters\"}");
    unipile_classify(&res, SEND, &v);
    CHECK_STR_CONTAINS(v.reason, "longer than LinkedIn allows");
    CHECK_STR_EQ(v.detail, "Too many characters");

    /* Retry-After is honoured; absent, the engine decides (-1). */
    response(&res, 429, "{\"status\":429,\"type\":\"errors/too_many_"
             "requests\",\"title\":\"Too many requests\"}");
    unipile_classify(&res, SEND, &v);
    CHECK_INT_EQ(v.retry_after_ms, -1);
    res.retry_after_s = 120;
    unipile_classify(&res, SEND, &v);
    CHECK_INT_EQ(v.outcome, UNIPILE_ACCOUNT_COOLOFF);
    CHECK_INT_EQ(v.retry_after_ms, 120000);

    /* Only a cool-off carries the hint. */
    response(&res, 503, "{}");
    res.retry_after_s = 5;
    unipile_classify(&res, READ, &v);
    CHECK_INT_EQ(v.outcome, UNIPILE_RETRY);
    CHECK_INT_EQ(v.retry_after_ms, -1);
}


static void
test_transport_failures(void)
{
    http_response_t    res;
    unipile_verdict_t  v;

    /* Nothing written: safe to retry, even a send. */
    response(&res, 0, "");
    res.curl_code = CURLE_COULDNT_CONNECT;
    res.curl_error = "Failed to connect";
    res.request_sent = 0;
    unipile_classify(&res, SEND, &v);
    CHECK_INT_EQ(v.outcome, UNIPILE_RETRY);
    CHECK_STR_EQ(v.detail, "Failed to connect");

    res.curl_code = CURLE_OPERATION_TIMEDOUT;
    unipile_classify(&res, SEND, &v);
    CHECK_INT_EQ(v.outcome, UNIPILE_RETRY);

    /* Written, then silence or a dropped connection. */
    res.request_sent = 1;
    unipile_classify(&res, SEND, &v);
    CHECK_INT_EQ(v.outcome, UNIPILE_UNKNOWN);
    unipile_classify(&res, READ, &v);
    CHECK_INT_EQ(v.outcome, UNIPILE_RETRY);

    res.curl_code = CURLE_GOT_NOTHING;
    unipile_classify(&res, SEND, &v);
    CHECK_INT_EQ(v.outcome, UNIPILE_UNKNOWN);

    /* A status that arrived with a broken body is still unknown. */
    res.status = 200;
    res.curl_code = CURLE_PARTIAL_FILE;
    unipile_classify(&res, SEND, &v);
    CHECK_INT_EQ(v.outcome, UNIPILE_UNKNOWN);
}


static json_t *
parse(const char *text)
{
    json_t  *json = json_loads(text, 0, NULL);

    CHECK(json != NULL);
    return json;
}


static void
test_profile(void)
{
    json_t             *json;
    unipile_profile_t   p;

    json = parse("{\"object\":\"UserProfile\",\"provider\":\"LINKEDIN\","
                 "\"provider_id\":\"ACoAACtFUtgBVA2KKiTrBOxxkm25rmUjo9f0OJA\","
                 "\"public_identifier\":\"profile\",\"member_urn\":"
                 "\"725963480\",\"first_name\":\"Jamshaid\",\"last_name\":"
                 "\"Ali\",\"is_relationship\":false,\"network_distance\":"
                 "\"OUT_OF_NETWORK\",\"invitation\":{\"type\":\"SENT\","
                 "\"status\":\"WITHDRAWN\"},\"websites\":[]}");
    CHECK_INT_EQ(unipile_parse_profile(json, &p), 0);
    CHECK_STR_EQ(p.provider_id, "ACoAACtFUtgBVA2KKiTrBOxxkm25rmUjo9f0OJA");
    CHECK_STR_EQ(p.public_identifier, "profile");
    CHECK_STR_EQ(p.member_urn, "725963480");
    CHECK_STR_EQ(p.first_name, "Jamshaid");
    CHECK_STR_EQ(p.last_name, "Ali");
    CHECK_INT_EQ(p.is_relationship, 0);
    CHECK_STR_EQ(p.invitation_type, "SENT");
    CHECK_STR_EQ(p.invitation_status, "WITHDRAWN");
    json_decref(json);

    /* null names, a numeric member_urn, no invitation, 1st degree. */
    json = parse("{\"provider_id\":\"ACoAAx\",\"public_identifier\":null,"
                 "\"first_name\":null,\"last_name\":null,\"member_urn\":"
                 "119375570,\"is_relationship\":true}");
    CHECK_INT_EQ(unipile_parse_profile(json, &p), 0);
    CHECK(p.public_identifier == NULL && p.first_name == NULL);
    CHECK_STR_EQ(p.member_urn, "119375570");
    CHECK_INT_EQ(p.is_relationship, 1);
    CHECK(p.invitation_type == NULL && p.invitation_status == NULL);
    json_decref(json);

    json = parse("{\"object\":\"UserProfile\"}");
    CHECK_INT_EQ(unipile_parse_profile(json, &p), -1);
    json_decref(json);
}


static void
test_messages(void)
{
    json_t             *json;
    unipile_message_t   m;

    /* REST: is_sender 0/1, attachments an array. */
    json = parse("{\"object\":\"Message\",\"id\":\"ykmhfXlRW0W_cqReJYrfBw\","
                 "\"chat_id\":\"R8J-xM9WX7eoHLp6gSVtWQ\",\"text\":\"Thanks for "
                 "connecting!\",\"is_sender\":1,\"sender_id\":\"ACoAAAown\","
                 "\"timestamp\":\"2026-04-12T19:09:31.566Z\",\"attachments\":"
                 "[{\"id\":\"a\"},{\"id\":\"b\"}]}");
    CHECK_INT_EQ(unipile_parse_message(json, &m), 0);
    CHECK_STR_EQ(m.id, "ykmhfXlRW0W_cqReJYrfBw");
    CHECK_STR_EQ(m.chat_id, "R8J-xM9WX7eoHLp6gSVtWQ");
    CHECK_STR_EQ(m.text, "Thanks for connecting!");
    CHECK_STR_EQ(m.sender_id, "ACoAAAown");
    CHECK_STR_EQ(m.timestamp, "2026-04-12T19:09:31.566Z");
    CHECK_INT_EQ(m.is_sender, 1);
    CHECK_INT_EQ(m.nattachments, 2);
    json_decref(json);

    /* Webhook-like: is_sender a bool, attachments one object. */
    json = parse("{\"id\":\"m2\",\"text\":null,\"is_sender\":false,"
                 "\"attachments\":{\"id\":\"x\"}}");
    CHECK_INT_EQ(unipile_parse_message(json, &m), 0);
    CHECK_INT_EQ(m.is_sender, 0);
    CHECK(m.text == NULL);
    CHECK_INT_EQ(m.nattachments, 1);
    json_decref(json);

    json = parse("{\"id\":\"m3\",\"is_sender\":true,\"attachments\":[]}");
    CHECK_INT_EQ(unipile_parse_message(json, &m), 0);
    CHECK_INT_EQ(m.is_sender, 1);
    CHECK_INT_EQ(m.nattachments, 0);
    json_decref(json);

    json = parse("{\"is_sender\":0}");
    CHECK_INT_EQ(unipile_parse_message(json, &m), -1);
    json_decref(json);
}


static void
test_lists(void)
{
    json_t                *json;
    unipile_chat_t         c;
    unipile_relation_t     r;
    unipile_invitation_t   i;

    json = parse("{\"object\":\"Chat\",\"name\":null,\"type\":0,\"timestamp\":"
                 "\"2026-06-26T07:55:47.000Z\",\"account_id\":\"acc\","
                 "\"attendee_provider_id\":\"ACoAAlead\",\"id\":"
                 "\"R8J-xM9WX7eoHLp6gSVtWQ\"}");
    CHECK_INT_EQ(unipile_parse_chat(json, &c), 0);
    CHECK_STR_EQ(c.id, "R8J-xM9WX7eoHLp6gSVtWQ");
    CHECK_STR_EQ(c.attendee_provider_id, "ACoAAlead");
    json_decref(json);

    json = parse("{\"object\":\"UserRelation\",\"created_at\":1782818741000,"
                 "\"member_id\":\"ACoAAABUlmuEB\",\"public_identifier\":"
                 "\"jane-doe\"}");
    CHECK_INT_EQ(unipile_parse_relation(json, &r), 0);
    CHECK_STR_EQ(r.member_id, "ACoAAABUlmuEB");
    CHECK_STR_EQ(r.public_identifier, "jane-doe");
    CHECK(r.created_at_ms == 1782818741000.0);
    json_decref(json);

    /* The invitation id is a string; a number is read as one too. */
    json = parse("{\"object\":\"InvitationSent\",\"id\":7449262477600571392,"
                 "\"invited_user_id\":\"ACoAAlead\",\"invited_user_public_id\""
                 ":null,\"parsed_datetime\":\"2026-05-01T13:32:38.772Z\"}");
    CHECK_INT_EQ(unipile_parse_invitation(json, &i), 0);
    CHECK_STR_EQ(i.id, "7449262477600571392");
    CHECK_STR_EQ(i.invited_user_id, "ACoAAlead");
    CHECK(i.invited_user_public_id == NULL);
    json_decref(json);

    json = parse("{\"object\":\"Account\",\"id\":\"a\",\"sources\":[{\"id\":"
                 "\"a_MESSAGING\",\"status\":\"CREDENTIALS\"}]}");
    CHECK_STR_EQ(unipile_parse_account_status(json), "CREDENTIALS");
    json_decref(json);
}


static void
check_base(const char *dsn, const char *expected)
{
    char  *base = unipile_base_url(dsn);

    if (expected == NULL) {
        HARNESS_RECORD(base == NULL, "unipile_base_url(\"%s\") == \"%s\", "
                       "expected NULL", dsn ? dsn : "(null)", base);
    } else {
        CHECK_STR_EQ(base, expected);
    }
    free(base);
}


static void
test_base_url(void)
{
    check_base("api1.unipile.com:13111",
               "https://api1.unipile.com:13111/api/v1");
    check_base("https://api27.unipile.com:15796",
               "https://api27.unipile.com:15796/api/v1");
    check_base("https://api27.unipile.com:15796/api/v1/",
               "https://api27.unipile.com:15796/api/v1");
    check_base("127.0.0.1:8091", "http://127.0.0.1:8091/api/v1");
    check_base("localhost:8091", "http://localhost:8091/api/v1");
    check_base("http://sim.test:80", "http://sim.test:80/api/v1");
    check_base("api1.unipile.com/x", NULL);
    check_base("", NULL);
    check_base(NULL, NULL);
}


void
test_unipile(void)
{
    test_every_error_type();
    test_reasons_and_retry_after();
    test_transport_failures();
    test_profile();
    test_messages();
    test_lists();
    test_base_url();
}
