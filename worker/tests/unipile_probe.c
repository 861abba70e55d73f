/*
 * unipile-probe: runs one operation of the Unipile client on a fresh loop
 * and prints its result as one JSON line (for tests/unipile.t). Several
 * operations joined by "+" run one after the other on the same client,
 * so that the later ones may reuse its connections.
 *
 * usage: unipile-probe [--dsn D] [--key K] [--timeout-ms N] [--attempts N]
 *                      [--backoff-ms N] [--page-limit N] OP ARGS [+ OP...]
 * OP: profile ACCOUNT ID | invite ACCOUNT PROVIDER [NOTE]
 *     | sent-invitations ACCOUNT | relations ACCOUNT | chats ACCOUNT
 *     | find-chat ACCOUNT PROVIDER | find-invitation ACCOUNT PROVIDER
 *     | start-chat ACCOUNT PROVIDER TEXT
 *     | send-message CHAT TEXT [ACCOUNT] | chat-messages CHAT
 *     | messages ACCOUNT [AFTER] | account ACCOUNT
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "loop.h"
#include "unipile.h"

#define PROBE_DEADLINE_MS  60000

typedef struct {
    loop_t      *loop;
    const char  *op;
    int          finished;
} probe_t;


static json_t *
str_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}


static json_t *
item_json(const char *op, json_t *item)
{
    unipile_chat_t        chat;
    unipile_message_t     msg;
    unipile_relation_t    rel;
    unipile_invitation_t  inv;

    if ((strcmp(op, "chats") == 0 || strcmp(op, "find-chat") == 0)
        && unipile_parse_chat(item, &chat) == 0)
    {
        return json_pack("{s:s, s:o}", "id", chat.id, "attendee_provider_id",
                         str_or_null(chat.attendee_provider_id));
    }

    if (strcmp(op, "relations") == 0
        && unipile_parse_relation(item, &rel) == 0)
    {
        return json_pack("{s:s, s:o}", "member_id", rel.member_id,
                         "public_identifier",
                         str_or_null(rel.public_identifier));
    }

    if ((strcmp(op, "sent-invitations") == 0
         || strcmp(op, "find-invitation") == 0)
        && unipile_parse_invitation(item, &inv) == 0)
    {
        return json_pack("{s:s, s:o}", "id", inv.id, "invited_user_id",
                         str_or_null(inv.invited_user_id));
    }

    if (unipile_parse_message(item, &msg) == 0) {
        return json_pack("{s:s, s:o, s:o, s:b, s:i}", "id", msg.id,
                         "text", str_or_null(msg.text),
                         "sender_id", str_or_null(msg.sender_id),
                         "is_sender", msg.is_sender,
                         "attachments", (int) msg.nattachments);
    }

    return json_null();
}


static void
add_items(json_t *out, const char *op, json_t *items)
{
    size_t   i;
    json_t  *item, *list = json_array();

    json_array_foreach(items, i, item) {
        json_array_append_new(list, item_json(op, item));
    }
    json_object_set_new(out, "items", list);
}


static void
done(const unipile_result_t *res, void *data)
{
    char                   *text;
    json_t                 *out;
    probe_t                *probe = data;
    const unipile_profile_t  *p = &res->profile;

    out = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:I}",
                    "outcome", unipile_outcome_name(res->verdict.outcome),
                    "reason", res->verdict.reason,
                    "type", res->verdict.type,
                    "detail", res->verdict.detail,
                    "status", (int) res->verdict.status,
                    "attempts", (int) res->attempts,
                    "retry_after_ms",
                    (json_int_t) res->verdict.retry_after_ms);

    if (res->verdict.outcome == UNIPILE_SENT) {
        if (p->provider_id != NULL) {
            json_object_set_new(out, "profile", json_pack(
                "{s:s, s:o, s:o, s:o, s:o, s:b, s:o, s:o}",
                "provider_id", p->provider_id,
                "public_identifier", str_or_null(p->public_identifier),
                "member_urn", str_or_null(p->member_urn),
                "first_name", str_or_null(p->first_name),
                "last_name", str_or_null(p->last_name),
                "is_relationship", p->is_relationship,
                "invitation_type", str_or_null(p->invitation_type),
                "invitation_status", str_or_null(p->invitation_status)));
        }
        json_object_set_new(out, "invitation_id",
                            str_or_null(res->invitation_id));
        json_object_set_new(out, "chat_id", str_or_null(res->chat_id));
        json_object_set_new(out, "message_id", str_or_null(res->message_id));
        json_object_set_new(out, "account_status",
                            str_or_null(res->account_status));
        json_object_set_new(out, "cursor", str_or_null(res->cursor));
        json_object_set_new(out, "pages", json_integer(res->pages));
        if (res->items != NULL) {
            add_items(out, probe->op, res->items);
        }
    }

    text = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
    printf("%s\n", text);
    fflush(stdout);
    free(text);
    json_decref(out);

    probe->finished = 1;
}


static const char *
arg(int argc, char **argv, int i)
{
    return i < argc ? argv[i] : NULL;
}


static int
start(unipile_t *u, probe_t *probe, int argc, char **argv, int i)
{
    const char  *op = argv[i], *a = arg(argc, argv, i + 1),
                *b = arg(argc, argv, i + 2), *c = arg(argc, argv, i + 3);

    if (a == NULL) {
        return -1;
    }

    probe->op = op;

    if (strcmp(op, "profile") == 0 && b != NULL) {
        return unipile_get_profile(u, a, b, done, probe);
    }
    if (strcmp(op, "invite") == 0 && b != NULL) {
        return unipile_invite(u, a, b, c, done, probe);
    }
    if (strcmp(op, "sent-invitations") == 0) {
        return unipile_list_sent_invitations(u, a, b, done, probe);
    }
    if (strcmp(op, "relations") == 0) {
        return unipile_list_relations(u, a, b, done, probe);
    }
    if (strcmp(op, "chats") == 0) {
        return unipile_list_chats(u, a, b, done, probe);
    }
    if (strcmp(op, "find-chat") == 0 && b != NULL) {
        return unipile_find_chat_with(u, a, b, done, probe);
    }
    if (strcmp(op, "find-invitation") == 0 && b != NULL) {
        return unipile_find_sent_invitation(u, a, b, done, probe);
    }
    if (strcmp(op, "start-chat") == 0 && c != NULL) {
        return unipile_start_chat(u, a, b, c, done, probe);
    }
    if (strcmp(op, "send-message") == 0 && b != NULL) {
        return unipile_send_message(u, a, b, c, done, probe);
    }
    if (strcmp(op, "chat-messages") == 0) {
        return unipile_list_chat_messages(u, a, b, done, probe);
    }
    if (strcmp(op, "messages") == 0) {
        return unipile_list_messages(u, a, b, c, done, probe);
    }
    if (strcmp(op, "account") == 0) {
        return unipile_get_account(u, a, done, probe);
    }

    return -1;
}


static void
usage(void)
{
    fprintf(stderr, "usage: unipile-probe [--dsn D] [--key K] "
            "[--timeout-ms N] [--attempts N] [--backoff-ms N] "
            "[--page-limit N] OP ARGS [+ OP ARGS...]\n");
}


/* Runs the operation at argv[i] (its arguments end before end). */
static int
run_one(unipile_t *u, probe_t *probe, int end, char **argv, int i)
{
    uint64_t  deadline;

    probe->finished = 0;
    if (start(u, probe, end, argv, i) != 0) {
        usage();
        return 2;
    }

    deadline = loop_now_ms() + PROBE_DEADLINE_MS;
    while (!probe->finished && loop_now_ms() < deadline) {
        if (loop_run_once(probe->loop, 100) != 0) {
            break;
        }
    }

    return probe->finished ? 0 : 1;
}


