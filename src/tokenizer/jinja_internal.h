/* jinja_internal.h — what the Jinja lexer, parser, evaluator and builtins share.
 *
 * Memory: a compiled template lives in one arena (tokens, AST, interned names); each render
 * gets its own arena for every value it makes, freed in one go when the render ends. Values are
 * immutable (the sandbox forbids mutating lists and dicts; only namespace() objects change), so
 * they can share storage freely: a slice of a string points into the original.
 *
 * Errors: the parser and the evaluator report an error by longjmp back to the entry point,
 * which then frees the arena. Because every allocation lives in the arena, nothing leaks on
 * that path and no function in between needs cleanup code.
 */
#ifndef R1C_TOKENIZER_JINJA_INTERNAL_H
#define R1C_TOKENIZER_JINJA_INTERNAL_H

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/error.h"
#include "tokenizer/jinja.h"

#if defined(__GNUC__)
#define JJ_NORETURN __attribute__((noreturn))
#else
#define JJ_NORETURN
#endif

/* ------------------------------------------------------------------------------- limits */

#define JJ_MAX_DEPTH 200           /* nesting of expressions and blocks in the source */
#define JJ_MAX_EVAL_DEPTH 600      /* recursion while rendering (macro calls add up) */
#define JJ_MAX_OUTPUT (64u << 20)  /* bytes of rendered text (and of any captured block) */
#define JJ_MAX_MEMORY (384u << 20) /* bytes one render (or one compile) may allocate */
#define JJ_MAX_FUEL 20000000       /* evaluation steps per render: ends runaway loops */
#define JJ_MAX_RANGE 100000        /* jinja2's sandbox refuses larger range() */

/* ------------------------------------------------------------------------------- arena */

typedef struct jj_arena {
    struct jj_chunk *chunks; /* small allocations, bump-allocated */
    struct jj_big *bigs;     /* large allocations, one malloc each (so they can grow) */
    size_t used, cap;        /* bytes handed out so far; the cap makes a render fail cleanly */
    jmp_buf *jb;             /* where to jump when the cap is hit or malloc fails */
    const char *name;        /* template name and current line, for the message */
    const int *line;
    r1c_status fail_status;  /* the status of the error that made the last jump */
} jj_arena;

void jj_arena_init(jj_arena *a, size_t cap);
void jj_arena_free(jj_arena *a);
void *jj_alloc(jj_arena *a, size_t n);                    /* never NULL (jumps instead) */
void *jj_realloc(jj_arena *a, void *p, size_t old, size_t n); /* p from jj_alloc */
char *jj_strdup(jj_arena *a, const char *s, size_t n);    /* NUL-terminated copy */

/* ------------------------------------------------------------------------------- values */

typedef enum {
    JV_UNDEF, JV_NONE, JV_BOOL, JV_INT, JV_FLOAT, JV_STR,
    JV_LIST, JV_TUPLE, JV_DICT, JV_NS,          /* containers (NS: namespace(), mutable) */
    JV_MACRO, JV_LOOP, JV_FUNC, JV_CYCLER, JV_JOINER, JV_METHOD,
} jv_type;

/* Why a value is undefined: the message differs ("'x' is undefined" vs "no attribute"). */
enum { JU_NAME, JU_ATTR, JU_ITEM, JU_OTHER };

typedef struct jv {
    uint8_t t;    /* jv_type */
    uint8_t sub;  /* JV_UNDEF: JU_*; JV_FUNC/JV_METHOD: which one */
    uint8_t objt; /* JV_UNDEF from an attribute: the type of the object */
    uint32_t n;   /* JV_STR: length in bytes; JV_UNDEF: length of the name */
    union {
        int64_t i;  /* JV_INT, JV_BOOL (0/1) */
        double f;   /* JV_FLOAT */
        const char *s; /* JV_STR bytes (not NUL-terminated); JV_UNDEF: the missing name */
        struct jj_list *l;
        struct jj_dict *d;
        struct jj_macro *m;
        struct jj_loop *loop;
        struct jj_cycler *cy;
        struct jj_bound *bm;
    } u;
} jv;

