/* jinja_eval.c — renders the AST: statements, expressions, scopes, loops and macros.
 *
 * Scopes follow jinja2: a for loop gives every iteration a fresh scope (a `set` inside a loop
 * is gone in the next iteration and after the loop; namespace() objects are how templates carry
 * state out), and so do macros, call blocks, with blocks and block sets; `if` does not. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/jinja_internal.h"

struct jj_frame {
    jj_frame *parent;
    uint32_t n, cap;
    const char **names; /* interned, so compared by pointer */
    jv *vals;
    int captured;       /* a macro keeps a pointer to it: a loop must not reuse it */
};

enum { FLOW_NORMAL, FLOW_BREAK, FLOW_CONTINUE };

/* ================================================================================ errors */

void jj_fail_st(jj_render *r, r1c_status st, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r1c_error(st, "%s:%d: %s", r->t->name, r->line, msg);
    r->arena.fail_status = st;
    longjmp(r->jb, 1);
}

void jj_fail(jj_render *r, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    jj_fail_st(r, R1C_ERR_FORMAT, "%s", msg);
}

/* Every node evaluated and every bulk operation costs fuel; a template that loops without
 * end runs out of it and fails instead of hanging. */
void jj_spend(jj_render *r, uint64_t steps) {
    if (steps > (uint64_t)r->fuel) {
        r->fuel = 0;
        jj_fail(r, "template takes too many steps to render (more than %d)", JJ_MAX_FUEL);
    }
    r->fuel -= (int64_t)steps;
}

static void enter(jj_render *r, const jj_node *n) {
    if (++r->depth > JJ_MAX_EVAL_DEPTH) jj_fail(r, "recursion too deep while rendering");
    if (--r->fuel < 0) {
        r->fuel = 0;
        jj_fail(r, "template takes too many steps to render (more than %d)", JJ_MAX_FUEL);
    }
    r->line = n->line;
}

/* ================================================================================ frames */

static jj_frame *frame_new(jj_render *r, jj_frame *parent) {
    jj_frame *f = jj_alloc(&r->arena, sizeof *f);
    memset(f, 0, sizeof *f);
    f->parent = parent;
    return f;
}

static void frame_set(jj_render *r, jj_frame *f, const char *name, jv v) {
    for (uint32_t i = 0; i < f->n; i++)
        if (f->names[i] == name) {
            f->vals[i] = v;
            return;
        }
    if (f->n == f->cap) {
        uint32_t nc = f->cap ? f->cap * 2 : 4;
        f->names = jj_realloc(&r->arena, f->names, f->cap * sizeof(char *), nc * sizeof(char *));
        f->vals = jj_realloc(&r->arena, f->vals, f->cap * sizeof(jv), nc * sizeof(jv));
        f->cap = nc;
    }
    f->names[f->n] = name;
    f->vals[f->n] = v;
    f->n++;
}

static int frame_get(const jj_frame *f, const char *name, jv *out) {
    for (; f; f = f->parent)
        for (uint32_t i = 0; i < f->n; i++)
            if (f->names[i] == name) {
                *out = f->vals[i];
                return 1;
            }
    return 0;
}

static jv lookup_name(jj_render *r, const jj_node *n, jj_frame *f) {
    jv v;
    if (frame_get(f, n->name, &v)) return v;
    int i = jj_dict_find_str(r, r->ctx, n->name, strlen(n->name));
    if (i >= 0) return r->ctx->v[i];
    if (n->fid) {
        jv g = {0};
        g.t = JV_FUNC;
        g.sub = (uint8_t)n->fid;
        return g;
    }
    jv u = jv_undef();
    u.sub = JU_NAME;
    u.u.s = n->name;
    u.n = (uint32_t)strlen(n->name);
    return u;
}

/* ================================================================================ expressions */

static jv eval(jj_render *r, const jj_node *n, jj_frame *f);
static int exec_body(jj_render *r, const jj_nodes *body, jj_frame *f, jj_buf *out);

typedef struct argv_ { jv *args; uint32_t nargs; jv *kwargs; } argv_;

