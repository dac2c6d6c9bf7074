// SPDX-License-Identifier: GPL-2.0

//! `nic`: the placeholder Ethernet device, a class of the generic device
//! (`ndriver/device.rs`).
//!
//! The framework registers one `net_device` (`ndeth0`) at load and keeps it for its
//! whole life: its name, station address, addresses, routes and sockets never see an
//! implementation change. Every `net_device_ops` entry, the NAPI poll and the device
//! interrupt are guard wrappers into the current instance (`wrappers/netdevice.c`
//! holds the tables, `wrappers/net.rs` the raw calls).
//!
//! Requests and configuration:
//!
//! * Transmit: each skb is lent to the driver under a token of the placeholder's
//!   table (`nic_tx.rs`) and leaves it only when the driver reports that token done
//!   (`ndriver_net_tx_done`). When an instance dies, what it still held is taken back
//!   before the next instance is admitted (minus what its registered transmit ring
//!   shows the device already sent) and sent again through the stack once a new
//!   instance serves.
//! * Configuration: `up`/`down`, MTU and station address are logged items of the
//!   generic configuration log, routed to `open`/`stop`, `change_mtu` and
//!   `set_mac_address`; the receive filter (promiscuous, all-multicast, multicast
//!   list) is the placeholder's own state and is programmed again through
//!   `set_rx_mode` after the replay. The carrier is the placeholder's: a starting
//!   instance cannot drop it, so a swap makes no link event.
//! * A transmit timeout of the kernel's watchdog is a hang of the device: it is
//!   recovered like any failure. So is a transmit that stalled without stopping the
//!   queue: the oldest skb lent waits longer than the watchdog's period while new
//!   ones follow (`nic_tx.rs`).
//! * Receive frames still in a dead instance's ring are lost (TCP retransmits); the
//!   driver registers its ring so the framework can count them (`rx_lost`).

use crate::abi::{
    AdoptFn, Instance, NicEntry, NicHwStats, NicOps, TxPiece, NIC_ENTRIES, NIC_F_SG, NIC_F_TSO,
    NIC_KEY_MAC, NIC_KEY_MTU, NIC_KEY_UP, NIC_RX_ALLMULTI, NIC_RX_PROMISC, TX_PIECES_MAX,
    XMIT_CSUM, XMIT_MORE, XMIT_TSO,
};
use crate::detected::Detected;
use crate::device::{now_ns, Admitted, Class, Device, Failure};
use crate::instance::{Event, InstanceState, ServedDevice};
use crate::placeholders::nic_tx::TxLent;
use crate::stats::{exported_name, NR_EXPORTED};
use crate::timeout::Bounds;
use crate::undo::action_list::Kind;
use crate::wrappers::net::{
    copy_cstr, xmit_more, Napi, NetDev, NetDevBox, Skb, IFF_ALLMULTI, IFF_PROMISC,
};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use kernel::bindings;
use kernel::ffi::{c_char, c_int, c_uint, c_void};
use kernel::new_spinlock_irq;
use kernel::prelude::*;
use kernel::sync::{Arc, SetOnce, SpinLockIrq};

#[path = "nic/ethtool.rs"]
mod ethtool;
#[path = "nic/ndo.rs"]
mod ndo;
#[path = "nic/warm_tx.rs"]
mod warm_tx;

/// Entry numbers.
const OPEN: usize = NicEntry::Open as usize;
const START_XMIT: usize = NicEntry::StartXmit as usize;
const SET_RX_MODE: usize = NicEntry::SetRxMode as usize;
const SET_MAC: usize = NicEntry::SetMacAddress as usize;
const CHANGE_MTU: usize = NicEntry::ChangeMtu as usize;
const TX_TIMEOUT: usize = NicEntry::TxTimeout as usize;
const GET_STATS: usize = NicEntry::GetStats64 as usize;
const POLL: usize = NicEntry::Poll as usize;

/// How long the oldest skb lent may wait for its completion, while others follow,
/// before transmit counts as hung: the kernel watchdog's period (`watchdog_timeo`, set
/// to 5 s in `wrappers/netdevice.c`).
pub(crate) const TX_STALL_NS: u64 = 5_000_000_000;

/// Multicast addresses kept for the receive filter; more means all-multicast.
pub(crate) const MC_MAX: usize = 16;

/// The largest MTU a placeholder offers is what the serving implementation declares
/// (`NicOps::max_mtu`), bounded below by Ethernet's 1500 (what it starts with)...
const MAX_MTU_FLOOR: u32 = 1500;
/// ... and above by what leaves a frame (header, VLAN tag, FCS) within 64 KiB.
const MAX_MTU_CEILING: u32 = 65_535 - 14 - 4 - 4;

/// `ndo_start_xmit` results.
const NETDEV_TX_OK: c_int = 0;
const NETDEV_TX_BUSY: c_int = 0x10;

