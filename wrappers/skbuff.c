// SPDX-License-Identifier: GPL-2.0
/*
 * Static inline helpers of <linux/skbuff.h>, <linux/netdevice.h> and <net/gso.h> for
 * the Rust net layer (wrappers/callouts_net.rs, placeholders/nic.rs): socket buffer
 * data and pieces, the transmit offloads' information and software fallbacks, freeing
 * from any context, and building a received frame.
 */

#include <linux/etherdevice.h>
#include <linux/netdevice.h>
#include <linux/skbuff.h>
#include <linux/tcp.h>
#include <net/gso.h>

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

	/* abi.rs `TxPiece`, which asserts the same. */
	BUILD_BUG_ON(sizeof(struct ndriver_tx_piece) != 16 ||
		     offsetof(struct ndriver_tx_piece, len) != 8);

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

/*
 * For a TCP over IPv4 GSO skb: its MSS, header length and IP header offset packed as
 * abi.rs XMIT_TSO's `gso`, the headers pulled into the linear part first. 0 if the skb
 * is not GSO; a negative errno if it is one a TSO device cannot take as it is (another
 * GSO type or protocol, headers too long: -EPROTONOSUPPORT) or the headers could not
 * be pulled (-ENOMEM).
 */
long ndriver_skb_tso(struct sk_buff *skb)
{
	unsigned int hdr, net, mss;

	if (!skb_is_gso(skb))
		return 0;
	/*
	 * A fixed IP identifier: only while the user has TSO_MANGLEID on (the kernel
	 * offers it with TSO), which lets the device change it.
	 */
	if ((skb_shinfo(skb)->gso_type & ~SKB_GSO_TCP_FIXEDID) != SKB_GSO_TCPV4 ||
	    skb->ip_summed != CHECKSUM_PARTIAL || skb->protocol != htons(ETH_P_IP))
		return -EPROTONOSUPPORT;
	mss = skb_shinfo(skb)->gso_size;
	net = skb_network_offset(skb);
	if (!mss || net > 0xff)
		return -EPROTONOSUPPORT;
	/* The TCP header's fixed part first: its length is read from it. */
	if (!pskb_may_pull(skb, skb_transport_offset(skb) + sizeof(struct tcphdr)))
		return -ENOMEM;
	hdr = skb_tcp_all_headers(skb);
	if (hdr > 0xff)
		return -EPROTONOSUPPORT;
	/* May move the shared info: nothing read from it after. */
	if (!pskb_may_pull(skb, hdr))
		return -ENOMEM;
	return mss | ((long)hdr << 16) | ((long)net << 24);
}

/*
 * Cuts a GSO skb into segments in software, for a device without TSO (and, `sg` or
 * `csum` false, without scatter-gather or checksum offload): the first segment, the
 * others linked behind it (ndriver_skb_next), the skb consumed; or NULL, the skb left
 * as it was.
 */
struct sk_buff *ndriver_skb_segment(struct sk_buff *skb, struct net_device *nd, bool sg,
				    bool csum)
{
	netdev_features_t f = nd->features & ~NETIF_F_GSO_MASK;
	struct sk_buff *segs;

	if (!sg)
		f &= ~NETIF_F_SG;
	if (!csum)
		f &= ~NETIF_F_CSUM_MASK;
	segs = skb_gso_segment(skb, f);
	if (IS_ERR_OR_NULL(segs))
		return NULL;
	consume_skb(skb);
	return segs;
}

/* The segment linked behind `skb` (NULL: none), unlinked; `skb` is then on no list. */
struct sk_buff *ndriver_skb_next(struct sk_buff *skb)
{
	struct sk_buff *next = skb->next;

	skb_mark_not_on_list(skb);
	return next;
}

/*
 * What the skb puts on the wire: its frames (the segments of a GSO skb) and their
 * bytes, each segment's headers counted, as the C drivers count them.
 */
void ndriver_skb_wire(struct sk_buff *skb, u64 *frames, u64 *bytes)
{
	unsigned int segs = skb_is_gso(skb) ? skb_shinfo(skb)->gso_segs : 1;
	unsigned int hdr = 0;

	if (!segs)
		segs = 1;
	if (segs > 1 && skb_shinfo(skb)->gso_type & (SKB_GSO_TCPV4 | SKB_GSO_TCPV6))
		hdr = skb_tcp_all_headers(skb);
	*frames = segs;
	*bytes = skb->len + (u64)(segs - 1) * hdr;
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