static argv_ eval_args(jj_render *r, const jj_node *n, jj_frame *f) {
    argv_ a;
    a.nargs = n->args.n;
    a.args = a.nargs ? jj_alloc(&r->arena, a.nargs * sizeof(jv)) : NULL;
    for (uint32_t i = 0; i < a.nargs; i++) a.args[i] = eval(r, n->args.v[i], f);
    a.kwargs = n->nkw ? jj_alloc(&r->arena, n->nkw * sizeof(jv)) : NULL;
    for (uint32_t i = 0; i < n->nkw; i++) a.kwargs[i] = eval(r, n->kwargs.v[i], f);
    r->line = n->line;
    return a;
}

static jv call_macro(jj_render *r, const jj_macro *m, const jv *args, uint32_t nargs,
                     const char *const *kwnames, const jv *kwargs, uint32_t nkw, jv caller);

static jv run_loop(jj_render *r, const jj_node *n, jj_frame *f, jj_buf *out, jv iterable, int depth);

jv jj_call_value(jj_render *r, jv callee, const jv *args, uint32_t nargs,
                 const char *const *kwnames, const jv *kwargs, uint32_t nkw) {
    switch (callee.t) {
    case JV_MACRO: return call_macro(r, callee.u.m, args, nargs, kwnames, kwargs, nkw, jv_undef());
    case JV_FUNC: return jj_call_global(r, callee.sub, args, nargs, kwnames, kwargs, nkw);
    case JV_METHOD:
        return jj_call_method(r, callee.u.bm->self, callee.u.bm->name, args, nargs, kwnames, kwargs, nkw);
    case JV_LOOP: { /* loop(children) in a recursive loop renders the body again */
        if (nargs != 1 || nkw) jj_fail(r, "loop() takes exactly one argument");
        const jj_loop *L = callee.u.loop;
        if (!L->node->op) jj_fail(r, "loop() can only be called in a loop marked 'recursive'");
        jj_buf b;
        jj_buf_init(&b, &r->arena, JJ_MAX_OUTPUT);
        run_loop(r, L->node, L->frame, &b, args[0], L->depth + 1);
        return jj_buf_str(&b);
    }
    case JV_JOINER: {
        jj_cycler *c = callee.u.cy;
        if (!c->used) {
            c->used = 1;
            return jv_str("", 0);
        }
        return c->sep;
    }
    case JV_UNDEF: jj_undefined_error(r, callee);
    default: jj_fail(r, "'%s' object is not callable", jj_type_name(callee));
    }
}

/* obj.name(...): a method of str, dict, list or loop, or a callable stored in a dict. */
static jv eval_method_call(jj_render *r, const jj_node *n, jj_frame *f) {
    const jj_node *ga = n->a;
    jv obj = eval(r, ga->a, f);
    argv_ a = eval_args(r, n, f);
    if (obj.t == JV_UNDEF) jj_undefined_error(r, obj);
    if (jj_has_method(obj, ga->name))
        return jj_call_method(r, obj, ga->name, a.args, a.nargs, n->kwnames, a.kwargs, n->nkw);
    jv callee = jj_getattr(r, obj, ga->name, strlen(ga->name));
    if (callee.t == JV_UNDEF) {
        if (obj.t == JV_LIST || obj.t == JV_TUPLE || obj.t == JV_STR || obj.t == JV_DICT)
            jj_fail(r, "'%s object' has no attribute '%s'", jj_type_name(obj), ga->name);
        jj_undefined_error(r, callee);
    }
    return jj_call_value(r, callee, a.args, a.nargs, n->kwnames, a.kwargs, n->nkw);
}

static jv eval_call(jj_render *r, const jj_node *n, jj_frame *f) {
    if (n->a->kind == N_GETATTR) return eval_method_call(r, n, f);
    jv callee = eval(r, n->a, f);
    argv_ a = eval_args(r, n, f);
    return jj_call_value(r, callee, a.args, a.nargs, n->kwnames, a.kwargs, n->nkw);
}

static jv eval_filter(jj_render *r, const jj_node *n, jj_frame *f, jv x) {
    argv_ a = eval_args(r, n, f);
    return jj_apply_filter(r, n->fid, x, a.args, a.nargs, n->kwnames, a.kwargs, n->nkw);
}

