/* The lossless progressive -> baseline JPEG re-encoding of `interhand shards --jpeg baseline`, with
 * libjpeg-turbo (SHARD_FORMAT.md §4.3).
 *
 * to_baseline(data) -> (jpeg: bytes | None, reason: str) re-encodes a progressive Huffman-coded 8-bit
 * YCbCr or grayscale JPEG as a baseline one, losslessly: the quantized DCT coefficients are read
 * (jpeg_read_coefficients) and written again (jpeg_copy_critical_parameters, jpeg_write_coefficients) with
 * Huffman tables optimized for the image, so every decoder yields the same pixels as from the source.
 * APPn and COM markers are copied (as `jpegtran -copy all`). Anything else comes back as (None, reason)
 * and is to be stored as it is: an already sequential file, arithmetic coding, 12-bit samples, CMYK/YCCK/RGB
 * coding, or a file on which libjpeg warns (corrupt data, which other decoders may read differently).
 * A file libjpeg cannot read raises ValueError with its message. The GIL is released while libjpeg works.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include <string.h>
#include "_jpeg_errors.h"  /* interhand/_jpeg_errors.h: ErrorManager, on_error, on_message */
#include <jerror.h>

/* The re-encoder's state; the pointers live in one struct whose address libjpeg holds, so that a longjmp
 * back into to_baseline finds what was allocated. */
typedef struct {
    struct jpeg_decompress_struct source;
    struct jpeg_compress_struct target;
    ErrorManager errors;
    unsigned char *buffer;        /* ours, sized so that the coded image fits: libjpeg never grows it */
    unsigned char *encoded;       /* where jpeg_mem_dest put the coded image (a buffer of its own if it grew) */
    unsigned long encoded_size;
    int target_created;
} Reencoder;

static const char *baseline_refusal(const struct jpeg_decompress_struct *source) {
    if (!source->progressive_mode) return "already sequential";
    if (source->arith_code) return "arithmetic coding";
    if (source->data_precision != 8) return "not 8-bit";
    if (source->jpeg_color_space != JCS_YCbCr && source->jpeg_color_space != JCS_GRAYSCALE)
        return "not YCbCr or grayscale (CMYK, YCCK or RGB coding)";
    return NULL;
}

static void copy_markers(Reencoder *job) {
    for (jpeg_saved_marker_ptr marker = job->source.marker_list; marker != NULL; marker = marker->next) {
        /* The library writes its own JFIF APP0 / Adobe APP14 from the copied parameters. */
        if (job->target.write_JFIF_header && marker->marker == JPEG_APP0 && marker->data_length >= 5 &&
            memcmp(marker->data, "JFIF", 5) == 0)
            continue;
        if (job->target.write_Adobe_marker && marker->marker == JPEG_APP0 + 14 && marker->data_length >= 5 &&
            memcmp(marker->data, "Adobe", 5) == 0)
            continue;
        jpeg_write_marker(&job->target, marker->marker, marker->data, marker->data_length);
    }
}

static PyObject *to_baseline(PyObject *self, PyObject *args) {
    Py_buffer data;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*", &data)) return NULL;
    Reencoder *job = (Reencoder *)PyMem_RawCalloc(1, sizeof(Reencoder));
    if (job == NULL) {
        PyBuffer_Release(&data);
        return PyErr_NoMemory();
    }
    const char *volatile refusal = NULL;
    PyThreadState *volatile thread = NULL;
    PyObject *result = NULL;

    job->source.err = jpeg_std_error(&job->errors.base);
    job->errors.base.error_exit = on_error;
    job->errors.base.output_message = on_message;
    jpeg_create_decompress(&job->source);
    if (setjmp(job->errors.jump)) {
        if (thread != NULL) PyEval_RestoreThread(thread);
        if (job->target_created) jpeg_destroy_compress(&job->target);
        jpeg_destroy_decompress(&job->source);
        free(job->buffer);  /* a buffer libjpeg grew on its own is lost here; it never grows (see below) */
        PyErr_Format(PyExc_ValueError, "JPEG re-encoding failed: %s", job->errors.message);
        PyMem_RawFree(job);
        PyBuffer_Release(&data);
        return NULL;
    }
    thread = PyEval_SaveThread();
    jpeg_mem_src(&job->source, (const unsigned char *)data.buf, (unsigned long)data.len);
    jpeg_save_markers(&job->source, JPEG_COM, 0xFFFF);
    for (int app = 0; app < 16; app++) jpeg_save_markers(&job->source, JPEG_APP0 + app, 0xFFFF);
    jpeg_read_header(&job->source, TRUE);
    refusal = baseline_refusal(&job->source);
    if (refusal == NULL) {
        jvirt_barray_ptr *coefficients = jpeg_read_coefficients(&job->source);
        if (job->errors.base.num_warnings > 0) {
            refusal = "libjpeg warns on it (corrupt data)";
        } else {
            job->target.err = &job->errors.base;
            jpeg_create_compress(&job->target);
            job->target_created = 1;
            /* Twice the source and 64 KiB: optimized Huffman tables make the file 2-3 % larger at most. */
            job->encoded_size = 2 * (unsigned long)data.len + 65536;
            job->buffer = job->encoded = (unsigned char *)malloc(job->encoded_size);
            if (job->buffer == NULL) ERREXIT1(&job->target, JERR_OUT_OF_MEMORY, 0);
            jpeg_mem_dest(&job->target, &job->encoded, &job->encoded_size);
            jpeg_copy_critical_parameters(&job->source, &job->target);
            job->target.optimize_coding = TRUE;  /* entropy-coding-only change: no effect on the pixels */
            jpeg_write_coefficients(&job->target, coefficients);
            copy_markers(job);
            jpeg_finish_compress(&job->target);
        }
    }
    PyEval_RestoreThread(thread);
    thread = NULL;
    if (refusal == NULL)
        result = Py_BuildValue("(y#s)", (const char *)job->encoded, (Py_ssize_t)job->encoded_size, "");
    else
        result = Py_BuildValue("(Os)", Py_None, refusal);
    if (job->target_created) jpeg_destroy_compress(&job->target);
    jpeg_destroy_decompress(&job->source);
    if (job->encoded != job->buffer) free(job->encoded);
    free(job->buffer);
    PyMem_RawFree(job);
    PyBuffer_Release(&data);
    return result;
}

static PyMethodDef methods[] = {
    {"to_baseline", to_baseline, METH_VARARGS,
     "to_baseline(data) -> (jpeg, reason): a progressive JPEG re-encoded losslessly as baseline and '', or "
     "(None, why it is to be stored as it is)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_jpeg_baseline", NULL, -1, methods};

PyMODINIT_FUNC PyInit__jpeg_baseline(void) { return PyModule_Create(&module); }
