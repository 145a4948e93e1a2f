/* test_jinja.c — the chat template interpreter (src/tokenizer/jinja*.c).
 *
 * 1. Golden: every conversation of tests/data/tokenizer/{deepseek_v3,qwen3,llama3_1}/chat_*.jsonl
 *    rendered with its template must equal "rendered" byte for byte (made with
 *    @huggingface/jinja 0.5.11, which emulates transformers' jinja2 setup).
 * 2. Features: templates with expected outputs from Python jinja2 3.1.6 in transformers'
 *    configuration (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols,
 *    HF's tojson and raise_exception), including tool-calling conversations through the real
 *    Qwen3 / DeepSeek templates.
 * 3. Errors and limits: syntax and type errors name the template and the line; hostile
 *    templates (deep nesting, huge ranges, endless loops, huge output) fail fast, never crash. */
#include <cjson/cJSON.h>
#include <time.h>

#include "test_util.h"
#include "tokenizer/jinja.h"

#define DATA "tests/data/tokenizer"

/* Renders src with the JSON context text (NULL: {}); returns the status, *out malloc'd. */
static r1c_status render_text(const char *src, size_t len, const char *ctx_json, char **out, size_t *out_len) {
    *out = NULL;
    cJSON *ctx = cJSON_Parse(ctx_json ? ctx_json : "{}");
    if (!ctx) {
        fprintf(stderr, "bad test context: %s\n", ctx_json);
        exit(2);
    }
    r1c_jinja *t;
    r1c_status st = r1c_jinja_compile(src, len, "chat_template", &t);
    if (st == R1C_OK) {
        st = r1c_jinja_render(t, ctx, out, out_len);
        r1c_jinja_free(t);
    }
    cJSON_Delete(ctx);
    return st;
}

/* Prints where got and want first differ, with some context around it. */
static void show_diff(const char *what, const char *got, size_t got_len, const char *want, size_t want_len) {
    size_t i = 0;
    while (i < got_len && i < want_len && got[i] == want[i]) i++;
    size_t from = i > 40 ? i - 40 : 0;
    fprintf(stderr, "  %s: first difference at byte %zu (got %zu bytes, want %zu)\n", what, i, got_len, want_len);
    fprintf(stderr, "    got : ...%.*s...\n", (int)((got_len > from ? got_len - from : 0) < 100 ? (got_len > from ? got_len - from : 0) : 100), got + (from < got_len ? from : got_len));
    fprintf(stderr, "    want: ...%.*s...\n", (int)((want_len - from) < 100 ? want_len - from : 100), want + from);
}

/* ================================================================================ golden */

/* bos_token etc. are plain strings or {"content": ...} objects in tokenizer_config.json */
static void add_token(cJSON *ctx, const cJSON *cfg, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, name);
    if (cJSON_IsObject(v)) v = cJSON_GetObjectItemCaseSensitive(v, "content");
    if (cJSON_IsString(v)) cJSON_AddStringToObject(ctx, name, v->valuestring);
    else cJSON_AddNullToObject(ctx, name);
}

static char *template_source(const char *folder, const cJSON *cfg, const char *name) {
    if (!strcmp(name, "default")) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(cfg, "chat_template");
        return cJSON_IsString(t) ? strdup(t->valuestring) : NULL;
    }
    char path[512];
    snprintf(path, sizeof path, DATA "/deepseek_v3/templates/%s.jinja", name);
    (void)folder;
    size_t n;
    char *text = read_file(path, &n), *z = text ? realloc(text, n + 1) : NULL;
    if (!z) {
        free(text);
        return NULL;
    }
    z[n] = 0; /* read_file does not terminate */
    return z;
}

static cJSON *load_config(const char *folder) {
    char path[512];
    snprintf(path, sizeof path, DATA "/%s/tokenizer_config.json", folder);
    size_t n;
    char *text = read_file(path, &n);
    cJSON *cfg = text ? cJSON_ParseWithLength(text, n) : NULL;
    free(text);
    return cfg;
}

/* The context apply_chat_template builds: messages, add_generation_prompt, the special tokens
 * and any extra keyword arguments (the "kwargs" field, e.g. enable_thinking). */
static cJSON *chat_context(const cJSON *cfg, const cJSON *line) {
    cJSON *ctx = cJSON_CreateObject();
    cJSON_AddItemToObject(ctx, "messages", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(line, "messages"), 1));
    cJSON_AddItemToObject(ctx, "add_generation_prompt",
                          cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(line, "add_generation_prompt"), 1));
    add_token(ctx, cfg, "bos_token");
    add_token(ctx, cfg, "eos_token");
    add_token(ctx, cfg, "pad_token");
    const cJSON *kw = cJSON_GetObjectItemCaseSensitive(line, "kwargs");
    for (const cJSON *k = kw ? kw->child : NULL; k; k = k->next)
        cJSON_AddItemToObject(ctx, k->string, cJSON_Duplicate(k, 1));
    static const char *const extra[] = {"tools", "documents", "enable_thinking", "date_string"};
    for (size_t i = 0; i < sizeof extra / sizeof *extra; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(line, extra[i]);
        if (v) cJSON_AddItemToObject(ctx, extra[i], cJSON_Duplicate(v, 1));
    }
    return ctx;
}

static int golden_folder(const char *folder) {
    cJSON *cfg = load_config(folder);
    CHECK(cfg != NULL, "%s: tokenizer_config.json unreadable", folder);
    if (!cfg) return 0;
    char path[512];
    snprintf(path, sizeof path, DATA "/%s/chat_%s.jsonl", folder, folder);
    size_t n;
    char *text = read_file(path, &n);
    CHECK(text != NULL, "%s unreadable", path);
    int count = 0;
    for (char *p = text, *nl; text && p < text + n; p = nl + 1) {
        nl = memchr(p, '\n', (size_t)(text + n - p));
        if (!nl) nl = text + n;
        if (nl == p) continue;
        cJSON *line = cJSON_ParseWithLength(p, (size_t)(nl - p));
        CHECK(line != NULL, "%s: bad JSON line", path);
        if (!line) continue;
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(line, "id"));
        const char *tname = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(line, "template"));
        const char *want = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(line, "rendered"));
        char *src = template_source(folder, cfg, tname ? tname : "default");
        CHECK(src && want && id, "%s: incomplete line", path);
        if (src && want && id) {
            cJSON *ctx = chat_context(cfg, line);
            r1c_jinja *t = NULL;
            char *out = NULL;
            size_t out_len = 0;
            r1c_status st = r1c_jinja_compile(src, strlen(src), "chat_template", &t);
            if (st == R1C_OK) st = r1c_jinja_render(t, ctx, &out, &out_len);
            CHECK(st == R1C_OK, "%s %s [%s]: %s", folder, id, tname, r1c_last_error());
            if (st == R1C_OK) {
                int same = out_len == strlen(want) && memcmp(out, want, out_len) == 0;
                CHECK(same, "%s %s [%s]: rendering differs", folder, id, tname);
                if (!same) show_diff(id, out, out_len, want, strlen(want));
                count += same;
            }
            free(out);
            r1c_jinja_free(t);
            cJSON_Delete(ctx);
        }
        free(src);
        cJSON_Delete(line);
    }
    free(text);
    cJSON_Delete(cfg);
    return count;
}

static void test_golden(void) {
    int n = golden_folder("deepseek_v3") + golden_folder("qwen3") + golden_folder("llama3_1");
    fprintf(stderr, "golden chats rendered byte-exact: %d\n", n);
    CHECK(n == 73, "expected 73 golden chats, %d matched", n);
}

/* ================================================================================ features */

