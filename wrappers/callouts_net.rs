// SPDX-License-Identifier: GPL-2.0

//! Net callouts: what a `nic` driver asks of its placeholder `net_device` — report a
//! transmitted skb, deliver a received frame, drive NAPI, the carrier and the transmit
//! queue, read the station address, MTU and receive filter, and register its receive
//! ring. Nothing here is a resource of the instance: the placeholder owns the NAPI
//! context, the queue and every skb, so nothing needs undoing after a fault.
//!
//! Nothing a driver passes is taken on its word: a transmit token is looked up in the
//! placeholder's table of lent skbs, a frame length is bounded by the MTU, a received
//! frame and a receive ring must lie in memory the instance holds. A value that fails
//! its check is not used and fails the instance (`misuse`); so does a net callout from
//! an instance that serves no NIC.

use crate::abi::Instance;
use crate::instance::InstanceState;
use crate::placeholders::nic::{self, NicDev};
use crate::undo::action_list::Kind;
use crate::wrappers::net::{NetDev, Skb};
use core::sync::atomic::Ordering;
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;

/// Ethernet header, VLAN tag and frame check sequence: what a received frame may add
/// to the MTU.
const FRAME_OVERHEAD: u32 = 14 + 4 + 4;
/// The shortest frame a driver may deliver (an Ethernet header).
const FRAME_MIN: u32 = 14;

/// The instance behind `inst` and the `nic` device it serves; an instance that
/// serves none fails (`what` names the callout).
fn nic_of<'a>(inst: *mut Instance, what: &str) -> Option<(&'a InstanceState, &'a NicDev)> {
    // SAFETY: a callout's caller is the instance's code, which outlives the call.
    let st = unsafe { InstanceState::from_handle(inst) }?;
    let d = nic::nic_of(st);
    if d.is_none() {
        st.misuse(format_args!("{} from an instance that serves no NIC", what));
    }
    d.map(|d| (st, d))
}

/// The driver is done with the skb lent under `token` (it was sent, or the driver
/// gives up on it): the framework takes it back and lets go of it. A token this
/// instance does not hold (reported twice, stale, forged) touches no skb.
pub(crate) extern "C" fn ndriver_net_tx_done(inst: *mut Instance, token: *mut c_void, sent: u32) {
    let Some((st, dev)) = nic_of(inst, "ndriver_net_tx_done") else {
        return;
    };
    let skb = match dev.class.tx.take(token as u64, st.generation) {
        Ok(skb) => skb,
        Err(e) => {
            st.misuse(format_args!(
                "ndriver_net_tx_done of transmit token {:#x}: {:?}",
                token as usize, e
            ));
            return;
        }
    };
    if sent != 0 {
        let (frames, bytes) = skb.wire();
        dev.class
            .net
            .tx_packets
            .fetch_add(frames, Ordering::Relaxed);
        dev.class.net.tx_bytes.fetch_add(bytes, Ordering::Relaxed);
        skb.consume();
    } else {
        // Dropped: freed as a drop.
        dev.class.net.tx_dropped.fetch_add(1, Ordering::Relaxed);
        drop(skb);
    }
}

/// A fresh skb with a copy of the `len` bytes at `data`, if they lie in memory the
/// instance holds (a coherent DMA buffer, a block from `ndriver_alloc`); `None` if not.
/// Checked for every frame: otherwise a driver could copy any kernel memory it can name
/// into an skb and off the machine. The copy is made with the undo list locked, so a
/// block another context of the instance frees meanwhile (a release forgets it under
/// that lock first) is held for the whole copy or refused, never read once freed.
fn copy_held(st: &InstanceState, nd: &NetDev, data: *const u8, len: usize) -> Option<Result<Skb>> {
    let undo = st.undo.lock();
    let at = data as usize;
    if !undo.covers(Kind::DmaCoherent, at, len) && !undo.covers(Kind::Memory, at, len) {
        return None;
    }
    // SAFETY: `[data, data + len)` lies in one block the instance holds (checked above),
    // allocated as long as the undo list is locked.
    let frame = unsafe { core::slice::from_raw_parts(data, len) };
    Some(nd.copy_frame(frame))
}

