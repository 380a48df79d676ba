/*
 * Compiled passes of the exact core of a shallow network on one input feature.
 *
 * With one input feature, one hidden layer and ReLU (or the identity), unit r
 * contributes alpha_r * relu(u_r x + v_r): on the samples sorted once,
 * x_0 <= ... <= x_{n-1}, its active samples are a suffix (u_r >= 0) or a
 * prefix (u_r < 0) of them, starting or ending at its boundary s_r. The
 * Python side (`sklearn_gdnet._network_1d`, `sklearn_gdnet._batched`) does
 * each pass with some fifty NumPy calls; here each pass is one call, over
 * every seed of a batch at once, and follows the NumPy passes operation by
 * operation so that the results are the same to the last bit (the module is
 * compiled with -ffp-contract=off, so no product is fused into an addition):
 *
 *   boundaries(xp, u, v, s, col, fresh) -> any_neg
 *       each unit's boundary s (moved from its previous value unless fresh)
 *       and column col = s + (u < 0) * (n + 1); whether some u < 0
 *   forward(u, v, alpha, col, xs, b2, any_neg, out, finite)
 *       out[s, j, i] = x_i * S1 + S0 + b2[s, j], with S1, S0 the sums of the
 *       units' slopes alpha[s, j, r] * u[s, r] and intercepts
 *       alpha[s, j, r] * v[s, r] over the units r active at x_i; finite[s]
 *       whether those are all finite
 *   backward(delta, xs, col, any_neg, G, T0)
 *       G[s, j, r] and G[s, k + j, r]: the sums of delta[s, j, i] and of
 *       delta[s, j, i] * x_i over the samples where unit r is active;
 *       T0[s, j] the sum of delta[s, j, :]
 *   residual(f, y, scale, w, resid, delta, loss)
 *       resid = T(f) - y and delta = double(resid * scale), f of shape (S, k, n);
 *       loss[s] = sum over j, i of resid^2 w_i (float64, summed in order)
 *   adam(p, m, v, grad, step, beta1, beta2, eps)
 *       one Adam update of one group of parameters of every seed, in place
 *
 * Shapes: S seeds, m units per seed, k outputs, n samples; xp is xs between
 * the sentinels -inf and +inf (n + 2 values). alpha, xs, b2, delta, G, T0
 * and out are float64; xp, u, v are float32 or float64 (the parameters' dtype, in
 * which the test of activity is evaluated, as in the dense pass); s, col and
 * finite are int64. All arrays are C-contiguous and checked here. Every kernel
 * releases the GIL.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- arguments ----------------------------------------------------------- */

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

/* The type letter of a buffer: 'd', 'f' or 'q' (any 8-byte integer), else 0. */
static char kind_of(const Py_buffer *view)
{
    const char *f = view->format;
    if (f[0] == '<' || f[0] == '=' || f[0] == '@') {
        f++;
    }
    if (f[1] != '\0') {
        return 0;
    }
    if (f[0] == 'd' || f[0] == 'f') {
        return f[0];
    }
    if ((f[0] == 'q' || f[0] == 'l') && view->itemsize == 8) {
        return 'q';
    }
    return 0;
}

/* Acquire obj as a C-contiguous buffer of ndim dimensions whose type letter is
 * one of `kinds`; 0, or -1 with an exception set. */
static int acquire(const char *func, const char *name, PyObject *obj, int ndim,
                   const char *kinds, int writable, Buf *buf)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, &buf->view, flags) < 0) {
        return -1;
    }
    buf->held = 1;
    char kind = kind_of(&buf->view);
    if (buf->view.ndim != ndim || kind == 0 || strchr(kinds, kind) == NULL) {
        PyErr_Format(PyExc_TypeError, "%s: %s must be a C-contiguous %d-d array of type '%s'",
                     func, name, ndim, kinds);
        return -1;
    }
    return 0;
}

#define SHAPE(b, j) ((b).view.shape[j])
#define CHECK(cond, msg)                                                                   \
    if (!(cond)) {                                                                         \
        PyErr_SetString(PyExc_ValueError, msg);                                            \
        goto done;                                                                         \
    }

/* ---- boundaries ---------------------------------------------------------- */

/* Between two training steps a knot usually crosses no sample or one: a
 * boundary is moved a sample at a time this many times before bisection. */
#define WALK 8