/* Expected outputs: Python jinja2 3.1.6 with transformers' environment. NULL context: SHARED. */
static const char *const SHARED = "{\"messages\": [{\"role\": \"system\", \"content\": \"sys\"}, {\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"<think>\\nr\\n</think>\\n\\nans\"}, {\"role\": \"user\", \"content\": \"q2\"}], \"n\": 5, \"f\": 2.5, \"s\": \"Hello World\", \"l\": [3, 1, 2], \"d\": {\"b\": 2, \"a\": 1}, \"t\": true, \"z\": null, \"e\": \"\", \"u\": \"héllo wörld\", \"users\": [{\"name\": \"bob\", \"age\": 30}, {\"name\": \"Al\", \"age\": 25}, {\"name\": \"cy\", \"age\": 30}]}";

static const struct { const char *tpl, *ctx, *want; } FEATURES[] = {
    /* empty containers have no storage (found by fuzz_jinja) */
    {"{{ []|sort }}|{{ []|unique|list }}|{{ [] + [] }}|{{ [] * 3 }}|{{ {}|list }}|{{ []|dictsort if false }}|{{ {}|dictsort }}|{{ ''|reverse }}|{{ ()[::-1] }}",
     "{}",
     "[]|[]|[]|[]|[]||[]||()"},
    {"{{ () * 3 }}|{{ [] * 0 }}|{{ [1] * 0 }}|{{ [] + [1] }}|{{ ([] + [])[0:] }}", "{}", "()|[]|[]|[1]|[]"},
    {"hello",
     "{}",
     "hello"},
    {"hello\n",
     "{}",
     "hello"},
    {"hello\n\n",
     "{}",
     "hello\n"},
    {"a\015\nb\015c",
     "{}",
     "a\nb\nc"},
    {"{% if true %}\nyes\n{% endif %}\nend",
     "{}",
     "yes\nend"},
    {"  {% if true %}\n  yes\n  {% endif %}\nend",
     "{}",
     "  yes\nend"},
    {"x  {% if true %}y{% endif %}",
     "{}",
     "x  y"},
    {"{{ 'a' }}\n{{ 'b' }}\n",
     "{}",
     "a\nb"},
    {"a  {{- 'b' -}}  c",
     "{}",
     "abc"},
    {"a\n  {%- if 1 -%}\n  b\n  {%- endif -%}\n  c",
     "{}",
     "abc"},
    {"  {%+ if 1 %}x{% endif %}",
     "{}",
     "  x"},
    {"{% if 1 +%}\nx{% endif %}",
     "{}",
     "\nx"},
    {"{# c #}\nx",
     "{}",
     "x"},
    {"  {# c #}\nx",
     "{}",
     "x"},
    {"a {#- c -#} b",
     "{}",
     "ab"},
    {"{% raw %}{{ x }}{% endraw %}",
     "{}",
     "{{ x }}"},
    {"  {% raw %}\n{{ x }}\n  {% endraw %}\nz",
     "{}",
     "\n{{ x }}\nz"},
    {"{%- raw -%} a {{ b }} {%- endraw -%} c",
     "{}",
     "a {{ b }}c"},
    {"{% for i in range(3) %}\n  {{ i }}\n{% endfor %}\n",
     "{}",
     "  0\n  1\n  2\n"},
    {"{% for i in range(3) -%}\n  {{ i }}\n{%- endfor %}",
     "{}",
     "012"},
    {"{{-1}}",
     "{}",
     "1"},
    {"{% if true %}  \n  x{% endif %}",
     "{}",
     "  \n  x"},
    {"\t{% set x = 1 %}\n{{ x }}",
     "{}",
     "1"},
    {"a\n\t  {% if 1 %}\nb\n {% endif %} c",
     "{}",
     "a\nb\n c"},
    {"{% for m in messages %}{{ m.role }}:{{ m['content'] }}|{% endfor %}",
     NULL,
     "system:sys|user:hi|assistant:<think>\nr\n</think>\n\nans|user:q2|"},
    {"{{ none }}|{{ z }}|{{ true }}|{{ False }}|{{ 1 }}|{{ 1.0 }}|{{ 1.5e20 }}|{{ 0.1 }}|{{ 1e-5 }}|{{ 1/3 }}",
     NULL,
     "None|None|True|False|1|1.0|1.5e+20|0.1|1e-05|0.3333333333333333"},
    {"{{ [1, 'a', none, true, 2.0] }}|{{ {'a': 1, 'b': [2]} }}|{{ (1,) }}|{{ (1, 'x') }}|{{ () }}",
     "{}",
     "[1, 'a', None, True, 2.0]|{'a': 1, 'b': [2]}|(1,)|(1, 'x')|()"},
    {"{{ undefined_thing }}|{{ d }}|{{ l }}",
     NULL,
     "|{'b': 2, 'a': 1}|[3, 1, 2]"},
    {"{{ \"it's\" }}|{{ ['it\\'s', \"q\\\"\", 'a\\nb'] }}",
     "{}",
     "it's|[\"it's\", 'q\"', 'a\\nb']"},
    {"{{ 1, 2 }}",
     "{}",
     "(1, 2)"},
    {"{{ 10000000000000000.0 }}|{{ 1234567.0 }}|{{ -0.0 }}|{{ 100.0/3 }}|{{ 2**0.5 }}",
     "{}",
     "1e+16|1234567.0|-0.0|33.333333333333336|1.4142135623730951"},
    {"{{ 'a\\tb\\x41\\u00e9\\U0001F600\\101\\q' }}",
     "{}",
     "a\tbAé😀A\\q"},
    {"{{ 'ab' 'cd' }}|{{ 1_000 }}|{{ 0x1F }}|{{ 0o17 }}|{{ 0b101 }}|{{ 1.5e3 }}|{{ 2E2 }}",
     "{}",
     "abcd|1000|31|15|5|1500.0|200.0"},
    {"{{ 7 // 2 }}|{{ -7 // 2 }}|{{ 7 % 3 }}|{{ -7 % 3 }}|{{ 7 / 2 }}|{{ 2 ** 10 }}|{{ 2 ** -1 }}|{{ 2 ** 3 ** 2 }}|{{ 7.5 // 2 }}|{{ -7.5 % 2 }}",
     "{}",
     "3|-4|1|2|3.5|1024|0.5|64|3.0|0.5"},
    {"{{ 'a' ~ 1 ~ none ~ undefined_x ~ 2.0 }}|{{ 'ab' * 3 }}|{{ [1] * 2 }}|{{ [1] + [2] }}|{{ 'a' + 'b' }}|{{ true + 1 }}",
     "{}",
     "a1None2.0|ababab|[1, 1]|[1, 2]|ab|2"},
    {"{{ 1 < 2 < 3 }}|{{ 3 > 2 > 5 }}|{{ 1 == 1.0 }}|{{ 'a' != 'b' }}|{{ 'b' in 'abc' }}|{{ 2 not in [1, 3] }}|{{ 'a' in {'a': 1} }}|{{ [1,2] == [1,2] }}|{{ [1,2] < [1,3] }}",
     "{}",
     "True|False|True|True|True|True|True|True|True"},
    {"{{ 1 and 2 }}|{{ 0 and 2 }}|{{ '' or 'x' }}|{{ 'y' or 'x' }}|{{ not 1 }}|{{ not '' }}|{{ none or [] }}",
     "{}",
     "2|0|x|y|False|True|[]"},
    {"{{ 'a' if t else 'b' }}|{{ 'a' if z else 'b' }}|{{ 'a' if z }}|{{ -n }}|{{ -f }}|{{ +n }}|{{ - - n }}",
     NULL,
     "a|b||-5|-2.5|5|5"},
    {"{{ l[0] }}|{{ l[-1] }}|{{ l[1:] }}|{{ l[:-1] }}|{{ l[::-1] }}|{{ l[::2] }}|{{ l[5] }}|{{ l[-5:10] }}|{{ s[1:4] }}|{{ s[::-1] }}|{{ u[1:3] }}|{{ u[-1] }}|{{ u[::-2] }}",
     NULL,
     "3|2|[1, 2]|[3, 1]|[2, 1, 3]|[3, 2]||[3, 1, 2]|ell|dlroW olleH|él|d|drwolh"},
    {"{{ messages[0].role }}|{{ messages[0]['role'] }}|{{ d.a }}|{{ d['b'] }}|{{ d.zz }}|{{ messages[-1].content }}|{{ l.0 }}",
     NULL,
     "system|system|1|2||q2|3"},
    {"{{ messages[::-1][0].content }}|{{ (messages|length) - 1 }}",
     NULL,
     "q2|3"},
    {"{{ z.foo }}|{{ n.foo }}|{{ d.zz is defined }}|{{ z['x'] }}",
     NULL,
     "||False|"},
    {"{{ l['a'] }}|{{ s[1] }}|{{ s[100] }}",
     NULL,
     "|e|"},
    {"{{ x is defined }}|{{ n is defined }}|{{ x is undefined }}|{{ z is none }}|{{ n is none }}|{{ s is string }}|{{ n is string }}|{{ n is number }}|{{ f is number }}|{{ t is number }}|{{ n is integer }}|{{ f is integer }}|{{ t is integer }}|{{ f is float }}",
     NULL,
     "False|True|True|True|False|True|False|True|True|True|True|False|False|True"},
    {"{{ d is mapping }}|{{ l is mapping }}|{{ l is iterable }}|{{ s is iterable }}|{{ n is iterable }}|{{ l is sequence }}|{{ d is sequence }}|{{ t is boolean }}|{{ n is boolean }}|{{ t is true }}|{{ 1 is true }}|{{ false is false }}|{{ 0 is false }}",
     NULL,
     "True|False|True|True|False|True|True|True|False|True|False|True|False"},
    {"{{ 4 is even }}|{{ 3 is odd }}|{{ 9 is divisibleby 3 }}|{{ 9 is divisibleby(4) }}|{{ 'a' is eq 'a' }}|{{ 1 is ne 2 }}|{{ 2 is equalto 2 }}|{{ 'a' is in 'abc' }}|{{ 1 is in [2] }}|{{ x is not defined }}|{{ n is not none }}",
     NULL,
     "True|True|True|False|True|True|True|True|False|True|True"},
    {"{{ 1 is lt 2 }}|{{ 1 is gt 2 }}|{{ 'abc' is lower }}|{{ 'ABC' is upper }}|{{ range is callable }}|{{ 'upper' is filter }}|{{ 'even' is test }}|{{ none is sameas none }}",
     "{}",
     "True|False|True|True|True|True|True|True"},
    {"{% if not add_generation_prompt is defined %}nd{% endif %}",
     "{}",
     "nd"},
    {"{% if enable_thinking is defined and enable_thinking is false %}off{% endif %}",
     "{\"enable_thinking\": false}",
     "off"},
    {"{% if n > 10 %}big{% elif n > 3 %}mid{% elif n > 1 %}small{% else %}tiny{% endif %}",
     NULL,
     "mid"},
    {"{% if e %}a{% elif z %}b{% else %}c{% endif %}",
     NULL,
     "c"},
    {"{% for x in l %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}",
     NULL,
     "1032TrueFalse3;2121FalseFalse3;3210FalseTrue3;"},
    {"{% for x in l %}[{{ loop.previtem }}|{{ loop.nextitem }}]{% endfor %}",
     NULL,
     "[|1][3|2][1|]"},
    {"{% for k in d %}{{ k }}{% endfor %}|{% for k, v in d.items() %}{{ k }}={{ v }},{% endfor %}|{% for k, v in d|dictsort %}{{ k }}={{ v }},{% endfor %}",
     NULL,
     "ba|b=2,a=1,|a=1,b=2,"},
    {"{% for c in 'héllo' %}{{ c }}.{% endfor %}",
     "{}",
     "h.é.l.l.o."},
    {"{% for x in [] %}a{% else %}empty{% endfor %}|{% for x in undefined_list %}a{% else %}none{% endfor %}",
     "{}",
     "empty|none"},
    {"{% for x in l if x > 1 %}{{ x }}{{ loop.index }}{{ loop.length }}{% endfor %}",
     NULL,
     "312222"},
    {"{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}",
     "{}",
     "0134"},
    {"{% for a in [1,2] %}{% for b in 'xy' %}{{ a }}{{ b }}{{ loop.index }}{% endfor %}{{ loop.index }};{% endfor %}",
     "{}",
     "1x11y21;2x12y22;"},
    {"{% for x in l %}{{ loop.cycle('a', 'b') }}{% endfor %}",
     NULL,
     "aba"},
    {"{% for x in [1,1,2,2,1] %}{% if loop.changed(x) %}{{ x }}{% endif %}{% endfor %}",
     "{}",
     "121"},
    {"{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }}{% endfor %}|{% for (a, b) in [(1, 2)] %}{{ a }}{{ b }}{% endfor %}",
     "{}",
     "37|12"},
    {"{% for i in range(5, 0, -2) %}{{ i }}{% endfor %}|{% for i in range(2, 5) %}{{ i }}{% endfor %}|{{ range(3)|list }}",
     "{}",
     "531|234|[0, 1, 2]"},
    {"{% for item in tree recursive %}<{{ item.n }}{% if item.c %}{{ loop(item.c) }}{% endif %}{{ loop.depth }}>{% endfor %}",
     "{\"tree\": [{\"n\": 1, \"c\": [{\"n\": 2, \"c\": []}, {\"n\": 3}]}, {\"n\": 4}]}",
     "<1<22><32>1><41>"},
    {"{% set x = 1 %}{% for i in range(3) %}{{ x }}{% set x = i + 10 %}{{ x }}{% endfor %}|{{ x }}",
     "{}",
     "110111112|1"},
    {"{% set ns = namespace(c=0, s='') %}{% for i in range(4) %}{% set ns.c = ns.c + i %}{% set ns.s = ns.s ~ i %}{% endfor %}{{ ns.c }}|{{ ns.s }}",
     "{}",
     "6|0123"},
    {"{% if true %}{% set y = 5 %}{% endif %}{{ y }}",
     "{}",
     "5"},
    {"{% set a, b = 1, 2 %}{{ a }}{{ b }}|{% set c = [1, 2] %}{{ c }}",
     "{}",
     "12|[1, 2]"},
    {"{% set x %}inner {{ 1 + 1 }}{% endset %}[{{ x }}]|{% set y | upper %}abc{% endset %}{{ y }}",
     "{}",
     "[inner 2]|ABC"},
    {"{% set ns = namespace() %}{% set ns.a = 3 %}{{ ns.a }}{{ ns.b }}",
     "{}",
     "3"},
    {"{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}",
     "{}",
     "12"},
    {"{% set d2 = dict(a=1, b='x') %}{{ d2 }}|{{ d2.b }}",
     "{}",
     "{'a': 1, 'b': 'x'}|x"},
    {"{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}{{ a }}",
     "{}",
     "3"},
    {"{% macro greet(name, greeting='Hello') %}{{ greeting }}, {{ name }}!{% endmacro %}{{ greet('Bob') }}|{{ greet('Al', greeting='Hi') }}|{{ greet('x', 'Yo') }}",
     "{}",
     "Hello, Bob!|Hi, Al!|Yo, x!"},
    {"{% macro m(a, b) %}[{{ a }}|{{ b }}]{% endmacro %}{{ m(1) }}",
     "{}",
     "[1|]"},
    {"{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(4) }}",
     "{}",
     "4321"},
    {"{% macro w() %}<{{ caller() }}>{% endmacro %}{% call w() %}inside{% endcall %}",
     "{}",
     "<inside>"},
    {"{% macro w() %}<{{ caller(5) }}>{% endmacro %}{% call(x) w() %}got {{ x }}{% endcall %}",
     "{}",
     "<got 5>"},
    {"{% macro m() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, k=3) }}",
     "{}",
     "(1, 2){'k': 3}"},
    {"{% set g = 'G' %}{% macro m() %}{{ g }}{% endmacro %}{{ m() }}",
     "{}",
     "G"},
    {"{% filter upper %}hello {{ 'x' }}{% endfilter %}",
     "{}",
     "HELLO X"},
    {"{{ '  a b  '|trim }}|{{ 'xxaxx'|trim('x') }}|{{ s|length }}|{{ u|length }}|{{ l|count }}|{{ d|length }}|{{ x|length }}",
     NULL,
     "a b|a|11|11|3|2|0"},
    {"{{ s|lower }}|{{ s|upper }}|{{ 'hello wORLD-foo(bar)'|title }}|{{ 'hELLO world'|capitalize }}|{{ u|upper }}|{{ u|title }}",
     NULL,
     "hello world|HELLO WORLD|Hello World-Foo(Bar)|Hello world|HÉLLO WÖRLD|Héllo Wörld"},
    {"{{ l|first }}|{{ l|last }}|{{ s|first }}|{{ s|last }}|{{ []|first }}|{{ d|first }}|{{ l|join(', ') }}|{{ l|join }}|{{ users|join(',', attribute='name') }}",
     NULL,
     "3|2|H|d||b|3, 1, 2|312|bob,Al,cy"},
    {"{{ x|default('dflt') }}|{{ z|default('dflt') }}|{{ e|default('dflt') }}|{{ e|default('dflt', true) }}|{{ e|d('D', boolean=true) }}|{{ x|d }}",
     NULL,
     "dflt|None||dflt|D|"},
    {"{{ s|list }}|{{ d|list }}|{{ l|reverse|list }}|{{ s|reverse }}|{{ 'aaa'|replace('a', 'b') }}|{{ 'aaa'|replace('a', 'b', 2) }}|{{ 'abc'|replace('', '-') }}",
     NULL,
     "['H', 'e', 'l', 'l', 'o', ' ', 'W', 'o', 'r', 'l', 'd']|['b', 'a']|[2, 1, 3]|dlroW olleH|bbb|bba|-a-b-c-"},
    {"{{ d|items|list }}|{{ d|dictsort }}|{{ d|dictsort(reverse=true) }}|{{ {'b': 1, 'A': 2, 'a': 3}|dictsort }}|{{ {'b': 1, 'A': 2, 'a': 0}|dictsort(by='value') }}",
     NULL,
     "[('b', 2), ('a', 1)]|[('a', 1), ('b', 2)]|[('b', 2), ('a', 1)]|[('A', 2), ('a', 3), ('b', 1)]|[('a', 0), ('b', 1), ('A', 2)]"},
    {"{{ users|selectattr('age', 'equalto', 30)|map(attribute='name')|list }}|{{ users|rejectattr('age', 'eq', 30)|map(attribute='name')|join }}|{{ [0,1,2,'',none,'a']|select|list }}|{{ [1,2,3,4]|select('odd')|list }}|{{ [1,2,3,4]|reject('even')|list }}",
     NULL,
     "['bob', 'cy']|Al|[1, 2, 'a']|[1, 3]|[1, 3]"},
    {"{{ users|map(attribute='name')|map('upper')|list }}|{{ users|map(attribute='zz', default='\?')|list }}|{{ ['a','B']|map('lower')|join }}",
     NULL,
     "['BOB', 'AL', 'CY']|['\?', '\?', '\?']|ab"},
    {"{{ [3,1,2,1,'a','A']|unique|list }}|{{ ['a','A','b']|unique(case_sensitive=true)|list }}|{{ l|sort }}|{{ l|sort(reverse=true) }}|{{ ['b','A','c']|sort }}|{{ ['b','A','c']|sort(case_sensitive=true) }}|{{ users|sort(attribute='age')|map(attribute='name')|join }}",
     NULL,
     "[3, 1, 2, 'a']|['a', 'A', 'b']|[1, 2, 3]|[3, 2, 1]|['A', 'b', 'c']|['A', 'b', 'c']|Albobcy"},
    {"{{ '42'|int }}|{{ '42.7'|int }}|{{ 'x'|int }}|{{ 'x'|int(7) }}|{{ 3.9|int }}|{{ ' 12 '|int }}|{{ '0x1A'|int(base=16) }}|{{ 'ff'|int(0, 16) }}|{{ true|int }}|{{ none|int }}",
     "{}",
     "42|42|0|7|3|12|26|255|1|0"},
    {"{{ '4.5'|float }}|{{ 'x'|float }}|{{ 3|float }}|{{ -3|abs }}|{{ -2.5|abs }}|{{ 2.5|round }}|{{ 3.5|round }}|{{ 2.675|round(2) }}|{{ 2.1|round(0, 'ceil') }}|{{ 2.9|round(method='floor') }}|{{ 3|round }}|{{ 1234.5|round(-2) }}",
     "{}",
     "4.5|0.0|3.0|3|2.5|2.0|4.0|2.67|3.0|2.0|3|1200.0"},
    {"{{ 'a\\nb\\nc'|indent }}|{{ 'a\\nb\\n\\nc\\n'|indent(2) }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent(2, blank=true) }}|{{ 'x'|indent('> ', first=true) }}",
     "{}",
     "a\n    b\n    c|a\n  b\n\n  c\n|  a\n  b|a\n  \n  b|> x"},
    {"{{ '<a href=\"x\">&\\'</a>'|e }}|{{ '<b>'|escape }}|{{ '<b>'|safe }}|{{ 'one two  three'|wordcount }}|{{ 5|string ~ 'x' }}|{{ [1,2]|string }}",
     "{}",
     "&lt;a href=&#34;x&#34;&gt;&amp;&#39;&lt;/a&gt;|&lt;b&gt;|<b>|3|5x|[1, 2]"},
    {"{{ d|tojson }}|{{ l|tojson }}|{{ 'é\"\\n'|tojson }}|{{ none|tojson }}|{{ [1.5, true, none, {'a': []}]|tojson }}",
     NULL,
     "{\"b\": 2, \"a\": 1}|[3, 1, 2]|\"é\\\"\\n\"|null|[1.5, true, null, {\"a\": []}]"},
    {"{{ {'b': [1, {'c': 2}], 'a': {}}|tojson(indent=2) }}",
     "{}",
     "{\n  \"b\": [\n    1,\n    {\n      \"c\": 2\n    }\n  ],\n  \"a\": {}\n}"},
    {"{{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }}|{{ [1,2]|tojson(separators=(',', ':')) }}|{{ 'é'|tojson(ensure_ascii=true) }}|{{ '😀'|tojson(true) }}",
     "{}",
     "{\"a\": 2, \"b\": 1}|[1,2]|\"\\u00e9\"|\"\\ud83d\\ude00\""},
    {"{{ [3, 1]|max }}|{{ [3, 1]|min }}|{{ [1, 2, 3]|sum }}|{{ users|sum(attribute='age') }}|{{ ['a', 'B']|max }}|{{ users|max(attribute='age') }}",
     NULL,
     "3|1|6|85|B|{'name': 'bob', 'age': 30}"},
    {"{{ 'hello'|center(11) }}|{{ [1,2,3,4,5]|batch(2)|list }}|{{ [1,2,3]|batch(2, 0)|list }}|{{ '%s-%d'|format('a', 3) }}|{{ 'Hello %s' % 'x' }}|{{ '%05.1f|%x|%r' % (3.14159, 255, 'q') }}",
     "{}",
     "   hello   |[[1, 2], [3, 4], [5]]|[[1, 2], [3, 0]]|a-3|Hello x|003.1|ff|'q'"},
    {"{{ 'the quick brown fox jumps over'|truncate(12) }}|{{ 'the quick brown fox'|truncate(9, true) }}|{{ 'short'|truncate(10) }}",
     "{}",
     "the...|the qu...|short"},
    {"{{ 'a,b,,c'.split(',') }}|{{ '  a  b c '.split() }}|{{ 'a b c'.split(' ', 1) }}|{{ 'a b c'.rsplit(' ', 1) }}|{{ ' a b c '.split(none, 1) }}|{{ ' a b  c '.rsplit(none, 1) }}|{{ ''.split() }}|{{ ''.split(',') }}",
     "{}",
     "['a', 'b', '', 'c']|['a', 'b', 'c']|['a', 'b c']|['a b', 'c']|['a', 'b c ']|[' a b', 'c']|[]|['']"},
    {"{{ '\\n\\nx\\n'.strip('\\n') }}|{{ 'xxhixx'.lstrip('x') }}|{{ 'xxhixx'.rstrip('x') }}|{{ '  hi  '.strip() }}|{{ 'éaé'.strip('é') }}",
     "{}",
     "x|hixx|xxhi|hi|a"},
    {"{{ 'hello'.startswith('he') }}|{{ 'hello'.endswith(('x', 'lo')) }}|{{ 'hello'.startswith('lo', 3) }}|{{ 'hello'.replace('l', 'L') }}|{{ 'hello'.replace('l', 'L', 1) }}|{{ 'Hi'.upper() }}{{ 'Hi'.lower() }}|{{ 'hello world'.title() }}|{{ \"they're\".title() }}|{{ 'hELLO'.capitalize() }}",
     "{}",
     "True|True|True|heLLo|heLlo|HIhi|Hello World|They'Re|Hello"},
    {"{{ 'hello'.find('l') }}|{{ 'hello'.rfind('l') }}|{{ 'hello'.find('z') }}|{{ 'héllo'.find('l') }}|{{ 'hello'.count('l') }}|{{ ','.join(['a', 'b']) }}|{{ '{} and {}'.format(1, 'x') }}|{{ '{a}!'.format(a=2) }}|{{ '12'.isdigit() }}|{{ 'ab'.isalpha() }}|{{ '  '.isspace() }}",
     "{}",
     "2|3|-1|2|2|a,b|1 and x|2!|True|True|True"},
    {"{{ 'a\\nb\\r\\nc'.splitlines() }}|{{ 'abc'.removeprefix('a') }}|{{ 'abc'.removesuffix('c') }}|{{ '5'.zfill(3) }}|{{ 'ab'.ljust(4, '*') }}|{{ 'ab'.rjust(4) }}|{{ 'ab'.center(5, '-') }}|{{ 'aBc'.swapcase() }}",
     "{}",
     "['a', 'b', 'c']|bc|ab|005|ab**|  ab|--ab-|AbC"},
    {"{{ message.content.split('</think>')[-1].lstrip('\\n') }}",
     "{\"message\": {\"content\": \"<think>\\nx\\n</think>\\n\\nanswer\"}}",
     "answer"},
    {"{% set c = cycler('a', 'b') %}{{ c.next() }}{{ c.next() }}{{ c.next() }}{{ c.current }}",
     "{}",
     "abab"},
    {"{% set j = joiner('|') %}{% for x in l %}{{ j() }}{{ x }}{% endfor %}",
     NULL,
     "3|1|2"},
    {"{{ (1 + 2) * 3 }}|{{ [1, 2,] }}|{{ {'a': 1,} }}|{{ (1, 2,) }}|{{ -2 ** 2 }}|{{ 2 * -1 }}|{{ not 1 == 2 }}|{{ 1 if 0 else 2 if 0 else 3 }}",
     "{}",
     "9|[1, 2]|{'a': 1}|(1, 2)|4|-2|True|3"},
    {"{% print 'hi' %}",
     "{}",
     "hi"},
    {"{{ messages|selectattr('role', 'equalto', 'user')|list|length }}",
     NULL,
     "2"},
    {"{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set sys = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% endif %}{{ sys }}{{ loop_messages|length }}",
     NULL,
     "sys3"},
    {"{{ a.b.c }}",
     "{\"a\": {\"b\": null}}",
     ""},
    {"{{ 'a' is string and 1 is number }}",
     "{}",
     "True"},
    {"{{ [1,2,3][1:][0] }}|{{ 'abc'[1:][0] }}|{{ ([1] + [2])[1] }}",
     "{}",
     "2|b|2"},
    {"{{ {'a': {'b': 1}}.a.b }}|{{ {'a': [1, 2]}['a'][1] }}",
     "{}",
     "1|2"},
    {"{{ true == 1 }}|{{ none == none }}|{{ x == y }}|{{ [] == () }}|{{ {'a':1} == {'a':1.0} }}",
     "{}",
     "True|True|True|False|True"},
};

