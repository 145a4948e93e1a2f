/* ops.c — see ops.h. */
#include "ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../base/parallel.h"
#include "quant.h"
#include "vexp.h"

/* GEMM blocking: a panel of NB weight rows x KB columns (widened to f32 once per token block),
 * TB tokens per block, K in blocks of KB (a multiple of 16, so lanes keep their k mod 16). */
#define NB 16
#define KB 512
#define TB 96
#define N_TT ((TB + R1C_GEMM_MT - 1) / R1C_GEMM_MT)
#define N_RT (NB / R1C_GEMM_NR)
#define TILE_FLOATS (R1C_GEMM_MT * R1C_GEMM_NR * R1C_LANES)
#define GEMM_SCRATCH (NB * KB + N_TT * N_RT * TILE_FLOATS + TB * NB)

size_t r1c_exec_scratch_floats(int n_ctx, size_t extra) {
    (void)n_ctx; /* attention's scratch does not grow with the context (ops.h) */
    return GEMM_SCRATCH > extra ? GEMM_SCRATCH : extra;
}

/* y: the output of row r0 */
static void matvec_rows(const r1c_kernels *K, const r1c_tensor *w, const float *x, float *y,
                        int64_t r0, int64_t r1) {
    int64_t k = w->shape[1];
    switch (w->dtype) {
    case R1C_F32: K->matvec_f32((const float *)w->data + r0 * k, x, y, k, r1 - r0); break;
    case R1C_BF16: K->matvec_bf16((const uint16_t *)w->data + r0 * k, x, y, k, r1 - r0); break;
    case R1C_F16: K->matvec_f16((const uint16_t *)w->data + r0 * k, x, y, k, r1 - r0); break;
    case R1C_F8_E4M3:
        K->matvec_fp8(w->data, w->scale, w->scale_cols, w->block[0], w->block[1], r0, x, y, k, r1 - r0);
        break;
    default: break; /* bound weights are checked at load */
    }
}

static void widen_rows(const r1c_kernels *K, const r1c_tensor *w, int64_t r, int nr, int64_t k0,
                       int64_t kl, float *panel) {
    int64_t k = w->shape[1];
    if (w->dtype == R1C_F8_E4M3) { /* run by run, one scale block at a time */
        const int64_t bk = w->block[1];
        for (int i = 0; i < nr; i++) {
            const uint8_t *src = (const uint8_t *)w->data + (r + i) * k;
            const float *srow = w->scale + ((r + i) / w->block[0]) * w->scale_cols;
            for (int64_t c = k0; c < k0 + kl;) {
                int64_t end = (c / bk + 1) * bk;
                if (end > k0 + kl) end = k0 + kl;
                K->fp8_to_f32(src + c, srow[c / bk] * 256.0f, panel + (int64_t)i * KB + (c - k0), end - c);
                c = end;
            }
        }
        return;
    }
    for (int i = 0; i < nr; i++) {
        const uint16_t *src = (const uint16_t *)w->data + (r + i) * k + k0;
        if (w->dtype == R1C_BF16) K->bf16_to_f32(src, panel + (int64_t)i * KB, kl);
        else K->f16_to_f32(src, panel + (int64_t)i * KB, kl);
    }
}

