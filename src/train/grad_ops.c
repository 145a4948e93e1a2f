/* grad_ops.c — forward and backward of the training operations (see grad_ops.h). */
#include "train/grad_ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/parallel.h"
#include "base/error.h"

/* ------------------------------------------------------------------ embedding */

void tg_embed_fwd(const float *E, const int32_t *ids, int T, int64_t D, float *y) {
    for (int t = 0; t < T; t++) memcpy(y + (int64_t)t * D, E + (int64_t)ids[t] * D, sizeof(float) * (size_t)D);
}

/* rows in token order: a token id seen twice adds twice, always in the same order */
void tg_embed_bwd(const float *dy, const int32_t *ids, int T, int64_t D, float *dE) {
    for (int t = 0; t < T; t++) {
        float *row = dE + (int64_t)ids[t] * D;
        const float *g = dy + (int64_t)t * D;
        for (int64_t i = 0; i < D; i++) row[i] += g[i];
    }
}

/* ------------------------------------------------------------------ RMSNorm */

void tg_rmsnorm_fwd(const r1c_exec *ex, const float *x, const float *w, float eps, int T, int64_t D, float *y, float *rstd) {
    const int nt = ex->n_threads;
    (void)nt;
#pragma omp parallel for num_threads(nt) schedule(static) if (T >= 16)
    for (int t = 0; t < T; t++) {
        const float *xr = x + (int64_t)t * D;
        double ss = 0;
        for (int64_t i = 0; i < D; i++) ss += (double)xr[i] * xr[i];
        const float r = (float)(1.0 / sqrt(ss / (double)D + eps));
        rstd[t] = r;
        for (int64_t i = 0; i < D; i++) y[(int64_t)t * D + i] = xr[i] * r * w[i];
    }
}

/* y_i = x_i r w_i with r = (mean x^2 + eps)^-1/2, so dr/dx_j = -r^3 x_j / D and
 * dx_j = r w_j dy_j - x_j r^3 / D * sum_i dy_i w_i x_i;  dw_i = sum_t dy_i x_i r */
void tg_rmsnorm_bwd(const r1c_exec *ex, const float *dy, const float *x, const float *w, const float *rstd, int T, int64_t D,
                    float *dx, float *dw) {
    const int nt = ex->n_threads;
    (void)nt;
#pragma omp parallel for num_threads(nt) schedule(static) if (T >= 16)
    for (int t = 0; t < T; t++) {
        const float *g = dy + (int64_t)t * D, *xr = x + (int64_t)t * D;
        const float r = rstd[t];
        double dot = 0;
        for (int64_t i = 0; i < D; i++) dot += (double)g[i] * w[i] * xr[i];
        const float c = (float)(dot * (double)r * r * r / (double)D);
        float *o = dx + (int64_t)t * D;
        for (int64_t i = 0; i < D; i++) o[i] += r * w[i] * g[i] - xr[i] * c;
    }
    /* the weight's gradient sums over rows: one thread per column range, rows in order */
#pragma omp parallel for num_threads(nt) schedule(static) if (D * T >= 65536)
    for (int64_t i = 0; i < D; i++) {
        float s = 0;
        for (int t = 0; t < T; t++) s += dy[(int64_t)t * D + i] * x[(int64_t)t * D + i] * rstd[t];
        dw[i] += s;
    }
}

/* ------------------------------------------------------------------ linear */

static r1c_tensor f32_view(const float *data, int64_t rows, int64_t cols) {
    r1c_tensor t = {.name = "train", .dtype = R1C_F32, .n_dims = 2, .shape = {rows, cols}, .data = data};
    t.nbytes = sizeof(float) * (uint64_t)(rows * cols);
    return t;
}

/* dst[c][r] = src[r][c] for an r x c matrix. 16 x 16 tiles through a local buffer: rows are
 * read and written whole (64-byte lines), never one float per line at a power-of-two stride
 * (which maps every write of a column to the same cache set). */
