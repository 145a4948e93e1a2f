/* test_bpe_train.c — the BPE trainer (src/train/bpe_train.c) against r1c's own tokenizer and
 * against independent references written here: a naive trainer (recounts every pair every
 * step, same tie rule) for the merges, and a naive encoder (merges applied by rank) for the ids. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <cjson/cJSON.h>
#include <pcre2.h>

#include "r1c.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"
#include "train/bpe_train.h"

/* ------------------------------------------------------------ the corpus */

typedef struct texts {
    char **v;
    int n;
} texts;

static void add(texts *t, const char *s) {
    t->v = realloc(t->v, sizeof *t->v * (size_t)(t->n + 1));
    t->v[t->n++] = strdup(s);
}

static void free_texts(texts *t) {
    for (int i = 0; i < t->n; i++) free(t->v[i]);
    free(t->v);
}

static texts corpus(void) {
    static const char *sent[] = {
        "The quick brown fox jumps over the lazy dog.",
        "She sells sea shells by the sea shore, and the shells she sells are surely sea shells.",
        "Reasoning step by step: first we add the tens, then the ones.",
        "Let's think about it: the answer isn't obvious, but we'll find it.",
        "Grüße aus München! Ça va très bien, merci. Niño, señor, año.",
        "日本語のテキストも少し入れます。東京は大きい都市です。",
        "Emoji time 🙂🚀 and more 🙂 smiles 🎉🎉.",
        "Ελληνικά γράμματα και русский текст тоже здесь.",
        "    indented code:\n\tif (x == 1) { return y; }\n\n",
    };
    texts t = {0};
    uint32_t s = 12345;
    char buf[256];
    for (int i = 0; i < 400; i++) {
        s = s * 1103515245u + 12345u;
        unsigned a = (s >> 8) % 1000, b = (s >> 18) % 100;
        switch (i % 4) {
        case 0: snprintf(buf, sizeof buf, "%u * %u = %u", a, b, a * b); break;
        case 1: snprintf(buf, sizeof buf, "What is %u + %u? The answer is %u.", a, b, a + b); break;
        case 2: snprintf(buf, sizeof buf, "%s", sent[(s >> 4) % (sizeof sent / sizeof *sent)]); break;
        default: snprintf(buf, sizeof buf, "%s Then %u - %u = %d.", sent[i % 4], a, b, (int)a - (int)b); break;
        }
        add(&t, buf);
    }
    return t;
}

static r1c_bpe_trainer *train_on(const texts *t, int vocab, int min_freq, const char *dir) {
    r1c_bpe_trainer *tr = NULL;
    r1c_status st = r1c_bpe_trainer_new(&tr);
    CHECK(st == R1C_OK, "new: %s", r1c_last_error());
    for (int i = 0; i < t->n && st == R1C_OK; i++) st = r1c_bpe_trainer_add_text(tr, t->v[i], strlen(t->v[i]), "corpus");
    CHECK(st == R1C_OK, "add: %s", r1c_last_error());
    r1c_bpe_train_params p = {.vocab_size = vocab, .min_frequency = min_freq};
    st = r1c_bpe_trainer_train(tr, &p);
    CHECK(st == R1C_OK, "train: %s", r1c_last_error());
    st = r1c_bpe_trainer_save(tr, dir);
    CHECK(st == R1C_OK, "save: %s", r1c_last_error());
    return tr;
}

/* ------------------------------------------- the written file, read independently */

typedef struct bstr {
    char s[512];
    int n;
} bstr;

typedef struct model {
    bstr *tok; /* by id */
    int n_tok;
    bstr (*merges)[2];
    int n_merges;
    pcre2_code *re;
} model;

/* byte-level string -> raw bytes (GPT-2 alphabet) */
static bstr unlevel(const char *s) {
    bstr b = {.n = 0};
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        unsigned cp = *p < 0x80 ? *p : ((p[0] & 0x1fu) << 6 | (p[1] & 0x3fu));
        p += *p < 0x80 ? 1 : 2;
        int byte = r1c_bytelevel_byte(cp);
        CHECK(byte >= 0, "'%s' is not in the byte-level alphabet", s);
        b.s[b.n++] = (char)byte;
    }
    return b;
}

static int bstr_eq(const bstr *a, const bstr *b) { return a->n == b->n && memcmp(a->s, b->s, (size_t)a->n) == 0; }

