/* attention.c — tiled online-softmax attention; the order is ops.h's. */
#include <math.h>
#include <string.h>

#include "ops.h"

#define TILE R1C_ATTN_TILE
#define MAXQ R1C_ATTN_MAXQ
#define BQ R1C_GEMM_MT /* queries per gemm_acc call */
#define BK R1C_GEMM_NR /* keys per gemm_acc call */
#define ACC_FLOATS (BQ * BK * R1C_LANES)

size_t r1c_attention_scratch_floats(int dk, int dk2) {
    return (size_t)MAXQ * (size_t)(dk + dk2 + TILE + 2) + ACC_FLOATS + 2 * BQ * BK + 16;
}

/* s[i*TILE + j] = the score of query i and key j0 + j, for j < nk: the canonical dot of each
 * part (gemm_acc's lanes, then lane_sums' tree) added, then scaled */
static void tile_scores(const r1c_kernels *K, const r1c_attn *a, const float *qp, const float *q2p, int nq, int64_t j0,
                        int nk, float *s, float *acc, float *sums, float *sums2) {
    for (int i0 = 0; i0 < nq; i0 += BQ) {
        const int ni = nq - i0 < BQ ? nq - i0 : BQ;
        for (int jj = 0; jj < nk; jj += BK) {
            const int nj = nk - jj < BK ? nk - jj : BK;
            const int64_t j = j0 + jj;
            K->gemm_acc(a->k + j * a->ldk, a->ldk, nj, qp + (int64_t)i0 * a->dk, a->dk, ni, acc, a->dk, 1);
            K->lane_sums(acc, ni * nj, sums);
            if (a->dk2 > 0) {
                K->gemm_acc(a->k2 + j * a->ldk2, a->ldk2, nj, q2p + (int64_t)i0 * a->dk2, a->dk2, ni, acc, a->dk2, 1);
                K->lane_sums(acc, ni * nj, sums2);
                for (int t = 0; t < ni; t++)
                    for (int r = 0; r < nj; r++)
                        s[(i0 + t) * TILE + jj + r] = (sums[t * nj + r] + sums2[t * nj + r]) * a->scale;
            } else {
                for (int t = 0; t < ni; t++)
                    for (int r = 0; r < nj; r++) s[(i0 + t) * TILE + jj + r] = sums[t * nj + r] * a->scale;
            }
        }
    }
}

void r1c_attention(const r1c_attn *a, const r1c_attn_query *qs, int nq, float *scratch) {
    for (; nq > MAXQ; nq -= MAXQ, qs += MAXQ) r1c_attention(a, qs, MAXQ, scratch);
    if (nq <= 0) return;
    const r1c_kernels *K = r1c_kernels_get();
    const int dk = a->dk, dk2 = a->dk2 > 0 ? a->dk2 : 0, dv = a->dv;
    float *qp = scratch, *q2p = qp + (int64_t)nq * dk, *s = q2p + (int64_t)nq * dk2;
    float *m = s + (int64_t)nq * TILE, *l = m + nq, *acc = l + nq, *sums = acc + ACC_FLOATS, *sums2 = sums + BQ * BK;
    int n_max = 0, cnt[MAXQ];
    for (int i = 0; i < nq; i++) { /* queries packed for gemm_acc's rows */
        memcpy(qp + (int64_t)i * dk, qs[i].q, sizeof(float) * (size_t)dk);
        if (dk2) memcpy(q2p + (int64_t)i * dk2, qs[i].q2, sizeof(float) * (size_t)dk2);
        memset(qs[i].out, 0, sizeof(float) * (size_t)dv);
        m[i] = -INFINITY, l[i] = 0.0f;
        if (qs[i].n_keys > n_max) n_max = qs[i].n_keys;
    }
    for (int64_t j0 = 0; j0 < n_max; j0 += TILE) {
        const int nk = n_max - j0 < TILE ? (int)(n_max - j0) : TILE;
        tile_scores(K, a, qp, q2p, nq, j0, nk, s, acc, sums, sums2);
        for (int i = 0; i < nq; i++) {
            const int64_t left = qs[i].n_keys - j0;
            int n = left < nk ? (int)(left > 0 ? left : 0) : nk;
            float *si = s + i * TILE, *o = qs[i].out;
            float mt = -INFINITY;
            for (int j = 0; j < n; j++)
                if (si[j] > mt) mt = si[j];
            if (mt > m[i]) {
                if (m[i] > -INFINITY) {
                    const float al = expf(m[i] - mt);
                    l[i] = l[i] * al;
                    for (int d = 0; d < dv; d++) o[d] = o[d] * al;
                }
                m[i] = mt;
            }
            if (m[i] == -INFINITY) n = 0;
            float li = l[i];
            for (int j = 0; j < n; j++) {
                si[j] = expf(si[j] - m[i]);
                li = li + si[j];
            }
            l[i] = li;
            cnt[i] = n;
        }
        /* key-major: each value row is read once per tile for every query */
        for (int j = 0; j < nk; j++) {
            const float *vj = a->v + (j0 + j) * a->ldv;
            for (int i = 0; i < nq; i++)
                if (j < cnt[i]) K->axpy(s[i * TILE + j], vj, qs[i].out, dv);
        }
    }
    for (int i = 0; i < nq; i++)
        for (int d = 0; d < dv; d++) qs[i].out[d] = qs[i].out[d] / l[i];
}

void r1c_attend(const float *q, const float *k, const float *v, int64_t stride, int n_keys, int head_dim, float scale,
                float *scratch, float *out) {
    const r1c_attn a = {.k = k, .v = v, .ldk = stride, .ldv = stride, .dk = head_dim, .dv = head_dim, .scale = scale};
    const r1c_attn_query q1 = {.q = q, .out = out, .n_keys = n_keys};
    r1c_attention(&a, &q1, 1, scratch);
}
