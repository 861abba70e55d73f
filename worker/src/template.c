#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "template.h"

#define TEMPLATE_CUSTOM_PREFIX  "custom."
#define TEMPLATE_NAME_MAX       128

typedef struct {
    char    *data;
    size_t   len;
    size_t   size;
} text_buf_t;

/* One "{{ name | fallback }}" with its parts trimmed. */
typedef struct {
    const char  *name;
    size_t       name_len;
    const char  *fallback;         /* NULL: no "|" */
    size_t       fallback_len;
} placeholder_t;


static int
buf_append(text_buf_t *b, const char *s, size_t n)
{
    size_t   size;
    char    *data;

    if (b->len + n + 1 > b->size) {
        size = b->size ? b->size : 256;
        while (size < b->len + n + 1) {
            size *= 2;
        }

        data = realloc(b->data, size);
        if (data == NULL) {
            return -1;
        }

        b->data = data;
        b->size = size;
    }

    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}


static void
trim(const char **s, size_t *n)
{
    while (*n > 0 && isspace((unsigned char) **s)) {
        (*s)++;
        (*n)--;
    }

    while (*n > 0 && isspace((unsigned char) (*s)[*n - 1])) {
        (*n)--;
    }
}


static int
valid_name(const char *name, size_t n)
{
    size_t  i;

    if (n == 0 || n > TEMPLATE_NAME_MAX) {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if (!isalnum((unsigned char) name[i]) && name[i] != '_'
            && name[i] != '.' && name[i] != '-')
        {
            return 0;
        }
    }

    return 1;
}


static void
parse_placeholder(const char *inner, size_t n, placeholder_t *ph)
{
    const char  *bar = memchr(inner, '|', n);

    ph->name = inner;
    ph->name_len = bar ? (size_t) (bar - inner) : n;
    ph->fallback = NULL;
    ph->fallback_len = 0;

    if (bar != NULL) {
        ph->fallback = bar + 1;
        ph->fallback_len = n - ph->name_len - 1;
        trim(&ph->fallback, &ph->fallback_len);
    }

    trim(&ph->name, &ph->name_len);
}


/*
 * The variable's text, or NULL when it is missing, null or empty (the
 * cases a fallback covers). Numbers are written as JSON writes them, so a
 * custom field imported as 42 still renders. *tmp holds what to free.
 */
static const char *
lookup_var(const json_t *vars, const char *name, char **tmp)
{
    json_t      *v;
    const char  *s;

    *tmp = NULL;
    v = json_object_get(vars, name);

    if (v == NULL && strncmp(name, TEMPLATE_CUSTOM_PREFIX,
                             sizeof(TEMPLATE_CUSTOM_PREFIX) - 1) == 0)
    {
        v = json_object_get(vars, name + sizeof(TEMPLATE_CUSTOM_PREFIX) - 1);
    }

    if (json_is_string(v)) {
        s = json_string_value(v);

    } else if (json_is_number(v)) {
        *tmp = json_dumps(v, JSON_ENCODE_ANY);
        s = *tmp;

    } else {
        return NULL;
    }

    return s != NULL && s[0] != '\0' ? s : NULL;
}


static int
render_placeholder(text_buf_t *out, const placeholder_t *ph,
    const json_t *vars, char *err, size_t errlen)
{
    char         name[TEMPLATE_NAME_MAX + 1], *tmp;
    const char  *value;
    int          rc;

    if (!valid_name(ph->name, ph->name_len)) {
        errbuf_set(err, errlen, "template: invalid variable name \"%.*s\"",
                   (int) (ph->name_len > 64 ? 64 : ph->name_len), ph->name);
        return -1;
    }

    memcpy(name, ph->name, ph->name_len);
    name[ph->name_len] = '\0';

    /*
     * "{{a|{{b}}" would send "{{b": placeholders do not nest (the API's
     * liauto.template_error() refuses such a step as unbalanced braces)
     */
    if (ph->fallback != NULL
        && memmem(ph->fallback, ph->fallback_len, "{{", 2) != NULL)
    {
        errbuf_set(err, errlen, "template: the fallback of \"%s\" opens "
                   "another \"{{\"", name);
        return -1;
    }

    value = lookup_var(vars, name, &tmp);

    if (value != NULL) {
        rc = buf_append(out, value, strlen(value));

    } else if (ph->fallback != NULL) {
        rc = buf_append(out, ph->fallback, ph->fallback_len);

    } else {
        errbuf_set(err, errlen, "template: variable \"%s\" is missing or "
                   "empty and has no fallback", name);
        return -1;
    }

    free(tmp);

    if (rc != 0) {
        errbuf_set(err, errlen, "template: out of memory");
    }

    return rc;
}


char *
template_render(const char *tmpl, const json_t *vars, char *err,
    size_t errlen)
{
    text_buf_t     out = { NULL, 0, 0 };
    placeholder_t  ph;
    const char    *p = tmpl, *open, *close;

    if (buf_append(&out, "", 0) != 0) {
        errbuf_set(err, errlen, "template: out of memory");
        return NULL;
    }

    while ((open = strstr(p, "{{")) != NULL) {
        /* "{{{x}}}": the braces before the last two are text */
        while (open[2] == '{') {
            open++;
        }

        close = strstr(open + 2, "}}");
        if (close == NULL) {
            errbuf_set(err, errlen, "template: unterminated \"{{\" at "
                       "offset %zu", (size_t) (open - tmpl));
            goto failed;
        }

        if (buf_append(&out, p, (size_t) (open - p)) != 0) {
            errbuf_set(err, errlen, "template: out of memory");
            goto failed;
        }

        parse_placeholder(open + 2, (size_t) (close - open - 2), &ph);

        if (render_placeholder(&out, &ph, vars, err, errlen) != 0) {
            goto failed;
        }

        p = close + 2;
    }

    if (buf_append(&out, p, strlen(p)) != 0) {
        errbuf_set(err, errlen, "template: out of memory");
        goto failed;
    }

    return out.data;

failed:

    free(out.data);
    return NULL;
}