static int read_model(const char *dir, model *m) {
    char path[1200];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    size_t len;
    char *json = read_file(path, &len);
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    free(json);
    if (!root) return 0;
    cJSON *mod = cJSON_GetObjectItem(root, "model"), *e;
    cJSON *vocab = cJSON_GetObjectItem(mod, "vocab"), *merges = cJSON_GetObjectItem(mod, "merges");
    m->n_tok = cJSON_GetArraySize(vocab);
    m->tok = calloc((size_t)m->n_tok, sizeof *m->tok);
    cJSON_ArrayForEach(e, vocab) {
        int id = e->valueint;
        CHECK(id >= 0 && id < m->n_tok, "vocab id %d out of range", id);
        if (id >= 0 && id < m->n_tok) m->tok[id] = unlevel(e->string);
    }
    m->n_merges = cJSON_GetArraySize(merges);
    m->merges = calloc((size_t)m->n_merges + 1, sizeof *m->merges);
    int k = 0;
    cJSON_ArrayForEach(e, merges) {
        m->merges[k][0] = unlevel(cJSON_GetArrayItem(e, 0)->valuestring);
        m->merges[k][1] = unlevel(cJSON_GetArrayItem(e, 1)->valuestring);
        k++;
    }
    cJSON *split = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "pre_tokenizer"), "pretokenizers"), 0);
    const char *pat = cJSON_GetObjectItem(cJSON_GetObjectItem(split, "pattern"), "Regex")->valuestring;
    int err;
    PCRE2_SIZE at;
    m->re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err, &at, NULL);
    cJSON_Delete(root);
    return m->re != NULL;
}

static void free_model(model *m) {
    free(m->tok);
    free(m->merges);
    pcre2_code_free(m->re);
}

/* Pre-tokenized pieces of s: the regex's matches and the gaps between them. */
static int split(const model *m, const char *s, size_t len, size_t *starts, size_t *ends, int max) {
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(m->re, NULL);
    int n = 0;
    size_t pos = 0, last = 0;
    while (pos <= len && pcre2_match(m->re, (PCRE2_SPTR)s, len, pos, 0, md, NULL) >= 0) {
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        if (ov[1] == ov[0]) { pos = ov[1] + 1; continue; }
        if (ov[0] > last && n < max) starts[n] = last, ends[n++] = ov[0];
        if (n < max) starts[n] = ov[0], ends[n++] = ov[1];
        last = pos = ov[1];
    }
    if (len > last && n < max) starts[n] = last, ends[n++] = len;
    pcre2_match_data_free(md);
    return n;
}

/* Reference encoder: each piece's bytes, then repeatedly the adjacent pair of lowest merge
 * rank merged (all its occurrences, left to right), the pieces' bytes looked up in the vocab. */
static int ref_encode(const model *m, const char *s, int32_t *ids, int max) {
    size_t st[4096], en[4096];
    int np = split(m, s, strlen(s), st, en, 4096), n = 0;
    for (int p = 0; p < np; p++) {
        bstr sym[512];
        int ns = 0;
        for (size_t i = st[p]; i < en[p] && ns < 512; i++) sym[ns].s[0] = s[i], sym[ns++].n = 1;
        for (;;) {
            int best = -1;
            for (int i = 0; i + 1 < ns; i++)
                for (int r = 0; r < m->n_merges && (best < 0 || r < best); r++)
                    if (bstr_eq(&m->merges[r][0], &sym[i]) && bstr_eq(&m->merges[r][1], &sym[i + 1])) best = r;
            if (best < 0) break;
            int j = 0;
            for (int i = 0; i < ns;) {
                if (i + 1 < ns && bstr_eq(&m->merges[best][0], &sym[i]) && bstr_eq(&m->merges[best][1], &sym[i + 1])) {
                    bstr c = sym[i];
                    memcpy(c.s + c.n, sym[i + 1].s, (size_t)sym[i + 1].n);
                    c.n += sym[i + 1].n;
                    sym[j++] = c;
                    i += 2;
                } else {
                    sym[j++] = sym[i++];
                }
            }
            ns = j;
        }
        for (int i = 0; i < ns && n < max; i++) {
            int id = -1;
            for (int k = 0; k < m->n_tok && id < 0; k++)
                if (bstr_eq(&m->tok[k], &sym[i])) id = k;
            ids[n++] = id;
        }
    }
    return n;
}

/* ------------------------------------------------------ naive trainer */

