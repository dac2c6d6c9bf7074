// SPDX-License-Identifier: GPL-2.0
/*
 * memalloc_noio_save() and memalloc_noio_restore() are static inlines: the
 * out-of-line versions the recovery work item (ndriver/recovery_queue.rs) runs under.
 */

#include <linux/sched/mm.h>

#include "recovery_queue.h"

unsigned int ndriver_memalloc_noio_save(void)
{
	return memalloc_noio_save();
}

void ndriver_memalloc_noio_restore(unsigned int flags)
{
	memalloc_noio_restore(flags);
}
