/* diag.h: error messages that point at the source.
 *
 *   nets/bad.net:5:8: error: pool2: input 3x3 is smaller than its 5x5 window
 *       5 | pool2: maxpool 5x5 stride 2
 *         |               ^~~
 *     HINT: use a window of at most 3x3, or pad the input ("pad 1")
 */
#ifndef NETC_DIAG_H
#define NETC_DIAG_H

#include <stdio.h>

/* A place in a source file; len is how many columns to underline. */
typedef struct {
    const char *file;
    int line, col, len;
} Loc;

/* Registers a source file's text so messages can quote its lines. */
void diag_source(const char *file, const char *text, size_t len);

/* Where messages go (stderr unless a test redirects them). */
extern FILE *diag_out;
extern int diag_errors;

/* "file:line:col: error: <msg>", the source line with a caret, and an optional
 * hint ("HINT: ..."; NULL for none). loc.line 0 means "the file as a whole". */
void diag_error(Loc loc, const char *hint, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void diag_warning(Loc loc, const char *hint, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
