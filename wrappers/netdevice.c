// SPDX-License-Identifier: GPL-2.0
/*
 * The C half of the placeholder net_device (placeholders/nic.rs): the operation
 * tables the kernel calls (each entry a Rust guard wrapper), and the static inline
 * helpers of <linux/netdevice.h> and <linux/etherdevice.h> the Rust net layer needs.
 * Nothing here calls a driver; it only wraps kernel inlines and layouts.
 */

#include <linux/etherdevice.h>
#include <linux/if_vlan.h>
#include <linux/ethtool.h>
#include <linux/netdevice.h>
#include <linux/skbuff.h>

#include "net_helpers.h"

/* The placeholder's private area. */
struct ndriver_nic_priv {
	void *dev;			/* the framework's Device<Nic> */
	struct napi_struct napi;
	struct sk_buff_head resend;	/* skbs of dead instances, see nic.rs */
	struct sk_buff_head sent;	/* ... that their device had sent */
};

/* Rust guard wrappers (placeholders/nic/ndo.rs, nic/ethtool.rs). */
int ndriver_nic_ndo_open(struct net_device *nd);
int ndriver_nic_ndo_stop(struct net_device *nd);
netdev_tx_t ndriver_nic_ndo_start_xmit(struct sk_buff *skb, struct net_device *nd);
void ndriver_nic_ndo_set_rx_mode(struct net_device *nd);
int ndriver_nic_ndo_set_mac(struct net_device *nd, const u8 *mac);
int ndriver_nic_ndo_change_mtu(struct net_device *nd, int mtu);
void ndriver_nic_ndo_tx_timeout(struct net_device *nd, unsigned int txqueue);
void ndriver_nic_ndo_get_stats64(struct net_device *nd, u64 *v);
int ndriver_nic_napi_poll(struct napi_struct *napi, int budget);
unsigned int ndriver_nic_tx_allows(struct net_device *nd, unsigned int csum_at);
void ndriver_nic_drvinfo(struct net_device *nd, char *impl, size_t impl_len,
			 char *bus, size_t bus_len);
int ndriver_nic_ethtool_count(void);
void ndriver_nic_ethtool_name(unsigned int i, char *out, size_t len);
void ndriver_nic_ethtool_values(struct net_device *nd, u64 *out, size_t n);

static int nic_set_mac(struct net_device *nd, void *p)
{
	struct sockaddr *sa = p;

	if (!is_valid_ether_addr(sa->sa_data))
		return -EADDRNOTAVAIL;
	return ndriver_nic_ndo_set_mac(nd, sa->sa_data);
}

static void nic_get_stats64(struct net_device *nd, struct rtnl_link_stats64 *s)
{
	u64 v[8] = {};

	ndriver_nic_ndo_get_stats64(nd, v);
	s->rx_packets = v[0];
	s->rx_bytes = v[1];
	s->tx_packets = v[2];
	s->tx_bytes = v[3];
	s->rx_missed_errors = v[4];
	s->rx_errors = v[5];
	s->tx_errors = v[6];
	s->rx_dropped = v[7];
}

/*
 * The offloads the serving implementation takes, for this skb: the stack linearizes
 * or checksums in software what it does not (ndo_start_xmit does it again for an skb
 * checked against an implementation that was replaced meanwhile).
 */
static netdev_features_t nic_features_check(struct sk_buff *skb, struct net_device *nd,
					    netdev_features_t features)
{
	bool partial = skb->ip_summed == CHECKSUM_PARTIAL;
	unsigned int at = 0, ok;

	/* What the default check does (this one replaces it): no offload past two tags. */
	features = vlan_features_check(skb, features);
	if (partial)
		at = min_t(unsigned int,
			   skb_checksum_start_offset(skb) + skb->csum_offset, 0xffff);
	ok = ndriver_nic_tx_allows(nd, at);
	if (!(ok & NDRIVER_TX_SG))
		features &= ~NETIF_F_SG;
	if (!(ok & NDRIVER_TX_TSO))
		features &= ~NETIF_F_GSO_MASK;
	if (partial && !(ok & NDRIVER_TX_CSUM))
		features &= ~NETIF_F_CSUM_MASK;
	return features;
}

