/* SPDX-License-Identifier: GPL-2.0 */
/* Out-of-line memalloc_noio_save()/restore() for ndriver/recovery_queue.rs. */
#ifndef NDRIVER_RECOVERY_QUEUE_H
#define NDRIVER_RECOVERY_QUEUE_H

unsigned int ndriver_memalloc_noio_save(void);
void ndriver_memalloc_noio_restore(unsigned int flags);

#endif
