/* A dump of a recorded process image, made exactly as the recording made
 * it from the live process: the walk, the "Extension modules" names where
 * the version has them, faulthandler's text, and the asyncio tasks when
 * the recording walked them. */
#ifndef PYFAULT_IMAGE_DUMP_H
#define PYFAULT_IMAGE_DUMP_H

#include <stdio.h>

#include "base/errors.h"
#include "image/mem_image.h"

enum pf_status pf_image_dump(const struct pf_image *img, FILE *out,
			     struct pf_error *err);

#endif