static void transpose(const r1c_exec *ex, const float *src, int64_t rows, int64_t cols, float *dst) {
    const int64_t nbr = (rows + 15) / 16, nbc = (cols + 15) / 16;
    const int nt = ex->n_threads;
    (void)nt;
#pragma omp parallel for num_threads(nt) schedule(static) if (rows * cols >= 65536)
    for (int64_t b = 0; b < nbr * nbc; b++) {
        const int64_t r0 = b / nbc * 16, c0 = b % nbc * 16;
        const int nr = (int)(r0 + 16 < rows ? 16 : rows - r0), nc = (int)(c0 + 16 < cols ? 16 : cols - c0);
        float tile[16][16];
        for (int r = 0; r < nr; r++)
            for (int c = 0; c < nc; c++) tile[c][r] = src[(r0 + r) * cols + c0 + c];
        for (int c = 0; c < nc; c++) memcpy(dst + (c0 + c) * rows + r0, tile[c], sizeof(float) * (size_t)nr);
    }
}

static void add_into(const r1c_exec *ex, float *dst, const float *src, int64_t n) {
    const int nt = ex->n_threads;
    (void)nt;
#pragma omp parallel for num_threads(nt) schedule(static) if (n >= 65536)
    for (int64_t i = 0; i < n; i++) dst[i] += src[i];
}

size_t tg_linear_work_floats(int T, int64_t in, int64_t out) {
    const size_t a = (size_t)(in * out) + (size_t)T * (size_t)in;                       /* W^T, dx */
    const size_t b = (size_t)T * (size_t)(in + out) + (size_t)(in * out);               /* x^T, dy^T, dW */
    return a > b ? a : b;
}

void tg_linear_fwd(const r1c_exec *ex, const float *x, const float *W, const float *b, int T, int64_t in, int64_t out,
                   float *y) {
    const r1c_tensor w = f32_view(W, out, in);
    const r1c_mm_job job = {.w = &w, .y = y, .ldy = out};
    r1c_matmul(ex, &job, 1, x, in, T);
    if (b)
        for (int t = 0; t < T; t++)
            for (int64_t o = 0; o < out; o++) y[(int64_t)t * out + o] += b[o];
}

void tg_linear_bwd(const r1c_exec *ex, const float *dy, const float *x, const float *W, int T, int64_t in, int64_t out,
                   float *dx, float *dW, float *db, float *work) {
    if (dx) { /* dx = dy W: rows of W^T are the "weights" of a matmul over dy's rows */
        float *wt = work, *tmp = work + in * out;
        transpose(ex, W, out, in, wt);
        const r1c_tensor w = f32_view(wt, in, out);
        const r1c_mm_job job = {.w = &w, .y = tmp, .ldy = in};
        r1c_matmul(ex, &job, 1, dy, out, T);
        add_into(ex, dx, tmp, (int64_t)T * in);
    }
    if (dW) { /* dW[o][i] = sum_t dy[t][o] x[t][i]: a matmul over T with x^T rows as weights */
        float *xt = work, *dyt = xt + (int64_t)T * in, *tmp = dyt + (int64_t)T * out;
        transpose(ex, x, T, in, xt);
        transpose(ex, dy, T, out, dyt);
        const r1c_tensor w = f32_view(xt, in, T);
        const r1c_mm_job job = {.w = &w, .y = tmp, .ldy = in};
        r1c_matmul(ex, &job, 1, dyt, T, (int)out);
        add_into(ex, dW, tmp, out * in);
    }
    if (db)
        for (int64_t o = 0; o < out; o++) {
            float s = 0;
            for (int t = 0; t < T; t++) s += dy[(int64_t)t * out + o];
            db[o] += s;
        }
}

/* ------------------------------------------------------------------ RoPE */