static void gemm_rows(const r1c_kernels *K, const r1c_tensor *w, const float *x, int64_t ldx,
                      int T, float *y, int64_t ldy, int64_t r0, int64_t r1, float *scratch) {
    const int64_t k = w->shape[1];
    float *panel = scratch, *acc = scratch + NB * KB, *sums = acc + N_TT * N_RT * TILE_FLOATS;
    for (int64_t r = r0; r < r1; r += NB) {
        const int nrb = (int)(r1 - r < NB ? r1 - r : NB);
        for (int t0 = 0; t0 < T; t0 += TB) {
            const int ntb = T - t0 < TB ? T - t0 : TB;
            for (int64_t k0 = 0; k0 < k; k0 += KB) {
                const int64_t kl = k - k0 < KB ? k - k0 : KB;
                const float *wp;
                int64_t ldw;
                if (w->dtype == R1C_F32) {
                    wp = (const float *)w->data + r * k + k0;
                    ldw = k;
                } else {
                    widen_rows(K, w, r, nrb, k0, kl, panel);
                    wp = panel;
                    ldw = KB;
                }
                for (int tt = 0; tt < ntb; tt += R1C_GEMM_MT)
                    for (int rr = 0; rr < nrb; rr += R1C_GEMM_NR) {
                        int nt = ntb - tt < R1C_GEMM_MT ? ntb - tt : R1C_GEMM_MT;
                        int nr = nrb - rr < R1C_GEMM_NR ? nrb - rr : R1C_GEMM_NR;
                        float *a = acc + ((tt / R1C_GEMM_MT) * N_RT + rr / R1C_GEMM_NR) * TILE_FLOATS;
                        K->gemm_acc(wp + rr * ldw, ldw, nr, x + (int64_t)(t0 + tt) * ldx + k0, ldx,
                                    nt, a, kl, k0 == 0);
                    }
            }
            for (int tt = 0; tt < ntb; tt += R1C_GEMM_MT)
                for (int rr = 0; rr < nrb; rr += R1C_GEMM_NR) {
                    int nt = ntb - tt < R1C_GEMM_MT ? ntb - tt : R1C_GEMM_MT;
                    int nr = nrb - rr < R1C_GEMM_NR ? nrb - rr : R1C_GEMM_NR;
                    const float *a = acc + ((tt / R1C_GEMM_MT) * N_RT + rr / R1C_GEMM_NR) * TILE_FLOATS;
                    K->lane_sums(a, nt * nr, sums);
                    for (int t = 0; t < nt; t++)
                        for (int i = 0; i < nr; i++) y[(int64_t)(t0 + tt + t) * ldy + r + rr + i] = sums[t * nr + i];
                }
        }
    }
}

/* Rows are handed out in chunks from a shared counter (dynamic scheduling): a thread that
 * finishes early takes more, so no core idles at the barrier when the two cores see unequal
 * bandwidth. Each row is still computed by exactly one thread in the canonical order, so the
 * result does not depend on which thread took it.
 *
 * Chunk size: the matrix-vector kernel reads a chunk as 8 interleaved runs of chunk/8 rows;
 * runs of ~192 KB keep the prefetchers at full speed, and at least 4 chunks per thread keep
 * the threads balanced. GEMM chunks are a few NB-row panels. */
#define STREAM_BYTES (192 << 10)

static int64_t chunk_rows(const r1c_mm_job *jobs, int n_jobs, int64_t total, int T, int nt) {
    if (T > 1) return 4 * NB;
    const r1c_tensor *w = jobs[0].w;
    int64_t row_bytes = (int64_t)r1c_dtype_row_bytes(w->dtype, (uint64_t)w->shape[1]);
    if (row_bytes <= 0) row_bytes = w->shape[1];
    int64_t c = 8 * ((STREAM_BYTES + row_bytes - 1) / row_bytes);
    int64_t balance = total / (4 * (int64_t)nt);
    if (c > balance) c = balance;
    /* a multiple of 16: row-interleaved weights (quant.h) come in groups of 16 rows */
    c = (c + R1C_PACK_ROWS - 1) / R1C_PACK_ROWS * R1C_PACK_ROWS;
    return c < R1C_PACK_ROWS ? R1C_PACK_ROWS : c;
}

/* Quantised weights take quantised activations (quant.h): each token row of each distinct
 * input is quantised once per call, before the threads start. */
typedef struct qact {
    const float *x;
    r1c_dtype type;
    uint8_t *q;
    uint64_t row_bytes;
    r1c_qgemm_act g; /* Q8_0 rows laid out for the GEMM kernels (g.tiles NULL: not prepared) */
    void *g_mem;
} qact;