typedef struct occ {
    int32_t a, b;
    int64_t c;
} occ;

static int occ_cmp(const void *x, const void *y) {
    const occ *p = x, *q = y;
    if (p->a != q->a) return p->a < q->a ? -1 : 1;
    if (p->b != q->b) return p->b < q->b ? -1 : 1;
    return 0;
}

/* Distinct words with counts, then every step: all pairs recounted, the best by (count desc,
 * left id asc, right id asc) merged, unless merged before. Returns the merges as bytes. */
static int naive_train(const model *m, const texts *t, int n_bpe_vocab, bstr (*out)[2], int max_out) {
    int cap = 1 << 15, nw = 0;
    bstr *words = calloc((size_t)cap, sizeof *words);
    int64_t *wc = calloc((size_t)cap, sizeof *wc);
    for (int i = 0; i < t->n; i++) {
        size_t st[512], en[512];
        int np = split(m, t->v[i], strlen(t->v[i]), st, en, 512);
        for (int p = 0; p < np; p++) {
            bstr w = {.n = (int)(en[p] - st[p])};
            memcpy(w.s, t->v[i] + st[p], (size_t)w.n);
            int k = 0;
            while (k < nw && !bstr_eq(&words[k], &w)) k++;
            if (k == nw && nw < cap) words[nw++] = w;
            wc[k]++;
        }
    }
    /* symbols per word as ids; tokens as bytes */
    int32_t (*sym)[512] = calloc((size_t)nw, sizeof *sym);
    int *ns = calloc((size_t)nw, sizeof *ns);
    bstr *tok = calloc((size_t)n_bpe_vocab + 1, sizeof *tok);
    int ntok = 256, nm = 0;
    for (int b = 0; b < 256; b++) tok[b].s[0] = (char)b, tok[b].n = 1;
    for (int w = 0; w < nw; w++) {
        ns[w] = words[w].n;
        for (int i = 0; i < ns[w]; i++) sym[w][i] = (uint8_t)words[w].s[i];
    }
    occ *o = malloc(sizeof *o * (1 << 20));
    int32_t (*done)[2] = calloc((size_t)max_out + 1, sizeof *done);
    while (ntok < n_bpe_vocab && nm < max_out) {
        int no = 0;
        for (int w = 0; w < nw; w++)
            for (int i = 0; i + 1 < ns[w]; i++) o[no++] = (occ){sym[w][i], sym[w][i + 1], wc[w]};
        qsort(o, (size_t)no, sizeof *o, occ_cmp);
        occ best = {-1, -1, 0};
        for (int i = 0; i < no;) {
            occ g = o[i];
            int j = i + 1;
            for (; j < no && o[j].a == g.a && o[j].b == g.b; j++) g.c += o[j].c;
            int was = 0;
            for (int k = 0; k < nm; k++) was |= done[k][0] == g.a && done[k][1] == g.b;
            if (!was && g.c > best.c) best = g; /* sorted by (a, b): the first of equal counts wins */
            i = j;
        }
        if (best.c < 2) break;
        bstr c = tok[best.a];
        memcpy(c.s + c.n, tok[best.b].s, (size_t)tok[best.b].n);
        c.n += tok[best.b].n;
        int id = 0;
        while (id < ntok && !bstr_eq(&tok[id], &c)) id++;
        if (id == ntok) tok[ntok++] = c;
        out[nm][0] = tok[best.a], out[nm][1] = tok[best.b];
        done[nm][0] = best.a, done[nm][1] = best.b;
        nm++;
        for (int w = 0; w < nw; w++) {
            int j = 0;
            for (int i = 0; i < ns[w];) {
                if (i + 1 < ns[w] && sym[w][i] == best.a && sym[w][i + 1] == best.b) sym[w][j++] = id, i += 2;
                else sym[w][j++] = sym[w][i++];
            }
            ns[w] = j;
        }
    }
    free(words), free(wc), free(sym), free(ns), free(tok), free(o), free(done);
    return nm;
}

/* ------------------------------------------------------------------ tests */

static int same_file(const char *a, const char *b) {
    size_t la = 0, lb = 0;
    char *x = read_file(a, &la), *y = read_file(b, &lb);
    int same = x && y && la == lb && memcmp(x, y, la) == 0;
    free(x), free(y);
    return same;
}

