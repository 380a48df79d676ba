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
 *   outer_mask(d, r, w, h, colsum)  d[i, j] = r[i] * w[j] if h[i, j] > 0 else 0
 *   mask_mul(d, h, colsum)          d[i, j] = d[i, j]    if h[i, j] > 0 else 0
 *
 * ``colsum`` (length m, or None) receives the column sums of the new ``d``:
 * the bias gradient of the layer, for free while ``d`` is in registers.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

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

/* Get a C-contiguous float32/float64 buffer of the given number of dims. */
static int get(PyObject *obj, Buf *buf, int writable, int ndim, const char *name)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, &buf->view, flags) < 0) {
        return -1;
    }
    buf->held = 1;
    const char *f = buf->view.format;
    if (f[0] == '<' || f[0] == '=' || f[0] == '@') {
        f++;
    }
    if ((f[0] != 'd' && f[0] != 'f') || f[1] != '\0' || buf->view.ndim != ndim) {
        PyErr_Format(PyExc_TypeError, "%s: expected a %d-d float32 or float64 array", name, ndim);
        return -1;
    }
    return 0;
}

static int same_kind(Buf *bufs, int k)
{
    char f0 = bufs[0].view.format[strlen(bufs[0].view.format) - 1];
    for (int i = 1; i < k; i++) {
        char fi = bufs[i].view.format[strlen(bufs[i].view.format) - 1];
        if (fi != f0) {
            PyErr_SetString(PyExc_TypeError, "all arrays must share one dtype");
            return -1;
        }
    }
    return f0 == 'd' ? 1 : 0; /* 1: double, 0: float */
}

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
    static void outer_mask_##S(T *restrict d, const T *restrict r, const T *restrict w,   \
                               const T *restrict h, T *restrict cs,         \
                               Py_ssize_t n, Py_ssize_t m)                               \
    {                                                                                    \
        if (cs) {                                                                        \
            memset(cs, 0, (size_t)m * sizeof(T));                                        \
        }                                                                                \
        for (Py_ssize_t i = 0; i < n; i++) {                                             \
            T *restrict di = d + i * m;                                                           \
            const T *restrict hi = h + i * m;                                                     \
            const T ri = r[i];                                                           \
            for (Py_ssize_t j = 0; j < m; j++) {                                         \
                T v = ri * w[j];                                                         \
                di[j] = v * (T)(hi[j] > 0); /* as NumPy's (r * w) * (h > 0) */            \
            }                                                                            \
            if (cs) {                                                                    \
                for (Py_ssize_t j = 0; j < m; j++) {                                     \
                    cs[j] += di[j];                                                      \
                }                                                                        \
            }                                                                            \
        }                                                                                \
    }                                                                                    \
    static void mask_mul_##S(T *restrict d, const T *restrict h, T *restrict cs, Py_ssize_t n, Py_ssize_t m)       \
    {                                                                                    \
        if (cs) {                                                                        \
            memset(cs, 0, (size_t)m * sizeof(T));                                        \
        }                                                                                \
        for (Py_ssize_t i = 0; i < n; i++) {                                             \
            T *restrict di = d + i * m;                                                           \
            const T *restrict hi = h + i * m;                                                     \
            for (Py_ssize_t j = 0; j < m; j++) {                                         \
                di[j] = hi[j] > 0 ? di[j] : (T)0;                                        \
            }                                                                            \
            if (cs) {                                                                    \
                for (Py_ssize_t j = 0; j < m; j++) {                                     \
                    cs[j] += di[j];                                                      \
                }                                                                        \
            }                                                                            \
        }                                                                                \
    }

DEFINE_KERNELS(double, d)
DEFINE_KERNELS(float, f)