/* the GEMM layout of T quantised Q8_0 rows (kernels.h) */
static void prepare_gemm_act(qact *a, int64_t k, int T, int nth) {
    const int64_t nb = k / 32, ng = (T + R1C_QGEMM_TT - 1) / R1C_QGEMM_TT;
    const size_t bytes = (size_t)(ng * nb) * R1C_QGEMM_TILE_BYTES;
    uint8_t *mem = aligned_alloc(64, (bytes + 63) & ~(size_t)63); /* (C11: a multiple of the alignment) */
    if (!mem) return;
#pragma omp parallel for schedule(static) num_threads(nth) if (T * k >= (1 << 16))
    for (int t = 0; t < T; t++) {
        const uint8_t *row = a->q + a->row_bytes * (uint64_t)t;
        const int g = t / R1C_QGEMM_TT, i = t % R1C_QGEMM_TT;
        for (int64_t b = 0; b < nb; b++) {
            uint8_t *tile = mem + (size_t)(g * nb + b) * R1C_QGEMM_TILE_BYTES;
            const uint8_t *blk = row + (size_t)b * sizeof(r1c_block_q8_0);
            int8_t qs[32];
            uint16_t h;
            memcpy(&h, blk, 2);
            memcpy(qs, blk + 2, 32);
            int32_t s = 0;
            for (int j = 0; j < 32; j++) s += qs[j];
            const float d = r1c_f16_to_f32(h);
            memcpy(tile + 32 * i, qs, 32);
            memcpy(tile + 32 * R1C_QGEMM_TT + 4 * i, &d, 4);
            memcpy(tile + 36 * R1C_QGEMM_TT + 4 * i, &s, 4);
        }
    }
    a->g = (r1c_qgemm_act){.tiles = mem, .k = k, .nb = nb, .T = T};
    a->g_mem = mem;
}

#define MAX_QACT 8

static const qact *quantize_inputs(const r1c_mm_job *jobs, int n_jobs, const float *x, int64_t ldx, int T, qact *qa,
                                   int *n_qa, int j, int nth) {
    const r1c_tensor *w = jobs[j].w;
    const float *xj = jobs[j].x ? jobs[j].x : x;
    const r1c_dtype a = r1c_quant_act_type(w->dtype);
    for (int i = 0; i < *n_qa; i++)
        if (qa[i].x == xj && qa[i].type == a) return &qa[i];
    if (*n_qa == MAX_QACT) return NULL;
    const uint64_t k = (uint64_t)w->shape[1], rb = r1c_dtype_row_bytes(a, k);
    uint8_t *q = malloc(rb * (uint64_t)T + 1);
    if (!q) return NULL;
    const r1c_quant_kernels *Q = r1c_kernels_get()->quant;
#pragma omp parallel for schedule(static) num_threads(nth) if ((uint64_t)T * k >= (1u << 16))
    for (int t = 0; t < T; t++) {
        if (a == R1C_Q8_0 && Q->act_q8_0) Q->act_q8_0(xj + (int64_t)t * ldx, q + rb * (uint64_t)t, (int64_t)k);
        else r1c_quantize_act(a, xj + (int64_t)t * ldx, q + rb * (uint64_t)t, (int64_t)k);
    }
    qa[*n_qa] = (qact){.x = xj, .type = a, .q = q, .row_bytes = rb};
    if (T > 1 && a == R1C_Q8_0 && (Q->gemm_q8_0 || Q->gemm_q4_0 || Q->gemm_q8_0_r16 || Q->gemm_q4_0_r16)) prepare_gemm_act(&qa[*n_qa], (int64_t)k, T, nth);
    return &qa[(*n_qa)++];
}

/* rows [r0, r1) of a quantised matrix against token rows of quantised activations; y: the
 * output of row r0 of token 0 */
/* Row-interleaved weights (quant.h) with a kernel table that has no kernels for them: each row
 * back to plain blocks, then the portable dot product (the same canonical order). */