static void test_features(void) {
    for (size_t i = 0; i < sizeof FEATURES / sizeof *FEATURES; i++) {
        char *out;
        size_t n;
        r1c_status st = render_text(FEATURES[i].tpl, strlen(FEATURES[i].tpl), FEATURES[i].ctx ? FEATURES[i].ctx : SHARED, &out, &n);
        CHECK(st == R1C_OK, "feature %zu: %s\n  template: %s", i, r1c_last_error(), FEATURES[i].tpl);
        if (st != R1C_OK) continue;
        int same = n == strlen(FEATURES[i].want) && memcmp(out, FEATURES[i].want, n) == 0;
        CHECK(same, "feature %zu: template %s\n  got  [%s]\n  want [%s]", i, FEATURES[i].tpl, out, FEATURES[i].want);
        free(out);
    }
}

/* Tool calls, tool results, reasoning_content and tools lists through the real templates;
 * expected outputs from Python jinja2 as above. */
static const struct { const char *template_name, *ctx, *want; } TOOL_CHATS[] = {
    {"qwen3",
     "{\"messages\": [{\"role\": \"system\", \"content\": \"Be helpful.\"}, {\"role\": \"user\", \"content\": \"Weather in Paris\?\"}, {\"role\": \"assistant\", \"content\": \"\", \"tool_calls\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 2}}}]}, {\"role\": \"tool\", \"content\": \"{\\\"temp\\\": 21}\"}, {\"role\": \"tool\", \"content\": \"sunny\"}, {\"role\": \"assistant\", \"content\": \"<think>\\nok\\n</think>\\n\\nIt is 21°C and sunny.\", \"tool_calls\": [{\"name\": \"noop\", \"arguments\": \"{\\\"x\\\": 1}\"}]}, {\"role\": \"user\", \"content\": \"Thanks\"}, {\"role\": \"assistant\", \"content\": \"You're welcome\", \"reasoning_content\": \"polite\"}], \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Get the weather — now\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\", \"description\": \"City name\"}, \"days\": {\"type\": \"integer\"}}, \"required\": [\"city\"]}}}], \"add_generation_prompt\": true}",
     "<|im_start|>system\nBe helpful.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Get the weather — now\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\", \"description\": \"City name\"}, \"days\": {\"type\": \"integer\"}}, \"required\": [\"city\"]}}}\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n<|im_start|>user\nWeather in Paris\?<|im_end|>\n<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 2}}\n</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\n{\"temp\": 21}\n</tool_response>\n<tool_response>\nsunny\n</tool_response><|im_end|>\n<|im_start|>assistant\nIt is 21°C and sunny.\n<tool_call>\n{\"name\": \"noop\", \"arguments\": {\"x\": 1}}\n</tool_call><|im_end|>\n<|im_start|>user\nThanks<|im_end|>\n<|im_start|>assistant\n<think>\npolite\n</think>\n\nYou're welcome<|im_end|>\n<|im_start|>assistant\n"},
    {"qwen3",
     "{\"messages\": [{\"role\": \"user\", \"content\": \"Weather in Paris\?\"}, {\"role\": \"assistant\", \"content\": \"\", \"tool_calls\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 2}}}]}, {\"role\": \"tool\", \"content\": \"{\\\"temp\\\": 21}\"}, {\"role\": \"tool\", \"content\": \"sunny\"}, {\"role\": \"assistant\", \"content\": \"<think>\\nok\\n</think>\\n\\nIt is 21°C and sunny.\", \"tool_calls\": [{\"name\": \"noop\", \"arguments\": \"{\\\"x\\\": 1}\"}]}, {\"role\": \"user\", \"content\": \"Thanks\"}, {\"role\": \"assistant\", \"content\": \"You're welcome\", \"reasoning_content\": \"polite\"}], \"add_generation_prompt\": false, \"enable_thinking\": true}",
     "<|im_start|>user\nWeather in Paris\?<|im_end|>\n<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 2}}\n</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\n{\"temp\": 21}\n</tool_response>\n<tool_response>\nsunny\n</tool_response><|im_end|>\n<|im_start|>assistant\nIt is 21°C and sunny.\n<tool_call>\n{\"name\": \"noop\", \"arguments\": {\"x\": 1}}\n</tool_call><|im_end|>\n<|im_start|>user\nThanks<|im_end|>\n<|im_start|>assistant\n<think>\npolite\n</think>\n\nYou're welcome<|im_end|>\n"},
    {"deepseek_v3",
     "{\"messages\": [{\"role\": \"system\", \"content\": \"S1\"}, {\"role\": \"user\", \"content\": \"Weather\?\"}, {\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"arguments\": \"{\\\"city\\\": \\\"Paris\\\"}\"}}, {\"type\": \"function\", \"function\": {\"name\": \"get_time\", \"arguments\": \"{}\"}}]}, {\"role\": \"tool\", \"content\": \"21C\"}, {\"role\": \"tool\", \"content\": \"noon\"}, {\"role\": \"assistant\", \"content\": \"Done.\"}, {\"role\": \"user\", \"content\": \"More\"}, {\"role\": \"tool\", \"content\": \"x\"}], \"add_generation_prompt\": true, \"bos_token\": \"<B>\"}",
     "<B>S1<｜User｜>Weather\?<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜>\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_time\n```json\n{}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜><｜end▁of▁sentence｜><｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>21C<｜tool▁output▁end｜>\n<｜tool▁output▁begin｜>noon<｜tool▁output▁end｜><｜tool▁outputs▁end｜>Done.<｜end▁of▁sentence｜><｜User｜>More\n<｜tool▁output▁begin｜>x<｜tool▁output▁end｜><｜tool▁outputs▁end｜>"},
    {"deepseek_r1_ollama_latest",
     "{\"messages\": [{\"role\": \"user\", \"content\": \"Weather\?\"}, {\"role\": \"assistant\", \"content\": \"<think>\\nhm\\n</think>\\n\\nLet me check.\", \"tool_calls\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"arguments\": \"{\\\"city\\\": \\\"Paris\\\"}\"}}]}, {\"role\": \"tool\", \"content\": \"21C\"}, {\"role\": \"assistant\", \"content\": \"It is 21C.\"}, {\"role\": \"user\", \"content\": \"ok\"}], \"add_generation_prompt\": true, \"bos_token\": \"<B>\"}",
     "<B><｜User｜>Weather\?<｜Assistant｜>\n\nLet me check.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜><｜end▁of▁sentence｜><｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>21C<｜tool▁output▁end｜><｜tool▁outputs▁end｜>It is 21C.<｜end▁of▁sentence｜><｜User｜>ok<｜Assistant｜>"},
    {"deepseek_r1_ollama_8b",
     "{\"messages\": [{\"role\": \"system\", \"content\": \"S1\"}, {\"role\": \"user\", \"content\": \"Weather\?\"}, {\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"arguments\": \"{\\\"city\\\": \\\"Paris\\\"}\"}}, {\"type\": \"function\", \"function\": {\"name\": \"get_time\", \"arguments\": \"{}\"}}]}, {\"role\": \"tool\", \"content\": \"21C\"}, {\"role\": \"tool\", \"content\": \"noon\"}, {\"role\": \"assistant\", \"content\": \"Done.\"}, {\"role\": \"user\", \"content\": \"More\"}, {\"role\": \"tool\", \"content\": \"x\"}], \"add_generation_prompt\": false, \"bos_token\": \"<B>\"}",
     "<B>S1<｜User｜>Weather\?<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜>\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_time\n```json\n{}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜><｜end▁of▁sentence｜><｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>21C<｜tool▁output▁end｜>\n<｜tool▁output▁begin｜>noon<｜tool▁output▁end｜><｜tool▁outputs▁end｜>Done.<｜end▁of▁sentence｜><｜User｜>More\n<｜tool▁output▁begin｜>x<｜tool▁output▁end｜><｜tool▁outputs▁end｜>"},
    {"llama3_1",
     "{\"messages\": [{\"role\": \"user\", \"content\": \"  padded  \"}], \"bos_token\": \"<B>\"}",
     "<B><|start_header_id|>user<|end_header_id|>\n\npadded<|eot_id|>"},
};

