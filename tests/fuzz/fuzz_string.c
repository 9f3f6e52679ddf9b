/* The str reader on arbitrary objects: every kind value, compact or not,
 * ASCII flag or not, negative and huge lengths, data pointers into
 * nowhere.  Input: byte 0 picks the layout (3.8 + byte % 6, from the
 * shipped table); byte 1, bit 0: the object's type is a str type (else
 * whatever the object says), bit 1: read up to PF_TEXT_MAX_READ code
 * points rather than faulthandler's 500; the rest is the object and what
 * follows it in memory. */
#include <string.h>

#include "format/fh_format.h"
#include "fuzz.h"
#include "layout/layout_tables.h"
#include "image/mem_image.h"
#include "walk/py_string.h"

#define OBJECT 0x100000u
#define STR_TYPE 0x200000u
#define TYPE_SIZE 512
/* Py_TPFLAGS_UNICODE_SUBCLASS */
#define UNICODE_SUBCLASS_FLAG (1ull << 28)

static struct pf_layout layouts[6];

static void init_layouts(void)
{
	struct pf_error err = {0};
	for (unsigned i = 0; i < 6; i++)
		if (!pf_layout_init_version(&layouts[i], 3, 8 + i, 0) ||
		    pf_layout_from_table(&layouts[i], &err) != PF_OK)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t type[TYPE_SIZE];
	if (layouts[0].major == 0)
		init_layouts();
	if (size < 2)
		return 0;
	const struct pf_layout *l = &layouts[data[0] % 6];
	bool str_type = data[1] & 1;
	uint32_t max = data[1] & 2 ? PF_TEXT_MAX_READ : PF_MAX_STRING_LENGTH;
	size_t len = size - 2;
	uint8_t *object = malloc(len ? len : 1);
	if (object == NULL)
		return 0;
	memcpy(object, data + 2, len);
	uint64_t type_addr = STR_TYPE, flags = UNICODE_SUBCLASS_FLAG;
	if (str_type && (size_t)l->object.ob_type + 8 <= len)
		memcpy(object + l->object.ob_type, &type_addr, 8);
	memcpy(type + l->type.tp_flags, &flags, 8);

	struct pf_image_range ranges[] = {
		{OBJECT, (uint32_t)len, object},
		{STR_TYPE, TYPE_SIZE, type},
	};
	struct pf_image img = {.nranges = len ? 2 : 1,
			       .ranges = len ? ranges : ranges + 1};
	struct pf_mem mem;
	struct pf_text text;
	pf_mem_open_image(&mem, &img);
	if (pf_read_text_max(&mem, l, OBJECT, max, &text)) {
		PF_FUZZ_ASSERT(text.length <= max);
		pf_format_text(pf_fuzz_sink(), &text);
		pf_text_free(&text);
	}
	free(object);
	return 0;
}
