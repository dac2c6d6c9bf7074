/* SPDX-License-Identifier: GPL-2.0 */
/* Out-of-line local_bh_disable()/local_bh_enable() for ndriver/bottom_halves.rs. */
#ifndef NDRIVER_BOTTOM_HALVES_H
#define NDRIVER_BOTTOM_HALVES_H

void ndriver_local_bh_disable(void);
void ndriver_local_bh_enable(void);

#endif
