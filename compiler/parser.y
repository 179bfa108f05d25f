/* parser.y: the grammar of the .net language.
 *
 *   file      := statement*
 *   statement := NAME arg* NL                          setting:   lr 0.01
 *              | NAME ':' NAME arg* NL                 layer:     conv1: conv 9x9 -> 10
 *              | NAME ':' NAME '(' arg* ')' arg* NL    block use: fire2: fire(16, 64, 64)
 *              | 'block' NAME '(' NAME,* ')' '{' statement* '}'
 *              | NAME '{' statement* '}'               section:   train { ... }
 *   arg       := NUMBER | SIZE | NAME | STRING | '->' | ','
 *
 * The grammar only finds the structure; elab.c gives the arguments meaning. */
%define api.pure full
%define api.prefix {netc_yy}
%define api.token.prefix {TOK_}
%define parse.error custom
%define parse.lac full
%locations

%code requires {
#include "ast.h"
}

%code {
#include <stdlib.h>
#include <string.h>

#include "lexer.h"
#include "pool.h"

int netc_yylex(NETC_YYSTYPE *yylval, NETC_YYLTYPE *yylloc);
static void netc_yyerror(NETC_YYLTYPE *loc, Ast *ast, const char *msg);

static Loc loc_of(const NETC_YYLTYPE *l, const Ast *ast) {
    return (Loc){ast->file, l->first_line, l->first_column, l->last_column - l->first_column + 1};
}
}

%parse-param {Ast *ast}

%union {
    Arg arg;
    ArgList args;
    Stmt *stmt;
    StmtList stmts;
}

%token <arg> NAME "a name" NUMBER "a number" SIZE "a size like 3x3" STRING "a string"
%token <arg> ARROW "'->'" ',' "','"
%token NL "end of line" BLOCK "'block'" BAD "bad text"
%token ':' "':'" '(' "'('" ')' "')'" '{' "'{'" '}' "'}'"

%type <arg> arg
%type <args> args params param_list
%type <stmt> statement
%type <stmts> statements

%%

file:
    statements                { ast->stmts = $1; }
    ;

statements:
    %empty                    { $$ = (StmtList){0}; }
  | statements statement      { $$ = $1; if ($2) stmts_push(&$$, $2); }
  ;

statement:
    NL                        { $$ = NULL; }
  | NAME args NL              { $$ = stmt_new(ST_SETTING, $1.text, $1.loc); $$->args = $2;
                                $$->end_loc = loc_of(&@3, ast); }
  | NAME ':' NAME args NL     { $$ = stmt_new(ST_LAYER, $1.text, $1.loc); $$->op = $3.text; $$->op_loc = $3.loc;
                                $$->args = $4; $$->end_loc = loc_of(&@5, ast); }
  | NAME ':' NAME '(' args ')' args NL
                              { $$ = stmt_new(ST_USE, $1.text, $1.loc); $$->op = $3.text; $$->op_loc = $3.loc;
                                $$->call = $5; $$->args = $7; $$->end_loc = loc_of(&@8, ast); }
  | BLOCK NAME '(' params ')' '{' statements '}'
                              { $$ = stmt_new(ST_BLOCK, $2.text, $2.loc); $$->call = $4; $$->body = $7;
                                $$->end_loc = loc_of(&@8, ast); }
  | NAME '{' statements '}'   { $$ = stmt_new(ST_SECTION, $1.text, $1.loc); $$->body = $3;
                                $$->end_loc = loc_of(&@4, ast); }
  ;

params:
    %empty                    { $$ = (ArgList){0}; }
  | param_list                { $$ = $1; }
  ;

param_list:
    NAME                      { $$ = (ArgList){0}; args_push(&$$, $1); }
  | param_list ',' NAME       { $$ = $1; args_push(&$$, $3); }
  ;

args:
    %empty                    { $$ = (ArgList){0}; }
  | args arg                  { $$ = $1; args_push(&$$, $2); }
  ;

arg: NAME | NUMBER | SIZE | STRING | ARROW | ',' ;

%%

/* The text being parsed, to quote the token an error is about. */
static const char *src_text;
static size_t src_len;

/* Where loc is in the text. */
static const char *loc_text(Loc loc) {
    const char *p = src_text, *end = src_text + src_len;
    for (int l = 1; l < loc.line && p < end; p++)
        if (*p == '\n') l++;
    return p + loc.col - 1 <= end ? p + loc.col - 1 : end;
}