static void rope(float *x, int T, int n_heads, int hd, int64_t ld, const int32_t *pos, const float *inv_freq, float mscale,
                 int interleaved, float sign) {
    const int half = hd / 2;
    for (int t = 0; t < T; t++)
        for (int j = 0; j < half; j++) {
            const double a = (double)pos[t] * (double)inv_freq[j];
            const float c = (float)cos(a) * mscale, s = sign * (float)sin(a) * mscale;
            for (int h = 0; h < n_heads; h++) {
                float *p = x + (int64_t)t * ld + (int64_t)h * hd;
                const int i0 = interleaved ? 2 * j : j, i1 = interleaved ? 2 * j + 1 : j + half;
                const float a0 = p[i0], a1 = p[i1];
                p[i0] = a0 * c - a1 * s;
                p[i1] = a0 * s + a1 * c;
            }
        }
}

void tg_rope_fwd(float *x, int T, int n_heads, int hd, int64_t ld, const int32_t *pos, const float *inv_freq, float mscale,
                 int interleaved) {
    rope(x, T, n_heads, hd, ld, pos, inv_freq, mscale, interleaved, 1.0f);
}

/* the rotation's transpose: the same matrix with -sin (and the same scale) */
void tg_rope_bwd(float *dx, int T, int n_heads, int hd, int64_t ld, const int32_t *pos, const float *inv_freq, float mscale,
                 int interleaved) {
    rope(dx, T, n_heads, hd, ld, pos, inv_freq, mscale, interleaved, -1.0f);
}

/* ------------------------------------------------------------------ attention */

/* Each (sequence, head) as matrix products on the GEMM, the causal mask in the softmax (the
 * masked half of S is computed and dropped: the GEMM is many times faster than the loops that
 * would skip it):
 *   S = Q K^T, P = softmax(scale S) over j <= i, out = P V
 *   dP = dout V^T, dS = scale P o (dP - rowsum(P o dP)), dQ = dS K, dK = dS^T Q, dV = P^T dout
 * The heads go in order, one after another, so the sums into a shared kv head's dK, dV have one
 * order for any thread count. */

/* rows [T][d] of one head out of interleaved rows (stride ld), or back */
static void gather(const float *src, int64_t ld, int64_t off, int T, int d, float *dst) {
    for (int t = 0; t < T; t++) memcpy(dst + (int64_t)t * d, src + (int64_t)t * ld + off, sizeof(float) * (size_t)d);
}
static void scatter_add(const float *src, int T, int d, float *dst, int64_t ld, int64_t off) {
    for (int t = 0; t < T; t++)
        for (int c = 0; c < d; c++) dst[(int64_t)t * ld + off + c] += src[(int64_t)t * d + c];
}

/* y[T][n] = x[T][k] W^T for W [n][k] */
static void mm(const r1c_exec *ex, const float *W, int64_t n, int64_t k, const float *x, int T, float *y) {
    const r1c_tensor w = f32_view(W, n, k);
    const r1c_mm_job job = {.w = &w, .y = y, .ldy = n};
    r1c_matmul(ex, &job, 1, x, k, T);
}

size_t tg_attention_work_floats(const tg_attn_shape *s) {
    const size_t T = (size_t)s->T, d = (size_t)(s->dk > s->dv ? s->dk : s->dv);
    return 3 * T * T + 8 * T * d;
}