static const struct net_device_ops ndriver_nic_ops = {
	.ndo_open = ndriver_nic_ndo_open,
	.ndo_stop = ndriver_nic_ndo_stop,
	.ndo_start_xmit = ndriver_nic_ndo_start_xmit,
	.ndo_set_rx_mode = ndriver_nic_ndo_set_rx_mode,
	.ndo_set_mac_address = nic_set_mac,
	.ndo_change_mtu = ndriver_nic_ndo_change_mtu,
	.ndo_tx_timeout = ndriver_nic_ndo_tx_timeout,
	.ndo_get_stats64 = nic_get_stats64,
	.ndo_validate_addr = eth_validate_addr,
	.ndo_features_check = nic_features_check,
};

static void nic_get_drvinfo(struct net_device *nd, struct ethtool_drvinfo *info)
{
	strscpy(info->driver, "ndriver", sizeof(info->driver));
	ndriver_nic_drvinfo(nd, info->version, sizeof(info->version),
			    info->bus_info, sizeof(info->bus_info));
}

/* ethtool -S: the device's recovery counters (placeholders/nic/ethtool.rs). */
static int nic_get_sset_count(struct net_device *nd, int sset)
{
	return sset == ETH_SS_STATS ? ndriver_nic_ethtool_count() : -EOPNOTSUPP;
}

static void nic_get_strings(struct net_device *nd, u32 sset, u8 *data)
{
	int i, n = ndriver_nic_ethtool_count();

	if (sset != ETH_SS_STATS)
		return;
	for (i = 0; i < n; i++)
		ndriver_nic_ethtool_name(i, (char *)data + i * ETH_GSTRING_LEN, ETH_GSTRING_LEN);
}

static void nic_get_ethtool_stats(struct net_device *nd, struct ethtool_stats *stats,
				  u64 *data)
{
	ndriver_nic_ethtool_values(nd, data, stats->n_stats);
}

static const struct ethtool_ops ndriver_nic_ethtool_ops = {
	.get_drvinfo = nic_get_drvinfo,
	.get_link = ethtool_op_get_link,
	.get_sset_count = nic_get_sset_count,
	.get_strings = nic_get_strings,
	.get_ethtool_stats = nic_get_ethtool_stats,
};

static struct ndriver_nic_priv *priv_of(struct net_device *nd)
{
	return netdev_priv(nd);
}

/* A placeholder named `name` for `dev`, not registered yet; NULL on failure. */
struct net_device *ndriver_nic_alloc(void *dev, const char *name)
{
	struct net_device *nd = alloc_etherdev(sizeof(struct ndriver_nic_priv));
	struct ndriver_nic_priv *p;

	if (!nd)
		return NULL;
	p = priv_of(nd);
	p->dev = dev;
	skb_queue_head_init(&p->resend);
	skb_queue_head_init(&p->sent);
	strscpy(nd->name, name, IFNAMSIZ);
	nd->netdev_ops = &ndriver_nic_ops;
	nd->ethtool_ops = &ndriver_nic_ethtool_ops;
	nd->watchdog_timeo = 5 * HZ;
	nd->min_mtu = ETH_MIN_MTU;
	nd->max_mtu = ETH_DATA_LEN;
	/*
	 * Announced whatever the serving implementation takes, so that they survive a
	 * swap: nic_features_check and ndo_start_xmit fall back to software.
	 */
	nd->hw_features = NETIF_F_SG | NETIF_F_HW_CSUM | NETIF_F_TSO;
	nd->features |= nd->hw_features;
	/* ndo_start_xmit may change an skb (linearize, checksum, pull headers). */
	nd->priv_flags &= ~IFF_TX_SKB_SHARING;
	eth_hw_addr_random(nd);
	netif_napi_add(nd, &p->napi, ndriver_nic_napi_poll);
	netif_carrier_off(nd);
	return nd;
}

