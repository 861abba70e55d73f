/*
 * The worker's template rendering: template_render() on a step's text.
 * Up to a first NUL byte the input is the template; after it, when it is
 * a JSON object, the lead's vars (else a fixed set with missing, null,
 * empty, numeric, custom and non-ASCII values).
 *
 * Text without "{{" renders as itself; a refusal says why in a
 * NUL-terminated reason; and no input reads or writes out of bounds.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "template.h"


#define check(cond, what)                                                    \
    if (!(cond)) {                                                           \
        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,    \
                what);                                                       \
        abort();                                                             \
    }


static const char  *default_vars =
    "{\"first_name\":\"Ada\",\"last_name\":\"\",\"company\":null,"
    "\"title\":\"Gr\\u00e4fin \\u2014 \\ud83d\\ude80\",\"plan\":42,"
    "\"score\":1.5,\"tags\":[\"a\"],\"nested\":{\"x\":\"y\"}}";


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char    *tmpl, *out, err[256];
    size_t   len;
    json_t  *vars;

    len = strnlen((const char *) data, size);

    tmpl = malloc(len + 1);
    check(tmpl != NULL, "out of memory");
    memcpy(tmpl, data, len);
    tmpl[len] = '\0';

    vars = NULL;

    if (len < size) {
        vars = json_loadb((const char *) data + len + 1, size - len - 1, 0,
                          NULL);
        if (!json_is_object(vars)) {
            json_decref(vars);
            vars = NULL;
        }
    }

    if (vars == NULL) {
        vars = json_loads(default_vars, 0, NULL);
        check(vars != NULL, "the default vars do not parse");
    }

    memset(err, 'x', sizeof(err));
    out = template_render(tmpl, vars, err, sizeof(err));

    if (out) {
        check(strstr(tmpl, "{{") != NULL || strcmp(out, tmpl) == 0,
              "text without a placeholder did not render as itself");

    } else {
        check(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0',
              "a refusal has no reason");
    }

    free(out);
    free(tmpl);
    json_decref(vars);

    return 0;
}
