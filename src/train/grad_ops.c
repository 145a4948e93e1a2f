/* grad_ops.c — forward and backward of the training operations (see grad_ops.h). */
#include "train/grad_ops.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/parallel.h"
#include "base/error.h"
#include "train/sgemm.h"

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
    if (!dw) return; /* (a frozen norm) */
#pragma omp parallel for num_threads(nt) schedule(static) if (D * T >= 65536)
    for (int64_t i = 0; i < D; i++) {
        float s = 0;
        for (int t = 0; t < T; t++) s += dy[(int64_t)t * D + i] * x[(int64_t)t * D + i] * rstd[t];
        dw[i] += s;
    }
}

/* ------------------------------------------------------------------ linear */

/* All three products go through r1c_sgemm (sgemm.h), which reads the transposed operands in
 * place through its packing: no transposed copies, and dx, dW accumulate straight into their
 * buffers (beta 1). Each output element's sum order is fixed by the shapes alone, so 1 and N
 * threads stay bit-identical. The work buffer is no longer needed (kept in the API: one float, never read). */
size_t tg_linear_work_floats(int T, int64_t in, int64_t out) {
    (void)T, (void)in, (void)out;
    return 1;
}

void tg_linear_fwd(const r1c_exec *ex, const float *x, const float *W, const float *b, int T, int64_t in, int64_t out,
                   float *y) {
    r1c_sgemm(ex, 0, 1, T, out, in, 1.0f, x, in, W, in, 0.0f, y, out); /* y = x W^T */
    if (b)
        for (int t = 0; t < T; t++)
            for (int64_t o = 0; o < out; o++) y[(int64_t)t * out + o] += b[o];
}