typedef struct jj_list { uint32_t n; jv *v; } jj_list;               /* also tuples */
typedef struct jj_dict { uint32_t n, cap; jv *k; jv *v; } jj_dict;   /* insertion order */
typedef struct jj_cycler { jj_list *items; uint32_t pos; int used; jv sep; } jj_cycler;
typedef struct jj_bound { jv self; const char *name; } jj_bound; /* obj.method (not called) */
struct jj_node;
struct jj_frame;
/* A macro (or the body of a call block, which is what `caller` is), with the frame it was
 * defined in: names it does not bind itself resolve there. */
typedef struct jj_macro { const struct jj_node *node; struct jj_frame *closure; } jj_macro;
/* The `loop` variable of a for loop. */
typedef struct jj_loop {
    jj_list *items;
    int64_t idx;                /* index0 */
    int depth;                  /* 1 for the outermost call of a recursive loop */
    jv changed_last;            /* loop.changed() remembers its previous arguments */
    int changed_used;
    const struct jj_node *node; /* the for statement (loop(...) reruns it) */
    struct jj_frame *frame;     /* the frame the loop runs in */
} jj_loop;

static inline jv jv_undef(void) { jv v = {0}; v.t = JV_UNDEF; v.sub = JU_OTHER; return v; }
static inline jv jv_none(void) { jv v = {0}; v.t = JV_NONE; return v; }
static inline jv jv_bool(int b) { jv v = {0}; v.t = JV_BOOL; v.u.i = b != 0; return v; }
static inline jv jv_int(int64_t i) { jv v = {0}; v.t = JV_INT; v.u.i = i; return v; }
static inline jv jv_float(double f) { jv v = {0}; v.t = JV_FLOAT; v.u.f = f; return v; }
static inline jv jv_str(const char *s, size_t n) {
    jv v = {0}; v.t = JV_STR; v.u.s = s; v.n = (uint32_t)n; return v;
}
static inline int jv_is_num(jv v) { return v.t == JV_INT || v.t == JV_FLOAT || v.t == JV_BOOL; }
static inline int jv_is_seq(jv v) { return v.t == JV_LIST || v.t == JV_TUPLE; }
static inline int jv_is_map(jv v) { return v.t == JV_DICT || v.t == JV_NS; }

/* A growable string: rendered output, captured blocks, filter results. */
typedef struct jj_buf { char *p; size_t n, cap; jj_arena *a; size_t max; } jj_buf;
void jj_buf_init(jj_buf *b, jj_arena *a, size_t max);
void jj_buf_put(jj_buf *b, const char *s, size_t n);
static inline void jj_buf_puts(jj_buf *b, const char *s);
void jj_buf_printf(jj_buf *b, const char *fmt, ...) R1C_PRINTF(2, 3);
jv jj_buf_str(jj_buf *b); /* the contents as a string value (shares the buffer) */

/* A growable list under construction. */
typedef struct jj_vec { jv *v; uint32_t n, cap; } jj_vec;

/* ------------------------------------------------------------------------------- tokens */

typedef enum {
    TK_EOF, TK_DATA, TK_VAR_BEGIN, TK_VAR_END, TK_BLOCK_BEGIN, TK_BLOCK_END,
    TK_NAME, TK_STRING, TK_INT, TK_FLOAT, TK_OP,
} jj_tok_type;

typedef enum {
    OP_ADD = 1, OP_SUB, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW, OP_TILDE,
    OP_LBRACKET, OP_RBRACKET, OP_LPAREN, OP_RPAREN, OP_LBRACE, OP_RBRACE,
    OP_EQ, OP_NE, OP_GT, OP_GE, OP_LT, OP_LE, OP_ASSIGN, OP_DOT, OP_COLON, OP_PIPE,
    OP_COMMA, OP_SEMICOLON,
    /* only in the AST: */
    OP_IN, OP_NOTIN, OP_NEG, OP_POS,
} jj_op;

typedef struct jj_tok {
    uint8_t type; /* jj_tok_type */
    uint8_t op;   /* TK_OP: jj_op */
    int line;
    const char *s; /* TK_DATA, TK_NAME (interned), TK_STRING (decoded) */
    size_t n;
    int64_t i;     /* TK_INT */
    double f;      /* TK_FLOAT */
} jj_tok;

/* Names are interned, so the evaluator compares variable names by pointer. */
typedef struct jj_intern { const char **slots; size_t cap, n; jj_arena *a; } jj_intern;
const char *jj_intern_name(jj_intern *in, const char *s, size_t n);