static void test_tool_chats(void) {
    for (size_t i = 0; i < sizeof TOOL_CHATS / sizeof *TOOL_CHATS; i++) {
        const char *name = TOOL_CHATS[i].template_name;
        int builtin = !strcmp(name, "qwen3") || !strcmp(name, "deepseek_v3") || !strcmp(name, "llama3_1");
        cJSON *cfg = load_config(builtin ? name : "deepseek_v3");
        char *src = cfg ? template_source(name, cfg, builtin ? "default" : name) : NULL;
        CHECK(src != NULL, "template %s unreadable", name);
        if (src) {
            char *out;
            size_t n;
            r1c_status st = render_text(src, strlen(src), TOOL_CHATS[i].ctx, &out, &n);
            CHECK(st == R1C_OK, "tool chat %zu (%s): %s", i, name, r1c_last_error());
            if (st == R1C_OK) {
                int same = n == strlen(TOOL_CHATS[i].want) && memcmp(out, TOOL_CHATS[i].want, n) == 0;
                CHECK(same, "tool chat %zu (%s) differs", i, name);
                if (!same) show_diff(name, out, n, TOOL_CHATS[i].want, strlen(TOOL_CHATS[i].want));
                free(out);
            }
        }
        free(src);
        cJSON_Delete(cfg);
    }
}

