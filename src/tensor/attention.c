/* attention.c — tiled online-softmax attention; the order is ops.h's. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ops.h"
#include "vexp.h"

#define TILE R1C_ATTN_TILE
#define MAXQ R1C_ATTN_MAXQ
#define MT R1C_GEMM_MT /* gemm_acc's register tile: MT "tokens" (x rows) by NR "rows" (w rows) */
#define NR R1C_GEMM_NR
#define BATCH (MT * NR * 4) /* lane vectors per lane_sums call: four full tiles */

size_t r1c_attention_scratch_floats(int dk, int dk2) {
    return (size_t)MAXQ * (size_t)(dk + dk2 + TILE + 2) + 2 * (size_t)(BATCH + MT * NR) * (R1C_LANES + 1) + 16;
}

/* s[i*TILE + j] = the score of query i and key row j0 + j (of a->k, a->k2), for j < nk: the canonical dot of each
 * part (gemm_acc's lanes, then lane_sums' tree) added, then scaled. A product is the same
 * float whichever operand gemm_acc takes as the weight, so a block of six queries goes in as
 * its x rows (keys as weight rows, four per call) and a block of four as its weight rows (keys
 * as x rows, six per call): both fill the kernel's full register tile. */
static void tile_scores(const r1c_kernels *K, const r1c_attn *a, const float *qp, const float *q2p, int nq, int64_t j0,
                        int nk, float *s, float *acc, float *acc2, float *sums, float *sums2) {
    const int two = a->dk2 > 0;
    for (int i0 = 0; i0 < nq;) {
        const int rem = nq - i0, ni = rem >= MT && rem != 2 * NR ? MT : rem >= NR ? NR : rem;
        const int keys_as_x = ni == NR && NR != MT, kstep = keys_as_x ? MT : NR;
        const float *q1 = qp + (int64_t)i0 * a->dk, *q2 = two ? q2p + (int64_t)i0 * a->dk2 : NULL;
        for (int jc = 0; jc < nk;) {
            int e = 0, jj = jc; /* lane vectors so far, call by call */
            for (; jj < nk && e + ni * kstep <= BATCH; jj += kstep) {
                const int nj = nk - jj < kstep ? nk - jj : kstep;
                const float *k1 = a->k + (j0 + jj) * a->ldk, *k2 = two ? a->k2 + (j0 + jj) * a->ldk2 : NULL;
                if (keys_as_x) {
                    K->gemm_acc(q1, a->dk, ni, k1, a->ldk, nj, acc + e * R1C_LANES, a->dk, 1);
                    if (two) K->gemm_acc(q2, a->dk2, ni, k2, a->ldk2, nj, acc2 + e * R1C_LANES, a->dk2, 1);
                } else {
                    K->gemm_acc(k1, a->ldk, nj, q1, a->dk, ni, acc + e * R1C_LANES, a->dk, 1);
                    if (two) K->gemm_acc(k2, a->ldk2, nj, q2, a->dk2, ni, acc2 + e * R1C_LANES, a->dk2, 1);
                }
                e += ni * nj;
            }
            K->lane_sums(acc, e, sums);
            if (two) K->lane_sums(acc2, e, sums2);
            e = 0;
            for (; jc < jj; jc += kstep) {
                const int nj = nk - jc < kstep ? nk - jc : kstep;
                for (int t = 0; t < ni; t++)
                    for (int r = 0; r < nj; r++) {
                        const int x = keys_as_x ? e + r * ni + t : e + t * nj + r; /* acc[(x row) * n_w_rows + w row] */
                        s[(i0 + t) * TILE + jc + r] = two ? (sums[x] + sums2[x]) * a->scale : sums[x] * a->scale;
                    }
                e += ni * nj;
            }
        }
        i0 += ni;
    }
}

