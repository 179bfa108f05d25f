/* dict.c: the words of the .net language that netc's own tables hold, as
 * libFuzzer dictionary lines: every layer kind's name, aliases and options
 * (compiler/kinds/), every setting and the words it takes (runtime/config.c).
 * `make fuzz` appends them to fuzz/netc.dict, which holds the rest (the
 * statements, init methods, punctuation and numbers), so a new kind or
 * setting reaches the fuzzer with no list to edit. */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "kind.h"

static const char *seen[1024];
static int nseen;

static void word(const char *w, int len) {
    char buf[64];
    if (len <= 0 || len >= (int)sizeof buf) return;
    memcpy(buf, w, (size_t)len);
    buf[len] = 0;
    for (int i = 0; i < nseen; i++)
        if (strcmp(seen[i], buf) == 0) return;
    if (nseen < (int)(sizeof seen / sizeof seen[0])) seen[nseen++] = strdup(buf);
    printf("kw_%s=\"%s\"\n", buf, buf);
}

static void words(const char *w) { word(w, (int)strlen(w)); }

int main(void) {
    printf("# from netc's tables (fuzz/dict.c): layer kinds and their options, settings and their words\n");
    for (int i = 0; i < kind_count; i++) {
        const Kind *k = kind_table[i];
        words(k->name);
        for (const char *const *a = k->aliases; a && *a; a++) words(*a);
        for (const KindOption *o = k->options; o && o->name; o++) words(o->name);
    }
    words("global"); /* pooling's argument */
    for (int i = 0; i < config_nkeys; i++) {
        const ConfigKey *c = &config_keys[i];
        words(c->key);
        for (const char *w = c->words; w && *w;) {
            const char *bar = strchr(w, '|');
            int len = bar ? (int)(bar - w) : (int)strlen(w);
            word(w, len);
            w += len + (bar != NULL);
        }
    }
    return 0;
}
