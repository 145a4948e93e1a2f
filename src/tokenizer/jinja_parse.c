/* jinja_parse.c — tokens to AST, following jinja2/parser.py: the same precedence levels
 * (condexpr < or < and < not < compare < + - < ~ < * / // % < ** < unary < filters/tests <
 * postfix < primary), the same statement grammar, and the same compile-time errors (unknown
 * filter or test, break outside a loop). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/jinja_internal.h"

typedef struct parser {
    jj_arena *a;
    jmp_buf *jb;
    const char *name;
    jj_tok *t;
    size_t n, i;
    int depth;
    int loop_depth; /* for loops around the current statement (break/continue need one) */
    int line;
} parser;

static JJ_NORETURN void pfail_st(parser *P, r1c_status st, const char *fmt, ...) R1C_PRINTF(3, 4);
static void pfail_st(parser *P, r1c_status st, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r1c_error(st, "%s:%d: %s", P->name, P->t[P->i].line, msg);
    P->a->fail_status = st;
    longjmp(*P->jb, 1);
}
#define pfail(P, ...) pfail_st(P, R1C_ERR_FORMAT, __VA_ARGS__)

static jj_tok *cur(parser *P) { return &P->t[P->i]; }
static jj_tok *peek(parser *P, size_t k) { return &P->t[P->i + k < P->n ? P->i + k : P->n - 1]; }
static void next(parser *P) {
    if (P->i + 1 < P->n) P->i++;
    P->line = P->t[P->i].line;
}
static int is_op(parser *P, int op) { return cur(P)->type == TK_OP && cur(P)->op == op; }
static int tok_is_name(jj_tok *t, const char *s) { return t->type == TK_NAME && strcmp(t->s, s) == 0; }
static int is_name(parser *P, const char *s) { return tok_is_name(cur(P), s); }

static const char *describe(jj_tok *t) {
    switch (t->type) {
    case TK_EOF: return "end of template";
    case TK_DATA: return "template data";
    case TK_VAR_BEGIN: return "'{{'";
    case TK_VAR_END: return "end of print statement";
    case TK_BLOCK_BEGIN: return "'{%'";
    case TK_BLOCK_END: return "end of statement block";
    case TK_NAME: return t->s;
    case TK_STRING: return "string";
    case TK_INT: return "integer";
    case TK_FLOAT: return "float";
    default: return "operator";
    }
}

static void expect_op(parser *P, int op, const char *what) {
    if (!is_op(P, op)) pfail(P, "expected '%s', got '%s'", what, describe(cur(P)));
    next(P);
}

static void expect_type(parser *P, int type, const char *what) {
    if (cur(P)->type != type) pfail(P, "expected %s, got '%s'", what, describe(cur(P)));
    next(P);
}

static const char *expect_name(parser *P) {
    if (cur(P)->type != TK_NAME) pfail(P, "expected a name, got '%s'", describe(cur(P)));
    const char *s = cur(P)->s;
    next(P);
    return s;
}

static jj_node *new_node(parser *P, int kind, int line) {
    jj_node *n = jj_alloc(P->a, sizeof *n);
    memset(n, 0, sizeof *n);
    n->kind = (uint8_t)kind;
    n->line = line;
    return n;
}

/* A list of nodes under construction. */
typedef struct nvec { jj_node **v; uint32_t n, cap; } nvec;
static void nv_push(parser *P, nvec *v, jj_node *x) {
    if (v->n == v->cap) {
        uint32_t nc = v->cap ? v->cap * 2 : 4;
        v->v = jj_realloc(P->a, v->v, v->cap * sizeof(jj_node *), nc * sizeof(jj_node *));
        v->cap = nc;
    }
    v->v[v->n++] = x;
}
static jj_nodes nv_done(nvec *v) { jj_nodes out = {v->v, v->n}; return out; }

typedef struct svec { const char **v; uint32_t n, cap; } svec;
static void sv_push(parser *P, svec *v, const char *s) {
    if (v->n == v->cap) {
        uint32_t nc = v->cap ? v->cap * 2 : 4;
        v->v = jj_realloc(P->a, v->v, v->cap * sizeof(char *), nc * sizeof(char *));
        v->cap = nc;
    }
    v->v[v->n++] = s;
}

static void enter(parser *P) {
    if (++P->depth > JJ_MAX_DEPTH) pfail(P, "template nested too deeply (more than %d levels)", JJ_MAX_DEPTH);
}
static void leave(parser *P) { P->depth--; }

/* ================================================================================ expressions */