static jv eval_unary(jj_render *r, const jj_node *n, jv x) {
    if (x.t == JV_UNDEF) jj_undefined_error(r, x);
    if (x.t == JV_FLOAT) return jv_float(n->op == OP_NEG ? -x.u.f : x.u.f);
    if (x.t == JV_INT || x.t == JV_BOOL) {
        if (n->op == OP_POS) return jv_int(x.u.i);
        if (x.u.i == INT64_MIN) jj_fail_st(r, R1C_ERR_UNSUPPORTED, "integer overflow");
        return jv_int(-x.u.i);
    }
    jj_fail(r, "bad operand type for unary %c: '%s'", n->op == OP_NEG ? '-' : '+', jj_type_name(x));
}

static int compare_op(jj_render *r, int op, jv a, jv b) {
    switch (op) {
    case OP_EQ: return jj_equal(r, a, b);
    case OP_NE: return !jj_equal(r, a, b);
    case OP_LT: return jj_compare(r, a, b) < 0;
    case OP_LE: return jj_compare(r, a, b) <= 0;
    case OP_GT: return jj_compare(r, a, b) > 0;
    case OP_GE: return jj_compare(r, a, b) >= 0;
    case OP_IN: return jj_contains(r, b, a);
    default: return !jj_contains(r, b, a); /* OP_NOTIN */
    }
}

/* a < b < c means a < b and b < c, each operand evaluated once (Python). */
static jv eval_compare(jj_render *r, const jj_node *n, jj_frame *f) {
    jv left = eval(r, n->a, f);
    for (uint32_t i = 0; i < n->args.n; i++) {
        jv right = eval(r, n->args.v[i], f);
        r->line = n->line;
        if (!compare_op(r, n->cmpops[i], left, right)) return jv_bool(0);
        left = right;
    }
    return jv_bool(1);
}

static jv eval_seq(jj_render *r, const jj_node *n, jj_frame *f, int tuple) {
    jj_list *l = jj_list_new(r, n->args.n);
    for (uint32_t i = 0; i < n->args.n; i++) l->v[i] = eval(r, n->args.v[i], f);
    jv v = {0};
    v.t = tuple ? JV_TUPLE : JV_LIST;
    v.u.l = l;
    return v;
}

static jv eval_dict(jj_render *r, const jj_node *n, jj_frame *f) {
    jj_dict *d = jj_dict_new(r, n->args.n);
    for (uint32_t i = 0; i < n->args.n; i++) {
        jv k = eval(r, n->args.v[i], f);
        jv v = eval(r, n->kwargs.v[i], f);
        if (k.t == JV_LIST || k.t == JV_DICT || k.t == JV_NS) jj_fail(r, "unhashable type: '%s'", jj_type_name(k));
        jj_dict_set(r, d, k, v);
    }
    jv out = {0};
    out.t = JV_DICT;
    out.u.d = d;
    return out;
}

static jv eval_concat(jj_render *r, const jj_node *n, jj_frame *f) {
    jj_buf b;
    jj_buf_init(&b, &r->arena, JJ_MAX_OUTPUT);
    for (uint32_t i = 0; i < n->args.n; i++) jj_write_str(r, &b, eval(r, n->args.v[i], f));
    return jj_buf_str(&b);
}