/// The receive filter as the placeholder last saw it.
#[derive(Clone, Copy)]
pub(crate) struct RxFilter {
    /// `NIC_RX_*` flags.
    pub(crate) flags: u32,
    /// Multicast addresses (first `count`; all-multicast when more than `MC_MAX`).
    pub(crate) mc: [u64; MC_MAX],
    /// Entries in `mc`.
    pub(crate) count: usize,
}

/// A receive descriptor ring registered by the current instance: how the framework
/// counts frames a dead instance received but never delivered.
#[derive(Clone, Copy)]
struct RxRing {
    generation: u64,
    base: usize,
    count: u32,
    stride: u32,
    status_off: u32,
    done_mask: u8,
}

/// A transmit ring registered by the current instance: how the framework completes,
/// rather than sends again, what the device sent before the instance died.
#[derive(Clone, Copy)]
pub(crate) struct TxRing {
    pub(crate) generation: u64,
    pub(crate) base: usize,
    pub(crate) count: u32,
    pub(crate) stride: u32,
    pub(crate) status_off: u32,
    pub(crate) done_mask: u8,
    /// The token of descriptor `i` is the 64-bit word at `tokens + i * token_stride`.
    pub(crate) tokens: usize,
    pub(crate) token_stride: u32,
}

impl TxRing {
    /// Whether the descriptors lie in a coherent DMA buffer of `st` and the tokens in
    /// memory of `st` (its undo list says what it holds).
    pub(crate) fn held_by(&self, st: &InstanceState) -> bool {
        self.held_with(st, |_, _| false)
    }

    /// As [`TxRing::held_by`], but the descriptors, and then the tokens, may also lie in
    /// a coherent buffer for which `kept(start, len)` says yes (the kept set of a warm
    /// restart).
    pub(crate) fn held_with(
        &self,
        st: &InstanceState,
        kept: impl Fn(usize, usize) -> bool,
    ) -> bool {
        let Some(ring) = ring_span(self.count, self.stride, self.status_off) else {
            return false;
        };
        let Some(toks) = ((self.count - 1) as usize)
            .checked_mul(self.token_stride as usize)
            .and_then(|n| n.checked_add(8))
        else {
            return false;
        };
        if self.tokens % 8 != 0 || self.token_stride % 8 != 0 {
            return false;
        }
        if kept(self.base, ring) {
            let held = {
                let list = st.undo.lock();
                list.covers(Kind::Memory, self.tokens, toks)
                    || list.covers(Kind::DmaCoherent, self.tokens, toks)
            };
            return held || kept(self.tokens, toks);
        }
        let list = st.undo.lock();
        list.covers(Kind::DmaCoherent, self.base, ring)
            && (list.covers(Kind::Memory, self.tokens, toks)
                || list.covers(Kind::DmaCoherent, self.tokens, toks))
    }
}

/// Counters of the placeholder (they survive every instance).
#[derive(Default)]
pub(crate) struct NetCounters {
    pub(crate) rx_packets: AtomicU64,
    pub(crate) rx_bytes: AtomicU64,
    pub(crate) rx_dropped: AtomicU64,
    pub(crate) tx_packets: AtomicU64,
    pub(crate) tx_bytes: AtomicU64,
    pub(crate) tx_resent: AtomicU64,
    /// Transmits a dead instance never reported although its device had sent them:
    /// completed at its undo instead of sent again.
    pub(crate) tx_sent_dead: AtomicU64,
    pub(crate) tx_busy: AtomicU64,
    pub(crate) rx_lost: AtomicU64,
    pub(crate) rx_missed: AtomicU64,
    pub(crate) rx_errors: AtomicU64,
    pub(crate) tx_errors: AtomicU64,
    pub(crate) tx_timeouts: AtomicU64,
    /// Transmit stalls the placeholder found (`TX_STALL_NS`) before the kernel's
    /// watchdog could.
    pub(crate) tx_stalls: AtomicU64,
    pub(crate) carrier_kept: AtomicU64,
    /// Transmits the instance reported done but not sent (dropped: interface down, or
    /// a frame it could not map).
    pub(crate) tx_dropped: AtomicU64,
    /// Frames whose checksum the device computed (handed over with `XMIT_CSUM`).
    pub(crate) tx_csum_offloaded: AtomicU64,
    /// ... that the placeholder computed instead, for an implementation without the
    /// offload (the stack does it itself for the frames it checks against one).
    pub(crate) tx_csum_software: AtomicU64,
    /// Frames handed over in more than one piece (scatter-gather).
    pub(crate) tx_pieced: AtomicU64,
    /// Frames the placeholder put in one piece for an implementation without
    /// scatter-gather.
    pub(crate) tx_linearized: AtomicU64,
    /// Frames dropped because they could not be put in a form the implementation
    /// takes (no memory), or segments of a GSO skb cut here that the instance did not
    /// take (TCP sends them again).
    pub(crate) tx_unfit: AtomicU64,
    /// GSO skbs handed over whole, for the device to segment (TSO).
    pub(crate) tx_tso: AtomicU64,
    /// GSO skbs the placeholder cut into segments itself, for an implementation without
    /// TSO (the stack does it for those it checks against one).
    pub(crate) tx_segmented: AtomicU64,
}

