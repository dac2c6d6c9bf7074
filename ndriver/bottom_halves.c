// SPDX-License-Identifier: GPL-2.0
/*
 * local_bh_disable() and local_bh_enable() are static inlines: the out-of-line
 * versions ndriver/bottom_halves.rs calls. The caller's address is what lockdep
 * records ("softirqs last disabled at"), not this wrapper's.
 */

#include <linux/bottom_half.h>
#include <linux/preempt.h>

#include "bottom_halves.h"

void ndriver_local_bh_disable(void)
{
	__local_bh_disable_ip(_RET_IP_, SOFTIRQ_DISABLE_OFFSET);
}

void ndriver_local_bh_enable(void)
{
	__local_bh_enable_ip(_RET_IP_, SOFTIRQ_DISABLE_OFFSET);
}