static jj_node *parse_expression(parser *P, int with_condexpr);
static jj_node *parse_tuple(parser *P, int with_condexpr, const char *extra_end, int explicit_parens);
static jj_node *parse_unary(parser *P, int with_filter);
static jj_node *parse_primary(parser *P);
static jj_node *parse_postfix(parser *P, jj_node *node);

/* (args, kw=args) of a call, filter or test; *args and **kwargs are not supported. */
static void parse_call_args(parser *P, jj_node *node) {
    expect_op(P, OP_LPAREN, "(");
    nvec args = {0}, kwargs = {0};
    svec names = {0};
    int need_comma = 0;
    while (!is_op(P, OP_RPAREN)) {
        if (need_comma) {
            expect_op(P, OP_COMMA, ",");
            if (is_op(P, OP_RPAREN)) break;
        }
        if (is_op(P, OP_MUL) || is_op(P, OP_POW))
            pfail_st(P, R1C_ERR_UNSUPPORTED, "*args and **kwargs in calls are not supported");
        if (cur(P)->type == TK_NAME && peek(P, 1)->type == TK_OP && peek(P, 1)->op == OP_ASSIGN) {
            sv_push(P, &names, cur(P)->s);
            next(P);
            next(P);
            nv_push(P, &kwargs, parse_expression(P, 1));
        } else {
            if (kwargs.n) pfail(P, "invalid syntax for function call expression");
            nv_push(P, &args, parse_expression(P, 1));
        }
        need_comma = 1;
    }
    expect_op(P, OP_RPAREN, ")");
    node->args = nv_done(&args);
    node->kwargs = nv_done(&kwargs);
    node->kwnames = names.v;
    node->nkw = names.n;
}

/* name or name.name (jinja2 allows dotted filter and test names) */
static const char *dotted_name(parser *P, char *buf, size_t cap) {
    const char *s = expect_name(P);
    snprintf(buf, cap, "%s", s);
    while (is_op(P, OP_DOT)) {
        next(P);
        size_t k = strlen(buf);
        snprintf(buf + k, cap - k, ".%s", expect_name(P));
    }
    return buf;
}

static jj_node *parse_filter(parser *P, jj_node *obj, int start_inline) {
    while (is_op(P, OP_PIPE) || start_inline) {
        if (!start_inline) next(P);
        start_inline = 0;
        int line = cur(P)->line;
        char buf[256];
        const char *name = dotted_name(P, buf, sizeof buf);
        int fid = jj_filter_id(name);
        if (!fid) pfail(P, "unknown filter '%s'", name);
        jj_node *f = new_node(P, N_FILTER, line);
        f->a = obj;
        f->fid = (uint16_t)fid;
        f->name = jj_strdup(P->a, name, strlen(name));
        if (is_op(P, OP_LPAREN)) parse_call_args(P, f);
        obj = f;
    }
    return obj;
}

static jj_node *parse_test(parser *P, jj_node *obj) {
    int line = cur(P)->line;
    next(P); /* is */
    int negated = 0;
    if (is_name(P, "not")) {
        next(P);
        negated = 1;
    }
    char buf[256];
    const char *name = dotted_name(P, buf, sizeof buf);
    int tid = jj_test_id(name);
    if (!tid) pfail(P, "unknown test '%s'", name);
    jj_node *t = new_node(P, N_TEST, line);
    t->a = obj;
    t->fid = (uint16_t)tid;
    t->op = (uint8_t)negated;
    t->name = jj_strdup(P->a, name, strlen(name));
    jj_tok *c = cur(P);
    if (is_op(P, OP_LPAREN)) {
        parse_call_args(P, t);
    } else if ((c->type == TK_NAME || c->type == TK_STRING || c->type == TK_INT ||
                c->type == TK_FLOAT || (c->type == TK_OP && (c->op == OP_LPAREN || c->op == OP_LBRACKET ||
                                                              c->op == OP_LBRACE))) &&
               !is_name(P, "else") && !is_name(P, "or") && !is_name(P, "and")) {
        if (is_name(P, "is")) pfail(P, "You cannot chain multiple tests with is");
        nvec args = {0};
        jj_node *arg = parse_postfix(P, parse_primary(P));
        nv_push(P, &args, arg);
        t->args = nv_done(&args);
    }
    return t;
}

static jj_node *parse_filter_expr(parser *P, jj_node *node) {
    for (;;) {
        if (is_op(P, OP_PIPE)) node = parse_filter(P, node, 0);
        else if (is_name(P, "is")) node = parse_test(P, node);
        else if (is_op(P, OP_LPAREN)) {
            jj_node *c = new_node(P, N_CALL, cur(P)->line);
            c->a = node;
            parse_call_args(P, c);
            node = c;
        } else break;
    }
    return node;
}