int
main(int argc, char **argv)
{
    int                 i, end, rc = 0;
    probe_t             probe;
    unipile_t          *u;
    unipile_options_t   o;

    memset(&o, 0, sizeof(o));
    o.dsn = getenv("UNIPILE_DSN");
    o.api_key = getenv("UNIPILE_API_KEY") ? getenv("UNIPILE_API_KEY") : "";
    o.timeout_ms = 30000;
    o.max_attempts = 3;
    o.backoff_base_ms = 100;
    o.backoff_cap_ms = 2000;

    for (i = 1; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (strcmp(argv[i], "--dsn") == 0) {
            o.dsn = argv[i + 1];
        } else if (strcmp(argv[i], "--key") == 0) {
            o.api_key = argv[i + 1];
        } else if (strcmp(argv[i], "--timeout-ms") == 0) {
            o.timeout_ms = atol(argv[i + 1]);
        } else if (strcmp(argv[i], "--attempts") == 0) {
            o.max_attempts = (unsigned) atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--backoff-ms") == 0) {
            o.backoff_base_ms = (uint64_t) atol(argv[i + 1]);
        } else if (strcmp(argv[i], "--page-limit") == 0) {
            o.page_limit = (unsigned) atoi(argv[i + 1]);
        } else {
            break;
        }
    }

    log_set_level(LOG_LEVEL_DEBUG);
    memset(&probe, 0, sizeof(probe));
    probe.loop = loop_create();
    u = probe.loop != NULL ? unipile_create(probe.loop, &o) : NULL;

    if (u == NULL || i >= argc) {
        usage();
        return 2;
    }

    for ( /* void */ ; rc == 0 && i < argc; i = end + 1) {
        for (end = i; end < argc && strcmp(argv[end], "+") != 0; end++) {
            /* void */
        }
        rc = run_one(u, &probe, end, argv, i);
    }

    unipile_destroy(u);
    loop_destroy(probe.loop);
    return rc;
}