/* The boundary of one unit: the number of samples i with pred(i) false, where
 * pred(i) = (xs[i] * u + v > 0) != neg is false then true along the sorted
 * samples (the test is monotone in x for a fixed sign of u; it is evaluated
 * exactly as the dense pass does, in T, rounding the product and then the
 * sum). It is the unique s with pred(s - 1) false and pred(s) true (pred(-1)
 * false and pred(n) true by convention), which is where the NumPy search ends
 * too, whatever the start. From the previous boundary s0: walk, then bisect. */
#define DEFINE_BOUNDARY(T, SUF)                                                            \
    static int64_t boundary_##SUF(const T *xs, Py_ssize_t n, T u, T v, int neg, int64_t s0) \
    {                                                                                      \
        Py_ssize_t lo = 0, hi = n; /* pred(lo - 1) false, pred(hi) true */                 \
        Py_ssize_t s = s0 < 0 ? 0 : (s0 > n ? n : (Py_ssize_t)s0);                         \
        if (s > 0 && ((xs[s - 1] * u + v > 0) != neg)) { /* moved down */                \
            hi = s - 1;                                                                    \
            for (int w = 0; w < WALK && hi > 0; w++) {                                     \
                if ((xs[hi - 1] * u + v > 0) == neg) {                                     \
                    return hi;                                                             \
                }                                                                          \
                hi--;                                                                      \
            }                                                                              \
        } else if (s < n && ((xs[s] * u + v > 0) == neg)) { /* moved up */                \
            lo = s + 1;                                                                    \
            for (int w = 0; w < WALK && lo < n; w++) {                                     \
                if ((xs[lo] * u + v > 0) != neg) {                                         \
                    return lo;                                                             \
                }                                                                          \
                lo++;                                                                      \
            }                                                                              \
        } else {                                                                           \
            return s; /* still in place: the usual case */                                 \
        }                                                                                  \
        while (lo < hi) { /* bisection on the monotone predicate */                        \
            Py_ssize_t mid = lo + (hi - lo) / 2;                                           \
            if ((xs[mid] * u + v > 0) != neg) {                                            \
                hi = mid;                                                                  \
            } else {                                                                       \
                lo = mid + 1;                                                              \
            }                                                                              \
        }                                                                                  \
        return lo;                                                                         \
    }                                                                                      \
    /* Every unit's boundary and column; whether some unit has u < 0. A unit with       \
     * u = 0 is constant: active at every sample (s = 0) if v > 0, else at none. A      \
     * unit with u or v not finite (a diverged run, whose outputs are NaN: see          \
     * `forward`) is taken as active nowhere, so that the sentinels hold for the others. */ \
    static int boundaries_##SUF(const T *xs, Py_ssize_t n, const T *u, const T *v,         \
                                int64_t *s, int64_t *col, Py_ssize_t M, int fresh)         \
    {                                                                                      \
        int any_neg = 0;                                                                   \
        for (Py_ssize_t r = 0; r < M; r++) {                                               \
            int neg = u[r] < 0;                                                            \
            int64_t b;                                                                     \
            if (!(isfinite(u[r]) && isfinite(v[r]))) {                                     \
                b = n;                                                                     \
                neg = 0;                                                                   \
            } else if (u[r] == 0) {                                                        \
                b = v[r] > 0 ? 0 : n;                                                      \
            } else if (fresh || s[r] < 0 || s[r] > n) {                                    \
                b = boundary_##SUF(xs, n, u[r], v[r], neg, n / 2);                         \
            } else {                                                                       \
                /* Without branches: the previous boundary moved by at most one sample,  \
                 * checked at both sides (xs[-1] = -inf and xs[n] = +inf are the        \
                 * sentinels, where the predicate is false and true); a boundary that  \
                 * moved further is searched for. The unit's direction of travel is    \
                 * its own, so branches on it would be mispredicted half the time. */  \
                const T ur = u[r], vr = v[r];                                              \
                const int64_t s0 = s[r];                                                   \
                int below = (xs[s0 - 1] * ur + vr > 0) != neg; /* pred(s0 - 1) */          \
                int above = (xs[s0] * ur + vr > 0) != neg;     /* pred(s0) */              \
                b = s0 - below + !above;                                                   \
                /* moved down by one: pred(b - 1) must be false; else pred(b) true (which \
                 * is `above` again when it stayed) */                                     \
                const int ok = ((xs[b - below] * ur + vr > 0) != neg) == !below;           \
                if (!ok) {                                                                 \
                    b = boundary_##SUF(xs, n, ur, vr, neg, b);                             \
                }                                                                          \
            }                                                                              \
            s[r] = b;                                                                      \
            col[r] = b + (neg ? n + 1 : 0);                                                \
            any_neg |= neg;                                                                \
        }                                                                                  \
        return any_neg;                                                                    \
    }