/// The `nic` class: the placeholder `net_device` and what it keeps across instances.
///
/// # Invariants
///
/// `nd`, once populated, holds the placeholder (a [`NetDevBox`]) whose owner is the
/// [`NicDev`] this `Nic` is the class of, pinned in its `Arc`. Only `create` populates
/// it, once the device is pinned and before registering the placeholder; it is freed
/// with this `Nic` (its first field: before the others). It is registered from
/// `create`'s successful `register` until `shutdown` unregisters it: a device exists
/// (outside `create`) only once `register` succeeded, and `shutdown` runs once for it
/// (`ndriver/devices.rs`), before it is freed. So the placeholder lives as long as the
/// device, and the kernel calls its operations only while it is registered.
///
/// `registered` is true only while the placeholder is registered: `create` sets it once
/// `register` succeeded, and `shutdown` clears it before it unregisters the placeholder,
/// both under its lock. So the placeholder stays registered for as long as that lock is
/// held with the flag seen true.
#[pin_data]
pub(crate) struct Nic {
    /// The placeholder (empty until `create` made it).
    nd: SetOnce<NetDevBox>,
    /// Whether the placeholder is registered (see the type invariant), for what uses it
    /// outside the kernel's calls of its operations: the carrier an instance reports.
    #[pin]
    registered: SpinLockIrq<bool>,
    /// The interface name (for logs).
    ifname: &'static CStr,
    /// Set by `ndriver_net_napi_complete` during a poll: the poll gave the NAPI context
    /// up.
    napi_done: AtomicBool,
    /// The guarded `poll` while it owns the NAPI context, as [`poll_mark`] names its
    /// context (0: none): the NAPI callouts are its alone ([`in_poll`]). Set around the
    /// driver's `poll`, cleared once the driver completes and while a frame it delivers
    /// through GRO runs through the stack.
    poll_owner: AtomicU64,
    /// The interface is up (between `ndo_open` and `ndo_stop`).
    up: AtomicBool,
    /// The largest MTU of the last implementation that took the whole configuration
    /// (bounded), also the placeholder's `max_mtu`: checked again in `ndo_change_mtu`,
    /// whose own check by the kernel may race with a swap that lowered it.
    pub(crate) max_mtu: AtomicU32,
    /// What the serving implementation's `start_xmit` takes, `NicOps::features` in the
    /// low 32 bits and `csum_reach` in the high 32 (one word: read together), for the
    /// stack's per-skb check (`ndo_features_check`): set when an instance starts
    /// serving. Only advisory: `ndo_start_xmit` checks each frame against the instance
    /// it admits.
    tx_offloads: AtomicU64,
    #[pin]
    filter: SpinLockIrq<RxFilter>,
    /// The receive filter changed while no instance was admitted: programmed when the
    /// next one serves, if its start replayed nothing (a warm restart).
    filter_missed: AtomicBool,
    #[pin]
    ring: SpinLockIrq<Option<RxRing>>,
    #[pin]
    tx_ring: SpinLockIrq<Option<TxRing>>,
    /// The transmits of an instance discarded warm, left to settle (`warm_tx.rs`).
    #[pin]
    warm_tx: SpinLockIrq<Option<warm_tx::WarmTx>>,
    /// Room for the notes of [`Nic::note_warm_tx`], reserved when a warm restart is
    /// allowed (`warm_ok`): noting never fails for memory.
    #[pin]
    warm_tx_room: SpinLockIrq<KVec<(u32, u64)>>,
    /// The skbs lent to instances.
    pub(crate) tx: TxLent,
    /// Counters.
    pub(crate) net: NetCounters,
}

/// The placeholder device.
pub(crate) type NicDev = Device<Nic>;

/// Bytes from a ring's base to the status byte of its last descriptor, inclusive:
/// what must lie in the instance's memory for the framework to read it.
pub(crate) fn ring_span(count: u32, stride: u32, status_off: u32) -> Option<usize> {
    if count == 0 || status_off >= stride {
        return None;
    }
    ((count - 1) as usize)
        .checked_mul(stride as usize)?
        .checked_add(status_off as usize + 1)
}

impl Nic {
    /// The placeholder (it lives as long as the device).
    pub(crate) fn netdev(&self) -> Option<&NetDev> {
        self.nd.as_ref().map(|nd| &**nd)
    }

    /// The receive filter snapshot drivers program.
    pub(crate) fn filter(&self) -> RxFilter {
        *self.filter.lock()
    }

    /// Takes a new snapshot of the receive filter from the placeholder (taking its
    /// address lock: process context).
    fn snapshot_filter(&self, nd: &NetDev) {
        let mut mc = [0u64; MC_MAX];
        let n = nd.mc_list(&mut mc);
        self.set_filter(nd, mc, n);
    }