/// Delivers a received frame (`len` bytes at `data`, copied): through NAPI's GRO when
/// called from `poll` (`napi` non-zero: in the poll itself, before it completed), else
/// through the backlog (any context). 0, or `-ENOMEM` (dropped).
pub(crate) extern "C" fn ndriver_net_rx(
    inst: *mut Instance,
    data: *const u8,
    len: u32,
    napi: u32,
) -> c_int {
    let Some((st, dev)) = nic_of(inst, "ndriver_net_rx") else {
        return EINVAL.to_errno();
    };
    let Some(nd) = dev.class.netdev() else {
        return ENODEV.to_errno();
    };
    // Bounded by what the hardware may receive, not by the MTU: a peer may send
    // frames longer than a lowered MTU, and the device takes them.
    if data.is_null() || len < FRAME_MIN || len > nd.max_mtu().saturating_add(FRAME_OVERHEAD) {
        st.misuse(format_args!(
            "ndriver_net_rx of a {} byte frame at {:p} (largest MTU {})",
            len,
            data,
            nd.max_mtu()
        ));
        return EINVAL.to_errno();
    }
    if napi != 0 && !nic::in_poll(dev) {
        st.misuse(format_args!(
            "ndriver_net_rx through NAPI outside its poll (or after completing it)"
        ));
        return EINVAL.to_errno();
    }
    let r = match copy_held(st, nd, data, len as usize) {
        None => {
            st.misuse(format_args!(
                "ndriver_net_rx of a {} byte frame at {:p}, outside its memory",
                len, data
            ));
            return EINVAL.to_errno();
        }
        Some(Ok(skb)) if napi != 0 => nic::gro_receive(dev, skb),
        Some(Ok(skb)) => {
            nd.receive(skb);
            Ok(())
        }
        Some(Err(e)) => Err(e),
    };
    match r {
        Ok(()) => {
            dev.class.net.rx_packets.fetch_add(1, Ordering::Relaxed);
            dev.class
                .net
                .rx_bytes
                .fetch_add(len as u64, Ordering::Relaxed);
            0
        }
        Err(e) => {
            dev.class.net.rx_dropped.fetch_add(1, Ordering::Relaxed);
            e.to_errno()
        }
    }
}

/// Schedules the placeholder's NAPI poll (from the interrupt handler); 1 if it was
/// not scheduled yet.
pub(crate) extern "C" fn ndriver_net_napi_schedule(inst: *mut Instance) -> u32 {
    let Some((_, dev)) = nic_of(inst, "ndriver_net_napi_schedule") else {
        return 0;
    };
    dev.class
        .netdev()
        .map_or(0, |nd| nd.napi().schedule() as u32)
}

/// Ends the current poll, which did `work` (less than its budget), once; 1 if the
/// driver may re-enable its interrupts.
pub(crate) extern "C" fn ndriver_net_napi_complete(inst: *mut Instance, work: i32) -> u32 {
    let Some((st, dev)) = nic_of(inst, "ndriver_net_napi_complete") else {
        return 0;
    };
    if !nic::in_poll(dev) {
        st.misuse(format_args!(
            "ndriver_net_napi_complete outside its poll (or twice)"
        ));
        return 0;
    }
    nic::napi_complete(dev, work) as u32
}

/// The link is up (1) or down (0).
pub(crate) extern "C" fn ndriver_net_carrier(inst: *mut Instance, on: u32) {
    if let Some((st, dev)) = nic_of(inst, "ndriver_net_carrier") {
        nic::carrier(dev, st, on != 0);
    }
}

/// Stops the transmit queue (the ring is full).
pub(crate) extern "C" fn ndriver_net_stop_queue(inst: *mut Instance) {
    if let Some(nd) = nic_of(inst, "ndriver_net_stop_queue").and_then(|(_, d)| d.class.netdev()) {
        nd.stop_queue();
    }
}

/// Wakes the transmit queue (the ring has room again).
pub(crate) extern "C" fn ndriver_net_wake_queue(inst: *mut Instance) {
    if let Some((_, dev)) = nic_of(inst, "ndriver_net_wake_queue") {
        if let Some(nd) = dev.class.netdev() {
            if dev.is_running() {
                nd.wake_queue();
            }
        }
    }
}

/// The placeholder's station address (first byte in the low bits).
pub(crate) extern "C" fn ndriver_net_mac(inst: *mut Instance) -> u64 {
    nic_of(inst, "ndriver_net_mac")
        .and_then(|(_, d)| d.class.netdev())
        .map_or(0, |nd| nd.addr())
}