DEFINE_BOUNDARY(double, d)
DEFINE_BOUNDARY(float, f)

static PyObject *py_boundaries(PyObject *self, PyObject *args)
{
    PyObject *o[5];
    int fresh;
    Buf b[5];
    memset(b, 0, sizeof b);
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "OOOOOp", &o[0], &o[1], &o[2], &o[3], &o[4], &fresh)) {
        return NULL;
    }
    const char *names[5] = {"xp", "u", "v", "s", "col"};
    const char *kinds[5] = {"df", "df", "df", "q", "q"};
    for (int i = 0; i < 5; i++) {
        if (acquire("boundaries", names[i], o[i], 1, kinds[i], i >= 3, &b[i]) < 0) {
            goto done;
        }
    }
    char t = kind_of(&b[0].view);
    CHECK(kind_of(&b[1].view) == t && kind_of(&b[2].view) == t,
          "boundaries: xp, u and v must share one dtype");
    Py_ssize_t n = SHAPE(b[0], 0) - 2, M = SHAPE(b[1], 0);
    CHECK(n >= 0, "boundaries: xp holds the samples between two sentinels");
    CHECK(SHAPE(b[2], 0) == M && SHAPE(b[3], 0) == M && SHAPE(b[4], 0) == M,
          "boundaries: u, v, s and col must have one length");
    int any_neg;
    Py_BEGIN_ALLOW_THREADS;
    if (t == 'd') {
        any_neg = boundaries_d((const double *)b[0].view.buf + 1, n, b[1].view.buf,
                               b[2].view.buf, b[3].view.buf, b[4].view.buf, M, fresh);
    } else {
        any_neg = boundaries_f((const float *)b[0].view.buf + 1, n, b[1].view.buf,
                               b[2].view.buf, b[3].view.buf, b[4].view.buf, M, fresh);
    }
    Py_END_ALLOW_THREADS;
    result = PyBool_FromLong(any_neg);
done:
    release(b, 5);
    return result;
}

/* ---- forward ------------------------------------------------------------- */

/* The prefix sums below are chains of dependent additions, each waiting for
 * the last: the passes run LANES seeds side by side, whose chains are
 * independent, so that the processor overlaps them. Each seed's sums are
 * still added in the same order, one bin at a time. */
#define LANES 4
#if defined(__GNUC__)
#define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE inline
#endif

/* One seed and output: the histograms of the units' coefficients at their
 * columns, h1 (slopes) and h0 (intercepts), 2 (n + 1) bins each; only the
 * first n + 1 unless some unit has u < 0. As the NumPy pass: the coefficients
 * are alpha * u and alpha * v in float64, and hist = bincount(col, coef) adds
 * each bin's units in the order of r. Returns whether the coefficients are
 * finite. */
#define DEFINE_HISTOGRAM(T, SUF)                                                           \
    static int histogram_##SUF(const T *u, const T *v, const double *alpha,                \
                               const int64_t *col, Py_ssize_t m, Py_ssize_t w, int any_neg, \
                               double *h1, double *h0)                                     \
    {                                                                                      \
        double check = 0.0; /* NaN if some coefficient is not finite */                    \
        memset(h1, 0, (size_t)((any_neg ? 2 : 1) * w) * sizeof(double));                  \
        memset(h0, 0, (size_t)((any_neg ? 2 : 1) * w) * sizeof(double));                  \
        for (Py_ssize_t r = 0; r < m; r++) {                                               \
            double c1 = alpha[r] * (double)u[r], c0 = alpha[r] * (double)v[r];             \
            check += (c1 - c1) + (c0 - c0); /* inf - inf and NaN give NaN */               \
            h1[col[r]] += c1;                                                              \
            h0[col[r]] += c0;                                                              \
        }                                                                                  \
        return check == 0.0;                                                               \
    }

DEFINE_HISTOGRAM(double, d)
DEFINE_HISTOGRAM(float, f)