void tg_linear_bwd(const r1c_exec *ex, const float *dy, const float *x, const float *W, int T, int64_t in, int64_t out,
                   float *dx, float *dW, float *db, float *work) {
    (void)work;
    if (dx) r1c_sgemm(ex, 0, 0, T, in, out, 1.0f, dy, out, W, in, 1.0f, dx, in);       /* dx += dy W */
    if (dW) r1c_sgemm(ex, 1, 0, out, in, T, 1.0f, dy, out, x, in, 1.0f, dW, in);       /* dW += dy^T x */
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

/* Each (sequence, head) as matrix products on r1c_sgemm, the causal mask in the softmax (the
 * masked half of S is computed and dropped: the GEMM is many times faster than the loops that
 * would skip it):
 *   S = Q K^T, P = softmax(scale S) over j <= i, out = P V
 *   dP = dout V^T, dS = scale P o (dP - rowsum(P o dP)), dQ = dS K, dK = dS^T Q, dV = P^T dout
 * A head's Q, K, V, dout are read in place (stride = the row length), the transposes are the
 * GEMM's, and dQ, dK, dV accumulate in place (beta 1). The heads go in order, one after
 * another, so the sums into a shared kv head's dK, dV have one order for any thread count. */

/* One thread per (sequence, key/value head): its query heads run in order with single-threaded
 * GEMMs. At T = 256 and head widths of 32-64 the per-head products are too small to split
 * inside (the threads would mostly wait on each other); across heads there is nothing to
 * share. Each (b, kv head) writes only its own rows of out, dq, dk, dv, and its query heads
 * add into dk, dv in head order, so the result does not depend on the thread count. */
static int attn_threads(const tg_attn_shape *s) {
    const int units = s->B * s->KVH, nt = s->ex && s->ex->n_threads > 1 ? s->ex->n_threads : 1;
    return units < nt ? units : nt;
}

size_t tg_attention_work_floats(const tg_attn_shape *s) { return (size_t)s->T * (size_t)s->T * (size_t)attn_threads(s); }

/* row i of the softmax of scale * S over keys lo..i, in place (the others set to 0) */
static void softmax_row(float *p, int lo, int i, int T, float scale) {
    float mx = -INFINITY;
    for (int j = 0; j < lo; j++) p[j] = 0;
    for (int j = lo; j <= i; j++) mx = fmaxf(mx, p[j] *= scale);
    double sum = 0;
    for (int j = lo; j <= i; j++) sum += (p[j] = expf(p[j] - mx));
    const float inv = (float)(1.0 / sum);
    for (int j = lo; j <= i; j++) p[j] *= inv;
    for (int j = i + 1; j < T; j++) p[j] = 0;
}

r1c_status tg_attention_fwd(const tg_attn_shape *s, const float *q, const float *k, const float *v, float *P, float *out,
                            float *given) {
    const int B = s->B, T = s->T, H = s->H, KVH = s->KVH, dk = s->dk, dv = s->dv, group = H / KVH;
    const int64_t lq = (int64_t)H * dk, lk = (int64_t)KVH * dk, lv = (int64_t)KVH * dv, lo = (int64_t)H * dv;
    (void)given; /* (nothing to keep: the heads are read in place) */
    r1c_exec ex1 = *s->ex;
    ex1.n_threads = 1;
#pragma omp parallel for num_threads(attn_threads(s)) schedule(static)
    for (int u = 0; u < B * KVH; u++) {
        const int b = u / KVH, kh = u % KVH;
        const float *Kh = k + (int64_t)b * T * lk + (int64_t)kh * dk, *Vh = v + (int64_t)b * T * lv + (int64_t)kh * dv;
        for (int h = kh * group; h < (kh + 1) * group; h++) {
            float *Pb = P + ((int64_t)b * H + h) * T * T;
            const float *Qh = q + (int64_t)b * T * lq + (int64_t)h * dk;
            r1c_sgemm(&ex1, 0, 1, T, T, dk, 1.0f, Qh, lq, Kh, lk, 0.0f, Pb, T); /* S[i][j] = q_i . k_j */
            const int32_t *seg = s->seg_start ? s->seg_start + (int64_t)b * T : NULL;
            for (int i = 0; i < T; i++) softmax_row(Pb + (int64_t)i * T, seg ? seg[i] : 0, i, T, s->scale);
            r1c_sgemm(&ex1, 0, 0, T, dv, T, 1.0f, Pb, T, Vh, lv, 0.0f, out + (int64_t)b * T * lo + (int64_t)h * dv,
                      lo); /* out_i = sum_j P_ij v_j */
        }
    }
    return R1C_OK;
}

r1c_status tg_attention_bwd(const tg_attn_shape *s, const float *dout, const float *q, const float *k, const float *v,
                            const float *P, float *dq, float *dk, float *dv, float *given) {
    const int B = s->B, T = s->T, H = s->H, KVH = s->KVH, dkk = s->dk, dvv = s->dv, group = H / KVH;
    const int64_t lq = (int64_t)H * dkk, lk = (int64_t)KVH * dkk, lv = (int64_t)KVH * dvv, lo = (int64_t)H * dvv;
    float *work = given ? given : malloc(sizeof(float) * tg_attention_work_floats(s));
    if (!work) return r1c_error(R1C_ERR_NOMEM, "out of memory for attention");
    r1c_exec ex1 = *s->ex;
    ex1.n_threads = 1;
    const int nt = attn_threads(s);
    (void)nt; /* (without OpenMP) */
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int u = 0; u < B * KVH; u++) {
        const int b = u / KVH, kh = u % KVH;
#ifdef _OPENMP
        float *dP = work + (size_t)omp_get_thread_num() * (size_t)T * (size_t)T;
#else
        float *dP = work;
#endif
        const int64_t koff = (int64_t)b * T * lk + (int64_t)kh * dkk, voff = (int64_t)b * T * lv + (int64_t)kh * dvv;
        for (int h = kh * group; h < (kh + 1) * group; h++) {
            const float *Pb = P + ((int64_t)b * H + h) * T * T;
            const float *G = dout + (int64_t)b * T * lo + (int64_t)h * dvv;
            const int64_t qoff = (int64_t)b * T * lq + (int64_t)h * dkk;
            /* dP = dout V^T, then dS = scale P o (dP - rowsum(P o dP)) in place (P is 0 where
             * a key was masked, so the mask needs nothing more here) */
            r1c_sgemm(&ex1, 0, 1, T, T, dvv, 1.0f, G, lo, v + voff, lv, 0.0f, dP, T);
            for (int i = 0; i < T; i++) {
                const float *p = Pb + (int64_t)i * T;
                float *g = dP + (int64_t)i * T;
                double acc = 0;
                for (int j = 0; j <= i; j++) acc += (double)p[j] * g[j];
                for (int j = 0; j <= i; j++) g[j] = p[j] * (g[j] - (float)acc) * s->scale;
                for (int j = i + 1; j < T; j++) g[j] = 0;
            }
            r1c_sgemm(&ex1, 1, 0, T, dvv, T, 1.0f, Pb, T, G, lo, 1.0f, dv + voff, lv);       /* dV += P^T dout */
            r1c_sgemm(&ex1, 0, 0, T, dkk, T, 1.0f, dP, T, k + koff, lk, 1.0f, dq + qoff, lq); /* dQ += dS K */
            r1c_sgemm(&ex1, 1, 0, T, dkk, T, 1.0f, dP, T, q + qoff, lq, 1.0f, dk + koff, lk); /* dK += dS^T Q */
        }
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

/* One row of logits l (V) with target y: returns -log softmax(l)[y] (in double), and with d
 * writes g (softmax(l) - onehot(y)) there (d may alias l). */
static double nll_row(const float *l, int64_t V, int32_t y, float g, float *d) {
    float mx = -INFINITY;
    for (int64_t i = 0; i < V; i++) mx = l[i] > mx ? l[i] : mx;
    double sum = 0;
    for (int64_t i = 0; i < V; i++) sum += exp((double)l[i] - mx);
    const double lse = log(sum) + mx, nl = lse - (double)l[y];
    if (d) {
        for (int64_t i = 0; i < V; i++) d[i] = (float)exp((double)l[i] - lse) * g;
        d[y] -= g;
    }
    return nl;
}

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
        const double nl = nll_row(l, V, y, g, d);
        if (row_loss) row_loss[t] = nl;
    }
    double loss = 0;
    for (int t = 0; t < T && row_loss; t++) loss += row_loss[t]; /* rows in order: the same sum for any threads */
    free(row_loss);
    return n ? loss / n : 0.0;
}

