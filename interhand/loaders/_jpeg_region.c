/* Region-of-interest JPEG decoding with libjpeg-turbo, for the CPU loader.
 *
 * decode_region(data, x0, y0, x1, y1, channels=3) -> (pixels: bytes, x_offset, y_offset, width, height,
 * frame_width, frame_height) decodes only the rows [y0, y1) and the iMCU columns that hold [x0, x1) of a JPEG,
 * as RGB, or with channels=4 as RGBX (libjpeg-turbo's JCS_EXT_RGBX: the same RGB values and a fourth byte of
 * 255, for OpenCV's faster four-channel warp); grayscale sources are expanded. The RGB values equal those of
 * a full decode (same library, same islow IDCT and fancy upsampling); libjpeg-turbo's jpeg_crop_scanline
 * widens the column range to iMCU
 * boundaries, so x_offset/width are what was decoded. jpeg_skip_scanlines skips the IDCT, upsampling and
 * colour conversion of the rows above. A baseline (sequential) file, what `interhand shards --jpeg baseline`
 * stores, is entropy-decoded only down to row y1 (the rows above: Huffman decoding alone, all columns, since
 * its bit stream has no other way in) and the rest is never read (jpeg_abort_decompress); a progressive
 * file's every scan is entropy-decoded for the whole frame in jpeg_start_decompress, before any row comes
 * out. The GIL is released while libjpeg works, so threads decode in parallel.
 * Errors raise ValueError with libjpeg's message; warnings (e.g. a truncated file, filled with grey) are
 * ignored, as OpenCV's imdecode ignores them.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "_jpeg_errors.h"  /* interhand/_jpeg_errors.h: ErrorManager, on_error, on_message */

static PyObject *decode_region(PyObject *self, PyObject *args) {
    Py_buffer data;
    long x0, y0, x1, y1;
    int channels = 3;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*llll|i", &data, &x0, &y0, &x1, &y1, &channels)) return NULL;
    if (channels != 3 && channels != 4) {
        PyBuffer_Release(&data);
        PyErr_SetString(PyExc_ValueError, "channels must be 3 (RGB) or 4 (RGBX)");
        return NULL;
    }

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
    cinfo.out_color_space = channels == 4 ? JCS_EXT_RGBX : JCS_RGB;
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
    pixels = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)width * height * channels);
    if (pixels == NULL) {
        jpeg_destroy_decompress(&cinfo);
        PyBuffer_Release(&data);
        return NULL;
    }
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(pixels);
    thread = PyEval_SaveThread();
    if (top > 0) jpeg_skip_scanlines(&cinfo, top);
    while (cinfo.output_scanline < top + height) {
        JSAMPROW row = out + (size_t)(cinfo.output_scanline - top) * width * channels;
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

static PyMethodDef methods[] = {
    {"decode_region", decode_region, METH_VARARGS,
     "decode_region(data, x0, y0, x1, y1, channels=3) -> (pixels, x_offset, y_offset, width, height, "
     "frame_width, frame_height): RGB (channels=4: RGBX) rows [y0, y1) and the iMCU columns holding [x0, x1) "
     "of a JPEG."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_jpeg_region", NULL, -1, methods};

PyMODINIT_FUNC PyInit__jpeg_region(void) { return PyModule_Create(&module); }