    /// [`Nic::snapshot_filter`] under the placeholder's address lock.
    ///
    /// # Safety
    ///
    /// The caller holds `nd`'s address lock, as the kernel does around `ndo_set_rx_mode`.
    unsafe fn snapshot_filter_locked(&self, nd: &NetDev) {
        let mut mc = [0u64; MC_MAX];
        // SAFETY: the caller holds the address lock (this function's contract).
        let n = unsafe { nd.mc_list_locked(&mut mc) };
        self.set_filter(nd, mc, n);
    }

    /// Records the receive filter: `nd`'s flags and the first of its `n` multicast
    /// addresses, `mc`.
    fn set_filter(&self, nd: &NetDev, mc: [u64; MC_MAX], n: usize) {
        let f = nd.flags();
        let mut flags = 0;
        if f & IFF_PROMISC != 0 {
            flags |= NIC_RX_PROMISC;
        }
        if f & IFF_ALLMULTI != 0 || n > MC_MAX {
            flags |= NIC_RX_ALLMULTI;
        }
        *self.filter.lock() = RxFilter {
            flags,
            mc,
            count: n.min(MC_MAX),
        };
    }

    /// What the serving implementation's `start_xmit` takes: `(NicOps::features,
    /// NicOps::csum_reach)` (advisory, see `tx_offloads`).
    pub(crate) fn tx_offloads(&self) -> (u32, u32) {
        let v = self.tx_offloads.load(Ordering::Relaxed);
        (v as u32, (v >> 32) as u32)
    }

    /// Records (or, `None`, forgets) the transmit ring of the current instance.
    pub(crate) fn set_tx_ring(&self, ring: Option<TxRing>) {
        *self.tx_ring.lock() = ring;
    }

    /// The skb lent under `token` to the dead generation `gen`, which its device sent:
    /// counted as sent and queued on the placeholder's `sent` queue, freed once the
    /// recovery is over (`Nic::tidy`, after every undo list ran: it is unmapped by
    /// then). Without a placeholder (never while an instance serves) it is leaked
    /// rather than freed while still mapped. A token not lent to `gen` completes
    /// nothing.
    pub(crate) fn complete_dead(&self, token: u64, gen: u64) {
        let Ok(skb) = self.tx.take(token, gen) else {
            return;
        };
        let (frames, bytes) = skb.wire();
        self.net.tx_packets.fetch_add(frames, Ordering::Relaxed);
        self.net.tx_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.net.tx_sent_dead.fetch_add(1, Ordering::Relaxed);
        match self.netdev() {
            Some(nd) => nd.sent().push(skb),
            None => {
                let _ = skb.into_raw();
            }
        }
    }

    /// Completes the transmits dead instance `st` left in its registered ring that
    /// the device had sent (the device's DMA is stopped by now).
    fn complete_sent(&self, st: &InstanceState) {
        let ring = self.tx_ring.lock().take();
        let Some(r) = ring else {
            return;
        };
        if r.generation != st.generation || !r.held_by(st) {
            return;
        }
        for i in 0..r.count as usize {
            let status = (r.base + i * r.stride as usize + r.status_off as usize) as *const u8;
            // SAFETY: the dead instance registered this ring in a coherent buffer it
            // still holds (checked just now; its undo list has not run yet).
            if unsafe { core::ptr::read_volatile(status) } & r.done_mask == 0 {
                continue;
            }
            let word = (r.tokens + i * r.token_stride as usize) as *const u64;
            // SAFETY: inside the instance's memory, 8-byte aligned (base and stride
            // checked by `held_by`); whatever it holds is only looked up, never trusted.
            let token = unsafe { core::ptr::read_volatile(word) };
            self.complete_dead(token, st.generation);
        }
    }

    /// Records the receive ring of instance generation `generation`.
    pub(crate) fn set_ring(
        &self,
        generation: u64,
        base: usize,
        count: u32,
        stride: u32,
        status_off: u32,
        done_mask: u8,
    ) {
        *self.ring.lock() = (base != 0).then_some(RxRing {
            generation,
            base,
            count,
            stride,
            status_off,
            done_mask,
        });
    }
}