/* One subscript: an expression or a slice [start:stop:step]. */
static jj_node *parse_subscribed(parser *P) {
    int line = cur(P)->line;
    jj_node *parts[3] = {NULL, NULL, NULL};
    if (is_op(P, OP_COLON)) {
        next(P);
    } else {
        jj_node *e = parse_expression(P, 1);
        if (!is_op(P, OP_COLON)) return e;
        next(P);
        parts[0] = e;
    }
    if (!is_op(P, OP_COLON) && !is_op(P, OP_RBRACKET) && !is_op(P, OP_COMMA))
        parts[1] = parse_expression(P, 1);
    if (is_op(P, OP_COLON)) {
        next(P);
        if (!is_op(P, OP_RBRACKET) && !is_op(P, OP_COMMA)) parts[2] = parse_expression(P, 1);
    }
    jj_node *s = new_node(P, N_SLICE, line);
    s->b = parts[0];
    s->c = parts[1];
    s->d = parts[2];
    return s;
}

static jj_node *parse_subscript(parser *P, jj_node *node) {
    int line = cur(P)->line;
    if (is_op(P, OP_DOT)) {
        next(P);
        jj_tok *t = cur(P);
        if (t->type == TK_NAME) {
            jj_node *g = new_node(P, N_GETATTR, line);
            g->a = node;
            g->name = t->s;
            next(P);
            return g;
        }
        if (t->type != TK_INT) pfail(P, "expected name or number");
        jj_node *k = new_node(P, N_CONST, line);
        k->val = jv_int(t->i);
        next(P);
        jj_node *g = new_node(P, N_GETITEM, line);
        g->a = node;
        g->b = k;
        return g;
    }
    next(P); /* [ */
    nvec args = {0};
    while (!is_op(P, OP_RBRACKET)) {
        if (args.n) expect_op(P, OP_COMMA, ",");
        nv_push(P, &args, parse_subscribed(P));
    }
    expect_op(P, OP_RBRACKET, "]");
    if (args.n == 0) pfail(P, "expected a subscript");
    jj_node *key;
    if (args.n == 1) {
        key = args.v[0];
    } else {
        for (uint32_t i = 0; i < args.n; i++)
            if (args.v[i]->kind == N_SLICE)
                pfail_st(P, R1C_ERR_UNSUPPORTED, "slices inside a tuple subscript are not supported");
        key = new_node(P, N_TUPLE, line);
        key->args = nv_done(&args);
    }
    if (key->kind == N_SLICE) {
        key->a = node;
        return key;
    }
    jj_node *g = new_node(P, N_GETITEM, line);
    g->a = node;
    g->b = key;
    return g;
}

static jj_node *parse_postfix(parser *P, jj_node *node) {
    for (;;) {
        if (is_op(P, OP_DOT) || is_op(P, OP_LBRACKET)) node = parse_subscript(P, node);
        else if (is_op(P, OP_LPAREN)) {
            jj_node *c = new_node(P, N_CALL, cur(P)->line);
            c->a = node;
            parse_call_args(P, c);
            node = c;
        } else break;
    }
    return node;
}

static jj_node *parse_list(parser *P) {
    jj_node *l = new_node(P, N_LIST, cur(P)->line);
    next(P);
    nvec items = {0};
    while (!is_op(P, OP_RBRACKET)) {
        if (items.n) expect_op(P, OP_COMMA, ",");
        if (is_op(P, OP_RBRACKET)) break;
        nv_push(P, &items, parse_expression(P, 1));
    }
    expect_op(P, OP_RBRACKET, "]");
    l->args = nv_done(&items);
    return l;
}

static jj_node *parse_dict(parser *P) {
    jj_node *d = new_node(P, N_DICT, cur(P)->line);
    next(P);
    nvec keys = {0}, vals = {0};
    while (!is_op(P, OP_RBRACE)) {
        if (keys.n) expect_op(P, OP_COMMA, ",");
        if (is_op(P, OP_RBRACE)) break;
        nv_push(P, &keys, parse_expression(P, 1));
        expect_op(P, OP_COLON, ":");
        nv_push(P, &vals, parse_expression(P, 1));
    }
    expect_op(P, OP_RBRACE, "}");
    d->args = nv_done(&keys);
    d->kwargs = nv_done(&vals);
    return d;
}