r1c_status tg_attention_fwd(const tg_attn_shape *s, const float *q, const float *k, const float *v, float *P, float *out,
                            float *given) {
    const int B = s->B, T = s->T, H = s->H, KVH = s->KVH, dk = s->dk, dv = s->dv, group = H / KVH;
    const int64_t lq = (int64_t)H * dk, lk = (int64_t)KVH * dk, lv = (int64_t)KVH * dv, lo = (int64_t)H * dv;
    float *work = given ? given : malloc(sizeof(float) * tg_attention_work_floats(s));
    if (!work) return r1c_error(R1C_ERR_NOMEM, "out of memory for attention");
    float *Qh = work, *Kh = Qh + (int64_t)T * dk, *VT = Kh + (int64_t)T * dk, *Oh = VT + (int64_t)T * dv;
    float *Vh = Oh + (int64_t)T * dv;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const int kh = h / group;
            float *Pb = P + ((int64_t)b * H + h) * T * T;
            gather(q + (int64_t)b * T * lq, lq, (int64_t)h * dk, T, dk, Qh);
            gather(k + (int64_t)b * T * lk, lk, (int64_t)kh * dk, T, dk, Kh);
            mm(s->ex, Kh, T, dk, Qh, T, Pb); /* S[i][j] = q_i . k_j */
            const int nt = s->ex->n_threads;
            (void)nt;
#pragma omp parallel for num_threads(nt) schedule(static) if (T >= 64)
            for (int i = 0; i < T; i++) {
                float *p = Pb + (int64_t)i * T, mx = -INFINITY;
                for (int j = 0; j <= i; j++) mx = fmaxf(mx, p[j] *= s->scale);
                double sum = 0;
                for (int j = 0; j <= i; j++) sum += (p[j] = expf(p[j] - mx));
                const float inv = (float)(1.0 / sum);
                for (int j = 0; j <= i; j++) p[j] *= inv;
                for (int j = i + 1; j < T; j++) p[j] = 0;
            }
            gather(v + (int64_t)b * T * lv, lv, (int64_t)kh * dv, T, dv, Vh);
            transpose(s->ex, Vh, T, dv, VT);
            mm(s->ex, VT, dv, T, Pb, T, Oh); /* out_i = sum_j P_ij v_j */
            for (int t = 0; t < T; t++) memcpy(out + (int64_t)(b * T + t) * lo + (int64_t)h * dv, Oh + (int64_t)t * dv, sizeof(float) * (size_t)dv);
        }
    if (!given) free(work);
    return R1C_OK;
}

r1c_status tg_attention_bwd(const tg_attn_shape *s, const float *dout, const float *q, const float *k, const float *v,
                            const float *P, float *dq, float *dk, float *dv, float *given) {
    const int B = s->B, T = s->T, H = s->H, KVH = s->KVH, dkk = s->dk, dvv = s->dv, group = H / KVH;
    const int64_t lq = (int64_t)H * dkk, lk = (int64_t)KVH * dkk, lv = (int64_t)KVH * dvv, lo = (int64_t)H * dvv;
    const int64_t d = dkk > dvv ? dkk : dvv;
    float *work = given ? given : malloc(sizeof(float) * tg_attention_work_floats(s));
    if (!work) return r1c_error(R1C_ERR_NOMEM, "out of memory for attention");
    float *dP = work, *dST = dP + (int64_t)T * T, *PT = dST + (int64_t)T * T;
    float *A = PT + (int64_t)T * T, *AT = A + (int64_t)T * d, *G = AT + (int64_t)T * d, *R = G + (int64_t)T * d;
    const int nt = s->ex->n_threads;
    (void)nt;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const int kh = h / group;
            const float *Pb = P + ((int64_t)b * H + h) * T * T;
            /* dP = dout V^T, then dS = scale P o (dP - rowsum(P o dP)) in place */
            gather(dout + (int64_t)b * T * lo, lo, (int64_t)h * dvv, T, dvv, G);
            gather(v + (int64_t)b * T * lv, lv, (int64_t)kh * dvv, T, dvv, A);
            mm(s->ex, A, T, dvv, G, T, dP);
#pragma omp parallel for num_threads(nt) schedule(static) if (T >= 64)
            for (int i = 0; i < T; i++) {
                const float *p = Pb + (int64_t)i * T;
                float *g = dP + (int64_t)i * T;
                double acc = 0;
                for (int j = 0; j <= i; j++) acc += (double)p[j] * g[j];
                for (int j = 0; j <= i; j++) g[j] = p[j] * (g[j] - (float)acc) * s->scale;
                for (int j = i + 1; j < T; j++) g[j] = 0;
            }
            /* dV = P^T dout: rows of dout^T against P^T */
            transpose(s->ex, G, T, dvv, AT);
            transpose(s->ex, Pb, T, T, PT);
            mm(s->ex, AT, dvv, T, PT, T, R);
            scatter_add(R, T, dvv, dv + (int64_t)b * T * lv, lv, (int64_t)kh * dvv);
            /* dQ = dS K */
            gather(k + (int64_t)b * T * lk, lk, (int64_t)kh * dkk, T, dkk, A);
            transpose(s->ex, A, T, dkk, AT);
            mm(s->ex, AT, dkk, T, dP, T, R);
            scatter_add(R, T, dkk, dq + (int64_t)b * T * lq, lq, (int64_t)h * dkk);
            /* dK = dS^T Q */
            gather(q + (int64_t)b * T * lq, lq, (int64_t)h * dkk, T, dkk, A);
            transpose(s->ex, A, T, dkk, AT);
            transpose(s->ex, dP, T, T, dST);
            mm(s->ex, AT, dkk, T, dST, T, R);
            scatter_add(R, T, dkk, dk + (int64_t)b * T * lk, lk, (int64_t)kh * dkk);
        }
    if (!given) free(work);
    return R1C_OK;
}

