/* RFC 9162 Merkle hashing in batches: the loops of zk/merkle.py without one Python call per hash.
 *
 * SHA-256 itself is OpenSSL's (libcrypto's EVP interface, the implementation Python's hashlib
 * uses): this module only walks buffers, adds RFC 9162's domain prefixes and calls it, with the
 * GIL released, so two threads hash two subtrees at once.
 *
 *   hash_leaves(data, offsets) -> bytes
 *       SHA-256(0x00 || data[offsets[i]:offsets[i + 1]]) for each i, 32 bytes each, in order.
 *       offsets: a buffer of int32 or int64 (format 'i', 'l' or 'q'), non-decreasing, inside data.
 *   tree_levels(leaf_hashes, keep) -> list[bytes]
 *       The levels above the leaf hashes (32 bytes a node), bottom-up: node = SHA-256(0x01 || left
 *       || right), an unpaired last node carried up unchanged (RFC 9162's split). With keep, every
 *       level from the leaf hashes themselves to the root; else only the root.
 *
 * zk/merkle.py holds the same definitions in Python (hashlib); tests hold both equal.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <openssl/evp.h>
#include <string.h>

#define DIGEST 32

static const EVP_MD *sha256_md = NULL;

/* One SHA-256 of prefix || a[0:na] into out; 0 on an OpenSSL failure. */
static int digest2(EVP_MD_CTX *ctx, unsigned char prefix, const unsigned char *a, size_t na,
                   unsigned char *out) {
    unsigned int len = 0;
    return EVP_DigestInit_ex(ctx, sha256_md, NULL) && EVP_DigestUpdate(ctx, &prefix, 1) &&
           EVP_DigestUpdate(ctx, a, na) && EVP_DigestFinal_ex(ctx, out, &len) && len == DIGEST;
}

static int offset_at(const Py_buffer *offs, Py_ssize_t i, long long *value) {
    const char *p = (const char *)offs->buf + i * offs->itemsize;
    if (offs->itemsize == 4) {
        int32_t v;
        memcpy(&v, p, 4);
        *value = v;
    } else {
        int64_t v;
        memcpy(&v, p, 8);
        *value = v;
    }
    return 1;
}

static PyObject *hash_leaves(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer data, offs;
    PyObject *offsets;
    if (!PyArg_ParseTuple(args, "y*O:hash_leaves", &data, &offsets)) {
        return NULL;
    }
    if (PyObject_GetBuffer(offsets, &offs, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    PyObject *result = NULL;
    const char *fmt = offs.format ? offs.format : "B";
    if (fmt[0] == '@' || fmt[0] == '=' || fmt[0] == '<') {
        fmt++;
    }
    int ok_format = (offs.itemsize == 4 && (fmt[0] == 'i' || fmt[0] == 'l') && fmt[1] == 0) ||
                    (offs.itemsize == 8 && (fmt[0] == 'l' || fmt[0] == 'q') && fmt[1] == 0);
    if (!ok_format || offs.ndim > 1) {
        PyErr_SetString(PyExc_TypeError, "hash_leaves: offsets must be int32 or int64 values");
        goto done;
    }
    Py_ssize_t count = offs.len / offs.itemsize;
    if (count < 1) {
        PyErr_SetString(PyExc_ValueError, "hash_leaves: offsets need at least one value");
        goto done;
    }
    Py_ssize_t n = count - 1;
    long long prev, cur;
    offset_at(&offs, 0, &prev);
    if (prev < 0) {
        PyErr_SetString(PyExc_ValueError, "hash_leaves: the offsets lie outside the data");
        goto done;
    }
    for (Py_ssize_t i = 1; i <= n; i++) {
        offset_at(&offs, i, &cur);
        if (cur < prev) {
            PyErr_SetString(PyExc_ValueError, "hash_leaves: the offsets must not decrease");
            goto done;
        }
        prev = cur;
    }
    if (prev > (long long)data.len) {
        PyErr_SetString(PyExc_ValueError, "hash_leaves: the offsets lie outside the data");
        goto done;
    }
    result = PyBytes_FromStringAndSize(NULL, n * DIGEST);
    if (result == NULL) {
        goto done;
    }
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(result);
    const unsigned char *base = (const unsigned char *)data.buf;
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        failed = 1;
    } else {
        long long start, end;
        offset_at(&offs, 0, &start);
        for (Py_ssize_t i = 0; i < n && !failed; i++) {
            offset_at(&offs, i + 1, &end);
            failed = !digest2(ctx, 0x00, base + start, (size_t)(end - start), out + i * DIGEST);
            start = end;
        }
        EVP_MD_CTX_free(ctx);
    }
    Py_END_ALLOW_THREADS
    if (failed) {
        Py_CLEAR(result);
        PyErr_SetString(PyExc_RuntimeError, "hash_leaves: OpenSSL's SHA-256 failed");
    }
done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&offs);
    return result;
}

