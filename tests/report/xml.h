/* xml.h: a well-formedness checker for the pages netc writes (report.html,
 * runs/index.html are XML as well as HTML): tags nest, attributes are quoted
 * and unique, every & starts a known entity, style sheets hold no markup.
 * Include after harness.h. */
#ifndef NETC_TEST_XML_H
#define NETC_TEST_XML_H

#include <ctype.h>

typedef struct {
    const char *s;
    size_t i, n;
    char err[512];
} Xml;

HARNESS_FN int xml_fail(Xml *x, const char *what) {
    size_t from = x->i > 40 ? x->i - 40 : 0;
    snprintf(x->err, sizeof x->err, "at byte %zu: %s (near \"%.60s\")", x->i, what, x->s + from);
    return -1;
}

HARNESS_FN int name_start(int c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == ':'; }
HARNESS_FN int name_char(int c) { return name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.'; }

HARNESS_FN int xml_name(Xml *x, char *out, size_t cap) {
    size_t k = 0;
    if (x->i >= x->n || !name_start((unsigned char)x->s[x->i])) return xml_fail(x, "expected a name");
    while (x->i < x->n && name_char((unsigned char)x->s[x->i])) {
        if (k + 1 < cap) out[k++] = x->s[x->i];
        x->i++;
    }
    out[k] = 0;
    return 0;
}

/* '&' at x->i: one of the five named entities or a character reference. */
HARNESS_FN int xml_entity(Xml *x) {
    static const char *const named[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
    for (int k = 0; k < 5; k++)
        if (strncmp(x->s + x->i, named[k], strlen(named[k])) == 0) return x->i += strlen(named[k]), 0;
    if (strncmp(x->s + x->i, "&#", 2) == 0) {
        size_t j = x->i + 2;
        int hex = j < x->n && x->s[j] == 'x', digits = 0;
        j += hex;
        while (j < x->n && (hex ? isxdigit((unsigned char)x->s[j]) : isdigit((unsigned char)x->s[j]))) j++, digits++;
        if (digits && j < x->n && x->s[j] == ';') return x->i = j + 1, 0;
    }
    return xml_fail(x, "'&' that is not an entity");
}

HARNESS_FN void skip_space(Xml *x) {
    while (x->i < x->n && isspace((unsigned char)x->s[x->i])) x->i++;
}

/* Returns the number of elements, or -1 with x->err. */
HARNESS_FN int xml_check(Xml *x, const char *s, size_t n) {
    memset(x, 0, sizeof *x);
    x->s = s, x->n = n;
    char stack[256][64];
    int depth = 0, elements = 0, roots = 0;
    if (strncmp(s, "<!DOCTYPE", 9) == 0) {
        const char *gt = memchr(s, '>', n);
        if (!gt) return xml_fail(x, "unterminated DOCTYPE");
        x->i = (size_t)(gt - s) + 1;
    }
    while (x->i < x->n) {
        char c = s[x->i];
        if (c == '&') {
            if (xml_entity(x) < 0) return -1;
            continue;
        }
        if (c != '<') {
            if (c == '>' && 0) return xml_fail(x, "stray '>'");
            if (depth == 0 && !isspace((unsigned char)c)) return xml_fail(x, "text outside the root element");
            x->i++;
            continue;
        }
        if (strncmp(s + x->i, "<!--", 4) == 0) {
            const char *end = strstr(s + x->i, "-->");
            if (!end) return xml_fail(x, "unterminated comment");
            x->i = (size_t)(end - s) + 3;
            continue;
        }
        if (s[x->i + 1] == '/') { /* closing tag */
            x->i += 2;
            char name[64];
            if (xml_name(x, name, sizeof name) < 0) return -1;
            skip_space(x);
            if (x->i >= x->n || s[x->i] != '>') return xml_fail(x, "expected '>' after a closing tag's name");
            x->i++;
            if (depth == 0 || strcmp(stack[depth - 1], name) != 0) {
                char msg[200];
                snprintf(msg, sizeof msg, "</%s> does not close <%s>", name, depth ? stack[depth - 1] : "(nothing)");
                return xml_fail(x, msg);
            }
            depth--;
            continue;
        }
        x->i++;
        char name[64], attrs[64][64];
        int n_attrs = 0;
        if (xml_name(x, name, sizeof name) < 0) return -1;
        for (;;) {
            size_t before = x->i;
            skip_space(x);
            if (x->i >= x->n) return xml_fail(x, "unterminated tag");
            if (s[x->i] == '>' || s[x->i] == '/') break;
            if (x->i == before) return xml_fail(x, "attributes must be separated by space");
            if (n_attrs == 64 || xml_name(x, attrs[n_attrs], sizeof attrs[0]) < 0) return -1;
            for (int k = 0; k < n_attrs; k++)
                if (strcmp(attrs[k], attrs[n_attrs]) == 0) return xml_fail(x, "duplicate attribute");
            n_attrs++;
            if (x->i >= x->n || s[x->i] != '=') return xml_fail(x, "attribute without '=\"value\"'");
            x->i++;
            char q = x->i < x->n ? s[x->i] : 0;
            if (q != '"' && q != '\'') return xml_fail(x, "unquoted attribute value");
            x->i++;
            while (x->i < x->n && s[x->i] != q) {
                if (s[x->i] == '<') return xml_fail(x, "'<' in an attribute value");
                if (s[x->i] == '&') {
                    if (xml_entity(x) < 0) return -1;
                } else x->i++;
            }
            if (x->i >= x->n) return xml_fail(x, "unterminated attribute value");
            x->i++;
        }
        elements++;
        if (depth == 0) roots++;
        if (roots > 1) return xml_fail(x, "a second root element");
        if (s[x->i] == '/') {
            if (x->i + 1 >= x->n || s[x->i + 1] != '>') return xml_fail(x, "expected '/>'");
            x->i += 2;
            continue;
        }
        x->i++;
        if (depth == 256) return xml_fail(x, "nested too deep");
        snprintf(stack[depth++], sizeof stack[0], "%s", name);
        if (strcmp(name, "style") == 0 || strcmp(name, "script") == 0) { /* raw text up to the end tag */
            const char *end = strstr(s + x->i, strcmp(name, "style") == 0 ? "</style>" : "</script>");
            if (!end) return xml_fail(x, "unterminated style");
            for (const char *p = s + x->i; p < end; p++)
                if (*p == '<' || *p == '&') return x->i = (size_t)(p - s), xml_fail(x, "'<' or '&' in a style sheet");
            x->i = (size_t)(end - s);
        }
    }
    if (depth) {
        char msg[120];
        snprintf(msg, sizeof msg, "<%s> is never closed", stack[depth - 1]);
        return xml_fail(x, msg);
    }
    if (!roots) return xml_fail(x, "no root element");
    return elements;
}

#endif
