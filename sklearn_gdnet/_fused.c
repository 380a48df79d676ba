/*
 * Fused element-wise passes of the ReLU training step.
 *
 * Each kernel does in one sweep over an (n, m) array what NumPy needs two or
 * three sweeps (and a temporary) for; in a gradient-descent step of a
 * medium-width network these sweeps, not the matrix products, are what is left
 * to save. Every kernel releases the GIL. Arrays are C-contiguous, float64
 * ('d') or float32 ('f'), and are checked here; the Python side
 * (`sklearn_gdnet._network`) falls back to NumPy when this module is absent.
 *
 *   relu_bias(z, b)                 z[i, j] = max(z[i, j] + b[j], 0), NaN kept
 *   linear_relu(z, x, W, b, alpha)  z[i, j] = max(alpha * (x @ W)[i, j] + b[j], 0)
 *   outer_mask(d, r, w, h, colsum)  d[i, j] = r[i] * w[j] if h[i, j] > 0 else 0
 *   mask_mul(d, h, colsum, x=None, g=None, write=True)
 *                                   d[i, j] = d[i, j]    if h[i, j] > 0 else 0
 *       and, with x and g, g = x.T @ d (the first layer's weight gradient);
 *       with write=False d is left as it is and only colsum and g are formed
 *   relu_output(z, b, v, c, y, sw, scale, out, r, d, colsum, gh)
 *       the top hidden layer of a network with one output (z its product, left
 *       as it is), the output, loss and output-layer gradient, and the top
 *       layer's delta, in one pass; see there
 *
 * ``colsum`` (length m, or None) receives the column sums of the new ``d``:
 * the bias gradient of the layer, for free while ``d`` is in registers.
 * ``linear_relu`` is the forward pass of a first layer with few inputs p: its
 * thin product, bias and ReLU in one write of ``z``, where BLAS followed by
 * ``relu_bias`` writes ``z`` and then reads and writes it again. For small p
 * the pass is bound by memory, not flops, so that saving is most of its cost.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* The loops with real arithmetic (linear_relu, relu_output, and the x.T @ d
 * of mask_mul) are also compiled for AVX-512 and AVX2, and the loader picks
 * what the CPU has; the memory-bound passes gain nothing from that. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__)
#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CLONES
#endif

/* GNU vector extensions keep linear_relu's accumulators in registers: a V is
 * VLEN(T) values of 64 bytes in all. With other compilers a V is one value. */
#if defined(__GNUC__)
#define VECTOR __attribute__((vector_size(64)))
#define VLEN(T) (64 / sizeof(T))
/* v where h > 0, else 0, lane by lane (NaN in h gives 0, NaN in v is kept) */
#define KEEP_WHERE_POSITIVE(V, h, v) ((V)((__typeof__((h) > (V){0}))(v) & ((h) > (V){0})))
#define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define VECTOR
#define VLEN(T) 1
#define KEEP_WHERE_POSITIVE(V, h, v) ((h) > 0 ? (v) : (V)0)
#define ALWAYS_INLINE inline
#endif
/* Blocking of linear_relu (ROWS rows) and of mask_mul with x and g (MASK_ROWS
 * rows, up to MAX_P features at a time); see there. */
#define ROWS 32
#define MASK_ROWS 32
#define MAX_P 12
#define MASK_STRIPS(S, P)                                                                  \
    case P:                                                                                \
        for (Py_ssize_t j = 0; j < mv; j += K) {                                           \
            mask_strip_##S(d, h, x, g, c0, i0, i1, j, m, p, k0, P, w0);                    \
        }                                                                                  \
        break;

typedef struct {
    const char *name;
    int ndim;     /* required number of dimensions */
    int writable; /* written by the kernel */
    int optional; /* may be None */
    int f64;      /* always float64, whatever the other arrays are */
} Spec;

typedef struct {
    Py_buffer view;
    int held;
} Buf;

