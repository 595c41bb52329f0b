/* libjpeg-turbo for the CPU loader and the shard writer: region-of-interest decoding, and the lossless
 * progressive -> baseline re-encoding of `interhand shards --jpeg baseline`.
 *
 * decode_region(data, x0, y0, x1, y1) -> (pixels: bytes, x_offset, y_offset, width, height, frame_width,
 * frame_height) decodes only the rows [y0, y1) and the iMCU columns that hold [x0, x1) of a JPEG, as RGB
 * (grayscale sources are expanded to RGB). The pixels equal those of a full decode (same library, same
 * islow IDCT and fancy upsampling); libjpeg-turbo's jpeg_crop_scanline widens the column range to iMCU
 * boundaries, so x_offset/width are what was decoded. jpeg_skip_scanlines skips the IDCT, upsampling and
 * colour conversion of the rows above and below; the entropy decoding of progressive files is still done
 * for the whole frame. The GIL is released while libjpeg works, so threads decode in parallel.
 * Errors raise ValueError with libjpeg's message; warnings (e.g. a truncated file, filled with grey) are
 * ignored, as OpenCV's imdecode ignores them.
 *
 * to_baseline(data) -> (jpeg: bytes | None, reason: str) re-encodes a progressive Huffman-coded 8-bit
 * YCbCr or grayscale JPEG as a baseline one, losslessly: the quantized DCT coefficients are read
 * (jpeg_read_coefficients) and written again (jpeg_copy_critical_parameters, jpeg_write_coefficients) with
 * Huffman tables optimized for the image, so every decoder yields the same pixels as from the source.
 * APPn and COM markers are copied (as `jpegtran -copy all`). Anything else comes back as (None, reason)
 * and is to be stored as it is: an already sequential file, arithmetic coding, 12-bit samples, CMYK/YCCK/RGB
 * coding, or a file on which libjpeg warns (corrupt data, which other decoders may read differently).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>

typedef struct {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
} ErrorManager;

static void on_error(j_common_ptr cinfo) {
    ErrorManager *errors = (ErrorManager *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, errors->message);
    longjmp(errors->jump, 1);
}

static void on_message(j_common_ptr cinfo) { (void)cinfo; }

static PyObject *decode_region(PyObject *self, PyObject *args) {
    Py_buffer data;
    long x0, y0, x1, y1;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*llll", &data, &x0, &y0, &x1, &y1)) return NULL;

    struct jpeg_decompress_struct cinfo;
    ErrorManager errors;
    PyObject *volatile pixels = NULL;  /* volatile: changed between setjmp and a longjmp */
    PyThreadState *volatile thread = NULL;
    JDIMENSION x_offset = 0, width = 0, height = 0, frame_width = 0, frame_height = 0, top = 0;

    cinfo.err = jpeg_std_error(&errors.base);
    errors.base.error_exit = on_error;
    errors.base.output_message = on_message;
    errors.message[0] = '\0';
    jpeg_create_decompress(&cinfo);
    if (setjmp(errors.jump)) {
        if (thread != NULL) PyEval_RestoreThread(thread);
        jpeg_destroy_decompress(&cinfo);
        PyBuffer_Release(&data);
        Py_XDECREF(pixels);
        PyErr_Format(PyExc_ValueError, "JPEG decode failed: %s", errors.message);
        return NULL;
    }
    thread = PyEval_SaveThread();
    jpeg_mem_src(&cinfo, (const unsigned char *)data.buf, (unsigned long)data.len);
    jpeg_read_header(&cinfo, TRUE);
    cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&cinfo);  /* progressive files: every scan is entropy-decoded here */
    frame_width = cinfo.output_width;
    frame_height = cinfo.output_height;
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > (long)frame_width) x1 = (long)frame_width;
    if (y1 > (long)frame_height) y1 = (long)frame_height;
    if (x1 <= x0 || y1 <= y0) {  /* the region misses the frame: nothing to decode */
        x0 = y0 = 0;
        x1 = y1 = 1;
    }
    x_offset = (JDIMENSION)x0;
    width = (JDIMENSION)(x1 - x0);
    top = (JDIMENSION)y0;
    height = (JDIMENSION)(y1 - y0);
    if (x_offset > 0 || width < frame_width) jpeg_crop_scanline(&cinfo, &x_offset, &width);
    PyEval_RestoreThread(thread);
    thread = NULL;
    pixels = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)width * height * 3);
    if (pixels == NULL) {
        jpeg_destroy_decompress(&cinfo);
        PyBuffer_Release(&data);
        return NULL;
    }
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(pixels);
    thread = PyEval_SaveThread();
    if (top > 0) jpeg_skip_scanlines(&cinfo, top);
    while (cinfo.output_scanline < top + height) {
        JSAMPROW row = out + (size_t)(cinfo.output_scanline - top) * width * 3;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_abort_decompress(&cinfo);  /* the rows below are not needed */
    PyEval_RestoreThread(thread);
    thread = NULL;
    jpeg_destroy_decompress(&cinfo);
    PyBuffer_Release(&data);
    PyObject *result = Py_BuildValue("(Nkkkkkk)", pixels, (unsigned long)x_offset, (unsigned long)top,
                                     (unsigned long)width, (unsigned long)height, (unsigned long)frame_width,
                                     (unsigned long)frame_height);
    return result;
}

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
    {"decode_region", decode_region, METH_VARARGS,
     "decode_region(data, x0, y0, x1, y1) -> (pixels, x_offset, y_offset, width, height, frame_width, "
     "frame_height): RGB rows [y0, y1) and the iMCU columns holding [x0, x1) of a JPEG."},
    {"to_baseline", to_baseline, METH_VARARGS,
     "to_baseline(data) -> (jpeg, reason): a progressive JPEG re-encoded losslessly as baseline and '', or "
     "(None, why it is to be stored as it is)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_jpeg_region", NULL, -1, methods};

PyMODINIT_FUNC PyInit__jpeg_region(void) { return PyModule_Create(&module); }