static PyObject *py_relu_bias(PyObject *self, PyObject *args)
{
    PyObject *oz, *ob;
    Buf bufs[2] = {{0}};
    if (!PyArg_ParseTuple(args, "OO:relu_bias", &oz, &ob)) {
        return NULL;
    }
    if (get(oz, &bufs[0], 1, 2, "z") < 0 || get(ob, &bufs[1], 0, 1, "b") < 0) {
        goto fail;
    }
    Py_ssize_t n = bufs[0].view.shape[0], m = bufs[0].view.shape[1];
    if (bufs[1].view.shape[0] != m) {
        PyErr_SetString(PyExc_ValueError, "relu_bias: b must have z.shape[1] entries");
        goto fail;
    }
    int dbl = same_kind(bufs, 2);
    if (dbl < 0) {
        goto fail;
    }
    Py_BEGIN_ALLOW_THREADS
    if (dbl) {
        relu_bias_d(bufs[0].view.buf, bufs[1].view.buf, n, m);
    } else {
        relu_bias_f(bufs[0].view.buf, bufs[1].view.buf, n, m);
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
    PyObject *od, *or_, *ow, *oh, *ocs;
    Buf bufs[5] = {{0}};
    if (!PyArg_ParseTuple(args, "OOOOO:outer_mask", &od, &or_, &ow, &oh, &ocs)) {
        return NULL;
    }
    int k = ocs == Py_None ? 4 : 5;
    if (get(od, &bufs[0], 1, 2, "d") < 0 || get(or_, &bufs[1], 0, 1, "r") < 0 ||
        get(ow, &bufs[2], 0, 1, "w") < 0 || get(oh, &bufs[3], 0, 2, "h") < 0 ||
        (k == 5 && get(ocs, &bufs[4], 1, 1, "colsum") < 0)) {
        goto fail;
    }
    Py_ssize_t n = bufs[0].view.shape[0], m = bufs[0].view.shape[1];
    if (bufs[1].view.shape[0] != n || bufs[2].view.shape[0] != m ||
        bufs[3].view.shape[0] != n || bufs[3].view.shape[1] != m ||
        (k == 5 && bufs[4].view.shape[0] != m)) {
        PyErr_SetString(PyExc_ValueError, "outer_mask: inconsistent shapes");
        goto fail;
    }
    int dbl = same_kind(bufs, k);
    if (dbl < 0) {
        goto fail;
    }
    void *cs = k == 5 ? bufs[4].view.buf : NULL;
    Py_BEGIN_ALLOW_THREADS
    if (dbl) {
        outer_mask_d(bufs[0].view.buf, bufs[1].view.buf, bufs[2].view.buf, bufs[3].view.buf,
                     cs, n, m);
    } else {
        outer_mask_f(bufs[0].view.buf, bufs[1].view.buf, bufs[2].view.buf, bufs[3].view.buf,
                     cs, n, m);
    }
    Py_END_ALLOW_THREADS
    release(bufs, k);
    Py_RETURN_NONE;
fail:
    release(bufs, 5);
    return NULL;
}

static PyObject *py_mask_mul(PyObject *self, PyObject *args)
{
    PyObject *od, *oh, *ocs;
    Buf bufs[3] = {{0}};
    if (!PyArg_ParseTuple(args, "OOO:mask_mul", &od, &oh, &ocs)) {
        return NULL;
    }
    int k = ocs == Py_None ? 2 : 3;
    if (get(od, &bufs[0], 1, 2, "d") < 0 || get(oh, &bufs[1], 0, 2, "h") < 0 ||
        (k == 3 && get(ocs, &bufs[2], 1, 1, "colsum") < 0)) {
        goto fail;
    }
    Py_ssize_t n = bufs[0].view.shape[0], m = bufs[0].view.shape[1];
    if (bufs[1].view.shape[0] != n || bufs[1].view.shape[1] != m ||
        (k == 3 && bufs[2].view.shape[0] != m)) {
        PyErr_SetString(PyExc_ValueError, "mask_mul: inconsistent shapes");
        goto fail;
    }
    int dbl = same_kind(bufs, k);
    if (dbl < 0) {
        goto fail;
    }
    void *cs = k == 3 ? bufs[2].view.buf : NULL;
    Py_BEGIN_ALLOW_THREADS
    if (dbl) {
        mask_mul_d(bufs[0].view.buf, bufs[1].view.buf, cs, n, m);
    } else {
        mask_mul_f(bufs[0].view.buf, bufs[1].view.buf, cs, n, m);
    }
    Py_END_ALLOW_THREADS
    release(bufs, k);
    Py_RETURN_NONE;
fail:
    release(bufs, 3);
    return NULL;
}

static PyMethodDef methods[] = {
    {"relu_bias", py_relu_bias, METH_VARARGS, "z[i, j] = max(z[i, j] + b[j], 0), in place."},
    {"outer_mask", py_outer_mask, METH_VARARGS,
     "d[i, j] = r[i] * w[j] where h[i, j] > 0, else 0; column sums of d into colsum."},
    {"mask_mul", py_mask_mul, METH_VARARGS,
     "d[i, j] = 0 where h[i, j] <= 0, in place; column sums of d into colsum."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fused",
    "Fused element-wise passes of the ReLU training step (see _fused.c).", -1, methods,
};

PyMODINIT_FUNC PyInit__fused(void) { return PyModule_Create(&module); }