/* strftime_now uses the local time, so only its shape is checked. */
static void test_strftime(void) {
    const char *src = "{{ strftime_now('%Y-%m-%d') }}|{{ strftime_now('%d %b %Y')|length }}";
    char *out;
    size_t n;
    r1c_status st = render_text(src, strlen(src), NULL, &out, &n);
    CHECK(st == R1C_OK, "strftime_now: %s", r1c_last_error());
    if (st != R1C_OK) return;
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char year[8];
    snprintf(year, sizeof year, "%04d", tm.tm_year + 1900);
    CHECK(n == 13 && out[4] == '-' && out[7] == '-' && out[10] == '|' && !strcmp(out + 11, "11"),
          "strftime_now gave [%s]", out);
    free(out);
}

/* ================================================================================ errors */

static const struct { const char *tpl, *ctx; r1c_status st; const char *msg; } ERRORS[] = {
    /* syntax */
    {"{{ 'x' }", NULL, R1C_ERR_FORMAT, "chat_template:1: unexpected '}'"},
    {"line one\n{% if %}{% endif %}", NULL, R1C_ERR_FORMAT, "chat_template:2: expected an expression"},
    {"{% if true %}\nunclosed", NULL, R1C_ERR_FORMAT, "expected 'endif'"},
    {"{% for x in y %}", NULL, R1C_ERR_FORMAT, "expected 'endfor'"},
    {"{% macro m() %}", NULL, R1C_ERR_FORMAT, "expected 'endmacro'"},
    {"{% set x %}abc", NULL, R1C_ERR_FORMAT, "expected 'endset'"},
    {"{% endif %}", NULL, R1C_ERR_FORMAT, "unknown tag 'endif'"},
    {"{% frob %}", NULL, R1C_ERR_FORMAT, "unknown tag 'frob'"},
    {"{{ }}", NULL, R1C_ERR_FORMAT, "expected an expression"},
    {"{{ 1 + }}", NULL, R1C_ERR_FORMAT, "unexpected"},
    {"{{ 1 2 }}", NULL, R1C_ERR_FORMAT, "expected"},
    {"{# never closed", NULL, R1C_ERR_FORMAT, "missing end of comment tag"},
    {"{{ 'never closed }}", NULL, R1C_ERR_FORMAT, "unterminated string"},
    {"{{ x", NULL, R1C_ERR_FORMAT, "unexpected end of template"},
    {"{% raw %}abc", NULL, R1C_ERR_FORMAT, "missing end of raw directive"},
    {"{{ (1 }}", NULL, R1C_ERR_FORMAT, "unexpected '}'"},
    {"{{ 'a' $ 'b' }}", NULL, R1C_ERR_FORMAT, "unexpected char '$'"},
    {"{{ '\\x4' }}", NULL, R1C_ERR_FORMAT, "truncated"},
    {"{% break %}", NULL, R1C_ERR_FORMAT, "'break' outside of a loop"},
    {"{% macro m(a=1, b) %}{% endmacro %}", NULL, R1C_ERR_FORMAT, "non-default argument"},
    {"a\nb\n{{ x|frobnicate }}", NULL, R1C_ERR_FORMAT, "chat_template:3: unknown filter 'frobnicate'"},
    {"{{ x is frob }}", NULL, R1C_ERR_FORMAT, "unknown test 'frob'"},
    {"{% include 'x.jinja' %}", NULL, R1C_ERR_UNSUPPORTED, "'include' tags are not supported"},
    {"{% extends 'base' %}", NULL, R1C_ERR_UNSUPPORTED, "not supported"},
    {"{{ f(*args) }}", NULL, R1C_ERR_UNSUPPORTED, "not supported"},
    {"{{ x[::, 1] }}", NULL, R1C_ERR_UNSUPPORTED, "not supported"}, /* found by fuzz_jinja */
    {"{{ x|groupby('a') }}", "{\"x\": []}", R1C_ERR_UNSUPPORTED, "not supported"},
    /* runtime */
    {"{{ 'a' + 1 }}", NULL, R1C_ERR_FORMAT, "can only concatenate str (not \"int\") to str"},
    {"{{ [1] + 'a' }}", NULL, R1C_ERR_FORMAT, "can only concatenate list"},
    {"{{ 1 + none }}", NULL, R1C_ERR_FORMAT, "unsupported operand type(s) for +: 'int' and 'NoneType'"},
    {"\n\n\n{{ messages + 1 }}", NULL, R1C_ERR_FORMAT, "chat_template:4: 'messages' is undefined"},
    {"{{ 1 / 0 }}", NULL, R1C_ERR_FORMAT, "division by zero"},
    {"{{ 1 % 0 }}", NULL, R1C_ERR_FORMAT, "modulo by zero"},
    {"{{ 'a' < 1 }}", NULL, R1C_ERR_FORMAT, "'<' not supported"},
    {"{{ 1 in 'abc' }}", NULL, R1C_ERR_FORMAT, "requires string as left operand"},
    {"{{ nope.attr }}", NULL, R1C_ERR_FORMAT, "'nope' is undefined"},
    {"{{ foo() }}", NULL, R1C_ERR_FORMAT, "'foo' is undefined"},
    {"{{ d.missing.deeper }}", "{\"d\": {}}", R1C_ERR_FORMAT, "'dict object' has no attribute 'missing'"},
    {"{{ 'x'.frob() }}", NULL, R1C_ERR_FORMAT, "has no attribute 'frob'"},
    {"{{ 3() }}", NULL, R1C_ERR_FORMAT, "'int' object is not callable"},
    {"{% for x in 5 %}{% endfor %}", NULL, R1C_ERR_FORMAT, "'int' object is not iterable"},
    {"{% for a, b in [[1, 2, 3]] %}{% endfor %}", NULL, R1C_ERR_FORMAT, "too many values to unpack"},
    {"{% set x = 1 %}{% set x.y = 2 %}", NULL, R1C_ERR_FORMAT, "non-namespace object"},
    {"{{ l.append(4) }}", "{\"l\": []}", R1C_ERR_FORMAT, "access to attribute 'append' of 'list' object is unsafe"},
    {"{{ d.pop('a') }}", "{\"d\": {\"a\": 1}}", R1C_ERR_FORMAT, "unsafe"},
    {"{{ x|tojson }}", NULL, R1C_ERR_FORMAT, "Object of type Undefined is not JSON serializable"},
    {"{{ ''.split('') }}", NULL, R1C_ERR_FORMAT, "empty separator"},
    {"{{ 'abc'[::0] }}", NULL, R1C_ERR_FORMAT, "slice step cannot be zero"},
    {"{{ 'a' is even }}", NULL, R1C_ERR_FORMAT, "unsupported operand"},
    {"{{ 9223372036854775807 + 1 }}", NULL, R1C_ERR_UNSUPPORTED, "integer overflow"},
    {"{{ 99999999999999999999 }}", NULL, R1C_ERR_FORMAT, "integer literal too large"},
    {"ok\n{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}",
     NULL, R1C_ERR_FORMAT, "chat_template:2: Conversation roles must alternate user/assistant/user/assistant/..."},
    {"{% for i in range(1000000000) %}x{% endfor %}", NULL, R1C_ERR_FORMAT, "Range too big"},
};