/* L seeds' outputs from their histograms (see histogram): the sums from the
 * left, S[i] = hist[0] + ... + hist[i], added one bin at a time; with units
 * of u < 0 (columns n + 1 + s, active below s), the sums from the right
 * R[i] = hist[n + 1 + n] + ... + hist[n + 1 + i + 1], one bin at a time from
 * the top, added to them (as the NumPy pass: S + R); then
 * out = (S1 * x + S0) + b2. */
static ALWAYS_INLINE void sums_at_samples(double **h1, double **h0, const double *xs,
                                          Py_ssize_t n, int any_neg, const double *b2,
                                          double **out, const int L)
{
    Py_ssize_t w = n + 1;
    double a1[LANES], a0[LANES];
    if (any_neg) { /* the sums from the right, kept in the right half of the bins */
        for (int l = 0; l < L; l++) {
            a1[l] = a0[l] = 0.0;
        }
        for (Py_ssize_t i = n - 1; i >= 0; i--) {
            for (int l = 0; l < L; l++) {
                a1[l] += h1[l][w + i + 1];
                a0[l] += h0[l][w + i + 1];
                h1[l][w + i + 1] = a1[l]; /* read before it is overwritten */
                h0[l][w + i + 1] = a0[l];
            }
        }
    }
    for (int l = 0; l < L; l++) {
        a1[l] = a0[l] = 0.0;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        for (int l = 0; l < L; l++) {
            a1[l] += h1[l][i];
            a0[l] += h0[l][i];
            double s1 = a1[l], s0 = a0[l];
            if (any_neg) {
                s1 += h1[l][w + i + 1];
                s0 += h0[l][w + i + 1];
            }
            double f = s1 * xs[i];
            f += s0;
            out[l][i] = f + b2[l];
        }
    }
}

static void sums_lanes(double **h1, double **h0, const double *xs, Py_ssize_t n, int any_neg,
                       const double *b2, double **out, int L)
{
    if (L == LANES) { /* a constant number of lanes: the chains stay in registers */
        sums_at_samples(h1, h0, xs, n, any_neg, b2, out, LANES);
    } else {
        for (int l = 0; l < L; l++) {
            sums_at_samples(h1 + l, h0 + l, xs, n, any_neg, b2 + l, out + l, 1);
        }
    }
}