static void check_roundtrip(const r1c_tokenizer *tok, const model *m, const char *s, int against_ref) {
    int32_t *ids = NULL;
    int n = 0;
    r1c_status st = r1c_tokenize(tok, s, strlen(s), 0, &ids, &n);
    CHECK(st == R1C_OK, "tokenize '%s': %s", s, r1c_last_error());
    char *out = NULL;
    size_t len = 0;
    st = r1c_detokenize(tok, ids, n, 0, &out, &len);
    CHECK(st == R1C_OK && len == strlen(s) && memcmp(out, s, len) == 0, "round trip of '%s' gave '%.*s'", s, (int)len, out ? out : "");
    if (against_ref) {
        int32_t ref[4096];
        int nr = ref_encode(m, s, ref, 4096);
        int same = nr == n;
        for (int i = 0; same && i < n; i++) same = ref[i] == ids[i];
        CHECK(same, "ids of '%s' differ from the reference encoder (%d vs %d ids)", s, n, nr);
    }
    free(ids);
    free(out);
}

static const char *ADDED[] = {"<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜▁pad▁｜>", "<｜User｜>", "<｜Assistant｜>",
                              "<think>", "</think>", "<answer>", "</answer>"};

static void test_main(void) {
    texts t = corpus();
    char dir_a[1100], dir_b[1100];
    snprintf(dir_a, sizeof dir_a, "%s/a", test_tmpdir("bpe_train"));
    snprintf(dir_b, sizeof dir_b, "%s/b", test_tmpdir("bpe_train"));
    const int V = 400;
    r1c_bpe_trainer *tr = train_on(&t, V, 2, dir_a);
    r1c_bpe_train_stats s;
    r1c_bpe_trainer_stats(tr, &s);
    CHECK(s.texts == (uint64_t)t.n && s.vocab_size == V && s.merges >= V - 256 - R1C_BPE_N_ADDED,
          "stats: %llu texts, vocab %d, %d merges", (unsigned long long)s.texts, s.vocab_size, s.merges);
    r1c_bpe_trainer_free(tr);

    r1c_tokenizer *tok = NULL;
    r1c_status st = r1c_tokenizer_load(dir_a, &tok);
    CHECK(st == R1C_OK, "load: %s", r1c_last_error());
    if (!tok) return;
    CHECK(r1c_tokenizer_n_vocab(tok) == V, "n_vocab %d, want %d", r1c_tokenizer_n_vocab(tok), V);
    model m = {0};
    CHECK(read_model(dir_a, &m), "cannot read %s/tokenizer.json back", dir_a);
    CHECK(m.n_tok == V - R1C_BPE_N_ADDED, "model.vocab has %d tokens", m.n_tok);
    for (int b = 0; b < 256 && m.tok; b++) CHECK(m.tok[b].n == 1 && (uint8_t)m.tok[b].s[0] == b, "id %d is not byte %d", b, b);

    /* the merges are what a naive trainer finds */
    bstr (*naive)[2] = calloc(4096, sizeof *naive);
    int nn = naive_train(&m, &t, m.n_tok, naive, 4096);
    int same = nn == m.n_merges;
    for (int i = 0; same && i < nn; i++) same = bstr_eq(&naive[i][0], &m.merges[i][0]) && bstr_eq(&naive[i][1], &m.merges[i][1]);
    CHECK(same, "merges differ from the naive trainer's (%d vs %d)", m.n_merges, nn);
    free(naive);

    /* ids as the reference encoder gives them; byte-exact round trips */
    for (int i = 0; i < t.n; i++) check_roundtrip(tok, &m, t.v[i], 1);
    const char *unseen[] = {"Unseen words: zebra quixotic 12345678901234567890!", "ＦＵＬＬＷＩＤＴＨ and \xf0\x9f\xa6\x84 unicorn",
                            "tabs\tand\r\nnewlines\n\n\n  trailing  ", "x", "", "9 * 9 = 81", "\xc3\xa9\xcc\x81 combining"};
    for (size_t i = 0; i < sizeof unseen / sizeof *unseen; i++) check_roundtrip(tok, &m, unseen[i], 1);

    /* digits never merge: no learned token holds one, and a number is one id per digit */
    int digit_tokens = 0;
    for (int id = 256; id < m.n_tok; id++)
        for (int k = 0; k < m.tok[id].n; k++) digit_tokens += m.tok[id].s[k] >= '0' && m.tok[id].s[k] <= '9';
    CHECK(digit_tokens == 0, "%d learned tokens contain digits", digit_tokens);
    int32_t *ids = NULL;
    int n = 0;
    st = r1c_tokenize(tok, "10063", 5, 0, &ids, &n);
    CHECK(st == R1C_OK && n == 5, "'10063' is %d ids", n);
    free(ids);

    /* the added tokens: one id each, after the BPE vocabulary; special as R1 has them */
    for (int i = 0; i < R1C_BPE_N_ADDED; i++) {
        st = r1c_tokenize(tok, ADDED[i], strlen(ADDED[i]), 0, &ids, &n);
        int32_t want = V - R1C_BPE_N_ADDED + i;
        CHECK(st == R1C_OK && n == 1 && ids[0] == want, "'%s' -> %d ids, first %d, want [%d]", ADDED[i], n, n ? ids[0] : -1, want);
        CHECK(r1c_token_is_special(tok, want) == (i < 5), "'%s' special flag", ADDED[i]);
        free(ids);
    }
    /* special tokens as text when asked; <think> is an added (not special) token: still one id */
    st = r1c_tokenize(tok, ADDED[3], strlen(ADDED[3]), R1C_TOK_NO_PARSE_SPECIAL, &ids, &n);
    CHECK(st == R1C_OK && n > 1, "%s as text is %d ids", ADDED[3], n);
    free(ids);
    st = r1c_tokenize(tok, "<think>", 7, R1C_TOK_NO_PARSE_SPECIAL, &ids, &n);
    CHECK(st == R1C_OK && n == 1, "<think> is %d ids", n);
    free(ids);
    /* BOS from add_bos_token; no EOS */
    CHECK(r1c_tokenizer_bos(tok) == V - R1C_BPE_N_ADDED && r1c_tokenizer_eos(tok) == V - R1C_BPE_N_ADDED + 1,
          "bos %d eos %d", r1c_tokenizer_bos(tok), r1c_tokenizer_eos(tok));
    st = r1c_tokenize(tok, "hello", 5, R1C_TOK_ADD_SPECIAL, &ids, &n);
    CHECK(st == R1C_OK && n >= 2 && ids[0] == r1c_tokenizer_bos(tok) && ids[n - 1] != r1c_tokenizer_eos(tok), "BOS not prepended");
    free(ids);

    /* R1's chat template, as in the test data, and it renders */
    size_t tl;
    char *want_tmpl = read_file("tests/data/tokenizer/deepseek_v3/templates/deepseek_r1_ollama_8b.jinja", &tl);
    while (want_tmpl && tl && want_tmpl[tl - 1] == '\n') want_tmpl[--tl] = 0;
    CHECK(want_tmpl && tok->chat_template && !strcmp(tok->chat_template, want_tmpl), "chat_template is not R1's");
    free(want_tmpl);
    r1c_chat_msg msgs[] = {{"user", "What is 2+2?"}, {"assistant", "<think>\nadd\n</think>\n\n4"}, {"user", "And 3+3?"}};
    char *out = NULL;
    size_t len = 0;
    st = r1c_chat_render(tok, msgs, 3, 1, NULL, &out, &len);
    const char *want = "<｜begin▁of▁sentence｜><｜User｜>What is 2+2?<｜Assistant｜>\n\n4<｜end▁of▁sentence｜><｜User｜>And 3+3?<｜Assistant｜>";
    CHECK(st == R1C_OK && out && contains(out, "<｜User｜>") && contains(out, "<｜Assistant｜>") && !strcmp(out, want),
          "rendered '%s' (%s)", out ? out : "", r1c_last_error());
    CHECK(out && r1c_chat_wants_think(tok, out, len), "R1's template should want <think>");
    free(out);

    /* the same input gives the same files */
    tr = train_on(&t, V, 2, dir_b);
    r1c_bpe_trainer_free(tr);
    char pa[1200], pb[1200];
    const char *files[] = {"tokenizer.json", "tokenizer_config.json"};
    for (int i = 0; i < 2; i++) {
        snprintf(pa, sizeof pa, "%s/%s", dir_a, files[i]);
        snprintf(pb, sizeof pb, "%s/%s", dir_b, files[i]);
        CHECK(same_file(pa, pb), "%s differs between two runs", files[i]);
    }
    free_model(&m);
    r1c_tokenizer_free(tok);
    free_texts(&t);
}