/* up to MAXQ queries, keys [j0, j1) (key j at row j - j0) */
static void part(const r1c_attn *a, const r1c_attn_query *qs, int nq, int j0, int j1, float *ml, float *scratch) {
    const r1c_kernels *K = r1c_kernels_get();
    const int dk = a->dk, dk2 = a->dk2 > 0 ? a->dk2 : 0, dv = a->dv;
    float *qp = scratch, *q2p = qp + (int64_t)nq * dk, *s = q2p + (int64_t)nq * dk2, *end = s + (int64_t)nq * TILE;
    float *acc = (float *)(((uintptr_t)end + 63) & ~(uintptr_t)63), *acc2 = acc + (BATCH + MT * NR) * R1C_LANES;
    float *sums = acc2 + (BATCH + MT * NR) * R1C_LANES, *sums2 = sums + BATCH + MT * NR;
    int n_hi = j0, cnt[MAXQ];
    for (int i = 0; i < nq; i++) { /* queries packed for gemm_acc's rows */
        memcpy(qp + (int64_t)i * dk, qs[i].q, sizeof(float) * (size_t)dk);
        if (dk2) memcpy(q2p + (int64_t)i * dk2, qs[i].q2, sizeof(float) * (size_t)dk2);
        if (j0 == 0) {
            memset(qs[i].out, 0, sizeof(float) * (size_t)dv);
            ml[2 * i] = -INFINITY, ml[2 * i + 1] = 0.0f;
        }
        if (qs[i].n_keys > n_hi) n_hi = qs[i].n_keys;
    }
    if (n_hi > j1) n_hi = j1;
    for (int jt = j0; jt < n_hi; jt += TILE) {
        const int nk = n_hi - jt < TILE ? n_hi - jt : TILE;
        tile_scores(K, a, qp, q2p, nq, jt - j0, nk, s, acc, acc2, sums, sums2);
        for (int i = 0; i < nq; i++) {
            const int left = qs[i].n_keys - jt;
            int n = left < nk ? (left > 0 ? left : 0) : nk;
            float *si = s + i * TILE, *o = qs[i].out, m = ml[2 * i], l = ml[2 * i + 1];
            float mt = -INFINITY;
            for (int j = 0; j < n; j++)
                if (si[j] > mt) mt = si[j];
            if (mt > m) {
                if (m > -INFINITY) {
                    const float al = r1c_exp(m - mt);
                    l = l * al;
                    for (int d = 0; d < dv; d++) o[d] = o[d] * al;
                }
                m = mt;
            }
            if (m == -INFINITY) n = 0;
            if (K->exp_minus) K->exp_minus(si, m, n);
            else
                for (int j = 0; j < n; j++) si[j] = r1c_exp(si[j] - m);
            for (int j = 0; j < n; j++) l = l + si[j];
            ml[2 * i] = m, ml[2 * i + 1] = l;
            cnt[i] = n;
        }
        /* the weighted values: per query, keys in order. Four queries at a time share each value
         * row over the keys all of them see (K->pv); the rest key-major, one axpy per key and query */
        int i0 = 0;
        for (; K->pv && i0 < nq; i0 += 4) {
            const int n4 = nq - i0 < 4 ? nq - i0 : 4;
            int common = cnt[i0];
            float *outs[4];
            for (int i = 0; i < n4; i++) {
                if (cnt[i0 + i] < common) common = cnt[i0 + i];
                outs[i] = qs[i0 + i].out;
            }
            K->pv(s + (int64_t)i0 * TILE, TILE, n4, a->v + (int64_t)(jt - j0) * a->ldv, a->ldv, common, outs, dv);
            for (int j = common; j < nk; j++) {
                const float *vj = a->v + (int64_t)(jt - j0 + j) * a->ldv;
                for (int i = i0; i < i0 + n4; i++)
                    if (j < cnt[i]) K->axpy(s[i * TILE + j], vj, qs[i].out, dv);
            }
        }
        for (int j = 0; !K->pv && j < nk; j++) {
            const float *vj = a->v + (int64_t)(jt - j0 + j) * a->ldv;
            for (int i = 0; i < nq; i++)
                if (j < cnt[i]) K->axpy(s[i * TILE + j], vj, qs[i].out, dv);
        }
    }
    for (int i = 0; i < nq; i++) /* the queries whose last key was in this part */
        if (qs[i].n_keys > j0 && qs[i].n_keys <= j1)
            for (int d = 0; d < dv; d++) qs[i].out[d] = qs[i].out[d] / ml[2 * i + 1];
}

void r1c_attention_part(const r1c_attn *a, const r1c_attn_query *qs, int nq, int j0, int j1, float *ml, float *scratch) {
    for (int i = 0; i < nq; i += MAXQ) part(a, qs + i, nq - i < MAXQ ? nq - i : MAXQ, j0, j1, ml + 2 * i, scratch);
}

void r1c_attention(const r1c_attn *a, const r1c_attn_query *qs, int nq, float *scratch) {
    float ml[2 * MAXQ];
    for (int i = 0; i < nq; i += MAXQ) {
        const int n = nq - i < MAXQ ? nq - i : MAXQ;
        int n_max = 0;
        for (int t = 0; t < n; t++) n_max = qs[i + t].n_keys > n_max ? qs[i + t].n_keys : n_max;
        part(a, qs + i, n, 0, n_max, ml, scratch);
    }
}

void r1c_attend(const float *q, const float *k, const float *v, int64_t stride, int n_keys, int head_dim, float scale,
                float *scratch, float *out) {
    const r1c_attn a = {.k = k, .v = v, .ldk = stride, .ldv = stride, .dk = head_dim, .dv = head_dim, .scale = scale};
    const r1c_attn_query q1 = {.q = q, .out = out, .n_keys = n_keys};
    r1c_attention(&a, &q1, 1, scratch);
}