static void release(Buf *bufs, int k)
{
    for (int i = 0; i < k; i++) {
        if (bufs[i].held) {
            PyBuffer_Release(&bufs[i].view);
            bufs[i].held = 0;
        }
    }
}

/* Acquire the k arguments as C-contiguous buffers described by ``specs`` (an
 * optional one may be None and stays unheld). Return 1 for float64, 0 for
 * float32, -1 with an exception set (the caller releases what was held). */
static int acquire(const char *func, PyObject **objs, const Spec *specs, Buf *bufs, int k)
{
    int kind = -1;
    for (int i = 0; i < k; i++) {
        if (objs[i] == Py_None && specs[i].optional) {
            continue;
        }
        int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (specs[i].writable ? PyBUF_WRITABLE : 0);
        if (PyObject_GetBuffer(objs[i], &bufs[i].view, flags) < 0) {
            return -1;
        }
        bufs[i].held = 1;
        const char *f = bufs[i].view.format;
        if (f[0] == '<' || f[0] == '=' || f[0] == '@') {
            f++;
        }
        if ((f[0] != 'd' && f[0] != 'f') || f[1] != '\0' || bufs[i].view.ndim != specs[i].ndim) {
            PyErr_Format(PyExc_TypeError, "%s: %s must be a %d-d float32 or float64 array", func,
                         specs[i].name, specs[i].ndim);
            return -1;
        }
        int this_kind = f[0] == 'd';
        if (specs[i].f64) {
            if (!this_kind) {
                PyErr_Format(PyExc_TypeError, "%s: %s must be float64", func, specs[i].name);
                return -1;
            }
            continue;
        }
        if (kind >= 0 && this_kind != kind) {
            PyErr_Format(PyExc_TypeError, "%s: all arrays must share one dtype", func);
            return -1;
        }
        kind = this_kind;
    }
    return kind;
}

#define BUF(i) (bufs[i].held ? bufs[i].view.buf : NULL)
#define DIM(i, j) (bufs[i].view.shape[j])

