/* libjpeg error handling shared by the two C extensions (interhand/loaders/_jpeg_region.c,
 * interhand/preprocess/_jpeg_baseline.c): an error longjmps back with libjpeg's message; warnings are not
 * printed, but libjpeg still counts them (err->num_warnings). */
#ifndef INTERHAND_JPEG_ERRORS_H
#define INTERHAND_JPEG_ERRORS_H

#include <setjmp.h>
#include <stdio.h>
#include <jpeglib.h>

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

#endif