/* Turns source text into tokens (jinja2's lexer with trim_blocks, lstrip_blocks and
 * keep_trailing_newline=False). Jumps to *jb on error after setting the message. */
typedef struct jj_lexed { jj_tok *toks; size_t n; } jj_lexed;
jj_lexed jj_lex(jj_arena *a, jmp_buf *jb, const char *name, const char *src, size_t len,
                jj_intern *names);


/* ------------------------------------------------------------------------------- AST */

typedef enum {
    /* expressions */
    N_CONST, N_NAME, N_LIST, N_TUPLE, N_DICT, N_GETATTR, N_GETITEM, N_SLICE, N_CALL,
    N_FILTER, N_TEST, N_UNARY, N_BINARY, N_COMPARE, N_AND, N_OR, N_NOT, N_COND, N_CONCAT,
    /* statements */
    N_TEXT, N_PRINT, N_IF, N_FOR, N_SET, N_SET_NS, N_SET_BLOCK, N_MACRO, N_CALL_BLOCK,
    N_FILTER_BLOCK, N_BREAK, N_CONTINUE, N_WITH, N_BODY,
} jj_node_kind;

typedef struct jj_node jj_node;
typedef struct jj_nodes { jj_node **v; uint32_t n; } jj_nodes;

/* One node type for everything; the comment by each field says which kinds use it. */
struct jj_node {
    uint8_t kind;  /* jj_node_kind */
    uint8_t op;    /* N_UNARY/N_BINARY: jj_op; N_TEST: negated; N_FOR: recursive */
    uint16_t fid;  /* N_FILTER/N_TEST: builtin id; N_NAME: global function id (0: none) */
    int line;
    jv val;        /* N_CONST */
    const char *name; /* N_NAME, N_GETATTR, N_FILTER, N_TEST, N_SET_NS attr, N_MACRO name (interned) */
    jj_node *a, *b, *c;  /* operands: N_GETATTR/N_GETITEM/N_SLICE obj=a key=b (slice a[b:c:d]);
                          * N_COND: a if b else c; N_IF: cond=a; N_FOR: iter=a filter=b;
                          * N_SET: value=a; N_CALL: callee=a; N_FILTER/N_TEST: obj=a;
                          * N_SET_NS: ns=a value=b; N_CALL_BLOCK: call=a */
    jj_node *d;          /* N_SLICE: step */
    jj_nodes args;       /* call/filter/test args; list/tuple items; dict keys; N_COMPARE operands;
                          * N_CONCAT parts; N_MACRO defaults (NULL where none); N_SET_BLOCK/
                          * N_FILTER_BLOCK: filters (each an N_FILTER with a == NULL) */
    jj_nodes kwargs;     /* keyword argument values; N_DICT values */
    const char **kwnames;/* keyword names; N_MACRO/N_CALL_BLOCK parameter names;
                          * N_FOR/N_SET/N_SET_BLOCK targets; N_WITH names */
    uint32_t nkw;        /* number of kwnames */
    uint8_t *cmpops;     /* N_COMPARE: one jj_op per operand */
    uint8_t tuple_target;/* N_FOR/N_SET: the target was written as a tuple */
    jj_nodes body;       /* statements */
    jj_nodes orelse;     /* N_IF else / elif chain, N_FOR else */
};

struct r1c_jinja {
    jj_arena arena;
    char *name;
    jj_node *root;             /* N_BODY */
    jj_intern names;
    const char *n_loop, *n_caller, *n_varargs, *n_kwargs; /* interned special names */
};

/* ------------------------------------------------------------------------------- builtins */

/* Filters and tests are resolved when the template compiles (unknown ones are an error there,
 * as in jinja2); ids start at 1. */
int jj_filter_id(const char *name);
int jj_test_id(const char *name);
int jj_global_id(const char *name);
enum { JG_RANGE = 1, JG_NAMESPACE, JG_DICT, JG_RAISE, JG_STRFTIME, JG_CYCLER, JG_JOINER,
       JG_LIPSUM, JG_LOOP_CALL, JG_CALLER_MACRO };

/* ------------------------------------------------------------------------------- render */

typedef struct jj_frame jj_frame;

typedef struct jj_render {
    const r1c_jinja *t;
    jj_arena arena;
    jmp_buf jb;
    r1c_status fail_status;
    int line;              /* line of the node being evaluated (for messages) */
    int64_t fuel;
    int depth;
    jj_dict *ctx;          /* the context variables */
    jj_frame *root;
} jj_render;

