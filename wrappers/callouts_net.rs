// SPDX-License-Identifier: GPL-2.0

//! Net callouts: what a `nic` driver asks of its placeholder `net_device` — report a
//! transmitted skb, deliver a received frame, drive NAPI, the carrier and the transmit
//! queue, read the station address, MTU and receive filter, and register its receive
//! ring. Nothing here is a resource of the instance: the placeholder owns the NAPI
//! context, the queue and every skb, so nothing needs undoing after a fault.

use crate::abi::Instance;
use crate::instance::InstanceState;
use crate::nic::{self, NicDev};
use core::sync::atomic::Ordering;
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;

/// The instance behind `inst` and the `nic` device it serves.
fn nic_of<'a>(inst: *mut Instance) -> Option<(&'a InstanceState, &'a NicDev)> {
    // SAFETY: the driver passes the handle of its live instance.
    let st = unsafe { InstanceState::from_handle(inst) };
    nic::nic_of(st).map(|d| (st, d))
}

/// The driver is done with `skb` (it was sent, or the driver gives up on it): the
/// framework lets go of it.
#[unsafe(no_mangle)]
pub(crate) extern "C" fn ndriver_net_tx_done(inst: *mut Instance, skb: *mut c_void, sent: u32) {
    let Some((_, dev)) = nic_of(inst) else {
        return;
    };
    let Some(nd) = dev.class.netdev() else {
        return;
    };
    // SAFETY: `skb` is one the framework handed to this instance's `start_xmit` and
    // still holds on the unfinished queue (the driver reports each one once).
    let skb = unsafe { crate::net::Skb::from_raw(skb) };
    let (_, len) = skb.data();
    nd.unfinished().unlink(skb);
    if sent != 0 {
        dev.class.net.tx_packets.fetch_add(1, Ordering::Relaxed);
        dev.class
            .net
            .tx_bytes
            .fetch_add(len as u64, Ordering::Relaxed);
        skb.consume();
    } else {
        skb.drop_it();
    }
}

/// Delivers a received frame (`len` bytes at `data`, copied): through NAPI's GRO when
/// called from `poll` (`napi` non-zero), else through the backlog (any context).
/// 0, or `-ENOMEM` (dropped).
#[unsafe(no_mangle)]
pub(crate) extern "C" fn ndriver_net_rx(
    inst: *mut Instance,
    data: *const u8,
    len: u32,
    napi: u32,
) -> c_int {
    let Some((_, dev)) = nic_of(inst) else {
        return ENODEV.to_errno();
    };
    let Some(nd) = dev.class.netdev() else {
        return ENODEV.to_errno();
    };
    // SAFETY: the driver passes a frame it holds for the duration of the call.
    let frame = unsafe { core::slice::from_raw_parts(data, len as usize) };
    let n = (napi != 0).then(|| nd.napi());
    match nd.receive(n, frame) {
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
#[unsafe(no_mangle)]
pub(crate) extern "C" fn ndriver_net_napi_schedule(inst: *mut Instance) -> u32 {
    let Some((_, dev)) = nic_of(inst) else {
        return 0;
    };
    dev.class
        .netdev()
        .map_or(0, |nd| nd.napi().schedule() as u32)
}

/// Ends the current poll, which did `work` (less than its budget); 1 if the driver
/// may re-enable its interrupts.
#[unsafe(no_mangle)]
pub(crate) extern "C" fn ndriver_net_napi_complete(inst: *mut Instance, work: i32) -> u32 {
    let Some((_, dev)) = nic_of(inst) else {
        return 0;
    };
    let Some(nd) = dev.class.netdev() else {
        return 0;
    };
    nic::napi_completed(dev);
    nd.napi().complete(work) as u32
}

/// The link is up (1) or down (0).
#[unsafe(no_mangle)]
pub(crate) extern "C" fn ndriver_net_carrier(inst: *mut Instance, on: u32) {
    if let Some((st, dev)) = nic_of(inst) {
        nic::carrier(dev, st, on != 0);
    }
}

/// Stops the transmit queue (the ring is full).
#[unsafe(no_mangle)]
pub(crate) extern "C" fn ndriver_net_stop_queue(inst: *mut Instance) {
    if let Some(nd) = nic_of(inst).and_then(|(_, d)| d.class.netdev()) {
        nd.stop_queue();
    }
}

/// Wakes the transmit queue (the ring has room again).
#[unsafe(no_mangle)]
pub(crate) extern "C" fn ndriver_net_wake_queue(inst: *mut Instance) {
    if let Some((_, dev)) = nic_of(inst) {
        if let Some(nd) = dev.class.netdev() {
            if dev.is_running() {
                nd.wake_queue();
            }
        }
    }
}

/// The placeholder's station address (first byte in the low bits).
#[unsafe(no_mangle)]
pub(crate) extern "C" fn ndriver_net_mac(inst: *mut Instance) -> u64 {
    nic_of(inst)
        .and_then(|(_, d)| d.class.netdev())
        .map_or(0, |nd| nd.addr())
}

/// The placeholder's MTU.
#[unsafe(no_mangle)]
pub(crate) extern "C" fn ndriver_net_mtu(inst: *mut Instance) -> u32 {
    nic_of(inst)
        .and_then(|(_, d)| d.class.netdev())
        .map_or(1500, |nd| nd.mtu())
}

/// The receive filter to program: returns the `NIC_RX_*` flags and copies up to `max`
/// multicast addresses into `mc`, their number into `count`.
#[unsafe(no_mangle)]
pub(crate) extern "C" fn ndriver_net_rx_filter(
    inst: *mut Instance,
    mc: *mut u64,
    max: u32,
    count: *mut u32,
) -> u32 {
    let Some((_, dev)) = nic_of(inst) else {
        return 0;
    };
    let f = dev.class.filter();
    let n = f.count.min(max as usize);
    // SAFETY: the driver passes room for `max` addresses and a count.
    unsafe {
        core::ptr::copy_nonoverlapping(f.mc.as_ptr(), mc, n);
        *count = n as u32;
    }
    f.flags
}

/// Registers the instance's receive ring (`count` descriptors of `stride` bytes at
/// `base`, whose byte at `status_off` has `done_mask` set once the device filled it),
/// so that frames left in it when the instance dies are counted (`rx_lost`). A NULL
/// `base` withdraws it.
#[unsafe(no_mangle)]
pub(crate) extern "C" fn ndriver_net_rx_ring(
    inst: *mut Instance,
    base: *const c_void,
    count: u32,
    stride: u32,
    status_off: u32,
    done_mask: u32,
) {
    if let Some((st, dev)) = nic_of(inst) {
        dev.class.set_ring(
            st.generation,
            base as usize,
            count,
            stride,
            status_off,
            done_mask as u8,
        );
    }
}