static void test_errors(void) {
    for (size_t i = 0; i < sizeof ERRORS / sizeof *ERRORS; i++) {
        char *out = NULL;
        size_t n;
        r1c_status st = render_text(ERRORS[i].tpl, strlen(ERRORS[i].tpl), ERRORS[i].ctx, &out, &n);
        CHECK(st == ERRORS[i].st, "error %zu: status %d, want %d for %s (%s)", i, st, ERRORS[i].st, ERRORS[i].tpl,
              st ? r1c_last_error() : out);
        CHECK(st == R1C_OK || contains(r1c_last_error(), ERRORS[i].msg), "error %zu: message [%s] lacks [%s]", i,
              r1c_last_error(), ERRORS[i].msg);
        CHECK(out == NULL || st == R1C_OK, "error %zu: output set on failure", i);
        free(out);
    }
}

/* ================================================================================ limits */

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A template made of `open` n times, `middle`, then `close` n times. */
static char *repeat_template(const char *open, const char *middle, const char *close, int n, size_t *len) {
    size_t lo = strlen(open), lm = strlen(middle), lc = strlen(close);
    char *s = xmalloc(n * (lo + lc) + lm + 1);
    size_t k = 0;
    for (int i = 0; i < n; i++, k += lo) memcpy(s + k, open, lo);
    memcpy(s + k, middle, lm);
    k += lm;
    for (int i = 0; i < n; i++, k += lc) memcpy(s + k, close, lc);
    s[k] = 0;
    *len = k;
    return s;
}