static PyObject *py_forward(PyObject *self, PyObject *args)
{
    PyObject *o[8];
    int any_neg;
    Buf b[8];
    memset(b, 0, sizeof b);
    PyObject *result = NULL;
    double *h = NULL;
    if (!PyArg_ParseTuple(args, "OOOOOOpOO", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &any_neg,
                          &o[6], &o[7])) {
        return NULL;
    }
    const char *names[8] = {"u", "v", "alpha", "col", "xs", "b2", "out", "finite"};
    const int ndims[8] = {2, 2, 3, 2, 1, 2, 3, 1};
    const char *kinds[8] = {"df", "df", "d", "q", "d", "d", "d", "q"};
    for (int i = 0; i < 8; i++) {
        if (acquire("forward", names[i], o[i], ndims[i], kinds[i], i >= 6, &b[i]) < 0) {
            goto done;
        }
    }
    char t = kind_of(&b[0].view);
    CHECK(kind_of(&b[1].view) == t, "forward: u and v must share one dtype");
    Py_ssize_t S = SHAPE(b[0], 0), m = SHAPE(b[0], 1), k = SHAPE(b[2], 1), n = SHAPE(b[4], 0);
    CHECK(SHAPE(b[1], 0) == S && SHAPE(b[1], 1) == m, "forward: v must have the shape of u");
    CHECK(SHAPE(b[2], 0) == S && SHAPE(b[2], 2) == m, "forward: alpha must have shape (S, k, m)");
    CHECK(SHAPE(b[3], 0) == S && SHAPE(b[3], 1) == m, "forward: col must have shape (S, m)");
    CHECK(SHAPE(b[5], 0) == S && SHAPE(b[5], 1) == k, "forward: b2 must have shape (S, k)");
    CHECK(SHAPE(b[6], 0) == S && SHAPE(b[6], 1) == k && SHAPE(b[6], 2) == n,
          "forward: out must have shape (S, k, n)");
    CHECK(SHAPE(b[7], 0) == S, "forward: finite must have S values");
    const int64_t *col = b[3].view.buf;
    for (Py_ssize_t r = 0; r < S * m; r++) { /* bins in range: no write out of bounds */
        CHECK(col[r] >= 0 && col[r] <= (any_neg ? 2 * n + 1 : n), "forward: col out of range");
    }
    Py_ssize_t w = n + 1;
    h = malloc((size_t)(LANES * 4 * w) * sizeof(double)); /* 2 histograms of 2 w per lane */
    if (h == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    const double *alpha = b[2].view.buf, *xs = b[4].view.buf, *b2 = b[5].view.buf;
    double *out = b[6].view.buf;
    int64_t *finite = b[7].view.buf;
    Py_BEGIN_ALLOW_THREADS;
    for (Py_ssize_t s = 0; s < S; s++) {
        finite[s] = 1;
    }
    for (Py_ssize_t j = 0; j < k; j++) {
        for (Py_ssize_t s0 = 0; s0 < S; s0 += LANES) {
            int L = S - s0 < LANES ? (int)(S - s0) : LANES;
            double *h1[LANES], *h0[LANES], *outs[LANES], b2s[LANES];
            for (int l = 0; l < L; l++) {
                Py_ssize_t s = s0 + l;
                h1[l] = h + l * 4 * w;
                h0[l] = h1[l] + 2 * w;
                outs[l] = out + (s * k + j) * n;
                b2s[l] = b2[s * k + j];
                const double *aj = alpha + (s * k + j) * m;
                int ok;
                if (t == 'd') {
                    const double *us = (const double *)b[0].view.buf + s * m;
                    const double *vs = (const double *)b[1].view.buf + s * m;
                    ok = histogram_d(us, vs, aj, col + s * m, m, w, any_neg, h1[l], h0[l]);
                } else {
                    const float *us = (const float *)b[0].view.buf + s * m;
                    const float *vs = (const float *)b[1].view.buf + s * m;
                    ok = histogram_f(us, vs, aj, col + s * m, m, w, any_neg, h1[l], h0[l]);
                }
                finite[s] &= ok;
            }
            sums_lanes(h1, h0, xs, n, any_neg, b2s, outs, L);
        }
    }
    Py_END_ALLOW_THREADS;
    Py_INCREF(Py_None);
    result = Py_None;
done:
    free(h);
    release(b, 8);
    return result;
}

/* ---- backward ------------------------------------------------------------ */

/* L seeds (lanes) of one output: the sums of e_i and of e_i x_i over each
 * unit's active samples, read at its column from the sums of the samples
 * from the right (columns 0 .. n: suf[c] = e_{n-1} + ... + e_c, added from
 * the top) and, with units of u < 0, from the left (columns n + 1 + c:
 * e_0 + ... + e_{c-1}, added from the bottom), as the NumPy pass's two
 * cumulative sums. The total t0 is the first of the sums from the right
 * (whatever the other seeds of the batch are). te[l] and tx[l] have room for
 * 2 (n + 1) values each. */
static ALWAYS_INLINE void sums_over_samples(const double **e, const double *xs, Py_ssize_t n,
                                            int any_neg, double **te, double **tx,
                                            double **t0, const int L)
{
    Py_ssize_t w = n + 1;
    double ae[LANES], ax[LANES];
    for (int l = 0; l < L; l++) {
        ae[l] = ax[l] = 0.0;
        te[l][n] = tx[l][n] = 0.0;
    }
    for (Py_ssize_t i = n - 1; i >= 0; i--) {
        for (int l = 0; l < L; l++) {
            ae[l] += e[l][i];
            ax[l] += e[l][i] * xs[i];
            te[l][i] = ae[l];
            tx[l][i] = ax[l];
        }
    }
    for (int l = 0; l < L; l++) {
        *t0[l] = n ? te[l][0] : 0.0;
    }
    if (any_neg) {
        for (int l = 0; l < L; l++) {
            ae[l] = ax[l] = 0.0;
            te[l][w] = tx[l][w] = 0.0;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            for (int l = 0; l < L; l++) {
                ae[l] += e[l][i];
                ax[l] += e[l][i] * xs[i];
                te[l][w + i + 1] = ae[l];
                tx[l][w + i + 1] = ax[l];
            }
        }
    }
}

static void over_lanes(const double **e, const double *xs, Py_ssize_t n, int any_neg,
                       double **te, double **tx, double **t0, int L)
{
    if (L == LANES) { /* a constant number of lanes: the chains stay in registers */
        sums_over_samples(e, xs, n, any_neg, te, tx, t0, LANES);
    } else {
        for (int l = 0; l < L; l++) {
            sums_over_samples(e + l, xs, n, any_neg, te + l, tx + l, t0 + l, 1);
        }
    }
}

static PyObject *py_backward(PyObject *self, PyObject *args)
{
    PyObject *o[5];
    int any_neg;
    Buf b[5];
    memset(b, 0, sizeof b);
    PyObject *result = NULL;
    double *t = NULL;
    if (!PyArg_ParseTuple(args, "OOOpOO", &o[0], &o[1], &o[2], &any_neg, &o[3], &o[4])) {
        return NULL;
    }
    const char *names[5] = {"delta", "xs", "col", "G", "T0"};
    const int ndims[5] = {3, 1, 2, 3, 2};
    const char *kinds[5] = {"d", "d", "q", "d", "d"};
    for (int i = 0; i < 5; i++) {
        if (acquire("backward", names[i], o[i], ndims[i], kinds[i], i >= 3, &b[i]) < 0) {
            goto done;
        }
    }
    Py_ssize_t S = SHAPE(b[0], 0), k = SHAPE(b[0], 1), n = SHAPE(b[0], 2), m = SHAPE(b[2], 1);
    CHECK(SHAPE(b[1], 0) == n, "backward: xs must have n values");
    CHECK(SHAPE(b[2], 0) == S, "backward: col must have shape (S, m)");
    CHECK(SHAPE(b[3], 0) == S && SHAPE(b[3], 1) == 2 * k && SHAPE(b[3], 2) == m,
          "backward: G must have shape (S, 2 k, m)");
    CHECK(SHAPE(b[4], 0) == S && SHAPE(b[4], 1) == k, "backward: T0 must have shape (S, k)");
    const int64_t *col = b[2].view.buf;
    for (Py_ssize_t r = 0; r < S * m; r++) {
        CHECK(col[r] >= 0 && col[r] <= 2 * n + 1 && (any_neg || col[r] <= n),
              "backward: col out of range");
    }
    Py_ssize_t w = n + 1;
    t = malloc((size_t)(LANES * 4 * w) * sizeof(double)); /* 2 sums of 2 w per lane */
    if (t == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    const double *delta = b[0].view.buf, *xs = b[1].view.buf;
    double *G = b[3].view.buf, *T0 = b[4].view.buf;
    Py_BEGIN_ALLOW_THREADS;
    for (Py_ssize_t j = 0; j < k; j++) {
        for (Py_ssize_t s0 = 0; s0 < S; s0 += LANES) {
            int L = S - s0 < LANES ? (int)(S - s0) : LANES;
            const double *e[LANES];
            double *te[LANES], *tx[LANES], *t0[LANES];
            for (int l = 0; l < L; l++) {
                Py_ssize_t s = s0 + l;
                e[l] = delta + (s * k + j) * n;
                te[l] = t + l * 4 * w;
                tx[l] = te[l] + 2 * w;
                t0[l] = T0 + s * k + j;
            }
            over_lanes(e, xs, n, any_neg, te, tx, t0, L);
            for (int l = 0; l < L; l++) { /* each unit's sums, read at its column */
                Py_ssize_t s = s0 + l;
                const int64_t *cs = col + s * m;
                double *g0 = G + (s * 2 * k + j) * m, *g1 = G + (s * 2 * k + k + j) * m;
                for (Py_ssize_t r = 0; r < m; r++) {
                    g0[r] = te[l][cs[r]];
                    g1[r] = tx[l][cs[r]];
                }
            }
        }
    }
    Py_END_ALLOW_THREADS;
    Py_INCREF(Py_None);
    result = Py_None;
done:
    free(t);
    release(b, 5);
    return result;
}

/* ---- residual ------------------------------------------------------------ */

/* The residual of every seed's outputs f (float64) at the targets y, in the
 * parameters' type T as the training loop forms it; the residual weighted by
 * scale (T) in float64, for `backward`; and each seed's sum of w_i * resid^2
 * in float64 (each output's samples added in order, then the outputs), which
 * NumPy's einsum adds in an order of its own: the losses agree to rounding. */
#define DEFINE_RESIDUAL(T, SUF)                                                            \
    static void residual_##SUF(const double *f, const T *y, const T *scale, const double *w, \
                               T *resid, double *delta, double *loss, Py_ssize_t S,        \
                               Py_ssize_t k, Py_ssize_t n)                                 \
    {                                                                                      \
        for (Py_ssize_t s = 0; s < S; s++) {                                               \
            double total = 0.0;                                                            \
            for (Py_ssize_t j = 0; j < k; j++) {                                           \
                const Py_ssize_t row = s * k + j;                                          \
                const T *yj = y + j * n;                                                   \
                const double *fr = f + row * n;                                            \
                T *rr = resid + row * n;                                                   \
                double *dr = delta + row * n, acc = 0.0;                                   \
                for (Py_ssize_t i = 0; i < n; i++) {                                       \
                    const T r = (T)fr[i] - yj[i];                                          \
                    rr[i] = r;                                                             \
                    dr[i] = (double)(r * scale[i]);                                        \
                    acc += ((double)r * (double)r) * w[i];                                 \
                }                                                                          \
                total += acc;                                                              \
            }                                                                              \
            loss[s] = total;                                                               \
        }                                                                                  \
    }

DEFINE_RESIDUAL(double, d)
DEFINE_RESIDUAL(float, f)

static PyObject *py_residual(PyObject *self, PyObject *args)
{
    PyObject *o[7];
    Buf b[7];
    memset(b, 0, sizeof b);
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "OOOOOOO", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &o[6])) {
        return NULL;
    }
    const char *names[7] = {"f", "y", "scale", "w", "resid", "delta", "loss"};
    const int ndims[7] = {3, 2, 1, 1, 3, 3, 1};
    const char *kinds[7] = {"d", "df", "df", "d", "df", "d", "d"};
    for (int i = 0; i < 7; i++) {
        if (acquire("residual", names[i], o[i], ndims[i], kinds[i], i >= 4, &b[i]) < 0) {
            goto done;
        }
    }
    char t = kind_of(&b[1].view);
    CHECK(kind_of(&b[2].view) == t && kind_of(&b[4].view) == t,
          "residual: y, scale and resid must share one dtype");
    Py_ssize_t S = SHAPE(b[0], 0), k = SHAPE(b[0], 1), n = SHAPE(b[0], 2);
    CHECK(SHAPE(b[1], 0) == k && SHAPE(b[1], 1) == n, "residual: y must have shape (k, n)");
    CHECK(SHAPE(b[2], 0) == n && SHAPE(b[3], 0) == n, "residual: scale and w must have n values");
    for (int i = 4; i < 6; i++) {
        CHECK(SHAPE(b[i], 0) == S && SHAPE(b[i], 1) == k && SHAPE(b[i], 2) == n,
              "residual: resid and delta must have the shape of f");
    }
    CHECK(SHAPE(b[6], 0) == S, "residual: loss must have S values");
    Py_BEGIN_ALLOW_THREADS;
    if (t == 'd') {
        residual_d(b[0].view.buf, b[1].view.buf, b[2].view.buf, b[3].view.buf, b[4].view.buf,
                   b[5].view.buf, b[6].view.buf, S, k, n);
    } else {
        residual_f(b[0].view.buf, b[1].view.buf, b[2].view.buf, b[3].view.buf, b[4].view.buf,
                   b[5].view.buf, b[6].view.buf, S, k, n);
    }
    Py_END_ALLOW_THREADS;
    Py_INCREF(Py_None);
    result = Py_None;