void *ndriver_nic_dev_of(struct net_device *nd)
{
	return priv_of(nd)->dev;
}

void *ndriver_nic_dev_of_napi(struct napi_struct *napi)
{
	return priv_of(napi->dev)->dev;
}

struct napi_struct *ndriver_nic_napi(struct net_device *nd)
{
	return &priv_of(nd)->napi;
}

struct sk_buff_head *ndriver_nic_resend(struct net_device *nd)
{
	return &priv_of(nd)->resend;
}

struct sk_buff_head *ndriver_nic_sent(struct net_device *nd)
{
	return &priv_of(nd)->sent;
}

/* Frees what the placeholder still holds and the placeholder itself. */
void ndriver_nic_free(struct net_device *nd)
{
	skb_queue_purge(&priv_of(nd)->resend);
	skb_queue_purge(&priv_of(nd)->sent);
	free_netdev(nd);
}

void ndriver_netif_stop_queue(struct net_device *nd)
{
	netif_stop_queue(nd);
}

void ndriver_netif_wake_queue(struct net_device *nd)
{
	netif_wake_queue(nd);
}

bool ndriver_netdev_xmit_more(void)
{
	return netdev_xmit_more();
}

bool ndriver_netif_xmit_stopped(struct net_device *nd)
{
	return netif_xmit_stopped(netdev_get_tx_queue(nd, 0));
}

bool ndriver_napi_schedule(struct napi_struct *napi)
{
	return napi_schedule(napi);
}

unsigned int ndriver_nic_flags(struct net_device *nd)
{
	return READ_ONCE(nd->flags);
}

bool ndriver_nic_running(struct net_device *nd)
{
	return netif_running(nd);
}

unsigned int ndriver_nic_mtu(struct net_device *nd)
{
	return READ_ONCE(nd->mtu);
}

unsigned int ndriver_nic_max_mtu(struct net_device *nd)
{
	return READ_ONCE(nd->max_mtu);
}

/* Read under the RTNL lock by dev_validate_mtu(), written from a swap without it. */
void ndriver_nic_set_max_mtu(struct net_device *nd, unsigned int max)
{
	WRITE_ONCE(nd->max_mtu, max);
}

void ndriver_nic_set_mtu(struct net_device *nd, unsigned int mtu)
{
	WRITE_ONCE(nd->mtu, mtu);
}

/* The station address, first byte in the low bits. */
u64 ndriver_nic_addr(struct net_device *nd)
{
	u64 v = 0;
	int i;

	for (i = ETH_ALEN - 1; i >= 0; i--)
		v = (v << 8) | nd->dev_addr[i];
	return v;
}

void ndriver_nic_set_addr(struct net_device *nd, const u8 *mac)
{
	eth_hw_addr_set(nd, mac);
}

/*
 * Copies up to `max` multicast addresses into `mc` (as ndriver_nic_addr packs them);
 * returns how many the list holds. The caller holds the address lock or calls
 * from ndo_set_rx_mode, which runs under it.
 */
unsigned int ndriver_nic_mc_list(struct net_device *nd, u64 *mc, unsigned int max)
{
	struct netdev_hw_addr *ha;
	unsigned int n = 0;

	netdev_for_each_mc_addr(ha, nd) {
		if (n < max) {
			u64 v = 0;
			int i;

			for (i = ETH_ALEN - 1; i >= 0; i--)
				v = (v << 8) | ha->addr[i];
			mc[n] = v;
		}
		n++;
	}
	return n;
}

void ndriver_nic_addr_lock_bh(struct net_device *nd)
{
	netif_addr_lock_bh(nd);
}

void ndriver_nic_addr_unlock_bh(struct net_device *nd)
{
	netif_addr_unlock_bh(nd);
}
