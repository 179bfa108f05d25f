/* ast.c: building and printing the syntax tree. */
#include "ast.h"

#include "pool.h"

void args_push(ArgList *l, Arg a) { POOL_PUSH(l->v, l->n, l->cap, a); }
void stmts_push(StmtList *l, Stmt *s) { POOL_PUSH(l->v, l->n, l->cap, s); }

Stmt *stmt_new(StmtKind kind, char *name, Loc name_loc) {
    Stmt *s = pool_alloc(sizeof *s);
    s->kind = kind;
    s->name = name;
    s->name_loc = name_loc;
    return s;
}

static void dump_args(const ArgList *l, FILE *f) {
    static const char *kinds[] = {"num", "size", "name", "str", "arrow", "comma"};
    for (int i = 0; i < l->n; i++) fprintf(f, " %s:%s", kinds[l->v[i].kind], l->v[i].text);
}

static void dump_stmts(const StmtList *l, int depth, FILE *f) {
    static const char *kinds[] = {"setting", "layer", "use", "block", "section"};
    for (int i = 0; i < l->n; i++) {
        const Stmt *s = l->v[i];
        fprintf(f, "%*s%d:%d %s %s", 2 * depth, "", s->name_loc.line, s->name_loc.col, kinds[s->kind], s->name);
        if (s->op) fprintf(f, " op=%s", s->op);
        if (s->call.n) fprintf(f, " (") , dump_args(&s->call, f), fprintf(f, " )");
        dump_args(&s->args, f);
        fputc('\n', f);
        dump_stmts(&s->body, depth + 1, f);
    }
}

void ast_dump(const Ast *ast, FILE *f) {
    fprintf(f, "# ast of %s\n", ast->file);
    dump_stmts(&ast->stmts, 0, f);
}