done:
    release(b, 7);
    return result;
}

/* ---- Adam ---------------------------------------------------------------- */

/* One Adam update, seed by seed (each seed's `len` values follow one another),
 * element by element as the batched NumPy loop (`sklearn_gdnet._batched`)
 * computes it, each operation rounded in the same type:
 *
 *   g = T(grad); m = m * b1 + T(1 - b1) * g; v = v * b2 + (T(1 - b2) * g) * g
 *   p = T(double(p) - step * double(m) / double(sqrt(v) + eps))
 *
 * with the constants b1, b2, eps rounded to T (NumPy's rule for Python
 * scalars) and the seed's step in float64. */
#define DEFINE_ADAM(T, SUF)                                                                \
    static void adam_##SUF(T *restrict p, T *restrict m, T *restrict v,                   \
                           const double *restrict grad, const double *restrict step,       \
                           Py_ssize_t S, Py_ssize_t len, double b1, double b2, double eps) \
    {                                                                                      \
        const T tb1 = (T)b1, tb2 = (T)b2, teps = (T)eps, c1 = (T)(1 - b1), c2 = (T)(1 - b2); \
        for (Py_ssize_t s = 0; s < S; s++) {                                               \
            const double h = step[s];                                                      \
            for (Py_ssize_t i = s * len; i < (s + 1) * len; i++) {                         \
                const T g = (T)grad[i];                                                    \
                T mi = m[i] * tb1;                                                         \
                mi = mi + c1 * g;                                                          \
                T vi = v[i] * tb2;                                                         \
                vi = vi + (c2 * g) * g;                                                    \
                const T d = sqrt##SUF(vi) + teps;                                          \
                const double q = (h * (double)mi) / (double)d;                             \
                p[i] = (T)((double)p[i] - q);                                              \
                m[i] = mi;                                                                 \
                v[i] = vi;                                                                 \
            }                                                                              \
        }                                                                                  \
    }