static jj_node *parse_primary(parser *P) {
    jj_tok *t = cur(P);
    jj_node *n;
    switch (t->type) {
    case TK_NAME:
        if (!strcmp(t->s, "true") || !strcmp(t->s, "True") || !strcmp(t->s, "false") ||
            !strcmp(t->s, "False")) {
            n = new_node(P, N_CONST, t->line);
            n->val = jv_bool(t->s[0] == 't' || t->s[0] == 'T');
        } else if (!strcmp(t->s, "none") || !strcmp(t->s, "None")) {
            n = new_node(P, N_CONST, t->line);
            n->val = jv_none();
        } else {
            n = new_node(P, N_NAME, t->line);
            n->name = t->s;
            n->fid = (uint16_t)jj_global_id(t->s);
        }
        next(P);
        return n;
    case TK_STRING: { /* adjacent literals concatenate */
        n = new_node(P, N_CONST, t->line);
        size_t total = 0, j = P->i;
        while (P->t[j].type == TK_STRING) total += P->t[j++].n;
        char *s = jj_alloc(P->a, total + 1);
        size_t k = 0;
        while (cur(P)->type == TK_STRING) {
            if (cur(P)->n) memcpy(s + k, cur(P)->s, cur(P)->n);
            k += cur(P)->n;
            next(P);
        }
        s[k] = 0;
        n->val = jv_str(s, k);
        return n;
    }
    case TK_INT:
        n = new_node(P, N_CONST, t->line);
        n->val = jv_int(t->i);
        next(P);
        return n;
    case TK_FLOAT:
        n = new_node(P, N_CONST, t->line);
        n->val = jv_float(t->f);
        next(P);
        return n;
    case TK_OP:
        if (t->op == OP_LPAREN) {
            next(P);
            n = parse_tuple(P, 1, NULL, 1);
            expect_op(P, OP_RPAREN, ")");
            return n;
        }
        if (t->op == OP_LBRACKET) return parse_list(P);
        if (t->op == OP_LBRACE) return parse_dict(P);
        break;
    default: break;
    }
    pfail(P, "unexpected '%s'", describe(t));
}

static jj_node *parse_unary(parser *P, int with_filter) {
    enter(P);
    jj_node *node;
    if (is_op(P, OP_SUB) || is_op(P, OP_ADD)) {
        int op = is_op(P, OP_SUB) ? OP_NEG : OP_POS;
        node = new_node(P, N_UNARY, cur(P)->line);
        next(P);
        node->op = (uint8_t)op;
        node->a = parse_unary(P, 0);
    } else {
        node = parse_primary(P);
    }
    node = parse_postfix(P, node);
    if (with_filter) node = parse_filter_expr(P, node);
    leave(P);
    return node;
}

static jj_node *binary(parser *P, int op, jj_node *a, jj_node *b, int line) {
    jj_node *n = new_node(P, N_BINARY, line);
    n->op = (uint8_t)op;
    n->a = a;
    n->b = b;
    return n;
}

static jj_node *parse_pow(parser *P) {
    jj_node *left = parse_unary(P, 1);
    while (is_op(P, OP_POW)) {
        int line = cur(P)->line;
        next(P);
        left = binary(P, OP_POW, left, parse_unary(P, 1), line);
    }
    return left;
}

static jj_node *parse_math2(parser *P) {
    jj_node *left = parse_pow(P);
    while (is_op(P, OP_MUL) || is_op(P, OP_DIV) || is_op(P, OP_FLOORDIV) || is_op(P, OP_MOD)) {
        int op = cur(P)->op, line = cur(P)->line;
        next(P);
        left = binary(P, op, left, parse_pow(P), line);
    }
    return left;
}

static jj_node *parse_concat(parser *P) {
    jj_node *first = parse_math2(P);
    if (!is_op(P, OP_TILDE)) return first;
    nvec parts = {0};
    nv_push(P, &parts, first);
    int line = cur(P)->line;
    while (is_op(P, OP_TILDE)) {
        next(P);
        nv_push(P, &parts, parse_math2(P));
    }
    jj_node *c = new_node(P, N_CONCAT, line);
    c->args = nv_done(&parts);
    return c;
}

static jj_node *parse_math1(parser *P) {
    jj_node *left = parse_concat(P);
    while (is_op(P, OP_ADD) || is_op(P, OP_SUB)) {
        int op = cur(P)->op, line = cur(P)->line;
        next(P);
        left = binary(P, op, left, parse_concat(P), line);
    }
    return left;
}