static void packed_rows_portable(const r1c_tensor *w, const qact *qa, int T, float *y, int64_t ldy, int64_t r0,
                                 int64_t r1) {
    const int64_t k = w->shape[1];
    uint8_t *row = malloc(r1c_dtype_row_bytes(w->dtype, (uint64_t)k));
    for (int64_t r = r0; r < r1; r++) {
        if (row) r1c_quant_unpack_row(w->dtype, w->data, k, r, row);
        for (int t = 0; t < T; t++)
            y[(int64_t)t * ldy + r - r0] = row ? r1c_quant_dot(w->dtype, row, qa->q + qa->row_bytes * (uint64_t)t, k)
                                               : __builtin_nanf("");
    }
    free(row);
}

static void quant_rows(const r1c_tensor *w, const qact *qa, int T, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    const r1c_quant_kernels *Q = r1c_kernels_get()->quant;
    const int64_t k = w->shape[1];
    const uint64_t rb = r1c_dtype_row_bytes(w->dtype, (uint64_t)k);
    if (w->packed && (w->dtype == R1C_Q6_K || w->dtype == R1C_Q4_K)) {
        const int six = w->dtype == R1C_Q6_K;
        r1c_qmatvec_fn pf = six ? Q->q6_K_r16 : Q->q4_K_r16;
        r1c_qgemm_k_fn pg = six ? Q->gemm_q6_K_r16 : Q->gemm_q4_K_r16;
        const uint8_t *w0 = (const uint8_t *)w->data + (uint64_t)r0 * rb;
        if (!pf || r0 % R1C_PACK_ROWS || (r1 - r0) % R1C_PACK_ROWS) packed_rows_portable(w, qa, T, y, ldy, r0, r1);
        else if (T > 1 && pg) pg(w0, rb, qa->q, qa->row_bytes, T, k, y, ldy, r1 - r0);
        else
            for (int t = 0; t < T; t++) pf(w0, rb, qa->q + qa->row_bytes * (uint64_t)t, y + (int64_t)t * ldy, k, r1 - r0);
        return;
    }
    if (w->packed) { /* r0, r1: multiples of 16 (chunk_rows) */
        const int q4 = w->dtype == R1C_Q4_0;
        r1c_qmatvec_fn pf = q4 ? Q->q4_0_r16 : Q->q8_0_r16;
        r1c_qgemm_fn pg = q4 ? Q->gemm_q4_0_r16 : Q->gemm_q8_0_r16;
        const uint8_t *w0 = (const uint8_t *)w->data + (uint64_t)r0 * rb;
        if (!pf || r0 % R1C_PACK_ROWS || (r1 - r0) % R1C_PACK_ROWS) packed_rows_portable(w, qa, T, y, ldy, r0, r1);
        else if (T > 1 && pg && qa->g.tiles) pg(w0, rb, &qa->g, y, ldy, r1 - r0);
        else
            for (int t = 0; t < T; t++) pf(w0, rb, qa->q + qa->row_bytes * (uint64_t)t, y + (int64_t)t * ldy, k, r1 - r0);
        return;
    }
    r1c_qmatvec_fn f = w->dtype == R1C_Q8_0 ? Q->q8_0 : w->dtype == R1C_Q4_0 ? Q->q4_0 : w->dtype == R1C_Q4_K ? Q->q4_K : Q->q6_K;
    r1c_qgemm_fn g = w->dtype == R1C_Q8_0 ? Q->gemm_q8_0 : w->dtype == R1C_Q4_0 ? Q->gemm_q4_0 : NULL;
    if (T > 1 && g && qa->g.tiles) {
        g((const uint8_t *)w->data + (uint64_t)r0 * rb, rb, &qa->g, y, ldy, r1 - r0);
        return;
    }
    r1c_qgemm_k_fn gk = w->dtype == R1C_Q4_K ? Q->gemm_q4_K : w->dtype == R1C_Q6_K ? Q->gemm_q6_K : NULL;
    if (T > 1 && gk) {
        gk((const uint8_t *)w->data + (uint64_t)r0 * rb, rb, qa->q, qa->row_bytes, T, k, y, ldy, r1 - r0);
        return;
    }
    for (int t = 0; t < T; t++)
        f((const uint8_t *)w->data + (uint64_t)r0 * rb, rb, qa->q + qa->row_bytes * (uint64_t)t, y + (int64_t)t * ldy, k, r1 - r0);
}

