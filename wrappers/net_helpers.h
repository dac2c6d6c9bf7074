/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C helpers of the Rust net layer (wrappers/net.rs): netdevice.c and skbuff.c.
 * Declared here for the compiler's prototype checks; Rust declares them again.
 */
#ifndef NDRIVER_NET_HELPERS_H
#define NDRIVER_NET_HELPERS_H

#include <linux/netdevice.h>
#include <linux/skbuff.h>

struct net_device *ndriver_nic_alloc(void *dev, const char *name);
void *ndriver_nic_dev_of(struct net_device *nd);
void *ndriver_nic_dev_of_napi(struct napi_struct *napi);
struct napi_struct *ndriver_nic_napi(struct net_device *nd);
struct sk_buff_head *ndriver_nic_resend(struct net_device *nd);
struct sk_buff_head *ndriver_nic_sent(struct net_device *nd);
void ndriver_nic_free(struct net_device *nd);
void ndriver_netif_stop_queue(struct net_device *nd);
void ndriver_netif_wake_queue(struct net_device *nd);
bool ndriver_netdev_xmit_more(void);
bool ndriver_netif_xmit_stopped(struct net_device *nd);
bool ndriver_napi_schedule(struct napi_struct *napi);
unsigned int ndriver_nic_flags(struct net_device *nd);
bool ndriver_nic_running(struct net_device *nd);
unsigned int ndriver_nic_mtu(struct net_device *nd);
unsigned int ndriver_nic_max_mtu(struct net_device *nd);
void ndriver_nic_set_max_mtu(struct net_device *nd, unsigned int max);
void ndriver_nic_set_mtu(struct net_device *nd, unsigned int mtu);
u64 ndriver_nic_addr(struct net_device *nd);
void ndriver_nic_set_addr(struct net_device *nd, const u8 *mac);
unsigned int ndriver_nic_mc_list(struct net_device *nd, u64 *mc, unsigned int max);
void ndriver_nic_addr_lock_bh(struct net_device *nd);
void ndriver_nic_addr_unlock_bh(struct net_device *nd);

const u8 *ndriver_skb_data(struct sk_buff *skb);
unsigned int ndriver_skb_len(struct sk_buff *skb);
bool ndriver_skb_linear(struct sk_buff *skb);

/* What ndriver_nic_tx_allows answers (placeholders/nic/ndo.rs `TX_ALLOWS_*`). */
#define NDRIVER_TX_SG 1
#define NDRIVER_TX_TSO 2
#define NDRIVER_TX_CSUM 4

/* abi.rs `TxPiece`. */
struct ndriver_tx_piece {
	const void *data;
	u32 len;
	u32 pad;
};

int ndriver_skb_pieces(struct sk_buff *skb, struct ndriver_tx_piece *out,
		       unsigned int max);
long ndriver_skb_csum_at(struct sk_buff *skb);
int ndriver_skb_checksum_help(struct sk_buff *skb);
long ndriver_skb_tso(struct sk_buff *skb);
void ndriver_skb_wire(struct sk_buff *skb, u64 *frames, u64 *bytes);
struct sk_buff *ndriver_skb_segment(struct sk_buff *skb, struct net_device *nd, bool sg,
				    bool csum);
struct sk_buff *ndriver_skb_next(struct sk_buff *skb);
int ndriver_skb_linearize(struct sk_buff *skb);
void ndriver_skb_get(struct sk_buff *skb);
void ndriver_skb_consume_any(struct sk_buff *skb);
void ndriver_skb_free_any(struct sk_buff *skb);
struct sk_buff *ndriver_skb_rx_copy(struct net_device *nd, const void *data,
				    unsigned int len);
void ndriver_skb_rx_deliver(struct net_device *nd, struct napi_struct *napi,
			    struct sk_buff *skb);
int ndriver_skb_requeue(struct sk_buff *skb);
unsigned int ndriver_skb_queue_len(struct sk_buff_head *q);
struct sk_buff *ndriver_skb_new(unsigned int len);

#endif