static jj_node *parse_compare(parser *P) {
    int line = cur(P)->line;
    jj_node *expr = parse_math1(P);
    nvec operands = {0};
    uint8_t ops[64];
    uint8_t *opv = ops;
    uint32_t cap = 64;
    for (;;) {
        int op = 0;
        jj_tok *t = cur(P);
        if (t->type == TK_OP && (t->op == OP_EQ || t->op == OP_NE || t->op == OP_LT ||
                                 t->op == OP_LE || t->op == OP_GT || t->op == OP_GE)) {
            op = t->op;
            next(P);
        } else if (is_name(P, "in")) {
            op = OP_IN;
            next(P);
        } else if (is_name(P, "not") && tok_is_name(peek(P, 1), "in")) {
            op = OP_NOTIN;
            next(P);
            next(P);
        } else {
            break;
        }
        if (operands.n == cap) {
            uint8_t *nv = jj_alloc(P->a, cap * 2);
            memcpy(nv, opv, cap);
            opv = nv;
            cap *= 2;
        }
        opv[operands.n] = (uint8_t)op;
        nv_push(P, &operands, parse_math1(P));
    }
    if (!operands.n) return expr;
    jj_node *c = new_node(P, N_COMPARE, line);
    c->a = expr;
    c->args = nv_done(&operands);
    c->cmpops = jj_alloc(P->a, operands.n);
    memcpy(c->cmpops, opv, operands.n);
    return c;
}

static jj_node *parse_not(parser *P) {
    if (is_name(P, "not")) {
        enter(P);
        jj_node *n = new_node(P, N_NOT, cur(P)->line);
        next(P);
        n->a = parse_not(P);
        leave(P);
        return n;
    }
    return parse_compare(P);
}

static jj_node *parse_and(parser *P) {
    jj_node *left = parse_not(P);
    while (is_name(P, "and")) {
        jj_node *n = new_node(P, N_AND, cur(P)->line);
        next(P);
        n->a = left;
        n->b = parse_not(P);
        left = n;
    }
    return left;
}

static jj_node *parse_or(parser *P) {
    jj_node *left = parse_and(P);
    while (is_name(P, "or")) {
        jj_node *n = new_node(P, N_OR, cur(P)->line);
        next(P);
        n->a = left;
        n->b = parse_and(P);
        left = n;
    }
    return left;
}

/* a if cond else b; without "else" the value is undefined when cond is false */
static jj_node *parse_condexpr(parser *P) {
    enter(P);
    int line = cur(P)->line;
    jj_node *expr1 = parse_or(P);
    while (is_name(P, "if")) {
        next(P);
        jj_node *c = new_node(P, N_COND, line);
        c->a = expr1;
        c->b = parse_or(P);
        if (is_name(P, "else")) {
            next(P);
            c->c = parse_condexpr(P);
        }
        expr1 = c;
        line = cur(P)->line;
    }
    leave(P);
    return expr1;
}

static jj_node *parse_expression(parser *P, int with_condexpr) {
    return with_condexpr ? parse_condexpr(P) : parse_or(P);
}

static int is_tuple_end(parser *P, const char *extra_end) {
    jj_tok *t = cur(P);
    if (t->type == TK_VAR_END || t->type == TK_BLOCK_END || (t->type == TK_OP && t->op == OP_RPAREN))
        return 1;
    return extra_end && tok_is_name(t, extra_end);
}

/* Expressions separated by commas: one expression, or a tuple when there is a comma. */
static jj_node *parse_tuple(parser *P, int with_condexpr, const char *extra_end, int explicit_parens) {
    int line = cur(P)->line;
    nvec items = {0};
    int is_tuple = 0;
    for (;;) {
        if (items.n) expect_op(P, OP_COMMA, ",");
        if (is_tuple_end(P, extra_end)) break;
        nv_push(P, &items, parse_expression(P, with_condexpr));
        if (is_op(P, OP_COMMA)) is_tuple = 1;
        else break;
    }
    if (!is_tuple) {
        if (items.n) return items.v[0];
        if (!explicit_parens) pfail(P, "expected an expression, got '%s'", describe(cur(P)));
    }
    jj_node *t = new_node(P, N_TUPLE, line);
    t->args = nv_done(&items);
    return t;
}

/* ================================================================================ statements */

static jj_nodes parse_body(parser *P, const char *const *ends, const char **found);