impl Class for Nic {
    const NAME: &'static str = "nic";
    type Ops = NicOps;
    const ENTRIES: &'static [&'static str] = &NIC_ENTRIES;
    const PROBE: usize = NicEntry::Probe as usize;
    const CONFIGURE: usize = NicEntry::Configure as usize;
    const REMOVE: usize = NicEntry::Remove as usize;
    const ADOPT: Option<usize> = Some(NicEntry::Adopt as usize);
    // A transmit that reaches QEMU's e1000 runs the device model in the vCPU, and a
    // vCPU of a loaded TCG host can stall for tens of milliseconds: a 50 ms floor
    // took such stalls for hangs.
    const BOUNDS: Bounds = Bounds {
        floor_ns: 200_000_000,
        ..Bounds::DEFAULT
    };
    // The receive poll and the transmit queue are softirq work; `redirected` does not
    // sleep.
    const SERVES_IN_SOFTIRQ: bool = true;

    fn config_entry(key: u32) -> usize {
        match key {
            NIC_KEY_UP => OPEN,
            NIC_KEY_MTU => CHANGE_MTU,
            NIC_KEY_MAC => SET_MAC,
            _ => NicEntry::Configure as usize,
        }
    }

    fn event_entry(ev: Event) -> Option<usize> {
        Some(match ev {
            Event::DevIrq => NicEntry::DevIrq as usize,
            Event::Timer => NicEntry::Timer as usize,
            Event::Work => NicEntry::Work as usize,
        })
    }

    /// # Safety
    ///
    /// As for [`Class::probe`].
    unsafe fn probe(ops: &NicOps, h: *mut Instance) -> i64 {
        // SAFETY: per the trait's contract.
        unsafe { (ops.probe)(h) as i64 }
    }

    fn adopt_fn(ops: &NicOps) -> Option<AdoptFn> {
        ops.adopt
    }

    /// Warm after a failure in the data path or an asynchronous entry point, which
    /// changes no configuration. The transmits lent to the instance are settled after the
    /// adoption (`warm_tx.rs`), which needs the ring the instance registered (and held)
    /// to tell the ones the device sent: with skbs lent and no such ring, cold.
    fn warm_ok(dev: &NicDev, st: &InstanceState, entry: usize) -> Option<bool> {
        const WARM_ENTRIES: [NicEntry; 6] = [
            NicEntry::StartXmit,
            NicEntry::Poll,
            NicEntry::DevIrq,
            NicEntry::GetStats64,
            NicEntry::Timer,
            NicEntry::Work,
        ];
        if !WARM_ENTRIES.iter().any(|e| *e as usize == entry) {
            return None;
        }
        if dev.class.tx.held_by(st.generation) == 0 {
            return Some(false);
        }
        let ring = *dev.class.tx_ring.lock();
        let r = ring.filter(|r| r.generation == st.generation && r.held_by(st))?;
        // Room to note every lent skb the ring names, or cold: a transmit not noted
        // would be sent again although the device may have sent it.
        dev.class.reserve_warm_tx(r.count as usize).then_some(true)
    }

    fn adopted(dev: &NicDev, st: &InstanceState) {
        dev.class.settle_warm_tx(dev, Some(st));
    }

    fn dropping_kept(dev: &NicDev) {
        dev.class.settle_warm_tx(dev, None);
    }

    /// # Safety
    ///
    /// As for [`Class::configure`].
    unsafe fn configure(ops: &NicOps, h: *mut Instance, key: u32, value: u64) -> i64 {
        // SAFETY: per the trait's contract, `h` is a live instance of `ops`' implementation.
        (unsafe {
            match key {
                NIC_KEY_UP if value != 0 => (ops.open)(h),
                NIC_KEY_UP => (ops.stop)(h),
                NIC_KEY_MTU => (ops.change_mtu)(h, value as u32),
                NIC_KEY_MAC => (ops.set_mac_address)(h, value),
                _ => (ops.configure)(h, key, value),
            }
        }) as i64
    }

    /// # Safety
    ///
    /// As for [`Class::remove`].
    unsafe fn remove(ops: &NicOps, h: *mut Instance) {
        // SAFETY: per the trait's contract.
        unsafe { (ops.remove)(h) }
    }

    /// # Safety
    ///
    /// As for [`Class::event`].
    unsafe fn event(ops: &NicOps, h: *mut Instance, ev: Event, arg: u64) -> i64 {
        let f = match ev {
            Event::DevIrq => ops.devirq,
            Event::Timer => ops.timer,
            Event::Work => ops.work,
        };
        // SAFETY: per the trait's contract.
        unsafe { f(h, arg) }
    }

    const DISCARDING: Option<fn(&NicDev, &InstanceState, bool)> = Some(discarding_nic);

    fn tidy(dev: &NicDev) {
        if let Some(nd) = dev.class.netdev() {
            while let Some(skb) = nd.sent().pop() {
                skb.consume();
            }
        }
    }

    fn replay(dev: &NicDev, ops: &NicOps, h: *mut Instance) -> Result<(), Failure> {
        let Some(nd) = dev.class.netdev() else {
            return Ok(());
        };
        let max = ops.max_mtu.clamp(MAX_MTU_FLOOR, MAX_MTU_CEILING);
        // An implementation that declares less than the MTU in force cannot serve, even if
        // its `change_mtu` took it in the replay just done.
        if nd.mtu() > max {
            pr_warn!(
                "ndriver: {}: MTU {} above the implementation's largest, {}\n",
                dev.class.ifname.to_str().unwrap_or("?"),
                nd.mtu(),
                max
            );
            return Err(Failure::new(Detected::Error, EINVAL.to_errno() as i64));
        }
        // Replayed below, if at all: nothing missed is left for `redirected`.
        dev.class.filter_missed.store(false, Ordering::Release);
        if dev.class.up.load(Ordering::Acquire) && nd.running() {
            dev.class.snapshot_filter(nd);
            let f = ops.set_rx_mode;
            // SAFETY: `f` is `set_rx_mode` from the table of `h`, the live instance being started.
            dev.guarded_entry(SET_RX_MODE, || unsafe { f(h) } as i64)?;
        }
        // Last: only an instance that took the whole configuration sets the bound.
        dev.class.max_mtu.store(max, Ordering::Relaxed);
        nd.set_max_mtu(max);
        Ok(())
    }

    /// Bottom halves off (`SERVES_IN_SOFTIRQ`). The skbs sent again here go out at once
    /// if the transmit queue is awake and idle; if it was stopped, they queue behind
    /// what the stack queued meanwhile, which its softirq sends once the phase ends.
    fn redirected(dev: &NicDev) {
        let Some(nd) = dev.class.netdev() else {
            return;
        };
        if let Some(a) = dev.admit() {
            let t = a.ops();
            let v = u64::from(t.features) | (u64::from(t.csum_reach) << 32);
            dev.class.tx_offloads.store(v, Ordering::Relaxed);
        }
        crate::race::point(crate::race::NIC_REDIRECT, dev.owner_tag());
        // Send again what the dead instances never reported done (taken back in
        // `discarding`, so nothing lent to the new instance is among them). Only as
        // many as are queued now: a resent skb that fails again is queued anew.
        let q = nd.resend();
        for _ in 0..q.len() {
            let Some(skb) = q.pop() else {
                break;
            };
            dev.class.net.tx_resent.fetch_add(1, Ordering::Relaxed);
            let _ = skb.requeue();
        }
        if nd.running() && dev.class.up.load(Ordering::Acquire) {
            nd.wake_queue();
        }
        // A filter change while the device recovered warm (no replay): program it now.
        if dev.class.filter_missed.swap(false, Ordering::AcqRel) {
            if let Some(a) = dev.admit() {
                let h = a.handle();
                let f = a.ops().set_rx_mode;
                // SAFETY: `h` is the live instance `f` belongs to.
                if let Err(fail) = dev.guarded_entry(SET_RX_MODE, || unsafe { f(h) } as i64) {
                    dev.fail_async(a, SET_RX_MODE, fail);
                }
            }
        }
    }

    fn shutdown(dev: &NicDev) {
        if let Some(nd) = dev.class.nd.as_ref() {
            // INVARIANT: cleared before unregistering: a carrier report that saw it set has
            // returned (it holds the lock across its call), later ones see it clear.
            *dev.class.registered.lock() = false;
            // SAFETY: registered by `create`, and `shutdown` runs once, after it (type
            // invariant of `Nic`), in process context without the RTNL lock (module exit,
            // or a failed `Devices::add` at load).
            unsafe { nd.unregister() };
        }
    }

    fn unfinished(dev: &NicDev) -> Option<usize> {
        // Transmits lent to the instance and not reported done.
        Some(dev.class.tx.held())
    }

    fn show_status(dev: &NicDev, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let fl = dev.class.filter();
        writeln!(f, "netdev {}", dev.class.ifname.to_str().unwrap_or("?"))?;
        if let Some(nd) = dev.class.netdev() {
            let m = nd.addr().to_le_bytes();
            writeln!(
                f,
                "mac {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                m[0], m[1], m[2], m[3], m[4], m[5]
            )?;
            writeln!(f, "mtu {}", nd.mtu())?;
            writeln!(f, "max_mtu {}", nd.max_mtu())?;
            writeln!(f, "up {}", nd.running() as u32)?;
            writeln!(
                f,
                "unfinished_tx {}",
                dev.class.tx.held() + nd.resend().len()
            )?;
        }
        writeln!(
            f,
            "rx_filter promisc={} allmulti={} multicast={}",
            (fl.flags & NIC_RX_PROMISC != 0) as u32,
            (fl.flags & NIC_RX_ALLMULTI != 0) as u32,
            fl.count
        )
    }

    fn show_stats(dev: &NicDev, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let n = &dev.class.net;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        writeln!(f, "rx_packets {}", l(&n.rx_packets))?;
        writeln!(f, "rx_bytes {}", l(&n.rx_bytes))?;
        writeln!(f, "rx_dropped {}", l(&n.rx_dropped))?;
        writeln!(f, "rx_lost {}", l(&n.rx_lost))?;
        writeln!(f, "rx_missed {}", l(&n.rx_missed))?;
        writeln!(f, "tx_packets {}", l(&n.tx_packets))?;
        writeln!(f, "tx_bytes {}", l(&n.tx_bytes))?;
        writeln!(f, "tx_resent {}", l(&n.tx_resent))?;
        writeln!(f, "tx_sent_dead {}", l(&n.tx_sent_dead))?;
        writeln!(f, "tx_busy {}", l(&n.tx_busy))?;
        writeln!(f, "tx_timeouts {}", l(&n.tx_timeouts))?;
        writeln!(f, "tx_stalls {}", l(&n.tx_stalls))?;
        writeln!(f, "tx_dropped {}", l(&n.tx_dropped))?;
        writeln!(f, "tx_csum_offloaded {}", l(&n.tx_csum_offloaded))?;
        writeln!(f, "tx_csum_software {}", l(&n.tx_csum_software))?;
        writeln!(f, "tx_pieced {}", l(&n.tx_pieced))?;
        writeln!(f, "tx_linearized {}", l(&n.tx_linearized))?;
        writeln!(f, "tx_unfit {}", l(&n.tx_unfit))?;
        writeln!(f, "tx_tso {}", l(&n.tx_tso))?;
        writeln!(f, "tx_segmented {}", l(&n.tx_segmented))?;
        writeln!(f, "carrier_kept {}", l(&n.carrier_kept))
    }
}