/// The placeholder's MTU.
pub(crate) extern "C" fn ndriver_net_mtu(inst: *mut Instance) -> u32 {
    nic_of(inst, "ndriver_net_mtu")
        .and_then(|(_, d)| d.class.netdev())
        .map_or(1500, |nd| nd.mtu())
}

/// The receive filter to program: returns the `NIC_RX_*` flags and copies up to `max`
/// multicast addresses into `mc`, their number into `count`.
pub(crate) extern "C" fn ndriver_net_rx_filter(
    inst: *mut Instance,
    mc: *mut u64,
    max: u32,
    count: *mut u32,
) -> u32 {
    let Some((st, dev)) = nic_of(inst, "ndriver_net_rx_filter") else {
        return 0;
    };
    if count.is_null() || (mc.is_null() && max > 0) {
        st.misuse(format_args!("ndriver_net_rx_filter into a NULL buffer"));
        return 0;
    }
    let f = dev.class.filter();
    let n = f.count.min(max as usize);
    // SAFETY: the driver passes room for `max` addresses and a count (checked for
    // NULL above); a bad pointer faults inside the driver's guarded call.
    unsafe {
        core::ptr::copy_nonoverlapping(f.mc.as_ptr(), mc, n);
        *count = n as u32;
    }
    f.flags
}

/// Registers the instance's receive ring (`count` descriptors of `stride` bytes at
/// `base`, whose byte at `status_off` has `done_mask` set once the device filled it),
/// so that frames left in it when the instance dies are counted (`rx_lost`). A NULL
/// `base` withdraws it. The ring must lie in one coherent DMA buffer the instance
/// holds: the framework reads it after the instance died.
pub(crate) extern "C" fn ndriver_net_rx_ring(
    inst: *mut Instance,
    base: *const c_void,
    count: u32,
    stride: u32,
    status_off: u32,
    done_mask: u32,
) {
    let Some((st, dev)) = nic_of(inst, "ndriver_net_rx_ring") else {
        return;
    };
    if !base.is_null() {
        let len = nic::ring_span(count, stride, status_off);
        let held = len.is_some_and(|l| st.undo.lock().covers(Kind::DmaCoherent, base as usize, l));
        if !held || done_mask > u8::MAX as u32 {
            st.misuse(format_args!(
                "ndriver_net_rx_ring of {} x {} bytes at {:p}, outside its DMA buffers",
                count, stride, base
            ));
            return;
        }
    }
    dev.class.set_ring(
        st.generation,
        base as usize,
        count,
        stride,
        status_off,
        done_mask as u8,
    );
}

/// Registers the instance's transmit ring: `count` descriptors of `stride` bytes at
/// `base`, whose byte at `status_off` has `done_mask` set once the device sent it, the
/// token of descriptor `i` being the 64-bit word at `tokens + i * token_stride`. When
/// the instance dies, what the device already sent is completed rather than sent
/// again (a duplicate frame). The ring must lie in a coherent DMA buffer and the
/// tokens in memory the instance holds; a token read there is looked up like any
/// other, so a stale or garbage one completes nothing. A NULL `base` withdraws it.
pub(crate) extern "C" fn ndriver_net_tx_ring(
    inst: *mut Instance,
    base: *const c_void,
    count: u32,
    stride: u32,
    status_off: u32,
    done_mask: u32,
    tokens: *const c_void,
    token_stride: u32,
) {
    let Some((st, dev)) = nic_of(inst, "ndriver_net_tx_ring") else {
        return;
    };
    if base.is_null() {
        dev.class.set_tx_ring(None);
        return;
    }
    let ring = nic::TxRing {
        generation: st.generation,
        base: base as usize,
        count,
        stride,
        status_off,
        done_mask: done_mask as u8,
        tokens: tokens as usize,
        token_stride,
    };
    if done_mask > u8::MAX as u32 || !ring.held_by(st) {
        st.misuse(format_args!(
            "ndriver_net_tx_ring of {} x {} bytes at {:p} (tokens at {:p}), outside its memory",
            count, stride, base, tokens
        ));
        return;
    }
    dev.class.set_tx_ring(Some(ring));
}
