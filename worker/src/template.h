#ifndef LIAUTO_TEMPLATE_H
#define LIAUTO_TEMPLATE_H

#include <stddef.h>

#include <jansson.h>

/*
 * Personalises a sequence step's text (DESIGN §5) with the lead's
 * variables, the "vars" object of an action's payload (custom fields, then
 * first_name, last_name, company, title).
 *
 *   {{first_name}}          the variable
 *   {{ first_name }}        whitespace inside the braces is ignored
 *   {{first_name|there}}    fallback when the variable is missing or empty
 *   {{first_name|}}         an empty fallback: renders nothing
 *   {{custom.plan}}         the custom field "plan" ({{plan}} works too)
 *
 * Anything else, single braces and a lone "}}" included, is copied as is
 * (bytes, so UTF-8 stays intact). A "{{{x}}}" renders "{" value "}".
 *
 * A message with a hole must never be sent: a variable that is missing,
 * null or empty without a fallback, an invalid name, an unterminated "{{"
 * or one in a fallback ("{{a|{{b}}": placeholders do not nest) is an
 * error. Returns the rendered text (free() it), or NULL with
 * the reason in err, naming the variable.
 */
char *template_render(const char *tmpl, const json_t *vars, char *err,
    size_t errlen);

#endif