JJ_NORETURN void jj_fail(jj_render *r, const char *fmt, ...) R1C_PRINTF(2, 3);
JJ_NORETURN void jj_fail_st(jj_render *r, r1c_status st, const char *fmt, ...) R1C_PRINTF(3, 4);
void jj_spend(jj_render *r, uint64_t steps);

/* value helpers (jinja_value.c) */
const char *jj_type_name(jv v);           /* Python's: "str", "int", "list", "dict", ... */
int jj_truthy(jv v);
int jj_equal(jj_render *r, jv a, jv b);
int jj_compare(jj_render *r, jv a, jv b); /* <0, 0, >0; TypeError where Python has one */
void jj_write_str(jj_render *r, jj_buf *b, jv v);   /* str(v) */
void jj_write_repr(jj_render *r, jj_buf *b, jv v);  /* repr(v) */
jv jj_to_str(jj_render *r, jv v);
void jj_write_json(jj_render *r, jj_buf *b, jv v, const char *indent, int level,
                   const char *item_sep, const char *key_sep, int sort_keys, int ensure_ascii);
jv jj_from_cjson(jj_render *r, const cJSON *j, int depth);
void jj_write_float(jj_buf *b, double f); /* Python repr of a float */
jj_list *jj_list_new(jj_render *r, uint32_t n);
void jj_vec_push(jj_render *r, jj_vec *v, jv x);
jv jj_vec_list(jj_render *r, jj_vec *v, int tuple);
jj_dict *jj_dict_new(jj_render *r, uint32_t cap);
int jj_dict_find(jj_render *r, const jj_dict *d, jv key);   /* index or -1 */
int jj_dict_find_str(jj_render *r, const jj_dict *d, const char *s, size_t n);
void jj_dict_set(jj_render *r, jj_dict *d, jv key, jv val);
jj_list *jj_iter_list(jj_render *r, jv v);  /* what `for` iterates over */
int64_t jj_length(jj_render *r, jv v);
JJ_NORETURN void jj_undefined_error(jj_render *r, jv u);

/* UTF-8 helpers: Python strings index code points. Invalid bytes count as one each. */
size_t jj_u8_len(const char *s, size_t n);           /* code points */
size_t jj_u8_char(const char *s, size_t n, size_t i, uint32_t *cp); /* bytes of the char at i */
int jj_py_isspace(uint32_t cp);
size_t jj_u8_encode(uint32_t cp, char *out);
uint32_t *jj_u8_offsets(jj_render *r, const char *s, size_t n, size_t *count); /* byte offset of each code point, plus n */

/* builtins (jinja_builtins.c) */
jv jj_apply_filter(jj_render *r, int fid, jv x, const jv *args, uint32_t nargs,
                   const char *const *kwnames, const jv *kwargs, uint32_t nkw);
int jj_apply_test(jj_render *r, int tid, jv x, const jv *args, uint32_t nargs);
jv jj_call_method(jj_render *r, jv self, const char *name, const jv *args, uint32_t nargs,
                  const char *const *kwnames, const jv *kwargs, uint32_t nkw);
int jj_has_method(jv self, const char *name);
jv jj_call_global(jj_render *r, int gid, const jv *args, uint32_t nargs,
                  const char *const *kwnames, const jv *kwargs, uint32_t nkw);
jv jj_getattr(jj_render *r, jv obj, const char *name, size_t n);
jv jj_getitem(jj_render *r, jv obj, jv key);
jv jj_slice(jj_render *r, jv obj, jv start, jv stop, jv step);
jv jj_binary(jj_render *r, int op, jv a, jv b);
int jj_contains(jj_render *r, jv container, jv item);

/* evaluator hook for filters/tests that call back (select('test'), map('filter'), macros) */
jv jj_call_value(jj_render *r, jv callee, const jv *args, uint32_t nargs,
                 const char *const *kwnames, const jv *kwargs, uint32_t nkw);

/* memcpy that allows n == 0 with NULL pointers (empty lists have no storage) */
static inline void jj_copy(void *dst, const void *src, size_t n) {
    if (n) memcpy(dst, src, n);
}

static inline void jj_buf_puts(jj_buf *b, const char *s) {
    size_t n = 0;
    while (s[n]) n++;
    jj_buf_put(b, s, n);
}

#endif