/// [`Class::DISCARDING`] of the NIC: the transmits of a discarded instance are settled
/// (or, discarded warm, left for the adopter to settle).
fn discarding_nic(dev: &NicDev, st: &InstanceState, warm: bool) {
    // A failed adoption (discarded cold, DMA stopped): the transmits of the instance
    // discarded warm before it are settled first, from the kept ring.
    dev.class.settle_warm_tx(dev, Some(st));
    if warm {
        // The device still runs: the ring's done bits are not final yet.
        dev.class.note_warm_tx(dev, st);
        dev.class.ring.lock().take();
        // The receive ring is kept with the frames the device filled in, which the
        // adopter delivers: none is lost.
        return;
    }
    // What the device sent is done; take back the rest before the next instance
    // is admitted: sent again once it serves (`redirected`).
    dev.class.complete_sent(st);
    if let Some(nd) = dev.class.netdev() {
        let q = nd.resend();
        dev.class.tx.reclaim(st.generation + 1, |skb| q.push(skb));
    }
    let ring = dev.class.ring.lock().take();
    let Some(r) = ring else {
        return;
    };
    // Registered by this instance, in a DMA buffer it still holds (it may have
    // freed it since): the undo list has not run yet.
    let held = ring_span(r.count, r.stride, r.status_off)
        .is_some_and(|l| st.undo.lock().covers(Kind::DmaCoherent, r.base, l));
    if r.generation != st.generation || !held {
        return;
    }
    let mut lost = 0u64;
    for i in 0..r.count as usize {
        let p = (r.base + i * r.stride as usize + r.status_off as usize) as *const u8;
        // SAFETY: the dead instance registered this ring in memory it still holds
        // (its undo list has not run yet); a volatile read of a status byte.
        if unsafe { core::ptr::read_volatile(p) } & r.done_mask != 0 {
            lost += 1;
        }
    }
    dev.class.net.rx_lost.fetch_add(lost, Ordering::Relaxed);
}

