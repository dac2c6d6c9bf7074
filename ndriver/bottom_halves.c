// SPDX-License-Identifier: GPL-2.0
/*
 * local_bh_disable() and local_bh_enable() are static inlines: the out-of-line
 * versions ndriver/bottom_halves.rs calls.
 */

#include <linux/bottom_half.h>

/* Called from Rust only: no header. */
void ndriver_local_bh_disable(void);
void ndriver_local_bh_enable(void);

void ndriver_local_bh_disable(void)
{
	local_bh_disable();
}

void ndriver_local_bh_enable(void)
{
	local_bh_enable();
}