/* "name 'relu'", "number 3", "'{'": the token at loc, as the user wrote it. */
static const char *token_desc(yysymbol_kind_t tok, Loc loc) {
    const char *what = tok == YYSYMBOL_NAME     ? "name "
                       : tok == YYSYMBOL_NUMBER ? "number "
                       : tok == YYSYMBOL_SIZE   ? "size "
                       : tok == YYSYMBOL_STRING ? "string "
                                                : NULL;
    if (!what) return yysymbol_name(tok); /* punctuation and keywords are already quoted */
    const char *p = loc_text(loc), *end = src_text + src_len;
    int n = loc.len;
    if (n > end - p) n = (int)(end - p);
    if (n > 40) n = 40;
    if (tok == YYSYMBOL_STRING) return pool_printf("%s%.*s", what, n, p);
    return pool_printf("%s'%.*s'", what, n, p);
}

/* One message for every syntax error: where, what was found, what would fit. */
static int yyreport_syntax_error(const yypcontext_t *ctx, Ast *ast) {
    const NETC_YYLTYPE *l = yypcontext_location(ctx);
    Loc loc = loc_of(l, ast);
    yysymbol_kind_t tok = yypcontext_token(ctx);
    if (tok == YYSYMBOL_BAD) {
        diag_error(loc, lex_hint, "%s", lex_error ? lex_error : "bad text");
        return 0;
    }
    yysymbol_kind_t expected[YYNTOKENS];
    int n = yypcontext_expected_tokens(ctx, expected, YYNTOKENS);
    char want[512] = "";
    if (n > 1 && expected[0] == YYSYMBOL_YYEOF) n--, memmove(expected, expected + 1, sizeof expected[0] * (size_t)n);
    for (int i = 0; i < n; i++) {
        size_t used = strlen(want);
        snprintf(want + used, sizeof want - used, "%s%s", used ? (i == n - 1 ? " or " : ", ") : "",
                 yysymbol_name(expected[i]));
    }
    if (n <= 0) snprintf(want, sizeof want, "something else");
    const char *hint = NULL;
    if (tok == YYSYMBOL_YYEOF)
        hint = lex_unclosed_line() ? pool_printf("the '{' on line %d is never closed with '}'", lex_unclosed_line())
                                   : "a '{' was opened and never closed with '}'";
    else if (tok == YYSYMBOL_BLOCK) hint = "'block' starts a block definition and cannot be used as a name";
    else if (strcmp(yysymbol_name(tok), "'{'") == 0)
        hint = "'{' follows a section's name (train {) or a block's parameters (block cbr(n) {)";
    else if (strcmp(yysymbol_name(tok), "'}'") == 0) hint = "'}' closes a block or section; check the braces above";
    else if (strcmp(yysymbol_name(tok), "':'") == 0)
        hint = loc.col > 5 && strncmp(loc_text(loc) - 5, "block", 5) == 0
                   ? "'block' starts a block definition and cannot be used as a name"
                   : "a layer is written \"name: kind arguments\", one per line";
    if (tok == YYSYMBOL_NL) diag_error(loc, hint, "the line ends too early; expected %s", want);
    else if (tok == YYSYMBOL_YYEOF) diag_error(loc, hint, "the file ends too early; expected %s", want);
    else diag_error(loc, hint, "unexpected %s; expected %s", token_desc(tok, loc), want);
    return 0;
}

static void netc_yyerror(NETC_YYLTYPE *l, Ast *ast, const char *msg) {
    if (strstr(msg, "exhausted"))
        diag_error(loc_of(l, ast), "sections and blocks hold one level of { }; is a '}' missing?", "braces are nested too deeply");
    else
        diag_error(loc_of(l, ast), NULL, "%s", msg);
}

int parse_net(const char *file, const char *text, size_t len, Ast *out) {
    memset(out, 0, sizeof *out);
    out->file = file;
    diag_source(file, text, len);
    src_text = text, src_len = len;
    lex_begin(file, text, len);
    int errors_before = diag_errors;
    int rc = netc_yyparse(out);
    lex_end();
    return rc == 0 && diag_errors == errors_before ? 0 : -1;
}