void r1c_matmul(const r1c_exec *ex, const r1c_mm_job *jobs, int n_jobs, const float *x,
                int64_t ldx, int T) {
    const r1c_kernels *K = r1c_kernels_get();
    qact qa[MAX_QACT];
    const qact *jq[64] = {0};
    int n_qa = 0;
    for (int j = 0; j < n_jobs && j < 64; j++)
        if (r1c_dtype_is_quant(jobs[j].w->dtype)) jq[j] = quantize_inputs(jobs, n_jobs, x, ldx, T, qa, &n_qa, j, ex->n_threads);
    int64_t total = 0;
    for (int j = 0; j < n_jobs; j++) total += jobs[j].w->shape[0];
    const int64_t cr = chunk_rows(jobs, n_jobs, total, T, ex->n_threads);
    const int64_t n_chunks = (total + cr - 1) / cr;
    const int nt = n_chunks < ex->n_threads ? (int)n_chunks : ex->n_threads;
    (void)nt; /* used by the pragma only */
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t ch = 0; ch < n_chunks; ch++) {
        const int64_t b = ch * cr, e = b + cr < total ? b + cr : total;
        int64_t base = 0;
        for (int j = 0; j < n_jobs && base < e; j++) {
            const r1c_tensor *w = jobs[j].w;
            const int64_t rows = w->shape[0];
            const int64_t r0 = b > base ? b - base : 0, r1 = e - base < rows ? e - base : rows;
            if (r0 < r1) {
                const float *xj = jobs[j].x ? jobs[j].x : x;
                if (r1c_dtype_is_quant(w->dtype)) {
                    if (j < 64 && jq[j]) quant_rows(w, jq[j], T, jobs[j].y + r0, jobs[j].ldy, r0, r1);
                    else /* no memory for the quantised activations: NaN, never silent numbers */
                        for (int t = 0; t < T; t++)
                            for (int64_t r = r0; r < r1; r++) jobs[j].y[(int64_t)t * jobs[j].ldy + r] = __builtin_nanf("");
                } else if (T == 1) matvec_rows(K, w, xj, jobs[j].y + r0, r0, r1);
                else gemm_rows(K, w, xj, ldx, T, jobs[j].y, jobs[j].ldy, r0, r1, ex->scratch[r1c_thread_index()]);
            }
            base += rows;
        }
    }
    for (int i = 0; i < n_qa; i++) {
        free(qa[i].q);
        free(qa[i].g_mem);
    }
    if (ex->after_mm) ex->after_mm(ex, jobs, n_jobs, x, ldx, T);
}

void r1c_matvec_rows(const r1c_tensor *w, const float *x, float *y, int64_t r0, int64_t r1) {
    if (r1c_dtype_is_quant(w->dtype)) {
        r1c_mm_job j = {.w = w, .y = y, .ldy = 0};
        qact qa[MAX_QACT];
        int n = 0;
        const qact *q = quantize_inputs(&j, 1, x, w->shape[1], 1, qa, &n, 0, 1);
        if (q) quant_rows(w, q, 1, y, 0, r0, r1);
        else for (int64_t r = r0; r < r1; r++) y[r - r0] = __builtin_nanf("");
        if (q) free(qa[0].q);
        return;
    }
    matvec_rows(r1c_kernels_get(), w, x, y, r0, r1);
}

