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

/*
 * The pieces of a frame to send: the linear part, then each page fragment, by kernel
 * virtual address (abi.rs `TxPiece`). Empty pieces are left out. Returns how many were
 * written, or -E2BIG when they do not fit in `max` or cannot be read that way (a
 * fragment list, unreadable or high memory): linearize the skb first.
 */
int ndriver_skb_pieces(struct sk_buff *skb, struct ndriver_tx_piece *out,
		       unsigned int max)
{
	const struct skb_shared_info *si = skb_shinfo(skb);
	unsigned int i, n = 0;

	if (skb_has_frag_list(skb) || !skb_frags_readable(skb))
		return -E2BIG;
	if (skb_headlen(skb)) {
		if (n >= max)
			return -E2BIG;
		out[n].data = skb->data;
		out[n].len = skb_headlen(skb);
		out[n++].pad = 0;
	}
	for (i = 0; i < si->nr_frags; i++) {
		const skb_frag_t *f = &si->frags[i];
		void *va = skb_frag_address_safe(f);

		if (!skb_frag_size(f))
			continue;
		if (n >= max || !va)
			return -E2BIG;
		out[n].data = va;
		out[n].len = skb_frag_size(f);
		out[n++].pad = 0;
	}
	return n;
}

/*
 * Where the device is to put the checksum the stack left to it: its start
 * (`csum_start`, from skb->data) in the low 16 bits, where to store it (from
 * skb->data) in the high 16, both 0xffff if they do not fit (no device reaches that
 * far); -1 if the skb needs none (not CHECKSUM_PARTIAL).
 */
long ndriver_skb_csum_at(struct sk_buff *skb)
{
	int start, at;

	if (skb->ip_summed != CHECKSUM_PARTIAL)
		return -1;
	start = skb_checksum_start_offset(skb);
	at = start + skb->csum_offset;
	if (start < 0 || at > 0xffff)
		return 0xffffffffL;
	return (long)start | ((long)at << 16);
}

/* The checksum the stack left to the device, computed here (0 or a negative errno). */
int ndriver_skb_checksum_help(struct sk_buff *skb)
{
	return skb->ip_summed == CHECKSUM_PARTIAL ? skb_checksum_help(skb) : 0;
}

/* All of the skb's data in its linear part (0 or -ENOMEM); any context. */
int ndriver_skb_linearize(struct sk_buff *skb)
{
	return skb_linearize(skb);
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
