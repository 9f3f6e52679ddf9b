#include "native/eh_frame.h"

#include <elf.h>
#include <string.h>

/* The pointer encodings of .eh_frame_hdr (the LSB's DW_EH_PE_*). */
#define EH_PE_UDATA4 0x03
#define EH_PE_SDATA4 0x0b
#define EH_PE_PCREL 0x10
#define EH_PE_DATAREL 0x30

/* The table of .eh_frame_hdr (PT_GNU_EH_FRAME): pc-relative eh_frame
 * pointer, 4-byte count, data-relative 4-byte entries. */
static bool read_table(struct pf_mem *mem, uint64_t base, uint64_t end,
		       unw_dyn_info_t *di)
{
	Elf64_Ehdr eh;
	if (!pf_mem_read(mem, base, &eh, sizeof eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_phnum > 256 ||
	    eh.e_phentsize != sizeof(Elf64_Phdr))
		return false;
	Elf64_Phdr ph[256];
	if (!pf_mem_read(mem, base + eh.e_phoff, ph, eh.e_phnum * sizeof *ph))
		return false;
	uint64_t first_load = UINT64_MAX, hdr_vaddr = 0;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD && first_load == UINT64_MAX)
			first_load = ph[i].p_vaddr & ~(uint64_t)4095;
		if (ph[i].p_type == PT_GNU_EH_FRAME)
			hdr_vaddr = ph[i].p_vaddr;
	}
	if (first_load == UINT64_MAX || hdr_vaddr == 0)
		return false;
	uint64_t hdr = base - first_load + hdr_vaddr;
	uint8_t head[12];
	uint32_t count;
	if (!pf_mem_read(mem, hdr, head, sizeof head) || head[0] != 1 ||
	    head[1] != (EH_PE_PCREL | EH_PE_SDATA4) ||
	    head[2] != EH_PE_UDATA4 ||
	    head[3] != (EH_PE_DATAREL | EH_PE_SDATA4))
		return false;
	memcpy(&count, head + 8, sizeof count);
	*di = (unw_dyn_info_t){
		.start_ip = base,
		.end_ip = end,
		.format = UNW_INFO_FORMAT_REMOTE_TABLE,
		.u.rti = {.segbase = hdr,
			  .table_len = count * 8 / sizeof(unw_word_t),
			  .table_data = hdr + sizeof head},
	};
	return true;
}

bool pf_eh_frame_table(struct pf_eh_frame_tables *known, struct pf_mem *mem,
		       uint64_t base, uint64_t end, unw_dyn_info_t *di)
{
	for (size_t i = 0; i < known->count; i++) {
		if (known->objects[i].base == base) {
			*di = known->objects[i].di;
			return known->objects[i].found;
		}
	}
	struct pf_eh_frame_object object = {.base = base};
	object.found = read_table(mem, base, end, &object.di);
	if (known->count < PF_EH_FRAME_OBJECTS)
		known->objects[known->count++] = object;
	*di = object.di;
	return object.found;
}
