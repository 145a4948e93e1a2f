/* kernels.c — picks the kernel table once per process from CPUID. */
#include "kernels.h"

#include <pthread.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1ul << 20) /* the kernel's AT_HWCAP bit for SDOT/UDOT */
#endif
#endif
#include <stdlib.h>
#include <string.h>

#include "../base/error.h"

static const r1c_kernels *g_active;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* F16C: CPUID leaf 1, ECX bit 29 (clang 14's __builtin_cpu_supports does not know "f16c") */
#if defined(__x86_64__)
static int cpu_has_f16c(void) {
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29));
}
#endif

static int cpu_has(const char *isa) {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (strcmp(isa, "avx2") == 0)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
               cpu_has_f16c();
    if (strcmp(isa, "avx512") == 0)
        return cpu_has("avx2") && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512dq");
    if (strcmp(isa, "avx512vbmi") == 0) /* the VBMI FP8 path and the VNNI integer dot products */
        return cpu_has("avx512") && __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx512vnni");
#endif
#if defined(__aarch64__)
    if (strcmp(isa, "neon") == 0) return 1; /* Advanced SIMD is part of every ARMv8-A CPU */
    if (strcmp(isa, "neon_dotprod") == 0) { /* SDOT/UDOT (ARMv8.2 FEAT_DotProd): HWCAP_ASIMDDP */
#if defined(__linux__)
        return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#else
        return 0;
#endif
    }
#endif
    return strcmp(isa, "generic") == 0;
}

const r1c_kernels *r1c_kernels_by_name(const char *name) {
    if (strcmp(name, "generic") == 0) return &r1c_kernels_generic;
#if defined(__x86_64__)
    if (strcmp(name, "avx2") == 0 && cpu_has("avx2")) return &r1c_kernels_avx2;
    if (strcmp(name, "avx512") == 0 && cpu_has("avx512")) return &r1c_kernels_avx512;
    if (strcmp(name, "avx512vbmi") == 0 && cpu_has("avx512vbmi")) return &r1c_kernels_avx512_vbmi;
#endif
#if defined(__aarch64__)
    if (strcmp(name, "neon") == 0 && cpu_has("neon")) return &r1c_kernels_neon;
    if (strcmp(name, "neon_dotprod") == 0 && cpu_has("neon_dotprod")) return &r1c_kernels_neon_dotprod;
#endif
    return NULL;
}

static void pick(void) {
    /* R1C_ISA=generic|avx2|avx512|avx512vbmi|neon|neon_dotprod overrides the choice (for tests
     * and comparisons). */
    const char *want = getenv("R1C_ISA");
    if (want && r1c_kernels_by_name(want)) {
        g_active = r1c_kernels_by_name(want);
        return;
    }
    static const char *order[] = {"avx512vbmi", "avx512", "avx2", "neon_dotprod", "neon", "generic"};
    for (int i = 0; i < 6; i++)
        if ((g_active = r1c_kernels_by_name(order[i]))) return;
}

const r1c_kernels *r1c_kernels_get(void) {
    pthread_once(&g_once, pick);
    return g_active;
}

const char *r1c_kernel_isa(void) { return r1c_kernels_get()->name; }

r1c_status r1c_force_kernel_isa(const char *name) {
    r1c_kernels_get();
    const r1c_kernels *k = r1c_kernels_by_name(name);
    if (!k) return r1c_error(R1C_ERR_UNSUPPORTED, "kernel set '%s' is not available on this CPU", name);
    g_active = k;
    return R1C_OK;
}