static jv eval(jj_render *r, const jj_node *n, jj_frame *f) {
    enter(r, n);
    jv v, x;
    switch (n->kind) {
    case N_CONST: v = n->val; break;
    case N_NAME: v = lookup_name(r, n, f); break;
    case N_LIST: v = eval_seq(r, n, f, 0); break;
    case N_TUPLE: v = eval_seq(r, n, f, 1); break;
    case N_DICT: v = eval_dict(r, n, f); break;
    case N_GETATTR:
        x = eval(r, n->a, f);
        r->line = n->line;
        v = jj_getattr(r, x, n->name, strlen(n->name));
        break;
    case N_GETITEM: {
        x = eval(r, n->a, f);
        jv key = eval(r, n->b, f);
        r->line = n->line;
        v = jj_getitem(r, x, key);
        break;
    }
    case N_SLICE: {
        x = eval(r, n->a, f);
        jv start = n->b ? eval(r, n->b, f) : jv_none();
        jv stop = n->c ? eval(r, n->c, f) : jv_none();
        jv step = n->d ? eval(r, n->d, f) : jv_none();
        r->line = n->line;
        v = jj_slice(r, x, start, stop, step);
        break;
    }
    case N_CALL: v = eval_call(r, n, f); break;
    case N_FILTER: v = eval_filter(r, n, f, eval(r, n->a, f)); break;
    case N_TEST: {
        x = eval(r, n->a, f);
        argv_ a = eval_args(r, n, f);
        int res = jj_apply_test(r, n->fid, x, a.args, a.nargs);
        v = jv_bool(n->op ? !res : res);
        break;
    }
    case N_UNARY: v = eval_unary(r, n, eval(r, n->a, f)); break;
    case N_BINARY: {
        x = eval(r, n->a, f);
        jv y = eval(r, n->b, f);
        r->line = n->line;
        v = jj_binary(r, n->op, x, y);
        break;
    }
    case N_COMPARE: v = eval_compare(r, n, f); break;
    case N_AND: x = eval(r, n->a, f); v = jj_truthy(x) ? eval(r, n->b, f) : x; break;
    case N_OR: x = eval(r, n->a, f); v = jj_truthy(x) ? x : eval(r, n->b, f); break;
    case N_NOT: v = jv_bool(!jj_truthy(eval(r, n->a, f))); break;
    case N_COND:
        if (jj_truthy(eval(r, n->b, f))) v = eval(r, n->a, f);
        else v = n->c ? eval(r, n->c, f) : jv_undef();
        break;
    case N_CONCAT: v = eval_concat(r, n, f); break;
    default: jj_fail(r, "statement used as an expression");
    }
    r->depth--;
    return v;
}

/* ================================================================================ statements */

/* a = v, or a, b = v (v must have exactly as many items) */
static void assign_targets(jj_render *r, const jj_node *n, jj_frame *f, jv v) {
    if (!n->tuple_target) {
        frame_set(r, f, n->kwnames[0], v);
        return;
    }
    jj_list *items = jj_iter_list(r, v);
    if (items->n != n->nkw) {
        if (items->n > n->nkw) jj_fail(r, "too many values to unpack (expected %u)", n->nkw);
        jj_fail(r, "not enough values to unpack (expected %u, got %u)", n->nkw, items->n);
    }
    for (uint32_t i = 0; i < n->nkw; i++) frame_set(r, f, n->kwnames[i], items->v[i]);
}

static jv apply_filter_chain(jj_render *r, const jj_nodes *chain, jj_frame *f, jv x) {
    for (uint32_t i = 0; i < chain->n; i++) x = eval_filter(r, chain->v[i], f, x);
    return x;
}

/* Renders a body into a string of its own (block set, macro, filter block). */
static jv capture(jj_render *r, const jj_nodes *body, jj_frame *f) {
    jj_buf b;
    jj_buf_init(&b, &r->arena, JJ_MAX_OUTPUT);
    exec_body(r, body, f, &b);
    return jj_buf_str(&b);
}

static void set_namespace_attr(jj_render *r, const jj_node *n, jj_frame *f, jv v) {
    jv ns = lookup_name(r, n->a, f);
    if (ns.t != JV_NS) jj_fail(r, "cannot assign attribute on non-namespace object");
    jj_dict_set(r, ns.u.d, jv_str(n->name, strlen(n->name)), v);
}

static jv run_loop(jj_render *r, const jj_node *n, jj_frame *f, jj_buf *out, jv iterable, int depth) {
    jj_list *items = jj_iter_list(r, iterable);
    jj_frame *itf = frame_new(r, f);
    if (n->b) { /* for x in xs if cond: the condition sees the loop target, not `loop` */
        jj_vec kept = {0};
        for (uint32_t i = 0; i < items->n; i++) {
            jj_spend(r, 1);
            itf->n = 0;
            assign_targets(r, n, itf, items->v[i]);
            if (jj_truthy(eval(r, n->b, itf))) jj_vec_push(r, &kept, items->v[i]);
        }
        items = jj_vec_list(r, &kept, 0).u.l;
    }
    jj_loop *L = jj_alloc(&r->arena, sizeof *L);
    memset(L, 0, sizeof *L);
    L->items = items;
    L->depth = depth;
    L->node = n;
    L->frame = f;
    jv loopv = {0};
    loopv.t = JV_LOOP;
    loopv.u.loop = L;
    for (uint32_t i = 0; i < items->n; i++) {
        jj_spend(r, 1); /* an empty body must cost something too */
        L->idx = i;
        if (itf->captured) itf = frame_new(r, f);
        itf->n = 0; /* each iteration starts with a fresh scope */
        assign_targets(r, n, itf, items->v[i]);
        frame_set(r, itf, r->t->n_loop, loopv);
        if (exec_body(r, &n->body, itf, out) == FLOW_BREAK) break;
    }
    if (items->n == 0) exec_body(r, &n->orelse, f, out);
    return jv_none();
}

