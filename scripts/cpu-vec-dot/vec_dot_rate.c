// Measures the in-cache cost of llama.cpp's CPU quantized dot product
// (ggml-cpu `vec_dot`, the kernel of batch-1 decode matmuls) per ggml type,
// in core clock cycles per weight, on one core. The matrix is small enough
// to stay in L2, so memory bandwidth does not enter: this is the compute
// side of the decode roofline (canirun crates/core/data/cpu_vec_dot.csv).
// Built and run by scripts/cpu-vec-dot/measure.sh against a llama.cpp build.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <math.h>
#include "ggml.h"
#include "ggml-cpu.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

// Core clock from a chain of dependent integer adds (one cycle each).
static double core_ghz(void) {
    const long n = 400000000L;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        long x = 0;
        double t0 = now();
        for (long i = 0; i < n; i++) {
            __asm__ volatile("add $1, %0" : "+r"(x));
        }
        double dt = now() - t0;
        double ghz = n / dt / 1e9;
        if (ghz > best) best = ghz;
    }
    return best;
}

int main(int argc, char ** argv) {
    const int n = 4096;       // weights per row (a multiple of every block size)
    const int rows = 16;      // rows of the in-cache matrix
    const double target_s = 0.05;
    ggml_cpu_init();
    double ghz = core_ghz();
    printf("# core clock %.3f GHz (dependent-add chain)\n", ghz);
    printf("type,cycles_per_weight,ns_per_weight,vec_dot_type\n");
    float * w = malloc(sizeof(float) * n * rows);
    float * a = malloc(sizeof(float) * n);
    float * imat = malloc(sizeof(float) * n);
    srand(1);
    for (int i = 0; i < n * rows; i++) w[i] = ((float) rand() / RAND_MAX - 0.5f) * 0.1f;
    for (int i = 0; i < n; i++) { a[i] = ((float) rand() / RAND_MAX - 0.5f); imat[i] = 1.0f; }
    for (int ti = 1; ti < argc; ti++) {
        enum ggml_type t = GGML_TYPE_COUNT;
        for (int k = 0; k < GGML_TYPE_COUNT; k++) {
            const char * nm = ggml_type_name((enum ggml_type) k);
            if (nm && strcasecmp(nm, argv[ti]) == 0) { t = (enum ggml_type) k; break; }
        }
        if (t == GGML_TYPE_COUNT) { fprintf(stderr, "unknown type %s\n", argv[ti]); continue; }
        const struct ggml_type_traits_cpu * tc = ggml_get_type_traits_cpu(t);
        if (!tc->vec_dot) { fprintf(stderr, "no vec_dot for %s\n", argv[ti]); continue; }
        size_t row_bytes = ggml_row_size(t, n);
        void * q = malloc(row_bytes * rows);
        if (t == GGML_TYPE_F32) {
            memcpy(q, w, row_bytes * rows);
        } else {
            ggml_quantize_chunk(t, w, q, 0, rows, n, imat);
        }
        enum ggml_type vt = tc->vec_dot_type;
        size_t arow = ggml_row_size(vt, n);
        void * qa = malloc(arow);
        if (vt == GGML_TYPE_F32) memcpy(qa, a, arow);
        else ggml_get_type_traits_cpu(vt)->from_float(a, qa, n);
        float s = 0, sink = 0;
        // The fastest of several runs: other work on the machine only ever
        // slows a run down, so the minimum is the kernel's own cost.
        double best = 1e30;
        for (int r = 0; r < rows; r++) tc->vec_dot(n, &s, 0, (char *) q + r * row_bytes, 0, qa, 0, 1);
        for (int rep = 0; rep < 9; rep++) {
            long iters = 0;
            double t0 = now(), dt = 0;
            do {
                for (int k = 0; k < 20; k++) {
                    for (int r = 0; r < rows; r++) {
                        tc->vec_dot(n, &s, 0, (char *) q + r * row_bytes, 0, qa, 0, 1);
                        sink += s;
                    }
                }
                iters += 20;
                dt = now() - t0;
            } while (dt < target_s);
            double per = dt / ((double) iters * rows * n);
            if (per < best) best = per;
        }
        double ns = best * 1e9;
        printf("%s,%.4f,%.4f,%s\n", ggml_type_name(t), ns * ghz, ns, ggml_type_name(vt));
        if (sink == 12345.678f) printf("#\n");
        free(q); free(qa);
    }
    return 0;
}