/* "name" or "a, b" or "(a, b)": the targets of for, set and with. */
static void parse_targets(parser *P, jj_node *node, const char *extra_end) {
    svec names = {0};
    int paren = 0;
    if (is_op(P, OP_LPAREN)) {
        paren = 1;
        next(P);
    }
    for (;;) {
        if (is_op(P, OP_LPAREN)) pfail_st(P, R1C_ERR_UNSUPPORTED, "nested tuple targets are not supported");
        sv_push(P, &names, expect_name(P));
        if (!is_op(P, OP_COMMA)) break;
        node->tuple_target = 1;
        next(P);
        if ((paren && is_op(P, OP_RPAREN)) || (extra_end && is_name(P, extra_end)) ||
            is_op(P, OP_ASSIGN) || cur(P)->type == TK_BLOCK_END)
            break;
    }
    if (paren) {
        expect_op(P, OP_RPAREN, ")");
        if (names.n > 1) node->tuple_target = 1;
    }
    node->kwnames = names.v;
    node->nkw = names.n;
}

/* ":"? then "%}", then statements up to one of ends (left for the caller to consume). */
static jj_nodes parse_statements(parser *P, const char *const *ends, const char **found) {
    if (is_op(P, OP_COLON)) next(P);
    expect_type(P, TK_BLOCK_END, "end of statement block");
    return parse_body(P, ends, found);
}

/* The same, also consuming the end name. */
static jj_nodes parse_statements_drop(parser *P, const char *end) {
    const char *ends[] = {end, NULL};
    const char *found;
    jj_nodes body = parse_statements(P, ends, &found);
    next(P);
    return body;
}

static jj_node *parse_if(parser *P) {
    static const char *const ends[] = {"elif", "else", "endif", NULL};
    jj_node *result = new_node(P, N_IF, cur(P)->line), *node = result;
    next(P); /* if */
    for (;;) {
        node->a = parse_tuple(P, 0, NULL, 0);
        const char *found;
        node->body = parse_statements(P, ends, &found);
        next(P);
        if (!strcmp(found, "elif")) {
            jj_node *elif = new_node(P, N_IF, cur(P)->line);
            jj_node **one = jj_alloc(P->a, sizeof *one);
            one[0] = elif;
            node->orelse.v = one;
            node->orelse.n = 1;
            node = elif;
            continue;
        }
        if (!strcmp(found, "else")) node->orelse = parse_statements_drop(P, "endif");
        break;
    }
    return result;
}

static jj_node *parse_for(parser *P) {
    static const char *const ends[] = {"endfor", "else", NULL};
    jj_node *n = new_node(P, N_FOR, cur(P)->line);
    next(P); /* for */
    parse_targets(P, n, "in");
    if (!is_name(P, "in")) pfail(P, "expected 'in', got '%s'", describe(cur(P)));
    next(P);
    n->a = parse_tuple(P, 0, "recursive", 0);
    if (is_name(P, "if")) {
        next(P);
        n->b = parse_expression(P, 1);
    }
    if (is_name(P, "recursive")) {
        next(P);
        n->op = 1;
    }
    const char *found;
    P->loop_depth++;
    n->body = parse_statements(P, ends, &found);
    P->loop_depth--;
    next(P);
    if (!strcmp(found, "else")) n->orelse = parse_statements_drop(P, "endfor");
    return n;
}

static jj_node *parse_filter_chain_block(parser *P, jj_node *n) {
    jj_node *chain = parse_filter(P, NULL, 0);
    nvec filters = {0};
    for (jj_node *f = chain; f; f = f->a) nv_push(P, &filters, f);
    /* the chain nests outermost-last; store it in application order */
    for (uint32_t i = 0; i < filters.n / 2; i++) {
        jj_node *tmp = filters.v[i];
        filters.v[i] = filters.v[filters.n - 1 - i];
        filters.v[filters.n - 1 - i] = tmp;
    }
    n->args = nv_done(&filters);
    return n;
}

static jj_node *parse_set(parser *P) {
    int line = cur(P)->line;
    next(P); /* set */
    if (cur(P)->type == TK_NAME && peek(P, 1)->type == TK_OP && peek(P, 1)->op == OP_DOT) {
        jj_node *ns = new_node(P, N_NAME, line);
        ns->name = expect_name(P);
        next(P); /* . */
        const char *attr = expect_name(P);
        if (is_op(P, OP_ASSIGN)) {
            next(P);
            jj_node *n = new_node(P, N_SET_NS, line);
            n->a = ns;
            n->name = attr;
            n->b = parse_tuple(P, 1, NULL, 0);
            return n;
        }
        jj_node *n = new_node(P, N_SET_BLOCK, line);
        n->a = ns;
        n->name = attr;
        parse_filter_chain_block(P, n);
        n->body = parse_statements_drop(P, "endset");
        return n;
    }
    jj_node *n = new_node(P, N_SET, line);
    parse_targets(P, n, NULL);
    if (is_op(P, OP_ASSIGN)) {
        next(P);
        n->a = parse_tuple(P, 1, NULL, 0);
        return n;
    }
    n->kind = N_SET_BLOCK;
    if (n->tuple_target) pfail(P, "a block assignment needs a single name");
    parse_filter_chain_block(P, n);
    n->body = parse_statements_drop(P, "endset");
    return n;
}