static jv make_macro(jj_render *r, const jj_node *n, jj_frame *f) {
    jj_macro *m = jj_alloc(&r->arena, sizeof *m);
    m->node = n;
    m->closure = f;
    for (jj_frame *p = f; p; p = p->parent) p->captured = 1;
    jv v = {0};
    v.t = JV_MACRO;
    v.u.m = m;
    return v;
}

/* Binds arguments like jinja2: positional, then by name, then defaults (evaluated in the
 * macro's scope, so they may use earlier parameters); a missing one is undefined; extra ones
 * land in varargs / kwargs. */
static jv call_macro(jj_render *r, const jj_macro *m, const jv *args, uint32_t nargs,
                     const char *const *kwnames, const jv *kwargs, uint32_t nkw, jv caller) {
    const jj_node *def = m->node;
    jj_frame *f = frame_new(r, m->closure);
    uint8_t *used = nkw ? jj_alloc(&r->arena, nkw) : NULL;
    if (used) memset(used, 0, nkw);
    for (uint32_t i = 0; i < def->nkw; i++) {
        const char *pname = def->kwnames[i];
        jv v;
        int have = 0;
        if (i < nargs) {
            v = args[i];
            have = 1;
        }
        for (uint32_t k = 0; k < nkw; k++)
            if (strcmp(kwnames[k], pname) == 0) {
                if (have) jj_fail(r, "macro got multiple values for argument '%s'", pname);
                v = kwargs[k];
                used[k] = 1;
                have = 1;
            }
        if (!have) {
            const jj_node *d = i < def->args.n ? def->args.v[i] : NULL;
            if (d) {
                v = eval(r, d, f);
            } else {
                v = jv_undef();
                v.sub = JU_NAME;
                v.u.s = pname;
                v.n = (uint32_t)strlen(pname);
            }
        }
        frame_set(r, f, pname, v);
    }
    jj_vec extra = {0};
    for (uint32_t i = def->nkw; i < nargs; i++) jj_vec_push(r, &extra, args[i]);
    frame_set(r, f, r->t->n_varargs, jj_vec_list(r, &extra, 1));
    jj_dict *kw = jj_dict_new(r, 0);
    for (uint32_t k = 0; k < nkw; k++)
        if (!used[k]) jj_dict_set(r, kw, jv_str(kwnames[k], strlen(kwnames[k])), kwargs[k]);
    jv kwv = {0};
    kwv.t = JV_DICT;
    kwv.u.d = kw;
    frame_set(r, f, r->t->n_kwargs, kwv);
    if (caller.t != JV_UNDEF) frame_set(r, f, r->t->n_caller, caller);
    return capture(r, &def->body, f);
}

static void exec_call_block(jj_render *r, const jj_node *n, jj_frame *f, jj_buf *out) {
    const jj_node *call = n->a;
    jv caller = make_macro(r, n, f);
    jv callee = eval(r, call->a, f);
    argv_ a = eval_args(r, call, f);
    if (callee.t != JV_MACRO) jj_fail(r, "a call block needs a macro to call");
    jv s = call_macro(r, callee.u.m, a.args, a.nargs, call->kwnames, a.kwargs, call->nkw, caller);
    jj_buf_put(out, s.u.s, s.n);
}

