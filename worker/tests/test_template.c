#include <stdlib.h>

#include <jansson.h>

#include "harness.h"
#include "template.h"

/*
 * Renders tmpl with the lead below; returns a static copy of the result,
 * or of "ERROR: <reason>", so each check is one line.
 */
static const char *
render(const char *tmpl)
{
    static char   result[512];
    char          err[256];
    char         *text;
    json_t       *vars;

    vars = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:n}",
                     "first_name", "Zoë", "last_name", "Łukasiewicz",
                     "company", "Acme {Labs}", "title", "",
                     "email", "zoe@example.com", "plan", "pro",
                     "seats", 42, "nickname");
    err[0] = '\0';
    text = template_render(tmpl, vars, err, sizeof(err));
    json_decref(vars);

    if (text == NULL) {
        snprintf(result, sizeof(result), "ERROR: %s", err);
    } else {
        snprintf(result, sizeof(result), "%s", text);
        free(text);
    }

    return result;
}


static void
test_variables(void)
{
    CHECK_STR_EQ(render("Hi {{first_name}} {{last_name}} of {{company}}"),
                 "Hi Zoë Łukasiewicz of Acme {Labs}");
    CHECK_STR_EQ(render("{{email}}"), "zoe@example.com");
    CHECK_STR_EQ(render("{{custom.plan}} / {{plan}}"), "pro / pro");
    CHECK_STR_EQ(render("{{custom.seats}} seats"), "42 seats");
    CHECK_STR_EQ(render("no variables at all"), "no variables at all");
    CHECK_STR_EQ(render(""), "");
}


static void
test_whitespace_and_repeats(void)
{
    CHECK_STR_EQ(render("{{ first_name }}|{{\tfirst_name\n}}"), "Zoë|Zoë");
    CHECK_STR_EQ(render("{{ title | your role }}"), "your role");
    CHECK_STR_EQ(render("{{first_name}}, {{first_name}}, {{first_name}}!"),
                 "Zoë, Zoë, Zoë!");
}


static void
test_fallbacks(void)
{
    /* empty string, null and absent all take the fallback */
    CHECK_STR_EQ(render("Hi {{title|there}}"), "Hi there");
    CHECK_STR_EQ(render("Hi {{nickname|friend}}"), "Hi friend");
    CHECK_STR_EQ(render("Hi {{custom.team|team}}"), "Hi team");
    CHECK_STR_EQ(render("Hi {{first_name|there}}"), "Hi Zoë");
    CHECK_STR_EQ(render("Hi{{title|}}!"), "Hi!");
    CHECK_STR_EQ(render("{{title|Ünïcode fällback}}"), "Ünïcode fällback");
}


static void
test_missing(void)
{
    CHECK_STR_EQ(render("Hi {{title}}"),
                 "ERROR: template: variable \"title\" is missing or empty "
                 "and has no fallback");
    CHECK_STR_CONTAINS(render("Hi {{nickname}}"), "variable \"nickname\"");
    CHECK_STR_CONTAINS(render("{{first_name}} {{custom.team}}"),
                       "ERROR: template: variable \"custom.team\"");
    CHECK_STR_CONTAINS(render("{{}}"), "ERROR: template: invalid variable");
    CHECK_STR_CONTAINS(render("{{ |x}}"), "ERROR: template: invalid");
    CHECK_STR_CONTAINS(render("{{first name}}"),
                       "ERROR: template: invalid variable name "
                       "\"first name\"");
}


static void
test_braces_in_text(void)
{
    CHECK_STR_EQ(render("{single} and } and { and }}"),
                 "{single} and } and { and }}");
    CHECK_STR_EQ(render("json: {\"a\": {\"b\": 1}} ok"),
                 "json: {\"a\": {\"b\": 1}} ok");
    CHECK_STR_EQ(render("{{{first_name}}}"), "{Zoë}");
    CHECK_STR_EQ(render("{ {first_name} }"), "{ {first_name} }");
}


static void
test_unterminated(void)
{
    CHECK_STR_EQ(render("Hi {{first_name"),
                 "ERROR: template: unterminated \"{{\" at offset 3");
    CHECK_STR_CONTAINS(render("{{first_name}} and {{last_name}"),
                       "unterminated \"{{\" at offset 19");
    CHECK_STR_CONTAINS(render("Hi {{first_name {{last_name}}"),
                       "ERROR: template: invalid variable name");
    /* it rendered "Hi {{first_name!" */
    CHECK_STR_EQ(render("Hi {{nickname|{{first_name}}!"),
                 "ERROR: template: the fallback of \"nickname\" opens "
                 "another \"{{\"");
    CHECK_STR_EQ(render("Hi {{first_name|{{x}}"),
                 "ERROR: template: the fallback of \"first_name\" opens "
                 "another \"{{\"");
}


void
test_template(void)
{
    test_variables();
    test_whitespace_and_repeats();
    test_fallbacks();
    test_missing();
    test_braces_in_text();
    test_unterminated();
}