/* ------------------------------------------------------------------ SwiGLU */

void tg_swiglu_fwd(const r1c_exec *ex, const float *g, const float *u, int64_t n, float *h) {
    const int nt = ex->n_threads;
    (void)nt;
#pragma omp parallel for num_threads(nt) schedule(static) if (n >= 65536)
    for (int64_t i = 0; i < n; i++) h[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

/* silu(g) = g sig(g), silu'(g) = sig(g) (1 + g (1 - sig(g))) */
void tg_swiglu_bwd(const r1c_exec *ex, const float *dh, const float *g, const float *u, int64_t n, float *dg, float *du) {
    const int nt = ex->n_threads;
    (void)nt;
#pragma omp parallel for num_threads(nt) schedule(static) if (n >= 65536)
    for (int64_t i = 0; i < n; i++) {
        const float sg = 1.0f / (1.0f + expf(-g[i])), silu = g[i] * sg;
        du[i] += dh[i] * silu;
        dg[i] += dh[i] * u[i] * sg * (1.0f + g[i] * (1.0f - sg));
    }
}

/* ------------------------------------------------------------------ cross-entropy */

double tg_cross_entropy(const r1c_exec *ex, const float *logits, const int32_t *targets, int T, int64_t V, float grad_scale,
                        float *dlogits, int *n_counted) {
    int n = 0;
    for (int t = 0; t < T; t++) n += targets[t] >= 0;
    if (n_counted) *n_counted = n;
    double *row_loss = malloc(sizeof(double) * (size_t)(T > 0 ? T : 1));
    const float g = n ? grad_scale / (float)n : 0.0f;
    const int nt = ex->n_threads;
    (void)nt;
#pragma omp parallel for num_threads(nt) schedule(static) if (T * V >= 65536)
    for (int t = 0; t < T; t++) {
        const float *l = logits + (int64_t)t * V;
        float *d = dlogits ? dlogits + (int64_t)t * V : NULL;
        const int32_t y = targets[t];
        if (y < 0) {
            if (row_loss) row_loss[t] = 0;
            if (d) memset(d, 0, sizeof(float) * (size_t)V);
            continue;
        }
        float mx = -INFINITY;
        for (int64_t i = 0; i < V; i++) mx = l[i] > mx ? l[i] : mx;
        double sum = 0;
        for (int64_t i = 0; i < V; i++) sum += exp((double)l[i] - mx);
        const double lse = log(sum) + mx, ly = l[y];
        if (row_loss) row_loss[t] = lse - ly;
        if (d) {
            for (int64_t i = 0; i < V; i++) d[i] = (float)exp((double)l[i] - lse) * g;
            d[y] -= g;
        }
    }
    double loss = 0;
    for (int t = 0; t < T && row_loss; t++) loss += row_loss[t]; /* rows in order: the same sum for any threads */
    free(row_loss);
    return n ? loss / n : 0.0;
}