/* log p(y) = l_y - logsumexp(l), per row in double; the gradient of -w log p(y) is w (p - onehot) */
double tg_weighted_nll(const r1c_exec *ex, const float *logits, const int32_t *targets, const float *w, int T, int64_t V,
                       float *logp, float *dlogits) {
    double *row = malloc(sizeof(double) * (size_t)(T > 0 ? T : 1));
    const int nt = ex->n_threads;
    (void)nt;
#pragma omp parallel for num_threads(nt) schedule(static) if (T * V >= 65536)
    for (int t = 0; t < T; t++) {
        const float *l = logits + (int64_t)t * V;
        float *d = dlogits ? dlogits + (int64_t)t * V : NULL;
        const int32_t y = targets[t];
        if (y < 0 || y >= V) {
            if (row) row[t] = 0;
            if (logp) logp[t] = 0;
            if (d) memset(d, 0, sizeof(float) * (size_t)V);
            continue;
        }
        const float wt = w ? w[t] : 1.0f;
        const double nl = nll_row(l, V, y, wt, d);
        if (row) row[t] = (double)wt * nl;
        if (logp) logp[t] = (float)-nl;
    }
    double loss = 0;
    for (int t = 0; t < T && row; t++) loss += row[t]; /* rows in order: the same sum for any threads */
    const int ok = row != NULL;
    free(row);
    return ok ? loss : NAN;
}
