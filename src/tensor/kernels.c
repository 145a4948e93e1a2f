/* kernels.c — picks the kernel table once per process from CPUID. */
#include "kernels.h"

#include <pthread.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "../base/error.h"

static const r1c_kernels *g_active;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* F16C: CPUID leaf 1, ECX bit 29 (clang 14's __builtin_cpu_supports does not know "f16c") */
static int cpu_has_f16c(void) {
#if defined(__x86_64__)
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29));
#else
    return 0;
#endif
}

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
    return strcmp(isa, "generic") == 0;
}

const r1c_kernels *r1c_kernels_by_name(const char *name) {
    if (strcmp(name, "generic") == 0) return &r1c_kernels_generic;
#if defined(__x86_64__)
    if (strcmp(name, "avx2") == 0 && cpu_has("avx2")) return &r1c_kernels_avx2;
    if (strcmp(name, "avx512") == 0 && cpu_has("avx512")) return &r1c_kernels_avx512;
    if (strcmp(name, "avx512vbmi") == 0 && cpu_has("avx512vbmi")) return &r1c_kernels_avx512_vbmi;
#endif
    return NULL;
}

static void pick(void) {
    /* R1C_ISA=generic|avx2|avx512 overrides the choice (for tests and comparisons). */
    const char *want = getenv("R1C_ISA");
    if (want && r1c_kernels_by_name(want)) {
        g_active = r1c_kernels_by_name(want);
        return;
    }
    static const char *order[] = {"avx512vbmi", "avx512", "avx2", "generic"};
    for (int i = 0; i < 4; i++)
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