/// Creates the placeholder device `name` (in debugfs and logs) with interrupt name
/// `irq_name` and registers its `net_device`, named `ifname`.
pub(crate) fn create(
    name: &'static CStr,
    ifname: &'static CStr,
    irq_name: &'static CStr,
) -> Result<Arc<NicDev>> {
    let dev = Arc::pin_init(
        Device::new(
            name,
            irq_name,
            try_pin_init!(Nic {
                nd: SetOnce::new(),
                registered <- new_spinlock_irq!(false),
                ifname,
                napi_done: AtomicBool::new(false),
                poll_owner: AtomicU64::new(0),
                up: AtomicBool::new(false),
                max_mtu: AtomicU32::new(MAX_MTU_FLOOR),
                tx_offloads: AtomicU64::new(0),
                filter <- new_spinlock_irq!(RxFilter {
                    flags: 0,
                    mc: [0; MC_MAX],
                    count: 0,
                }),
                filter_missed: AtomicBool::new(false),
                ring <- new_spinlock_irq!(None),
                tx_ring <- new_spinlock_irq!(None),
                warm_tx <- new_spinlock_irq!(None),
                warm_tx_room <- new_spinlock_irq!(KVec::new()),
                tx: TxLent::new()?,
                net: NetCounters::default(),
            }? Error),
        ),
        GFP_KERNEL,
    )?;
    let owner = core::ptr::from_ref::<NicDev>(&dev).cast::<c_void>();
    // INVARIANT: a placeholder owned by `dev`, which is pinned in its `Arc`; this is the
    // only place that populates `nd` (so it does not fail here), before registering it.
    if !dev.class.nd.populate(NetDevBox::alloc(owner, ifname)?) {
        return Err(EBUSY);
    }
    let Some(nd) = dev.class.nd.as_ref() else {
        return Err(EBUSY);
    };
    dev.log_config(NIC_KEY_MTU, nd.mtu() as u64)?;
    // On failure the device (never handed out, so never shut down) frees the placeholder
    // unregistered when it drops, on return.
    // SAFETY: process context (module load) without the RTNL lock; never registered yet, and
    // only `shutdown` unregisters it, before the device is freed (`Nic`'s type invariant).
    unsafe { nd.register() }?;
    // INVARIANT: registered just now; only `shutdown` clears it, before unregistering.
    *dev.class.registered.lock() = true;
    Ok(dev)
}