static void expect_fail_fast(const char *what, const char *src, size_t len, const char *msg) {
    double t0 = now_seconds();
    char *out = NULL;
    size_t n;
    r1c_status st = render_text(src, len, NULL, &out, &n);
    double dt = now_seconds() - t0;
    CHECK(st != R1C_OK, "%s: rendered (%zu bytes) instead of failing", what, n);
    CHECK(contains(r1c_last_error(), msg), "%s: message [%s] lacks [%s]", what, r1c_last_error(), msg);
    /* a bound on hangs, not a speed test (R1C_TEST_TIME_SCALE stretches it under emulation) */
    const char *scale = getenv("R1C_TEST_TIME_SCALE");
    const double limit = 20.0 * (scale && atof(scale) > 0 ? atof(scale) : 1.0);
    CHECK(dt < limit, "%s: took %.1f s (limit %.0f s)", what, dt, limit);
    fprintf(stderr, "limit %-28s %.2f s: %s\n", what, dt, r1c_last_error());
    free(out);
}

static void test_limits(void) {
    size_t len;
    char *s = repeat_template("(", "1", ")", 10000, &len);
    char *wrapped = xmalloc(len + 8);
    snprintf(wrapped, len + 8, "{{ %s }}", s);
    expect_fail_fast("10000 nested parentheses", wrapped, strlen(wrapped), "nested too deeply");
    free(wrapped);
    free(s);

    s = repeat_template("{% if true %}", "x", "{% endif %}", 10000, &len);
    expect_fail_fast("10000 nested ifs", s, len, "nested too deeply");
    free(s);

    s = repeat_template("{% for i in [1] %}", "x", "{% endfor %}", 10000, &len);
    expect_fail_fast("10000 nested fors", s, len, "nested too deeply");
    free(s);

    s = repeat_template("{{ ", "1", " }}", 1, &len);
    free(s);
    s = repeat_template("not ", "1", "", 10000, &len);
    wrapped = xmalloc(len + 8);
    snprintf(wrapped, len + 8, "{{ %s }}", s);
    expect_fail_fast("10000 nots", wrapped, strlen(wrapped), "nested too deeply");
    free(wrapped);
    free(s);

    s = repeat_template("[", "", "]", 10000, &len);
    wrapped = xmalloc(len + 8);
    snprintf(wrapped, len + 8, "{{ %s }}", s);
    expect_fail_fast("10000 nested lists", wrapped, strlen(wrapped), "nested too deeply");
    free(wrapped);
    free(s);

    const char *range = "{% for i in range(1000000000) %}{{ i }}{% endfor %}";
    expect_fail_fast("range(1000000000)", range, strlen(range), "Range too big");

    const char *nested = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}";
    /* fails on steps or on memory (each inner range() is a new list), whichever comes first */
    expect_fail_fast("10^10 loop iterations", nested, strlen(nested), "chat_template:1: template");
    const char *spin = "{% set l = range(100000)|list %}{% for i in l %}{% for j in l %}{% endfor %}{% endfor %}";
    expect_fail_fast("10^10 iterations, one list", spin, strlen(spin), "too many steps");

    const char *big = "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}";
    expect_fail_fast("100 MB of output", big, strlen(big), "output limit");

    const char *grow = "{% set ns = namespace(s='') %}{% for i in range(100000) %}"
                       "{% set ns.s = ns.s ~ 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' %}{% endfor %}";
    expect_fail_fast("quadratic string building", grow, strlen(grow), "memory");

    const char *doubling = "{% set ns = namespace(s='x') %}{% for i in range(100) %}{% set ns.s = ns.s + ns.s %}{% endfor %}";
    expect_fail_fast("doubling a string", doubling, strlen(doubling), "too long");

    const char *rec = "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}";
    expect_fail_fast("endless macro recursion", rec, strlen(rec), "recursion too deep");

    const char *deep = "{% set ns = namespace(x=[]) %}{% for i in range(5000) %}{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x }}";
    expect_fail_fast("5000-deep list printed", deep, strlen(deep), "nested too deeply");

    const char *cycle = "{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}";
    expect_fail_fast("namespace that holds itself", cycle, strlen(cycle), "nested too deeply");

    const char *mul = "{{ 'x' * 100000000 }}";
    expect_fail_fast("'x' * 10^8", mul, strlen(mul), "too long");
}

