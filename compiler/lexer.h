/* lexer.h: the flex scanner's interface to the parser. */
#ifndef NETC_LEXER_H
#define NETC_LEXER_H

#include <stddef.h>

void lex_begin(const char *file, const char *text, size_t len);
void lex_end(void);
/* The line of the innermost '{' not yet closed, or 0. */
int lex_unclosed_line(void);
/* Set when the scanner returns TOK_BAD: what was wrong with the text, and a
 * hint (or NULL). */
extern const char *lex_error, *lex_hint;

#endif
