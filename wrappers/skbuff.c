// SPDX-License-Identifier: GPL-2.0
/*
 * Static inline helpers of <linux/skbuff.h> and <linux/netdevice.h> for the Rust net
 * layer (wrappers/callouts_net.rs, placeholders/nic.rs): socket buffer data, freeing
 * from any context, and building a received frame.
 */

#include <linux/etherdevice.h>
#include <linux/netdevice.h>
#include <linux/skbuff.h>

#include "net_helpers.h"

const u8 *ndriver_skb_data(struct sk_buff *skb)
{
	return skb->data;
}

unsigned int ndriver_skb_len(struct sk_buff *skb)
{
	return skb->len;
}

bool ndriver_skb_linear(struct sk_buff *skb)
{
	return !skb_is_nonlinear(skb);
}

/* One more reference, so that the data outlives another holder's free. */
void ndriver_skb_get(struct sk_buff *skb)
{
	skb_get(skb);
}

/* The skb was sent: free it as consumed (any context). */
void ndriver_skb_consume_any(struct sk_buff *skb)
{
	dev_consume_skb_any(skb);
}

/* The skb is dropped (any context). */
void ndriver_skb_free_any(struct sk_buff *skb)
{
	dev_kfree_skb_any(skb);
}

/*
 * A fresh skb holding a copy of the `len` bytes at `data`, a frame received on `nd`,
 * or NULL when none could be had. Any context, interrupts off included.
 */
struct sk_buff *ndriver_skb_rx_copy(struct net_device *nd, const void *data,
				    unsigned int len)
{
	struct sk_buff *skb = netdev_alloc_skb_ip_align(nd, len);

	if (skb)
		skb_put_data(skb, data, len);
	return skb;
}

/*
 * Hands a received skb (ndriver_skb_rx_copy) to the stack, which owns it from now on:
 * through GRO when `napi` is given (NAPI poll), else through the backlog (any context).
 */
void ndriver_skb_rx_deliver(struct net_device *nd, struct napi_struct *napi,
			    struct sk_buff *skb)
{
	skb->protocol = eth_type_trans(skb, nd);
	if (napi)
		napi_gro_receive(napi, skb);
	else
		netif_rx(skb);
}

/* Sends an skb again through the stack (task context, bottom halves on or off). */
int ndriver_skb_requeue(struct sk_buff *skb)
{
	return dev_queue_xmit(skb);
}

unsigned int ndriver_skb_queue_len(struct sk_buff_head *q)
{
	return skb_queue_len_lockless(q);
}

/* A free-standing skb for timing the unfinished-transmit table (ndriver/bench.rs). */
struct sk_buff *ndriver_skb_new(unsigned int len)
{
	return alloc_skb(len, GFP_KERNEL);
}