/* Append bytes(data[0:len]) to list; -1 with an exception set on failure. */
static int append_bytes(PyObject *list, const void *data, Py_ssize_t len) {
    PyObject *item = PyBytes_FromStringAndSize((const char *)data, len);
    if (item == NULL) {
        return -1;
    }
    int rc = PyList_Append(list, item);
    Py_DECREF(item);
    return rc;
}

static PyObject *tree_levels(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer leaves;
    int keep;
    if (!PyArg_ParseTuple(args, "y*p:tree_levels", &leaves, &keep)) {
        return NULL;
    }
    PyObject *levels = NULL;
    unsigned char *buf = NULL;
    if (leaves.len == 0 || leaves.len % DIGEST) {
        PyErr_SetString(PyExc_ValueError,
                        "tree_levels: the leaf hashes must be a non-empty multiple of 32 bytes");
        goto done;
    }
    Py_ssize_t width = leaves.len / DIGEST, total = 0;
    for (Py_ssize_t w = width; w > 1; w = (w + 1) / 2) {
        total += (w + 1) / 2;
    }
    /* Every level above the leaves, one after the other: total nodes in all. */
    buf = PyMem_RawMalloc((size_t)(total ? total : 1) * DIGEST);
    if (buf == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        failed = 1;
    } else {
        const unsigned char *below = (const unsigned char *)leaves.buf;
        unsigned char *level = buf;
        for (Py_ssize_t w = width; w > 1 && !failed; w = (w + 1) / 2) {
            Py_ssize_t pairs = w / 2;
            for (Py_ssize_t k = 0; k < pairs && !failed; k++) {
                /* left || right are contiguous in the level below: one 64-byte update */
                failed = !digest2(ctx, 0x01, below + 2 * k * DIGEST, 2 * DIGEST,
                                  level + k * DIGEST);
            }
            if (w % 2) {
                memcpy(level + pairs * DIGEST, below + (w - 1) * DIGEST, DIGEST);
            }
            below = level;
            level += ((w + 1) / 2) * DIGEST;
        }
        EVP_MD_CTX_free(ctx);
    }
    Py_END_ALLOW_THREADS
    if (failed) {
        PyErr_SetString(PyExc_RuntimeError, "tree_levels: OpenSSL's SHA-256 failed");
        goto done;
    }
    levels = PyList_New(0);
    if (levels == NULL) {
        goto done;
    }
    if (width == 1) {
        /* One leaf: it is the root; with keep it is also the only level. */
        if (append_bytes(levels, leaves.buf, DIGEST) < 0) {
            Py_CLEAR(levels);
        }
        goto done;
    }
    if (keep && append_bytes(levels, leaves.buf, leaves.len) < 0) {
        Py_CLEAR(levels);
        goto done;
    }
    unsigned char *level = buf;
    for (Py_ssize_t w = (width + 1) / 2;; w = (w + 1) / 2) {
        if ((keep || w == 1) && append_bytes(levels, level, w * DIGEST) < 0) {
            Py_CLEAR(levels);
            goto done;
        }
        if (w == 1) {
            break;
        }
        level += w * DIGEST;
    }
done:
    PyMem_RawFree(buf);
    PyBuffer_Release(&leaves);
    return levels;
}

static PyMethodDef methods[] = {
    {"hash_leaves", hash_leaves, METH_VARARGS,
     "hash_leaves(data, offsets) -> bytes: SHA-256(0x00 || leaf) of each packed leaf, 32 bytes "
     "each."},
    {"tree_levels", tree_levels, METH_VARARGS,
     "tree_levels(leaf_hashes, keep) -> list[bytes]: the RFC 9162 levels above the leaf hashes "
     "(with keep: every level, leaves first; else [root])."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_sha256tree",
    "RFC 9162 Merkle hashing in batches over OpenSSL's SHA-256 (see zk/merkle.py).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__sha256tree(void) {
    /* Fetched once: EVP_sha256() would make every EVP_DigestInit_ex fetch it again (OpenSSL 3). */
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (sha256_md == NULL) {
        PyErr_SetString(PyExc_ImportError, "OpenSSL offers no SHA-256");
        return NULL;
    }
    return PyModule_Create(&module);
}