/* Too little text for the size asked: the vocabulary stops where pairs run out. */
static void test_runs_out(void) {
    texts t = {0};
    add(&t, "abab abab abab cd cd");
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/small", test_tmpdir("bpe_train"));
    r1c_bpe_trainer *tr = train_on(&t, 1000, 2, dir);
    r1c_bpe_train_stats s;
    r1c_bpe_trainer_stats(tr, &s);
    /* "ab" x6, then "abab" x3, " abab" x2 ("abab" also merges " ab"?) — whatever it is, fewer than asked */
    CHECK(s.vocab_size < 1000 && s.vocab_size == 256 + R1C_BPE_N_ADDED + s.merges, "vocab %d, merges %d", s.vocab_size, s.merges);
    r1c_bpe_trainer_free(tr);
    r1c_tokenizer *tok = NULL;
    CHECK(r1c_tokenizer_load(dir, &tok) == R1C_OK, "load: %s", r1c_last_error());
    CHECK(tok && r1c_tokenizer_n_vocab(tok) == s.vocab_size, "n_vocab %d vs %d", tok ? r1c_tokenizer_n_vocab(tok) : -1, s.vocab_size);
    r1c_tokenizer_free(tok);
    free_texts(&t);
}

static void test_errors(void) {
    const char *base = test_tmpdir("bpe_train");
    char path[1200];
    r1c_bpe_trainer *tr = NULL;
    CHECK(r1c_bpe_trainer_new(&tr) == R1C_OK, "new");
    /* invalid UTF-8 names the text and the byte */
    r1c_status st = r1c_bpe_trainer_add_text(tr, "abc\xff", 4, "bad.txt");
    CHECK(st == R1C_ERR_FORMAT && contains(r1c_last_error(), "bad.txt") && contains(r1c_last_error(), "byte 3"), "%s", r1c_last_error());
    snprintf(path, sizeof path, "%s/bad_utf8.txt", base);
    FILE *f = fopen(path, "wb");
    fputs("fine\nthen \xc3\x28 not", f);
    fclose(f);
    st = r1c_bpe_trainer_add_file(tr, path, NULL);
    CHECK(st == R1C_ERR_FORMAT && contains(r1c_last_error(), path) && contains(r1c_last_error(), "byte 10"), "%s", r1c_last_error());
    st = r1c_bpe_trainer_add_file(tr, "/nonexistent/corpus.txt", NULL);
    CHECK(st != R1C_OK && contains(r1c_last_error(), "/nonexistent/corpus.txt"), "%s", r1c_last_error());
    /* JSONL: texts from the field; a line without it is named */
    snprintf(path, sizeof path, "%s/c.jsonl", base);
    f = fopen(path, "wb");
    fputs("{\"text\": \"one two\", \"id\": 1}\n\n{\"id\": 2, \"text\": \"three\\nfour\"}\n", f);
    fclose(f);
    st = r1c_bpe_trainer_add_file(tr, path, "text");
    r1c_bpe_train_stats s;
    r1c_bpe_trainer_stats(tr, &s);
    CHECK(st == R1C_OK && s.texts == 2 && s.bytes == 7 + 10, "jsonl: %s, %llu texts %llu bytes", r1c_last_error(),
          (unsigned long long)s.texts, (unsigned long long)s.bytes);
    st = r1c_bpe_trainer_add_file(tr, path, "body");
    CHECK(st == R1C_ERR_MISSING && contains(r1c_last_error(), "line 1") && contains(r1c_last_error(), "body"), "%s", r1c_last_error());
    /* vocabulary too small for the bytes and the added tokens */
    r1c_bpe_train_params p = {.vocab_size = 256 + R1C_BPE_N_ADDED - 1};
    st = r1c_bpe_trainer_train(tr, &p);
    CHECK(st == R1C_ERR_INVALID_ARG && contains(r1c_last_error(), "vocab_size 264"), "%s", r1c_last_error());
    p.vocab_size = 300;
    CHECK(r1c_bpe_trainer_train(tr, &p) == R1C_OK, "train: %s", r1c_last_error());
    /* an output directory that cannot be made */
    snprintf(path, sizeof path, "%s/bad_utf8.txt/sub", base);
    st = r1c_bpe_trainer_save(tr, path);
    CHECK(st == R1C_ERR_IO && contains(r1c_last_error(), path), "%s", r1c_last_error());
    r1c_bpe_trainer_free(tr);
}

int main(void) {
    test_main();
    test_runs_out();
    test_errors();
    return test_summary("test_bpe_train");
}