#define sqrtd sqrt
DEFINE_ADAM(double, d)
DEFINE_ADAM(float, f)

static PyObject *py_adam(PyObject *self, PyObject *args)
{
    PyObject *o[5];
    double b1, b2, eps;
    Buf b[5];
    memset(b, 0, sizeof b);
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "OOOOOddd", &o[0], &o[1], &o[2], &o[3], &o[4], &b1, &b2,
                          &eps)) {
        return NULL;
    }
    const char *names[5] = {"p", "m", "v", "grad", "step"};
    const char *kinds[5] = {"df", "df", "df", "d", "d"};
    for (int i = 0; i < 5; i++) {
        if (PyObject_GetBuffer(o[i], &b[i].view,
                               PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (i < 3 ? PyBUF_WRITABLE : 0))
            < 0) {
            goto done;
        }
        b[i].held = 1;
        char kind = kind_of(&b[i].view);
        if (kind == 0 || strchr(kinds[i], kind) == NULL || b[i].view.ndim < 1) {
            PyErr_Format(PyExc_TypeError, "adam: %s must be a C-contiguous array of type '%s'",
                         names[i], kinds[i]);
            goto done;
        }
    }
    char t = kind_of(&b[0].view);
    CHECK(kind_of(&b[1].view) == t && kind_of(&b[2].view) == t,
          "adam: p, m and v must share one dtype");
    Py_ssize_t S = SHAPE(b[4], 0), total = b[0].view.len / b[0].view.itemsize;
    CHECK(b[4].view.ndim == 1 && SHAPE(b[0], 0) == S, "adam: step holds one value per seed");
    for (int i = 1; i < 4; i++) {
        CHECK(b[i].view.len / b[i].view.itemsize == total, "adam: p, m, v, grad differ in size");
    }
    Py_ssize_t len = S ? total / S : 0;
    Py_BEGIN_ALLOW_THREADS;
    if (t == 'd') {
        adam_d(b[0].view.buf, b[1].view.buf, b[2].view.buf, b[3].view.buf, b[4].view.buf, S,
               len, b1, b2, eps);
    } else {
        adam_f(b[0].view.buf, b[1].view.buf, b[2].view.buf, b[3].view.buf, b[4].view.buf, S,
               len, b1, b2, eps);
    }
    Py_END_ALLOW_THREADS;
    Py_INCREF(Py_None);
    result = Py_None;
done:
    release(b, 5);
    return result;
}

static PyMethodDef methods[] = {
    {"boundaries", py_boundaries, METH_VARARGS,
     "boundaries(xp, u, v, s, col, fresh) -> any_neg: each unit's boundary and column."},
    {"forward", py_forward, METH_VARARGS,
     "forward(u, v, alpha, col, xs, b2, any_neg, out, finite): outputs at the sorted "
     "samples; whether each seed's coefficients are finite."},
    {"backward", py_backward, METH_VARARGS,
     "backward(delta, xs, col, any_neg, G, T0): sums of the residual over active samples."},
    {"residual", py_residual, METH_VARARGS,
     "residual(f, y, scale, w, resid, delta, loss): resid = T(f) - y, "
     "delta = double(resid * scale), loss = sum of w * resid**2 per seed."},
    {"adam", py_adam, METH_VARARGS,
     "adam(p, m, v, grad, step, beta1, beta2, eps): one Adam update per seed, in place."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_spline",
    "Compiled passes of the exact core of a shallow network on one input feature.", -1,
    methods,
};

PyMODINIT_FUNC PyInit__spline(void) { return PyModule_Create(&module); }