/* (a, b=default, ...) of a macro or call block */
static void parse_signature(parser *P, jj_node *n) {
    expect_op(P, OP_LPAREN, "(");
    svec names = {0};
    nvec defaults = {0};
    int have_default = 0;
    while (!is_op(P, OP_RPAREN)) {
        if (names.n) expect_op(P, OP_COMMA, ",");
        if (is_op(P, OP_RPAREN)) break;
        sv_push(P, &names, expect_name(P));
        if (is_op(P, OP_ASSIGN)) {
            next(P);
            nv_push(P, &defaults, parse_expression(P, 1));
            have_default = 1;
        } else {
            if (have_default) pfail(P, "non-default argument follows default argument");
            nv_push(P, &defaults, NULL);
        }
    }
    expect_op(P, OP_RPAREN, ")");
    n->kwnames = names.v;
    n->nkw = names.n;
    n->args = nv_done(&defaults);
}

static jj_node *parse_macro(parser *P) {
    jj_node *n = new_node(P, N_MACRO, cur(P)->line);
    next(P);
    n->name = expect_name(P);
    parse_signature(P, n);
    int saved = P->loop_depth;
    P->loop_depth = 0;
    n->body = parse_statements_drop(P, "endmacro");
    P->loop_depth = saved;
    return n;
}

static jj_node *parse_call_block(parser *P) {
    jj_node *n = new_node(P, N_CALL_BLOCK, cur(P)->line);
    next(P);
    if (is_op(P, OP_LPAREN)) parse_signature(P, n);
    n->a = parse_expression(P, 1);
    if (n->a->kind != N_CALL) pfail(P, "expected call");
    int saved = P->loop_depth;
    P->loop_depth = 0;
    n->body = parse_statements_drop(P, "endcall");
    P->loop_depth = saved;
    return n;
}

static jj_node *parse_with(parser *P) {
    jj_node *n = new_node(P, N_WITH, cur(P)->line);
    next(P);
    svec names = {0};
    nvec vals = {0};
    while (cur(P)->type != TK_BLOCK_END) {
        if (names.n) expect_op(P, OP_COMMA, ",");
        sv_push(P, &names, expect_name(P));
        expect_op(P, OP_ASSIGN, "=");
        nv_push(P, &vals, parse_expression(P, 1));
    }
    n->kwnames = names.v;
    n->nkw = names.n;
    n->args = nv_done(&vals);
    n->body = parse_statements_drop(P, "endwith");
    return n;
}

static jj_node *parse_statement(parser *P) {
    jj_tok *t = cur(P);
    if (t->type != TK_NAME) pfail(P, "tag name expected");
    enter(P);
    const char *s = t->s;
    jj_node *n;
    if (!strcmp(s, "if")) n = parse_if(P);
    else if (!strcmp(s, "for")) n = parse_for(P);
    else if (!strcmp(s, "set")) n = parse_set(P);
    else if (!strcmp(s, "macro")) n = parse_macro(P);
    else if (!strcmp(s, "call")) n = parse_call_block(P);
    else if (!strcmp(s, "with")) n = parse_with(P);
    else if (!strcmp(s, "filter")) {
        n = new_node(P, N_FILTER_BLOCK, t->line);
        next(P);
        jj_node *chain = parse_filter(P, NULL, 1);
        nvec filters = {0};
        for (jj_node *f = chain; f; f = f->a) nv_push(P, &filters, f);
        for (uint32_t i = 0; i < filters.n / 2; i++) {
            jj_node *tmp = filters.v[i];
            filters.v[i] = filters.v[filters.n - 1 - i];
            filters.v[filters.n - 1 - i] = tmp;
        }
        n->args = nv_done(&filters);
        n->body = parse_statements_drop(P, "endfilter");
    } else if (!strcmp(s, "break") || !strcmp(s, "continue")) {
        if (!P->loop_depth) pfail(P, "'%s' outside of a loop", s);
        n = new_node(P, s[0] == 'b' ? N_BREAK : N_CONTINUE, t->line);
        next(P);
    } else if (!strcmp(s, "generation")) { /* HF's AssistantTracker: renders its body */
        n = new_node(P, N_BODY, t->line);
        next(P);
        n->body = parse_statements_drop(P, "endgeneration");
    } else if (!strcmp(s, "print")) {
        n = new_node(P, N_PRINT, t->line);
        next(P);
        n->a = parse_tuple(P, 1, NULL, 0);
    } else if (!strcmp(s, "extends") || !strcmp(s, "include") || !strcmp(s, "import") ||
               !strcmp(s, "from") || !strcmp(s, "block") || !strcmp(s, "autoescape")) {
        pfail_st(P, R1C_ERR_UNSUPPORTED, "'%s' tags are not supported", s);
    } else {
        pfail(P, "unknown tag '%s'", s);
    }
    leave(P);
    return n;
}