static int exec(jj_render *r, const jj_node *n, jj_frame *f, jj_buf *out) {
    enter(r, n);
    int flow = FLOW_NORMAL;
    jv v;
    switch (n->kind) {
    case N_TEXT: jj_buf_put(out, n->val.u.s, n->val.n); break;
    case N_PRINT: jj_write_str(r, out, eval(r, n->a, f)); break;
    case N_IF:
        if (jj_truthy(eval(r, n->a, f))) flow = exec_body(r, &n->body, f, out);
        else flow = exec_body(r, &n->orelse, f, out);
        break;
    case N_FOR: run_loop(r, n, f, out, eval(r, n->a, f), 1); break;
    case N_SET: assign_targets(r, n, f, eval(r, n->a, f)); break;
    case N_SET_NS: set_namespace_attr(r, n, f, eval(r, n->b, f)); break;
    case N_SET_BLOCK:
        v = apply_filter_chain(r, &n->args, f, capture(r, &n->body, frame_new(r, f)));
        if (n->a) set_namespace_attr(r, n, f, v);
        else frame_set(r, f, n->kwnames[0], v);
        break;
    case N_MACRO: frame_set(r, f, n->name, make_macro(r, n, f)); break;
    case N_CALL_BLOCK: exec_call_block(r, n, f, out); break;
    case N_FILTER_BLOCK:
        jj_write_str(r, out, apply_filter_chain(r, &n->args, f, capture(r, &n->body, frame_new(r, f))));
        break;
    case N_BREAK: flow = FLOW_BREAK; break;
    case N_CONTINUE: flow = FLOW_CONTINUE; break;
    case N_WITH: {
        jj_frame *wf = frame_new(r, f);
        jv *vals = n->nkw ? jj_alloc(&r->arena, n->nkw * sizeof(jv)) : NULL;
        for (uint32_t i = 0; i < n->nkw; i++) vals[i] = eval(r, n->args.v[i], f);
        for (uint32_t i = 0; i < n->nkw; i++) frame_set(r, wf, n->kwnames[i], vals[i]);
        flow = exec_body(r, &n->body, wf, out);
        break;
    }
    case N_BODY: flow = exec_body(r, &n->body, frame_new(r, f), out); break;
    default: jj_fail(r, "expression used as a statement");
    }
    r->depth--;
    return flow;
}

static int exec_body(jj_render *r, const jj_nodes *body, jj_frame *f, jj_buf *out) {
    for (uint32_t i = 0; i < body->n; i++) {
        int flow = exec(r, body->v[i], f, out);
        if (flow != FLOW_NORMAL) return flow;
    }
    return FLOW_NORMAL;
}

/* ================================================================================ entry */

r1c_status r1c_jinja_render(const r1c_jinja *t, const cJSON *ctx, char **out, size_t *out_len) {
    if (out) *out = NULL;
    if (out_len) *out_len = 0;
    if (!t || !out) return r1c_error(R1C_ERR_INVALID_ARG, "jinja: NULL argument");
    if (ctx && !cJSON_IsObject(ctx))
        return r1c_error(R1C_ERR_INVALID_ARG, "%s: the context must be a JSON object", t->name);
    jj_render *r = calloc(1, sizeof *r);
    if (!r) return r1c_error(R1C_ERR_NOMEM, "%s: out of memory", t->name);
    r->t = t;
    r->fuel = JJ_MAX_FUEL;
    jj_arena_init(&r->arena, JJ_MAX_MEMORY);
    r->arena.jb = &r->jb;
    r->arena.name = t->name;
    r->arena.line = &r->line;
    if (setjmp(r->jb)) {
        r1c_status st = r->arena.fail_status ? r->arena.fail_status : R1C_ERR_FORMAT;
        jj_arena_free(&r->arena);
        free(r);
        return st;
    }
    r->ctx = jj_dict_new(r, 0);
    if (ctx) {
        for (const cJSON *c = ctx->child; c; c = c->next) {
            const char *k = c->string ? c->string : "";
            jj_dict_set(r, r->ctx, jv_str(k, strlen(k)), jj_from_cjson(r, c, 1));
        }
    }
    r->root = frame_new(r, NULL);
    jj_buf b;
    jj_buf_init(&b, &r->arena, JJ_MAX_OUTPUT);
    exec_body(r, &t->root->body, r->root, &b);
    char *s = malloc(b.n + 1);
    if (!s) {
        jj_arena_free(&r->arena);
        free(r);
        return r1c_error(R1C_ERR_NOMEM, "%s: out of memory", t->name);
    }
    if (b.n) memcpy(s, b.p, b.n);
    s[b.n] = 0;
    *out = s;
    if (out_len) *out_len = b.n;
    jj_arena_free(&r->arena);
    free(r);
    return R1C_OK;
}