/// The device behind a placeholder pointer from the kernel.
///
/// # Safety
///
/// `nd` is the placeholder of a `NicDev` that stays live for `'a` (the kernel calls its
/// operations only while it is registered, and the device outlives its registration).
unsafe fn dev_of<'a>(nd: *mut bindings::net_device) -> (&'a NicDev, &'a NetDev) {
    // SAFETY: a placeholder of a live `NicDev` (this function's contract), which frees it
    // only when it is freed itself.
    let nd = unsafe { NetDev::from_raw(nd) };
    // SAFETY: `owner` is the `NicDev` given to `NetDevBox::alloc` in `create`, live (this
    // function's contract).
    (unsafe { &*nd.owner().cast::<NicDev>() }, nd)
}

/// The CPU this runs on.
pub(crate) fn this_cpu() -> u32 {
    kernel::cpu::CpuId::current().as_u32()
}

/// The context the caller runs in, as `poll_owner` records the poll's: its CPU plus one,
/// and its context level (task, softirq, hardirq, NMI) in the high half. Never 0.
fn poll_mark() -> u64 {
    (u64::from(crate::guard::context_level()) << 32) | (u64::from(this_cpu()) + 1)
}

/// Whether the caller runs inside `dev`'s guarded `poll` while that owns the NAPI
/// context: on its CPU and in its context (not in an interrupt taken meanwhile, nor in a
/// guarded entry that a frame it delivers runs into, such as a transmit), before the
/// driver completed it.
pub(crate) fn in_poll(dev: &NicDev) -> bool {
    dev.class.poll_owner.load(Ordering::Relaxed) == poll_mark()
}

/// Hands a received frame ([`NetDev::copy_frame`]) to the stack through GRO, from
/// `dev`'s poll ([`in_poll`]); `EINVAL` (the skb dropped) from anywhere else.
pub(crate) fn gro_receive(dev: &NicDev, skb: Skb) -> Result {
    let Some(nd) = dev.class.netdev() else {
        return Err(ENODEV);
    };
    let mark = poll_mark();
    if dev.class.poll_owner.load(Ordering::Relaxed) != mark {
        return Err(EINVAL);
    }
    // Not the poll's while the frame runs through the stack, which may come back into a
    // guarded entry of this device on this CPU.
    dev.class.poll_owner.store(0, Ordering::Relaxed);
    // The driver has not completed the context: completing clears `poll_owner`, and only the
    // poll sets it again, before the driver's `poll`.
    // SAFETY: the guarded poll of `nd`'s NAPI context runs this, in its own context on its
    // CPU, and owns the context until this returns (not completed, above).
    unsafe { nd.receive_napi(nd.napi(), skb) };
    dev.class.poll_owner.store(mark, Ordering::Relaxed);
    Ok(())
}

/// Completes `dev`'s poll, which did `work`, from that poll ([`in_poll`]), which then owns
/// the NAPI context no more; does nothing from anywhere else. True if the driver may turn
/// its interrupts back on.
pub(crate) fn napi_complete(dev: &NicDev, work: i32) -> bool {
    let Some(nd) = dev.class.netdev() else {
        return false;
    };
    if !in_poll(dev) {
        return false;
    }
    dev.class.poll_owner.store(0, Ordering::Relaxed);
    dev.class.napi_done.store(true, Ordering::Relaxed);
    // After it the poll returns less than its budget (`napi_done`, `ndriver_nic_napi_poll`).
    // SAFETY: the guarded poll of `nd`'s NAPI context runs this, in its own context on its
    // CPU; the first completion in this poll (a completion clears `poll_owner`, checked above).
    unsafe { nd.napi().complete(work) }
}

/// The `nic` device an instance serves, if it is one.
pub(crate) fn nic_of(st: &InstanceState) -> Option<&NicDev> {
    st.device().as_any().downcast_ref::<NicDev>()
}

/// The carrier as the current instance reports it. A report from an instance that
/// is not serving yet (starting after a swap or recovery) may not take the carrier
/// down: the link of the placeholder stays as it was. Nor does any report once the
/// device shuts down (its instance is undone only after the placeholder is
/// unregistered): a link event queued on an unregistered device would outlive it.
pub(crate) fn carrier(dev: &NicDev, st: &InstanceState, on: bool) {
    let Some(nd) = dev.class.netdev() else {
        return;
    };
    if !on && (!dev.is_running() || !dev.is_current(st)) {
        dev.class.net.carrier_kept.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let registered = dev.class.registered.lock();
    if *registered {
        // SAFETY: registered, and it stays so while `registered` is held, until after this
        // call: `shutdown` clears the flag under that lock before it unregisters the
        // placeholder (type invariant of `Nic`).
        unsafe { nd.set_carrier(on) };
    }
}
