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
%locations

%code requires {
#include "ast.h"
}

%code {
#include <stdlib.h>
#include <string.h>

#include "lexer.h"

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

static const char *token_text(const yypcontext_t *ctx) {
    switch (yypcontext_token(ctx)) {
    case YYSYMBOL_NL: return "the end of the line";
    case YYSYMBOL_YYEOF: return "the end of the file";
    default: return NULL;
    }
}

/* One message for every syntax error: where, what was found, what would fit. */
static int yyreport_syntax_error(const yypcontext_t *ctx, Ast *ast) {
    const NETC_YYLTYPE *l = yypcontext_location(ctx);
    Loc loc = loc_of(l, ast);
    yysymbol_kind_t tok = yypcontext_token(ctx);
    if (tok == YYSYMBOL_BAD) {
        diag_error(loc, NULL, "%s", lex_error ? lex_error : "bad text");
        return 0;
    }
    yysymbol_kind_t expected[8];
    int n = yypcontext_expected_tokens(ctx, expected, 8);
    char want[256] = "";
    for (int i = 0; i < n && i < 8; i++) {
        if (expected[i] == YYSYMBOL_YYerror || expected[i] == YYSYMBOL_YYUNDEF) continue;
        size_t used = strlen(want);
        snprintf(want + used, sizeof want - used, "%s%s", used ? (i == n - 1 ? " or " : ", ") : "",
                 yysymbol_name(expected[i]));
    }
    const char *found = token_text(ctx);
    const char *hint = NULL;
    if (tok == YYSYMBOL_YYEOF) hint = "a '{' was opened and never closed with '}'";
    else if (strcmp(yysymbol_name(tok), "'}'") == 0) hint = "'}' closes a block or section; check the braces above";
    else if (strcmp(yysymbol_name(tok), "':'") == 0) hint = "a layer is written \"name: kind arguments\", one per line";
    if (found) diag_error(loc, hint, "unexpected %s; expected %s", found, n > 0 ? want : "something else");
    else diag_error(loc, hint, "unexpected %s; expected %s", yysymbol_name(tok), n > 0 ? want : "something else");
    return 0;
}

static void netc_yyerror(NETC_YYLTYPE *l, Ast *ast, const char *msg) {
    if (strstr(msg, "exhausted"))
        diag_error(loc_of(l, ast), "nothing needs to nest this deep", "braces are nested too deeply");
    else
        diag_error(loc_of(l, ast), NULL, "%s", msg);
}

int parse_net(const char *file, const char *text, size_t len, Ast *out) {
    memset(out, 0, sizeof *out);
    out->file = file;
    diag_source(file, text, len);
    lex_begin(file, text, len);
    int errors_before = diag_errors;
    int rc = netc_yyparse(out);
    lex_end();
    return rc == 0 && diag_errors == errors_before ? 0 : -1;
}
