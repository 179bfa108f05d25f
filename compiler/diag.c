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

/* Longest stretch of a source line that is quoted; a longer line is shown as
 * a window around the caret, with "..." where it was cut. */
enum { QUOTE_MAX = 100, QUOTE_BEFORE = 40 };

/* Prints line `line` of `file` and a caret under columns [col, col+len). */
static void quote_line(FILE *f, Loc loc) {
    for (int i = 0; i < nsources; i++) {
        if (strcmp(sources[i].file, loc.file) != 0) continue;
        const char *p = sources[i].text, *end = p + sources[i].len;
        for (int l = 1; l < loc.line && p < end; p++)
            if (*p == '\n') l++;
        const char *eol = p;
        while (eol < end && *eol != '\n' && *eol != '\r') eol++;
        long n = eol - p, col = loc.col > 0 ? loc.col - 1 : 0; /* 0-based */
        long from = 0, to = n;
        if (n > QUOTE_MAX) {
            if (col > QUOTE_MAX - QUOTE_BEFORE) from = col - QUOTE_BEFORE;
            if (from > n) from = n;
            to = from + QUOTE_MAX < n ? from + QUOTE_MAX : n;
        }
        int width = fprintf(f, "%5d | ", loc.line) - 2; /* up to the '|' */
        if (from > 0) fputs("...", f);
        for (const char *q = p + from; q < p + to; q++)
            fputc(*q == '\t' ? ' ' : (*q >= 32 && *q < 127) || (*q & 0x80) ? *q : '?', f);
        if (to < n) fputs("...", f);
        fprintf(f, "\n%*s| %s", width, "", from > 0 ? "   " : "");
        for (long c = from; c < col; c++) fputc(' ', f);
        fputc('^', f);
        for (long c = col + 1; c < col + loc.len && c < to; c++) fputc('~', f);
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
