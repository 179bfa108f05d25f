/* diag.c: error messages with the source line and a caret (see diag.h). */
#include "diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

FILE *diag_out;
int diag_errors;

static struct {
    const char *file;
    const char *text;
    size_t len;
} sources[16];
static int nsources;

void diag_source(const char *file, const char *text, size_t len) {
    for (int i = 0; i < nsources; i++)
        if (strcmp(sources[i].file, file) == 0) {
            sources[i].text = text, sources[i].len = len;
            return;
        }
    if (nsources < (int)(sizeof sources / sizeof sources[0]))
        sources[nsources].file = file, sources[nsources].text = text, sources[nsources++].len = len;
}

/* Prints line `line` of `file` and a caret under columns [col, col+len). */
static void quote_line(FILE *f, Loc loc) {
    for (int i = 0; i < nsources; i++) {
        if (strcmp(sources[i].file, loc.file) != 0) continue;
        const char *p = sources[i].text, *end = p + sources[i].len;
        for (int l = 1; l < loc.line && p < end; p++)
            if (*p == '\n') l++;
        const char *eol = p;
        while (eol < end && *eol != '\n' && *eol != '\r') eol++;
        int width = fprintf(f, "%5d | ", loc.line) - 2;
        for (const char *q = p; q < eol; q++) fputc(*q == '\t' ? ' ' : (*q >= 32 && *q < 127) || (*q & 0x80) ? *q : '?', f);
        fprintf(f, "\n%*s| ", width - 1, "");
        for (int c = 1; c < loc.col; c++) fputc(' ', f);
        fputc('^', f);
        for (int c = 1; c < loc.len && c < 200; c++) fputc('~', f);
        fputc('\n', f);
        return;
    }
}

static void report(const char *what, Loc loc, const char *hint, const char *fmt, va_list ap) {
    FILE *f = diag_out ? diag_out : stderr;
    if (loc.file && loc.line > 0) fprintf(f, "%s:%d:%d: %s: ", loc.file, loc.line, loc.col, what);
    else if (loc.file) fprintf(f, "%s: %s: ", loc.file, what);
    else fprintf(f, "netc: %s: ", what);
    vfprintf(f, fmt, ap);
    fputc('\n', f);
    if (loc.file && loc.line > 0) quote_line(f, loc);
    if (hint) fprintf(f, "  HINT: %s\n", hint);
    fflush(f);
}

void diag_error(Loc loc, const char *hint, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    report("error", loc, hint, fmt, ap);
    va_end(ap);
    diag_errors++;
}

void diag_warning(Loc loc, const char *hint, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    report("warning", loc, hint, fmt, ap);
    va_end(ap);
}