#define DEFINE_KERNELS(T, S)                                                              \
    static void relu_bias_##S(T *restrict z, const T *restrict b, Py_ssize_t n, Py_ssize_t m)             \
    {                                                                                    \
        for (Py_ssize_t i = 0; i < n; i++) {                                             \
            T *restrict zi = z + i * m;                                                           \
            for (Py_ssize_t j = 0; j < m; j++) {                                         \
                T v = zi[j] + b[j];                                                      \
                zi[j] = v < 0 ? (T)0 : v; /* NaN passes through, as in np.maximum */    \
            }                                                                            \
        }                                                                                \
    }                                                                                    \
    /* one row of outer_mask: d = r * w where h > 0, else 0; column sums into cs */         \
    static inline void outer_mask_row_##S(T *restrict di, T ri, const T *restrict w,        \
                                          const T *restrict hi, T *restrict cs, Py_ssize_t m)\
    {                                                                                       \
        for (Py_ssize_t j = 0; j < m; j++) {                                                \
            T v = ri * w[j];                                                                \
            di[j] = v * (T)(hi[j] > 0); /* as NumPy's (r * w) * (h > 0) */                  \
        }                                                                                   \
        if (cs) {                                                                           \
            for (Py_ssize_t j = 0; j < m; j++) {                                            \
                cs[j] += di[j];                                                             \
            }                                                                               \
        }                                                                                   \
    }                                                                                       \
    static void outer_mask_##S(T *restrict d, const T *restrict r, const T *restrict w,     \
                               const T *restrict h, T *restrict cs, Py_ssize_t n, Py_ssize_t m)\
    {                                                                                       \
        if (cs) {                                                                           \
            memset(cs, 0, (size_t)m * sizeof(T));                                           \
        }                                                                                   \
        for (Py_ssize_t i = 0; i < n; i++) {                                                \
            outer_mask_row_##S(d + i * m, r[i], w, h + i * m, cs, m);                       \
        }                                                                                   \
    }                                                                                       \
    /* One strip of mask_mul with x and g: rows i0 .. i1 - 1 and the vector of columns   \
     * at j. The masked d (written back with write), its column sums (into cs, if given)   \
     * and g[k0 + k] += x[:, k0 + k].T @ (masked d) for k < kk are all summed in registers \
     * down the rows; kk is a constant once inlined, so acc stays in registers. */         \
    static ALWAYS_INLINE void mask_strip_##S(T *d, const T *restrict h, const T *restrict x,\
                                             T *restrict g, T *restrict cs, Py_ssize_t i0,  \
                                             Py_ssize_t i1, Py_ssize_t j, Py_ssize_t m,     \
                                             Py_ssize_t p, Py_ssize_t k0, const int kk,     \
                                             const int write)                               \
    {                                                                                       \
        typedef T V VECTOR;                                                                 \
        V acc[MAX_P], c = {0}, dv, hv, t;                                                   \
        for (int k = 0; k < kk; k++) {                                                      \
            acc[k] = c;                                                                     \
        }                                                                                   \
        for (Py_ssize_t i = i0; i < i1; i++) {                                              \
            memcpy(&dv, d + i * m + j, sizeof(V));                                          \
            memcpy(&hv, h + i * m + j, sizeof(V));                                          \
            dv = KEEP_WHERE_POSITIVE(V, hv, dv);                                            \
            if (write) {                                                                    \
                memcpy(d + i * m + j, &dv, sizeof(V));                                      \
            }                                                                               \
            c += dv;                                                                        \
            const T *restrict xi = x + i * p + k0;                                          \
            for (int k = 0; k < kk; k++) {                                                  \
                acc[k] += xi[k] * dv;                                                       \
            }                                                                               \
        }                                                                                   \
        if (cs) {                                                                           \
            memcpy(&t, cs + j, sizeof(V));                                                  \
            t += c;                                                                         \
            memcpy(cs + j, &t, sizeof(V));                                                  \
        }                                                                                   \
        for (int k = 0; k < kk; k++) {                                                      \
            memcpy(&t, g + (k0 + k) * m + j, sizeof(V));                                    \
            t += acc[k];                                                                    \
            memcpy(g + (k0 + k) * m + j, &t, sizeof(V));                                    \
        }                                                                                   \
    }                                                                                       \
    /* d = d where h > 0, else 0 (in place with write), column sums into cs and, with x    \
     * and g, g = x.T @ (masked d). Without g: one pass over the rows. With g: groups of   \
     * MASK_ROWS rows, swept one vector of columns at a time (mask_strip), the features    \
     * MAX_P at a time; the columns past the last whole vector one value at a time. */     \
    CLONES static void mask_mul_##S(T *d, const T *restrict h, T *restrict cs,              \
                                    const T *restrict x, T *restrict g, int write,          \
                                    Py_ssize_t n, Py_ssize_t m, Py_ssize_t p)               \
    {                                                                                       \
        enum { K = VLEN(T) };                                                               \
        if (cs) {                                                                           \
            memset(cs, 0, (size_t)m * sizeof(T));                                           \
        }                                                                                   \
        if (!g || p == 0) { /* separate loops, each vectorizes; g is empty when p == 0 */ \
            for (Py_ssize_t i = 0; i < n; i++) {                                            \
                T *restrict di = d + i * m;                                                 \
                const T *restrict hi = h + i * m;                                           \
                if (write) {                                                                \
                    for (Py_ssize_t j = 0; j < m; j++) {                                    \
                        di[j] = hi[j] > 0 ? di[j] : (T)0;                                   \
                    }                                                                       \
                    for (Py_ssize_t j = 0; cs && j < m; j++) {                              \
                        cs[j] += di[j];                                                     \
                    }                                                                       \
                } else if (cs) {                                                            \
                    for (Py_ssize_t j = 0; j < m; j++) {                                    \
                        const T v = di[j]; /* loaded always: the loop vectorizes */         \
                        cs[j] += hi[j] > 0 ? v : (T)0;                                      \
                    }                                                                       \
                }                                                                           \
            }                                                                               \
            return;                                                                         \
        }                                                                                   \
        memset(g, 0, (size_t)(p * m) * sizeof(T));                                          \
        const Py_ssize_t mv = m - m % K; /* columns in whole vectors */                     \
        for (Py_ssize_t i0 = 0; i0 < n; i0 += MASK_ROWS) {                                  \
            const Py_ssize_t i1 = n - i0 < MASK_ROWS ? n : i0 + MASK_ROWS;                  \
            for (Py_ssize_t k0 = 0; k0 < p; k0 += MAX_P) {                                  \
                /* the first pass over the features masks, writes and sums the columns */   \
                T *restrict c0 = k0 ? NULL : cs;                                            \
                const int w0 = k0 ? 0 : write;                                              \
                switch (p - k0 < MAX_P ? p - k0 : MAX_P) {                                  \
                    MASK_STRIPS(S, 1)                                                       \
                    MASK_STRIPS(S, 2)                                                       \
                    MASK_STRIPS(S, 3)                                                       \
                    MASK_STRIPS(S, 4)                                                       \
                    MASK_STRIPS(S, 5)                                                       \
                    MASK_STRIPS(S, 6)                                                       \
                    MASK_STRIPS(S, 7)                                                       \
                    MASK_STRIPS(S, 8)                                                       \
                    MASK_STRIPS(S, 9)                                                       \
                    MASK_STRIPS(S, 10)                                                      \
                    MASK_STRIPS(S, 11)                                                      \
                    MASK_STRIPS(S, 12)                                                      \
                }                                                                           \
            }                                                                               \
            for (Py_ssize_t i = i0; i < i1; i++) {                                          \
                for (Py_ssize_t j = mv; j < m; j++) {                                       \
                    const T v = h[i * m + j] > 0 ? d[i * m + j] : (T)0;                     \
                    if (write) {                                                            \
                        d[i * m + j] = v;                                                   \
                    }                                                                       \
                    if (cs) {                                                               \
                        cs[j] += v;                                                         \
                    }                                                                       \
                    for (Py_ssize_t k = 0; k < p; k++) {                                    \
                        g[k * m + j] += x[i * p + k] * v;                                   \
                    }                                                                       \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
    }                                                                                       \
    /* z = max(alpha * x @ W + b, 0): for ROWS rows at a time, a chunk of 4 vectors of      \
     * each row is accumulated over the p inputs in registers (the chunk of W stays in      \
     * L1 across the rows), then written once. The last m % (4 vectors) columns go          \
     * through the same code from wpad, a copy of them padded with zeros (p chunks). */     \
    CLONES static void linear_relu_##S(T *restrict z, const T *restrict x, const T *restrict W,\
                                       const T *restrict b, T alpha, T *restrict wpad,      \
                                       Py_ssize_t n, Py_ssize_t p, Py_ssize_t m)            \
    {                                                                                       \
        enum { K = VLEN(T), C = 4 * K };                                                    \
        typedef T V VECTOR;                                                                 \
        const Py_ssize_t mc = m - m % C;                                                    \
        for (Py_ssize_t k = 0; k < p; k++) {                                                \
            for (Py_ssize_t j = 0; j < C; j++) {                                            \
                wpad[k * C + j] = mc + j < m ? W[k * m + mc + j] : (T)0;                    \
            }                                                                               \
        }                                                                                   \
        for (Py_ssize_t i0 = 0; i0 < n; i0 += ROWS) {                                       \
            const Py_ssize_t i1 = n - i0 < ROWS ? n : i0 + ROWS;                            \
            for (Py_ssize_t j0 = 0; j0 < m; j0 += C) {                                      \
                const T *w = j0 < mc ? W + j0 : wpad; /* row k of the chunk at w + k * ws */\
                const Py_ssize_t ws = j0 < mc ? m : C, width = m - j0 < C ? m - j0 : C;     \
                for (Py_ssize_t i = i0; i < i1; i++) {                                      \
                    const T *restrict xi = x + i * p;                                       \
                    V a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, w0, w1, w2, w3;               \
                    for (Py_ssize_t k = 0; k < p; k++) {                                    \
                        const T *wk = w + k * ws;                                           \
                        memcpy(&w0, wk, sizeof(V));                                         \
                        memcpy(&w1, wk + K, sizeof(V));                                     \
                        memcpy(&w2, wk + 2 * K, sizeof(V));                                 \
                        memcpy(&w3, wk + 3 * K, sizeof(V));                                 \
                        a0 += xi[k] * w0;                                                   \
                        a1 += xi[k] * w1;                                                   \
                        a2 += xi[k] * w2;                                                   \
                        a3 += xi[k] * w3;                                                   \
                    }                                                                       \
                    T acc[C];                                                               \
                    memcpy(acc, &a0, sizeof(V));                                            \
                    memcpy(acc + K, &a1, sizeof(V));                                        \
                    memcpy(acc + 2 * K, &a2, sizeof(V));                                    \
                    memcpy(acc + 3 * K, &a3, sizeof(V));                                    \
                    T *restrict zi = z + i * m + j0;                                        \
                    if (width == C) {                                                       \
                        for (int j = 0; j < C; j++) {                                       \
                            T v = alpha * acc[j] + b[j0 + j];                               \
                            zi[j] = v < 0 ? (T)0 : v;                                       \
                        }                                                                   \
                    } else {                                                                \
                        for (Py_ssize_t j = 0; j < width; j++) {                            \
                            T v = alpha * acc[j] + b[j0 + j];                               \
                            zi[j] = v < 0 ? (T)0 : v;                                       \
                        }                                                                   \
                    }                                                                       \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
    }                                                                                       \
    /* The top hidden layer and a single output in one pass over the rows: for each         \
     * row, h = max(z + b, 0) into the row buffer hi, which stays in L1 (z is left as it    \
     * is: nothing after the pass needs h), out = h . v + c,                                \
     * e = out - y, loss += sw * e^2 (in double), r = scale * e, gh += r * h and,           \
     * where d is given, d = r * v * (h > 0) with column sums in cs. Returns the            \
     * loss sum. v is the output weight column times its multiplier. */                     \
    CLONES static double relu_output_##S(const T *restrict z, const T *restrict b,          \
                                         const T *restrict v, T c, const T *restrict y,     \
                                         const double *restrict sw, const T *restrict scale,\
                                         T *restrict out, T *restrict r, T *restrict d,     \
                                         T *restrict cs, T *restrict gh, T *restrict hi,    \
                                         Py_ssize_t n, Py_ssize_t m)                        \
    {                                                                                       \
        enum { K = VLEN(T) };                                                               \
        typedef T V VECTOR;                                                                 \
        double loss = 0.0;                                                                  \
        memset(gh, 0, (size_t)m * sizeof(T));                                               \
        if (cs) {                                                                           \
            memset(cs, 0, (size_t)m * sizeof(T));                                           \
        }                                                                                   \
        for (Py_ssize_t i = 0; i < n; i++) {                                                \
            const T *restrict zi = z + i * m;                                               \
            for (Py_ssize_t j = 0; j < m; j++) {                                            \
                T t = zi[j] + b[j];                                                         \
                hi[j] = t < 0 ? (T)0 : t; /* NaN passes through, as in np.maximum */        \
            }                                                                               \
            V a0 = {0}, a1 = {0}, h0, h1, v0, v1;                                           \
            Py_ssize_t j = 0;                                                               \
            for (; j + 2 * K <= m; j += 2 * K) {                                            \
                memcpy(&h0, hi + j, sizeof(V));                                             \
                memcpy(&h1, hi + j + K, sizeof(V));                                         \
                memcpy(&v0, v + j, sizeof(V));                                              \
                memcpy(&v1, v + j + K, sizeof(V));                                          \
                a0 += h0 * v0;                                                              \
                a1 += h1 * v1;                                                              \
            }                                                                               \
            T part[K];                                                                      \
            a0 += a1;                                                                       \
            memcpy(part, &a0, sizeof(V));                                                   \
            T o = 0;                                                                        \
            for (int k = 0; k < K; k++) {                                                   \
                o += part[k];                                                               \
            }                                                                               \
            for (; j < m; j++) {                                                            \
                o += hi[j] * v[j];                                                          \
            }                                                                               \
            o += c;                                                                         \
            out[i] = o;                                                                     \
            const T e = o - y[i];                                                           \
            loss += sw[i] * ((double)e * (double)e);                                        \
            const T ri = scale[i] * e;                                                      \
            r[i] = ri;                                                                      \
            for (Py_ssize_t j = 0; j < m; j++) {                                            \
                gh[j] += ri * hi[j];                                                        \
            }                                                                               \
            if (d) {                                                                        \
                outer_mask_row_##S(d + i * m, ri, v, hi, cs, m);                            \
            }                                                                               \
        }                                                                                   \
        return loss;                                                                        \
    }

DEFINE_KERNELS(double, d)
DEFINE_KERNELS(float, f)

static PyObject *py_relu_bias(PyObject *self, PyObject *args)
{
    static const Spec specs[] = {{"z", 2, 1, 0}, {"b", 1, 0, 0}};
    PyObject *o[2];
    Buf bufs[2];
    memset(bufs, 0, sizeof bufs);
    if (!PyArg_ParseTuple(args, "OO:relu_bias", &o[0], &o[1])) {
        return NULL;
    }
    int dbl = acquire("relu_bias", o, specs, bufs, 2);
    if (dbl < 0) {
        goto fail;
    }
    Py_ssize_t n = DIM(0, 0), m = DIM(0, 1);
    if (DIM(1, 0) != m) {
        PyErr_SetString(PyExc_ValueError, "relu_bias: b must have z.shape[1] entries");
        goto fail;
    }
    Py_BEGIN_ALLOW_THREADS
    if (dbl) {
        relu_bias_d(BUF(0), BUF(1), n, m);
    } else {
        relu_bias_f(BUF(0), BUF(1), n, m);
    }
    Py_END_ALLOW_THREADS
    release(bufs, 2);
    Py_RETURN_NONE;
fail:
    release(bufs, 2);
    return NULL;
}

static PyObject *py_outer_mask(PyObject *self, PyObject *args)
{
    static const Spec specs[] = {
        {"d", 2, 1, 0}, {"r", 1, 0, 0}, {"w", 1, 0, 0}, {"h", 2, 0, 0}, {"colsum", 1, 1, 1}};
    PyObject *o[5];
    Buf bufs[5];
    memset(bufs, 0, sizeof bufs);
    if (!PyArg_ParseTuple(args, "OOOOO:outer_mask", &o[0], &o[1], &o[2], &o[3], &o[4])) {
        return NULL;
    }
    int dbl = acquire("outer_mask", o, specs, bufs, 5);
    if (dbl < 0) {
        goto fail;
    }
    Py_ssize_t n = DIM(0, 0), m = DIM(0, 1);
    if (DIM(1, 0) != n || DIM(2, 0) != m || DIM(3, 0) != n || DIM(3, 1) != m ||
        (bufs[4].held && DIM(4, 0) != m)) {
        PyErr_SetString(PyExc_ValueError, "outer_mask: inconsistent shapes");
        goto fail;
    }
    Py_BEGIN_ALLOW_THREADS
    if (dbl) {
        outer_mask_d(BUF(0), BUF(1), BUF(2), BUF(3), BUF(4), n, m);
    } else {
        outer_mask_f(BUF(0), BUF(1), BUF(2), BUF(3), BUF(4), n, m);
    }
    Py_END_ALLOW_THREADS
    release(bufs, 5);
    Py_RETURN_NONE;
fail:
    release(bufs, 5);
    return NULL;
}

static PyObject *py_mask_mul(PyObject *self, PyObject *args)
{
    static const Spec specs[] = {
        {"d", 2, 1, 0}, {"h", 2, 0, 0}, {"colsum", 1, 1, 1}, {"x", 2, 0, 1}, {"g", 2, 1, 1}};
    PyObject *o[5] = {NULL, NULL, NULL, Py_None, Py_None};
    int write = 1;
    Buf bufs[5];
    memset(bufs, 0, sizeof bufs);
    if (!PyArg_ParseTuple(args, "OOO|OOp:mask_mul", &o[0], &o[1], &o[2], &o[3], &o[4], &write)) {
        return NULL;
    }
    int dbl = acquire("mask_mul", o, specs, bufs, 5);
    if (dbl < 0) {
        goto fail;
    }
    if (bufs[3].held != bufs[4].held) {
        PyErr_SetString(PyExc_ValueError, "mask_mul: give both x and g, or neither");
        goto fail;
    }
    Py_ssize_t n = DIM(0, 0), m = DIM(0, 1), p = bufs[3].held ? DIM(3, 1) : 0;
    if (DIM(1, 0) != n || DIM(1, 1) != m || (bufs[2].held && DIM(2, 0) != m) ||
        (bufs[3].held && (DIM(3, 0) != n || DIM(4, 0) != p || DIM(4, 1) != m))) {
        PyErr_SetString(PyExc_ValueError, "mask_mul: inconsistent shapes");
        goto fail;
    }
    Py_BEGIN_ALLOW_THREADS
    if (dbl) {
        mask_mul_d(BUF(0), BUF(1), BUF(2), BUF(3), BUF(4), write, n, m, p);
    } else {
        mask_mul_f(BUF(0), BUF(1), BUF(2), BUF(3), BUF(4), write, n, m, p);
    }
    Py_END_ALLOW_THREADS
    release(bufs, 5);
    Py_RETURN_NONE;
fail:
    release(bufs, 5);
    return NULL;
}

static PyObject *py_linear_relu(PyObject *self, PyObject *args)
{
    static const Spec specs[] = {{"z", 2, 1, 0}, {"x", 2, 0, 0}, {"W", 2, 0, 0}, {"b", 1, 0, 0}};
    PyObject *o[4];
    double alpha;
    Buf bufs[4];
    memset(bufs, 0, sizeof bufs);
    if (!PyArg_ParseTuple(args, "OOOOd:linear_relu", &o[0], &o[1], &o[2], &o[3], &alpha)) {
        return NULL;
    }
    int dbl = acquire("linear_relu", o, specs, bufs, 4);
    if (dbl < 0) {
        goto fail;
    }
    Py_ssize_t n = DIM(0, 0), m = DIM(0, 1), p = DIM(1, 1);
    if (DIM(1, 0) != n || DIM(2, 0) != p || DIM(2, 1) != m || DIM(3, 0) != m) {
        PyErr_SetString(PyExc_ValueError, "linear_relu: inconsistent shapes");
        goto fail;
    }
    /* room for the last columns of W padded to 4 vectors (4 * 64 bytes a row) */
    void *wpad = PyMem_RawMalloc((size_t)(p > 0 ? p : 1) * 256);
    if (wpad == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    Py_BEGIN_ALLOW_THREADS
    if (dbl) {
        linear_relu_d(BUF(0), BUF(1), BUF(2), BUF(3), alpha, wpad, n, p, m);
    } else {
        linear_relu_f(BUF(0), BUF(1), BUF(2), BUF(3), (float)alpha, wpad, n, p, m);
    }
    Py_END_ALLOW_THREADS
    PyMem_RawFree(wpad);
    release(bufs, 4);
    Py_RETURN_NONE;
fail:
    release(bufs, 4);
    return NULL;
}

static PyObject *py_relu_output(PyObject *self, PyObject *args)
{
    static const Spec specs[] = {
        {"z", 2, 0, 0},      {"b", 1, 0, 0},  {"v", 1, 0, 0},      {"y", 1, 0, 0},
        {"sw", 1, 0, 0, 1},  {"scale", 1, 0, 0}, {"out", 1, 1, 0}, {"r", 1, 1, 0},
        {"d", 2, 1, 1},      {"colsum", 1, 1, 1}, {"gh", 1, 1, 0}};
    enum { N_ARGS = sizeof specs / sizeof specs[0] };
    PyObject *o[N_ARGS];
    double c, loss = 0.0;
    Buf bufs[N_ARGS];
    memset(bufs, 0, sizeof bufs);
    if (!PyArg_ParseTuple(args, "OOOdOOOOOOOO:relu_output", &o[0], &o[1], &o[2], &c, &o[3],
                          &o[4], &o[5], &o[6], &o[7], &o[8], &o[9], &o[10])) {
        return NULL;
    }
    int dbl = acquire("relu_output", o, specs, bufs, N_ARGS);
    if (dbl < 0) {
        goto fail;
    }
    Py_ssize_t n = DIM(0, 0), m = DIM(0, 1);
    if (DIM(1, 0) != m || DIM(2, 0) != m || DIM(10, 0) != m || (bufs[9].held && DIM(9, 0) != m) ||
        (bufs[8].held && (DIM(8, 0) != n || DIM(8, 1) != m))) {
        PyErr_SetString(PyExc_ValueError, "relu_output: inconsistent shapes");
        goto fail;
    }
    for (int i = 3; i < 8; i++) {
        if (DIM(i, 0) != n) {
            PyErr_SetString(PyExc_ValueError, "relu_output: inconsistent shapes");
            goto fail;
        }
    }
    void *row = PyMem_RawMalloc((size_t)(m > 0 ? m : 1) * (dbl ? sizeof(double) : sizeof(float)));
    if (row == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    Py_BEGIN_ALLOW_THREADS
    if (dbl) {
        loss = relu_output_d(BUF(0), BUF(1), BUF(2), c, BUF(3), BUF(4), BUF(5), BUF(6), BUF(7),
                             BUF(8), BUF(9), BUF(10), row, n, m);
    } else {
        loss = relu_output_f(BUF(0), BUF(1), BUF(2), (float)c, BUF(3), BUF(4), BUF(5), BUF(6),
                             BUF(7), BUF(8), BUF(9), BUF(10), row, n, m);
    }
    Py_END_ALLOW_THREADS
    PyMem_RawFree(row);
    release(bufs, N_ARGS);
    return PyFloat_FromDouble(loss);
fail:
    release(bufs, N_ARGS);
    return NULL;
}

static PyMethodDef methods[] = {
    {"relu_bias", py_relu_bias, METH_VARARGS, "z[i, j] = max(z[i, j] + b[j], 0), in place."},
    {"outer_mask", py_outer_mask, METH_VARARGS,
     "d[i, j] = r[i] * w[j] where h[i, j] > 0, else 0; column sums of d into colsum."},
    {"linear_relu", py_linear_relu, METH_VARARGS,
     "z = max(alpha * x @ W + b, 0), written into z, for a thin x."},
    {"relu_output", py_relu_output, METH_VARARGS,
     "Top hidden layer, single output, loss and output-layer gradient in one pass; "
     "returns sum(sw * (out - y)**2)."},
    {"mask_mul", py_mask_mul, METH_VARARGS,
     "mask_mul(d, h, colsum, x=None, g=None, write=True): d[i, j] = 0 where h[i, j] <= 0, "
     "in place unless write is false; column sums of the masked d into colsum; with x and "
     "g, g = x.T @ (masked d)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fused",
    "Fused element-wise passes of the ReLU training step (see _fused.c).", -1, methods,
};

PyMODINIT_FUNC PyInit__fused(void) { return PyModule_Create(&module); }