/* ================================================================================ API */

static void test_api(void) {
    r1c_jinja *t = (r1c_jinja *)1;
    CHECK(r1c_jinja_compile(NULL, 1, "x", &t) == R1C_ERR_INVALID_ARG && t == NULL, "NULL source accepted");
    CHECK(r1c_jinja_compile("x", 1, "x", NULL) == R1C_ERR_INVALID_ARG, "NULL out accepted");
    r1c_jinja_free(NULL);
    /* not NUL-terminated, with a NUL byte inside */
    const char src[] = {'a', 0, 'b', '{', '{', ' ', '1', ' ', '}', '}', 'Z'};
    CHECK(r1c_jinja_compile(src, 10, NULL, &t) == R1C_OK, "compile: %s", r1c_last_error());
    char *out;
    size_t n;
    CHECK(r1c_jinja_render(t, NULL, &out, &n) == R1C_OK && n == 4 && !memcmp(out, "a\0b1", 4) && out[4] == 0,
          "render with NUL byte");
    free(out);
    cJSON *arr = cJSON_CreateArray();
    CHECK(r1c_jinja_render(t, arr, &out, &n) == R1C_ERR_INVALID_ARG && out == NULL, "array context accepted");
    cJSON_Delete(arr);
    /* one compiled template, many renders, different contexts */
    r1c_jinja_free(t);
    const char *s2 = "{{ messages|length }}";
    CHECK(r1c_jinja_compile(s2, strlen(s2), "t", &t) == R1C_OK, "compile");
    for (int i = 0; i < 3; i++) {
        cJSON *ctx = cJSON_CreateObject();
        cJSON *m = cJSON_AddArrayToObject(ctx, "messages");
        for (int k = 0; k < i; k++) cJSON_AddItemToArray(m, cJSON_CreateObject());
        CHECK(r1c_jinja_render(t, ctx, &out, &n) == R1C_OK && n == 1 && out[0] == '0' + i, "render %d", i);
        free(out);
        cJSON_Delete(ctx);
    }
    r1c_jinja_free(t);
    /* an empty template renders to "" */
    CHECK(r1c_jinja_compile("", 0, "t", &t) == R1C_OK, "empty compile");
    CHECK(r1c_jinja_render(t, NULL, &out, &n) == R1C_OK && n == 0 && out[0] == 0, "empty render");
    free(out);
    r1c_jinja_free(t);
}

int main(void) {
    test_golden();
    test_features();
    test_tool_chats();
    test_strftime();
    test_errors();
    test_limits();
    test_api();
    return test_summary("test_jinja");
}