void r1c_row_to_f32(const r1c_tensor *w, int64_t r, float *dst) {
    const r1c_kernels *K = r1c_kernels_get();
    const int64_t k = w->shape[1];
    switch (w->dtype) {
    case R1C_F32: memcpy(dst, (const float *)w->data + r * k, sizeof(float) * (size_t)k); break;
    case R1C_BF16: K->bf16_to_f32((const uint16_t *)w->data + r * k, dst, k); break;
    case R1C_F16: K->f16_to_f32((const uint16_t *)w->data + r * k, dst, k); break;
    case R1C_Q8_0: case R1C_Q4_0: case R1C_Q4_K: case R1C_Q6_K: {
        const uint8_t *src = (const uint8_t *)w->data + (uint64_t)r * r1c_dtype_row_bytes(w->dtype, (uint64_t)k);
        if (w->packed) {
            uint8_t *row = malloc(r1c_dtype_row_bytes(w->dtype, (uint64_t)k));
            if (row) r1c_quant_unpack_row(w->dtype, w->data, k, r, row);
            if (row) r1c_dequantize_row(w->dtype, row, dst, k);
            else for (int64_t i = 0; i < k; i++) dst[i] = __builtin_nanf("");
            free(row);
            break;
        }
        if (w->dtype == R1C_Q8_0 && K->quant->dequant_q8_0) K->quant->dequant_q8_0(src, dst, k);
        else if (w->dtype == R1C_Q4_0 && K->quant->dequant_q4_0) K->quant->dequant_q4_0(src, dst, k);
        else r1c_dequantize_row(w->dtype, src, dst, k);
        break;
    }
    case R1C_F8_E4M3: {
        const float *srow = w->scale + (r / w->block[0]) * w->scale_cols;
        for (int64_t c = 0; c < k; c += w->block[1]) {
            int64_t n = k - c < w->block[1] ? k - c : w->block[1];
            K->fp8_to_f32((const uint8_t *)w->data + r * k + c, srow[c / w->block[1]] * 256.0f, dst + c, n);
        }
        break;
    }
    default: break;
    }
}

void r1c_matvec_t(const r1c_tensor *w, int64_t r0, int64_t r1, const float *x, float *out, float *row) {
    const r1c_kernels *K = r1c_kernels_get();
    const int64_t k = w->shape[1];
    void (*f)(const void *, size_t, const float *, int64_t, float *, int64_t) =
        w->packed ? NULL : w->dtype == R1C_Q4_0 ? K->quant->tmatvec_q4_0 : w->dtype == R1C_Q8_0 ? K->quant->tmatvec_q8_0 : NULL;
    if (f) {
        const uint64_t rb = r1c_dtype_row_bytes(w->dtype, (uint64_t)k);
        f((const uint8_t *)w->data + (uint64_t)r0 * rb, rb, x, r1 - r0, out, k);
        return;
    }
    memset(out, 0, sizeof(float) * (size_t)k);
    for (int64_t r = r0; r < r1; r++) {
        r1c_row_to_f32(w, r, row);
        K->axpy(x[r - r0], row, out, k);
    }
}

void r1c_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps) {
    const r1c_kernels *K = r1c_kernels_get();
    float ss = r1c_dot_f32(K, x, x, n);
    float inv = 1.0f / sqrtf(ss / (float)n + eps);
    for (int64_t i = 0; i < n; i++) out[i] = w[i] * (x[i] * inv);
}

void r1c_rope(float *x, int n_heads, int head_dim, const float *cs, const float *sn, int interleaved) {
    const int half = head_dim / 2;
    for (int h = 0; h < n_heads; h++) {
        float *v = x + (int64_t)h * head_dim;
        for (int j = 0; j < half; j++) {
            int i0 = interleaved ? 2 * j : j, i1 = interleaved ? 2 * j + 1 : j + half;
            float a = v[i0], b = v[i1];
            v[i0] = a * cs[j] - b * sn[j];
            v[i1] = b * cs[j] + a * sn[j];
        }
    }
}

void r1c_silu_mul(const r1c_exec *ex, float *g, const float *u, int64_t n) {
    const r1c_kernels *K = r1c_kernels_get();
    const int64_t piece = 1 << 14; /* elements per task */
    const int64_t n_pieces = (n + piece - 1) / piece;
    const int nt = ex && n_pieces > 1 ? ex->n_threads : 1;
    (void)nt; /* used by the pragma only */
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t p = 0; p < n_pieces; p++) {
        const int64_t i0 = p * piece, m = n - i0 < piece ? n - i0 : piece;
        if (K->silu_mul) K->silu_mul(g + i0, u + i0, m);
        else
            for (int64_t i = i0; i < i0 + m; i++) g[i] = r1c_silu_mul1(g[i], u[i]);
    }
}
