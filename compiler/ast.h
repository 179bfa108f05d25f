/* ast.h: the syntax tree of a .net file, as the parser builds it.
 *
 * The grammar is deliberately generic: every line is a statement with a head
 * and a list of argument tokens. What the arguments *mean* (a kernel size, an
 * option, a layer to read from) is decided by the elaboration pass, which
 * knows every layer kind and setting and can say exactly what is wrong. */
#ifndef NETC_AST_H
#define NETC_AST_H

#include "diag.h"

typedef enum {
    ARG_NUMBER, /* 0.5, 10, 1e-4 */
    ARG_SIZE,   /* 9x9, 64x64x1 */
    ARG_NAME,   /* stride, relu1, features.3 */
    ARG_STRING, /* "data/15scene" */
    ARG_ARROW,  /* -> */
    ARG_COMMA,  /* , */
} ArgKind;

typedef struct {
    ArgKind kind;
    char *text;   /* the token as written */
    double num;   /* ARG_NUMBER */
    long dims[3]; /* ARG_SIZE: as written, width first */
    int ndims;
    Loc loc;
} Arg;

typedef struct {
    Arg *v;
    int n, cap;
} ArgList;

typedef enum {
    ST_SETTING, /* head args...            net simplenet / input 64x64x1 / lr 0.01 */
    ST_LAYER,   /* name: kind args...      conv1: conv 9x9 -> 10 */
    ST_USE,     /* name: block(args) args  fire2: fire(16, 64, 64) load features.3 */
    ST_BLOCK,   /* block name(params) { statements } */
    ST_SECTION, /* name { statements }     train { ... } */
} StmtKind;

typedef struct Stmt Stmt;
typedef struct {
    Stmt **v;
    int n, cap;
} StmtList;

struct Stmt {
    StmtKind kind;
    char *name;     /* layer name, setting key, block or section name */
    Loc name_loc;
    char *op;       /* ST_LAYER: the layer kind; ST_USE: the block used */
    Loc op_loc;
    ArgList call;   /* ST_USE: arguments in parentheses; ST_BLOCK: parameter names */
    ArgList args;
    StmtList body;  /* ST_BLOCK, ST_SECTION */
    Loc end_loc;    /* end of the statement (for "expected ... after") */
};

typedef struct Ast {
    const char *file;
    StmtList stmts;
} Ast;

void args_push(ArgList *l, Arg a);
void stmts_push(StmtList *l, Stmt *s);
Stmt *stmt_new(StmtKind kind, char *name, Loc name_loc);

/* Parses `text` (the contents of `file`). Returns 0, or -1 after printing an
 * error through diag. */
int parse_net(const char *file, const char *text, size_t len, Ast *out);

/* --dump-ast */
void ast_dump(const Ast *ast, FILE *f);

#endif