/* Statements up to EOF (ends == NULL) or up to a block tag named in ends. */
static jj_nodes parse_body(parser *P, const char *const *ends, const char **found) {
    nvec body = {0};
    for (;;) {
        jj_tok *t = cur(P);
        if (t->type == TK_EOF) {
            if (ends) {
                const char *want = ends[0];
                for (int k = 0; ends[k]; k++)
                    if (!strncmp(ends[k], "end", 3)) want = ends[k];
                pfail(P, "unexpected end of template, expected '%s'", want);
            }
            break;
        }
        if (t->type == TK_DATA) {
            jj_node *n = new_node(P, N_TEXT, t->line);
            n->val = jv_str(t->s, t->n);
            nv_push(P, &body, n);
            next(P);
        } else if (t->type == TK_VAR_BEGIN) {
            next(P);
            jj_node *n = new_node(P, N_PRINT, t->line);
            n->a = parse_tuple(P, 1, NULL, 0);
            expect_type(P, TK_VAR_END, "end of print statement");
            nv_push(P, &body, n);
        } else if (t->type == TK_BLOCK_BEGIN) {
            next(P);
            if (ends && cur(P)->type == TK_NAME) {
                for (int k = 0; ends[k]; k++)
                    if (!strcmp(cur(P)->s, ends[k])) {
                        *found = ends[k];
                        return nv_done(&body);
                    }
            }
            nv_push(P, &body, parse_statement(P));
            expect_type(P, TK_BLOCK_END, "end of statement block");
        } else {
            pfail(P, "unexpected '%s'", describe(t));
        }
    }
    return nv_done(&body);
}

/* ================================================================================ entry */

r1c_status r1c_jinja_compile(const char *src, size_t len, const char *name, r1c_jinja **out) {
    if (out) *out = NULL;
    if ((!src && len) || !out) return r1c_error(R1C_ERR_INVALID_ARG, "jinja: NULL argument");
    if (!name) name = "template";
    r1c_jinja *t = calloc(1, sizeof *t);
    char *tname = t ? strdup(name) : NULL;
    if (!t || !tname) {
        free(t);
        return r1c_error(R1C_ERR_NOMEM, "%s: out of memory", name);
    }
    t->name = tname;
    jmp_buf jb;
    jj_arena_init(&t->arena, JJ_MAX_MEMORY);
    t->arena.jb = &jb;
    t->arena.name = t->name;
    t->names.a = &t->arena;
    if (setjmp(jb)) {
        r1c_status st = t->arena.fail_status;
        r1c_jinja_free(t);
        return st;
    }
    jj_lexed lx = jj_lex(&t->arena, &jb, t->name, src ? src : "", len, &t->names);
    parser P;
    memset(&P, 0, sizeof P);
    P.a = &t->arena;
    P.jb = &jb;
    P.name = t->name;
    P.t = lx.toks;
    P.n = lx.n;
    P.line = 1;
    t->arena.line = &P.line;
    jj_node *root = new_node(&P, N_BODY, 1);
    root->body = parse_body(&P, NULL, NULL);
    t->root = root;
    t->n_loop = jj_intern_name(&t->names, "loop", 4);
    t->n_caller = jj_intern_name(&t->names, "caller", 6);
    t->n_varargs = jj_intern_name(&t->names, "varargs", 7);
    t->n_kwargs = jj_intern_name(&t->names, "kwargs", 6);
    t->arena.line = NULL;
    t->arena.jb = NULL;
    *out = t;
    return R1C_OK;
}

void r1c_jinja_free(r1c_jinja *t) {
    if (!t) return;
    jj_arena_free(&t->arena);
    free(t->name);
    free(t);
}
