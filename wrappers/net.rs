// SPDX-License-Identifier: GPL-2.0

//! The framework's safe net layer: `net_device`, socket buffers, NAPI and transmit
//! queue control, as the placeholder NIC (`placeholders/nic.rs`) and the net callouts
//! (`wrappers/callouts_net.rs`) use them.
//!
//! The kernel crate has no `net_device` abstraction, so this file is the one place
//! that calls the raw functions: the exported ones directly, the `static inline`
//! ones through `wrappers/netdevice.c` and `wrappers/skbuff.c`. The placeholder's
//! `net_device`, its NAPI context and its skb queues are opaque kernel objects here
//! ([`NetDev`], [`Napi`], [`SkbQueue`]), only ever reached by reference; the one
//! owner of the allocation is a [`NetDevBox`]. Their layouts stay on the C side.

use crate::abi::{TxPiece, TX_PIECES_MAX};
use core::mem::ManuallyDrop;
use core::ops::Deref;
use core::ptr::NonNull;
use kernel::bindings;
use kernel::ffi::{c_char, c_int, c_uint, c_void};
use kernel::prelude::*;
use kernel::types::Opaque;

mod raw {
    use kernel::bindings::{napi_struct, net_device, sk_buff_head};
    use kernel::ffi::{c_char, c_int, c_uint, c_void};

    extern "C" {
        // wrappers/netdevice.c
        pub(super) fn ndriver_nic_alloc(dev: *mut c_void, name: *const c_char) -> *mut net_device;
        pub(super) fn ndriver_nic_dev_of(nd: *mut net_device) -> *mut c_void;
        pub(super) fn ndriver_nic_dev_of_napi(napi: *mut napi_struct) -> *mut c_void;
        pub(super) fn ndriver_nic_napi(nd: *mut net_device) -> *mut napi_struct;
        pub(super) fn ndriver_nic_resend(nd: *mut net_device) -> *mut sk_buff_head;
        pub(super) fn ndriver_nic_sent(nd: *mut net_device) -> *mut sk_buff_head;
        pub(super) fn ndriver_nic_free(nd: *mut net_device);
        pub(super) fn ndriver_netif_stop_queue(nd: *mut net_device);
        pub(super) fn ndriver_netif_wake_queue(nd: *mut net_device);
        pub(super) fn ndriver_netdev_xmit_more() -> bool;
        pub(super) fn ndriver_netif_xmit_stopped(nd: *mut net_device) -> bool;
        pub(super) fn ndriver_napi_schedule(napi: *mut napi_struct) -> bool;
        pub(super) fn ndriver_nic_flags(nd: *mut net_device) -> c_uint;
        pub(super) fn ndriver_nic_running(nd: *mut net_device) -> bool;
        pub(super) fn ndriver_nic_mtu(nd: *mut net_device) -> c_uint;
        pub(super) fn ndriver_nic_max_mtu(nd: *mut net_device) -> c_uint;
        pub(super) fn ndriver_nic_set_max_mtu(nd: *mut net_device, max: c_uint);
        pub(super) fn ndriver_nic_set_mtu(nd: *mut net_device, mtu: c_uint);
        pub(super) fn ndriver_nic_addr(nd: *mut net_device) -> u64;
        pub(super) fn ndriver_nic_set_addr(nd: *mut net_device, mac: *const u8);
        pub(super) fn ndriver_nic_mc_list(nd: *mut net_device, mc: *mut u64, max: c_uint)
            -> c_uint;
        pub(super) fn ndriver_nic_addr_lock_bh(nd: *mut net_device);
        pub(super) fn ndriver_nic_addr_unlock_bh(nd: *mut net_device);
        // wrappers/skbuff.c
        pub(super) fn ndriver_skb_data(skb: *mut c_void) -> *const u8;
        pub(super) fn ndriver_skb_len(skb: *mut c_void) -> c_uint;
        pub(super) fn ndriver_skb_linear(skb: *mut c_void) -> bool;
        pub(super) fn ndriver_skb_pieces(
            skb: *mut c_void,
            out: *mut crate::abi::TxPiece,
            max: c_uint,
        ) -> c_int;
        pub(super) fn ndriver_skb_csum_at(skb: *mut c_void) -> kernel::ffi::c_long;
        pub(super) fn ndriver_skb_checksum_help(skb: *mut c_void) -> c_int;
        pub(super) fn ndriver_skb_tso(skb: *mut c_void) -> kernel::ffi::c_long;
        pub(super) fn ndriver_skb_wire(skb: *mut c_void, frames: *mut u64, bytes: *mut u64);
        pub(super) fn ndriver_skb_segment(
            skb: *mut c_void,
            nd: *mut net_device,
            sg: bool,
            csum: bool,
        ) -> *mut c_void;
        pub(super) fn ndriver_skb_next(skb: *mut c_void) -> *mut c_void;
        pub(super) fn ndriver_skb_linearize(skb: *mut c_void) -> c_int;
        pub(super) fn ndriver_skb_get(skb: *mut c_void);
        pub(super) fn ndriver_skb_consume_any(skb: *mut c_void);
        pub(super) fn ndriver_skb_free_any(skb: *mut c_void);
        pub(super) fn ndriver_skb_rx_copy(
            nd: *mut net_device,
            data: *const c_void,
            len: c_uint,
        ) -> *mut c_void;
        pub(super) fn ndriver_skb_rx_deliver(
            nd: *mut net_device,
            napi: *mut napi_struct,
            skb: *mut c_void,
        );
        pub(super) fn ndriver_skb_requeue(skb: *mut c_void) -> c_int;
        pub(super) fn ndriver_skb_queue_len(q: *mut sk_buff_head) -> c_uint;
        pub(super) fn ndriver_skb_new(len: c_uint) -> *mut c_void;
        // Exported kernel functions.
        pub(super) fn register_netdev(nd: *mut net_device) -> c_int;
        pub(super) fn unregister_netdev(nd: *mut net_device);
        pub(super) fn netif_carrier_on(nd: *mut net_device);
        pub(super) fn netif_carrier_off(nd: *mut net_device);
        pub(super) fn napi_enable(napi: *mut napi_struct);
        pub(super) fn napi_disable(napi: *mut napi_struct);
        pub(super) fn napi_complete_done(napi: *mut napi_struct, work: c_int) -> bool;
        pub(super) fn skb_queue_tail(q: *mut sk_buff_head, skb: *mut c_void);
        pub(super) fn skb_dequeue(q: *mut sk_buff_head) -> *mut c_void;
    }
}

/// Whether the stack passes another skb to the transmit routine right after the one of
/// the `ndo_start_xmit` under way (`netdev_xmit_more()`): the rest of a software-
/// segmented GSO packet (the placeholder does no byte queue accounting, so the qdisc
/// does not dequeue in bulk for it).
///
/// # Safety
///
/// Called from `ndo_start_xmit` only: the stack set the flag for this call, and bottom
/// halves are off (a per-CPU read; per task on PREEMPT_RT).
pub(crate) unsafe fn xmit_more() -> bool {
    // SAFETY: per this function's contract, the flag is this call's and the read
    // cannot migrate.
    unsafe { raw::ndriver_netdev_xmit_more() }
}

/// `IFF_PROMISC` of `net_device::flags`.
pub(crate) const IFF_PROMISC: u32 = 0x100;
/// `IFF_ALLMULTI` of `net_device::flags`.
pub(crate) const IFF_ALLMULTI: u32 = 0x200;

/// A placeholder `net_device` (with its NAPI context and its queues of transmits in its
/// private area), only ever seen through a shared reference: `&NetDev` from the
/// [`NetDevBox`] that owns it, or from [`NetDev::from_raw`] on a pointer the kernel passed
/// to one of its operations.
///
/// # Invariants
///
/// A `&NetDev` points at a `net_device` made by `ndriver_nic_alloc`
/// (`wrappers/netdevice.c`, through [`NetDevBox::alloc`]) that stays allocated for the
/// reference's whole lifetime: its private area is the placeholder's (`struct
/// ndriver_nic_priv`: the owner, the NAPI context added with `netif_napi_add`, the
/// `resend` and `sent` queues initialised there), and its operation tables are the
/// placeholder's.
///
/// Whether it is registered is not part of this invariant: [`NetDevBox`] keeps that.
#[repr(transparent)]
pub(crate) struct NetDev(Opaque<bindings::net_device>);

// SAFETY: a `&NetDev` only reaches the `net_device` through the kernel operations below,
// which may run from any context and do their own locking; the two writes without a lock
// of their own (`set_mtu`, `set_addr`) are `unsafe`, their callers holding the RTNL lock,
// and so is every other call with a rule of its own (its `# Safety` says which).
unsafe impl Sync for NetDev {}

impl NetDev {
    /// The placeholder behind a pointer the kernel passed to one of its operations.
    ///
    /// # Safety
    ///
    /// `nd` points at a placeholder made by [`NetDevBox::alloc`] that is not freed for
    /// the whole of `'a`.
    pub(crate) unsafe fn from_raw<'a>(nd: *mut bindings::net_device) -> &'a NetDev {
        // CAST: `NetDev` is a `repr(transparent)` wrapper of `bindings::net_device`
        // (through `Opaque`, itself `repr(transparent)`).
        // INVARIANT: a placeholder, allocated for `'a` (this function's contract).
        // SAFETY: `nd` points at a live `net_device` for `'a` (this function's contract),
        // and `NetDev` only hands out shared access to it.
        unsafe { &*nd.cast::<NetDev>() }
    }

    /// The raw `net_device`, for the calls below.
    fn as_raw(&self) -> *mut bindings::net_device {
        self.0.get()
    }

    /// The `owner` given to [`NetDevBox::alloc`].
    pub(crate) fn owner(&self) -> *const c_void {
        // SAFETY: `self` is a live placeholder (type invariant): its private area holds the
        // owner.
        unsafe { raw::ndriver_nic_dev_of(self.as_raw()) }
    }

    /// Stops the transmit queue (no netlink event).
    pub(crate) fn stop_queue(&self) {
        // SAFETY: `self` is a live placeholder (type invariant); `netif_stop_queue` is safe
        // from any context.
        unsafe { raw::ndriver_netif_stop_queue(self.as_raw()) }
    }

    /// Whether the transmit queue is stopped, by the driver's side (`netif_stop_queue`)
    /// or by the stack's (`netif_xmit_stopped`).
    pub(crate) fn xmit_stopped(&self) -> bool {
        // SAFETY: `self` is a live placeholder (type invariant), whose one transmit
        // queue `netif_xmit_stopped` reads (its state bits, atomically).
        unsafe { raw::ndriver_netif_xmit_stopped(self.as_raw()) }
    }

    /// Wakes the transmit queue.
    pub(crate) fn wake_queue(&self) {
        // SAFETY: `self` is a live placeholder (type invariant); `netif_wake_queue` is safe
        // from any context.
        unsafe { raw::ndriver_netif_wake_queue(self.as_raw()) }
    }

    /// Sets the carrier (a change is a link event).
    ///
    /// # Safety
    ///
    /// The placeholder is registered for the whole call: after [`NetDevBox::register`]
    /// succeeded, and before [`NetDevBox::unregister`] marks it unregistering (the
    /// `ndo_stop` by which unregistering closes the device runs before that). On a device
    /// no longer registered, `netif_carrier_on`/`_off` still queue a link event with a
    /// reference on it; once unregistering waited for the last reference, nothing waits
    /// for that one, and the link-watch work may use the device after the [`NetDevBox`]
    /// freed it.
    pub(crate) unsafe fn set_carrier(&self, on: bool) {
        // SAFETY: `self` is a live placeholder (type invariant), registered for the whole
        // call (this function's contract), so unregistering waits for the link event this
        // may queue; `netif_carrier_on`/`_off` are safe from any context.
        unsafe {
            if on {
                raw::netif_carrier_on(self.as_raw())
            } else {
                raw::netif_carrier_off(self.as_raw())
            }
        }
    }

    /// `net_device::flags`.
    pub(crate) fn flags(&self) -> u32 {
        // SAFETY: `self` is a live placeholder (type invariant); a `READ_ONCE` of the flags.
        unsafe { raw::ndriver_nic_flags(self.as_raw()) }
    }

    /// Whether the interface is up.
    pub(crate) fn running(&self) -> bool {
        // SAFETY: `self` is a live placeholder (type invariant); `netif_running` only tests
        // a state bit.
        unsafe { raw::ndriver_nic_running(self.as_raw()) }
    }

    /// The MTU.
    pub(crate) fn mtu(&self) -> u32 {
        // SAFETY: `self` is a live placeholder (type invariant); a `READ_ONCE` of the MTU.
        unsafe { raw::ndriver_nic_mtu(self.as_raw()) }
    }

    /// The largest MTU it accepts (what the hardware behind it may receive).
    pub(crate) fn max_mtu(&self) -> u32 {
        // SAFETY: `self` is a live placeholder (type invariant); a `READ_ONCE` of `max_mtu`.
        unsafe { raw::ndriver_nic_max_mtu(self.as_raw()) }
    }

    /// Sets the largest MTU it accepts (what the implementation serving it takes).
    /// The kernel reads it under the RTNL lock when the MTU changes; a change that races
    /// with this sees the old or the new bound, either one the placeholder accepted.
    pub(crate) fn set_max_mtu(&self, max: u32) {
        // SAFETY: `self` is a live placeholder (type invariant); a `WRITE_ONCE` of an
        // integer that no one dereferences.
        unsafe { raw::ndriver_nic_set_max_mtu(self.as_raw(), max) }
    }

    /// Sets the MTU.
    ///
    /// # Safety
    ///
    /// The caller holds the RTNL lock (as `ndo_change_mtu` runs): the MTU is written
    /// without another lock.
    pub(crate) unsafe fn set_mtu(&self, mtu: u32) {
        // SAFETY: `self` is a live placeholder (type invariant); the RTNL lock serialises
        // the write (this function's contract).
        unsafe { raw::ndriver_nic_set_mtu(self.as_raw(), mtu) }
    }

    /// The station address, first byte in the low bits.
    pub(crate) fn addr(&self) -> u64 {
        // SAFETY: `self` is a live placeholder (type invariant); `dev_addr` is always
        // allocated (by `alloc_etherdev`).
        unsafe { raw::ndriver_nic_addr(self.as_raw()) }
    }

    /// Sets the station address.
    ///
    /// # Safety
    ///
    /// The caller holds the RTNL lock (as `ndo_set_mac_address` runs): the address is
    /// written without another lock.
    pub(crate) unsafe fn set_addr(&self, mac: u64) {
        let b = mac.to_le_bytes();
        // SAFETY: `self` is a live placeholder (type invariant); `b` holds at least 6
        // bytes; the RTNL lock serialises the write (this function's contract).
        unsafe { raw::ndriver_nic_set_addr(self.as_raw(), b.as_ptr()) }
    }

    /// Copies up to `mc.len()` multicast addresses; returns how many there are. Takes the
    /// address lock (`netif_addr_lock_bh`), so not from hard interrupt context, nor under
    /// that lock: there, [`NetDev::mc_list_locked`].
    pub(crate) fn mc_list(&self, mc: &mut [u64]) -> usize {
        let nd = self.as_raw();
        // SAFETY: `nd` is a live placeholder (type invariant); the lock is given back below.
        unsafe { raw::ndriver_nic_addr_lock_bh(nd) };
        // SAFETY: the address lock is held, from just above until just below.
        let n = unsafe { self.mc_list_locked(mc) };
        // SAFETY: `nd` is a live placeholder whose address lock this took above.
        unsafe { raw::ndriver_nic_addr_unlock_bh(nd) };
        n
    }

    /// [`NetDev::mc_list`] for a caller that holds the address lock.
    ///
    /// # Safety
    ///
    /// The caller holds this device's address lock (`netif_addr_lock_bh`, as the kernel
    /// does around `ndo_set_rx_mode`) until this returns: the multicast list is walked
    /// without a lock of its own, and a concurrent change may free the entry being read.
    pub(crate) unsafe fn mc_list_locked(&self, mc: &mut [u64]) -> usize {
        // SAFETY: `self` is a live placeholder (type invariant); `mc` is writable for its
        // length; the address lock keeps the list as it is (this function's contract).
        let n =
            unsafe { raw::ndriver_nic_mc_list(self.as_raw(), mc.as_mut_ptr(), mc.len() as c_uint) };
        n as usize
    }

    /// Its NAPI context (it lives as long as the placeholder).
    pub(crate) fn napi(&self) -> &Napi {
        // SAFETY: `self` is a live placeholder (type invariant); this only computes the
        // address of the NAPI context in its private area.
        let napi = unsafe { raw::ndriver_nic_napi(self.as_raw()) };
        // SAFETY: the NAPI context of the placeholder `self`, which `ndriver_nic_alloc`
        // added with `netif_napi_add` and which stays allocated as long as `self` is
        // borrowed (type invariant).
        unsafe { Napi::from_raw(napi) }
    }

    /// Its queue of transmits a dead instance never reported done, to be sent again.
    pub(crate) fn resend(&self) -> &SkbQueue {
        // SAFETY: `self` is a live placeholder (type invariant); this only computes the
        // address of the `resend` queue in its private area.
        let q = unsafe { raw::ndriver_nic_resend(self.as_raw()) };
        // SAFETY: the `resend` queue of the placeholder `self`, initialised by
        // `ndriver_nic_alloc` and allocated as long as `self` is borrowed (type invariant).
        unsafe { SkbQueue::from_raw(q) }
    }

    /// Its queue of transmits a dead instance's device had sent, freed once the
    /// instance's DMA mappings are undone.
    pub(crate) fn sent(&self) -> &SkbQueue {
        // SAFETY: `self` is a live placeholder (type invariant); this only computes the
        // address of the `sent` queue in its private area.
        let q = unsafe { raw::ndriver_nic_sent(self.as_raw()) };
        // SAFETY: the `sent` queue of the placeholder `self`, initialised by
        // `ndriver_nic_alloc` and allocated as long as `self` is borrowed (type invariant).
        unsafe { SkbQueue::from_raw(q) }
    }

    /// A fresh skb holding a copy of `frame`, received on the placeholder, for
    /// [`NetDev::receive`] or [`NetDev::receive_napi`]. Any context, interrupts off
    /// included. `ENOMEM`: none could be had.
    pub(crate) fn copy_frame(&self, frame: &[u8]) -> Result<Skb> {
        let len = c_uint::try_from(frame.len()).map_err(|_| EINVAL)?;
        // SAFETY: `self` is a live placeholder (type invariant); `frame` is readable for
        // its length and copied before this returns.
        let p = unsafe { raw::ndriver_skb_rx_copy(self.as_raw(), frame.as_ptr().cast(), len) };
        // SAFETY: NULL, or a fresh skb on no list that nobody else knows of.
        unsafe { Skb::from_raw(p) }.ok_or(ENOMEM)
    }

    /// Hands a received frame ([`NetDev::copy_frame`]) to the stack through the backlog
    /// (`netif_rx`, any context).
    pub(crate) fn receive(&self, skb: Skb) {
        // SAFETY: `self` is a live placeholder (type invariant); a NULL NAPI context takes
        // `netif_rx`; the skb, a received one this handle owned, passes to the stack.
        unsafe { raw::ndriver_skb_rx_deliver(self.as_raw(), core::ptr::null_mut(), skb.into_raw()) }
    }

    /// Hands a received frame ([`NetDev::copy_frame`]) to the stack through the GRO of
    /// `napi` (`napi_gro_receive`).
    ///
    /// # Safety
    ///
    /// The poll of `napi` calls this, while it owns the context: in the poll's own context
    /// (on its CPU, not from an interrupt taken meanwhile nor from anything the stack runs
    /// for a frame it delivers), before it completed the context ([`Napi::complete`]). The
    /// context's GRO state is its poll's alone, without a lock.
    pub(crate) unsafe fn receive_napi(&self, napi: &Napi, skb: Skb) {
        // SAFETY: `self` is a live placeholder (type invariant); `napi` a live NAPI context
        // (type invariant of `Napi`) whose poll runs this and owns it (this function's
        // contract); the skb, a received one this handle owned, passes to the stack.
        unsafe { raw::ndriver_skb_rx_deliver(self.as_raw(), napi.as_raw(), skb.into_raw()) }
    }
}

/// The owner of a placeholder `net_device`: it allocates it ([`NetDevBox::alloc`]),
/// registers and unregisters it, and frees it (with the skbs still on its queues) when
/// dropped. It derefs to the [`NetDev`] every other user borrows.
///
/// # Invariants
///
/// `self.nd` points at a placeholder made by `ndriver_nic_alloc` for this box alone:
/// nothing but this box's drop frees it, so it stays allocated (and [`NetDev`]'s
/// invariant holds for every `&NetDev` borrowed from the box) until then. It is not
/// registered when the box drops: [`NetDevBox::register`] is `unsafe`, its caller
/// promising to [`NetDevBox::unregister`] it before.
pub(crate) struct NetDevBox {
    nd: NonNull<NetDev>,
}

// SAFETY: the box owns the `net_device`, which the kernel lets any thread use and free.
unsafe impl Send for NetDevBox {}
// SAFETY: a `&NetDevBox` gives a `&NetDev` (which is `Sync`), and `register` and
// `unregister`, whose callers serialise them (their contracts).
unsafe impl Sync for NetDevBox {}

impl NetDevBox {
    /// An Ethernet placeholder named `name` whose callbacks find `owner` (see
    /// [`NetDev::owner`]); random station address, carrier off, not registered.
    pub(crate) fn alloc(owner: *const c_void, name: &CStr) -> Result<Self> {
        // SAFETY: `name` is NUL-terminated; `owner` is stored, not dereferenced.
        let nd = unsafe { raw::ndriver_nic_alloc(owner.cast_mut(), name.as_char_ptr()) };
        let nd = NonNull::new(nd.cast::<NetDev>()).ok_or(ENOMEM)?;
        // INVARIANT: made by `ndriver_nic_alloc` just now, not registered, and nobody else
        // has its pointer: the box is its only owner.
        Ok(NetDevBox { nd })
    }

    /// Registers it with the network stack.
    ///
    /// # Safety
    ///
    /// Process context, not under the RTNL lock. It is not registered now (never, or
    /// [`NetDevBox::unregister`]ed since), nor being registered or unregistered
    /// concurrently; if this succeeds, the caller unregisters it with
    /// [`NetDevBox::unregister`] before the box drops.
    pub(crate) unsafe fn register(&self) -> Result {
        // SAFETY: a live placeholder (type invariant), not registered, in process context
        // without the RTNL lock (this function's contract).
        kernel::error::to_result(unsafe { raw::register_netdev(self.as_raw()) })
    }

    /// Unregisters it.
    ///
    /// # Safety
    ///
    /// Process context, not under the RTNL lock. It was registered by
    /// [`NetDevBox::register`] and is not unregistered yet, nor being registered or
    /// unregistered concurrently.
    pub(crate) unsafe fn unregister(&self) {
        // SAFETY: a live placeholder (type invariant), registered, in process context
        // without the RTNL lock (this function's contract).
        unsafe { raw::unregister_netdev(self.as_raw()) }
    }
}

impl Deref for NetDevBox {
    type Target = NetDev;

    fn deref(&self) -> &NetDev {
        // SAFETY: `self.nd` is allocated until the box drops (type invariant), so for as
        // long as `self` is borrowed; `NetDev`'s invariant holds for it.
        unsafe { self.nd.as_ref() }
    }
}

impl Drop for NetDevBox {
    /// Frees it and the skbs still queued on it.
    fn drop(&mut self) {
        // SAFETY: a live placeholder that only this box frees, and not registered (type
        // invariant); no `&NetDev` borrowed from the box outlives it.
        unsafe { raw::ndriver_nic_free(self.as_raw()) }
    }
}

/// The NAPI context of a placeholder, only ever seen through a shared reference (from
/// [`NetDev::napi`], or [`Napi::from_raw`] in the poll the kernel calls). It is a field of
/// the placeholder's private area, so its owner is the placeholder's [`NetDevBox`].
///
/// # Invariants
///
/// A `&Napi` points at the NAPI context in the private area of a placeholder
/// `net_device` as [`NetDev`]'s invariant describes it (added by `netif_napi_add` in
/// `ndriver_nic_alloc`, with the placeholder's poll, and deleted only when
/// `ndriver_nic_free` frees the `net_device`), which stays allocated for the reference's
/// whole lifetime.
///
/// Whether polling is enabled is not part of the invariant: [`Napi::enable`] and
/// [`Napi::disable`] are `unsafe`, their callers (`ndo_open` and `ndo_stop` in
/// `placeholders/nic/ndo.rs`) pairing them, and so are [`Napi::complete`] and
/// [`NetDev::receive_napi`], their callers running in this context's poll.
#[repr(transparent)]
pub(crate) struct Napi(Opaque<bindings::napi_struct>);

// SAFETY: a `&Napi` only reaches the NAPI context through the kernel's NAPI functions,
// which synchronise through its state bits.
unsafe impl Sync for Napi {}

impl Napi {
    /// The NAPI context behind a pointer the kernel passed to the poll.
    ///
    /// # Safety
    ///
    /// `napi` is the NAPI context of a placeholder made by [`NetDevBox::alloc`] that is not
    /// freed for the whole of `'a`.
    pub(crate) unsafe fn from_raw<'a>(napi: *mut bindings::napi_struct) -> &'a Napi {
        // CAST: `Napi` is a `repr(transparent)` wrapper of `bindings::napi_struct`.
        // INVARIANT: a placeholder's NAPI context, allocated for `'a` (this function's
        // contract).
        // SAFETY: `napi` points at a live `napi_struct` for `'a` (this function's contract),
        // and `Napi` only hands out shared access to it.
        unsafe { &*napi.cast::<Napi>() }
    }

    /// The raw `napi_struct`, for the calls below.
    fn as_raw(&self) -> *mut bindings::napi_struct {
        self.0.get()
    }

    /// The `owner` given to [`NetDevBox::alloc`] for the placeholder this context belongs
    /// to.
    pub(crate) fn owner(&self) -> *const c_void {
        // SAFETY: the NAPI context of a live placeholder (type invariant): its `dev` is that
        // placeholder, whose private area holds the owner.
        unsafe { raw::ndriver_nic_dev_of_napi(self.as_raw()) }
    }

    /// Enables polling (`ndo_open`).
    ///
    /// # Safety
    ///
    /// Process context, without the device's instance lock (`napi_enable` takes it). The
    /// context is disabled (as `netif_napi_add` leaves it, or [`Napi::disable`] made it),
    /// and nothing enables or disables it concurrently: enabling a context that is
    /// polling lets a second poll start on another CPU.
    pub(crate) unsafe fn enable(&self) {
        // SAFETY: the NAPI context of a live placeholder (type invariant), disabled, in
        // process context without the instance lock (this function's contract).
        unsafe { raw::napi_enable(self.as_raw()) }
    }

    /// Disables polling, waiting for a running poll (`ndo_stop`).
    ///
    /// # Safety
    ///
    /// Process context (it sleeps), without the device's instance lock (`napi_disable`
    /// takes it). The context is enabled ([`Napi::enable`]), and nothing enables or
    /// disables it concurrently: disabling a disabled context waits forever.
    pub(crate) unsafe fn disable(&self) {
        // SAFETY: the NAPI context of a live placeholder (type invariant), enabled, in
        // process context without the instance lock (this function's contract).
        unsafe { raw::napi_disable(self.as_raw()) }
    }

    /// Schedules a poll; false if one was already scheduled.
    pub(crate) fn schedule(&self) -> bool {
        // SAFETY: the NAPI context of a live placeholder (type invariant); `napi_schedule`
        // is safe from any context.
        unsafe { raw::ndriver_napi_schedule(self.as_raw()) }
    }

    /// Ends a poll that did `work` (less than its budget): the poll gives the context up.
    /// True if the driver may turn its interrupts back on.
    ///
    /// # Safety
    ///
    /// This context's poll calls this, while it owns the context: in the poll's own context
    /// (on its CPU, not from an interrupt taken meanwhile nor from anything the stack runs
    /// for a frame it delivers), at most once per poll. The poll then returns less than its
    /// budget (unless that is 0: netpoll's, during which this does nothing). Once completed,
    /// the context may be scheduled and polled on another CPU at any time: completing it
    /// again, or a poll that returns its whole budget (which the kernel takes for one
    /// that still owns it), moves it on and off poll lists it is not the owner of.
    pub(crate) unsafe fn complete(&self, work: i32) -> bool {
        // SAFETY: the NAPI context of a live placeholder (type invariant), owned by its
        // poll, which calls this (this function's contract).
        unsafe { raw::napi_complete_done(self.as_raw(), work) }
    }
}

/// A socket buffer the stack handed to the placeholder for transmission.
///
/// Neither `Copy` nor `Clone`: each skb has one owner, and every way of letting go of it
/// ([`Skb::consume`], [`Skb::requeue`], [`Skb::give_back`], [`SkbQueue::push`], [`Skb::into_raw`],
/// or dropping it) takes the handle, so it is freed or handed on exactly once.
///
/// # Invariants
///
/// `self.0` is a live `sk_buff` owned by the holder of this handle: on no list, and
/// freed or handed on by nobody else while the handle exists.
pub(crate) struct Skb(NonNull<c_void>);

// SAFETY: an skb in flight belongs to whoever holds its handle; the kernel frees and
// sends skbs from any CPU.
unsafe impl Send for Skb {}

impl Skb {
    /// Takes ownership of the skb behind `skb` (from `ndo_start_xmit`, a queue, or
    /// [`Skb::into_raw`]); `None` for NULL.
    ///
    /// # Safety
    ///
    /// `skb` is NULL or a live socket buffer on no list that nobody else owns from now
    /// on.
    pub(crate) unsafe fn from_raw(skb: *mut c_void) -> Option<Self> {
        // INVARIANT: live and now ours, per this function's contract.
        NonNull::new(skb).map(Skb)
    }

    /// Gives up the handle without freeing the skb (to keep its pointer in a table
    /// that takes it back with [`Skb::from_raw`]).
    pub(crate) fn into_raw(self) -> *mut c_void {
        ManuallyDrop::new(self).0.as_ptr()
    }

    /// Hands it back to the stack, which still owns it after `ndo_start_xmit` returns
    /// `NETDEV_TX_BUSY`.
    pub(crate) fn give_back(self) {
        let _ = self.into_raw();
    }

    /// Its linear part's address, and its length (all of it).
    pub(crate) fn data(&self) -> (*const u8, u32) {
        // SAFETY: `self.0` is a live skb (type invariant).
        unsafe {
            (
                raw::ndriver_skb_data(self.0.as_ptr()),
                raw::ndriver_skb_len(self.0.as_ptr()),
            )
        }
    }

    /// Whether all its data is in the linear part.
    pub(crate) fn linear(&self) -> bool {
        // SAFETY: `self.0` is a live skb (type invariant).
        unsafe { raw::ndriver_skb_linear(self.0.as_ptr()) }
    }

    /// Writes its pieces (the linear part, then each page fragment; none empty) to `out`:
    /// how many, or `None` if they do not fit or cannot be read by address (then
    /// [`Skb::linearize`] it).
    pub(crate) fn pieces(&self, out: &mut [TxPiece; TX_PIECES_MAX]) -> Option<usize> {
        // SAFETY: `self.0` is a live skb (type invariant); `out` has room for
        // `TX_PIECES_MAX` pieces, the bound passed.
        let n = unsafe {
            raw::ndriver_skb_pieces(self.0.as_ptr(), out.as_mut_ptr(), TX_PIECES_MAX as c_uint)
        };
        usize::try_from(n).ok()
    }

    /// Where the device is to compute the checksum the stack left to it: `(start, at)`,
    /// from the start of its data to the checksum's first byte and to where it is
    /// stored. `None` if it needs none.
    pub(crate) fn csum_at(&self) -> Option<(u16, u16)> {
        // SAFETY: `self.0` is a live skb (type invariant).
        let v = unsafe { raw::ndriver_skb_csum_at(self.0.as_ptr()) };
        let v = u32::try_from(v).ok()?;
        Some((v as u16, (v >> 16) as u16))
    }

    /// For a TCP over IPv4 skb the stack left to the device to segment (GSO): the
    /// MSS, the length of its headers (pulled into the linear part) and the IP header's
    /// offset, packed as `abi::XMIT_TSO`'s `gso`. `Ok(None)` for an skb to send as one
    /// frame; `EPROTONOSUPPORT` for one only software can segment, `ENOMEM` if its
    /// headers could not be pulled.
    pub(crate) fn tso(&mut self) -> Result<Option<u32>> {
        // SAFETY: `self.0` is a live skb this handle owns (type invariant), which may be
        // changed (its headers pulled): the stack gave it up for transmission.
        let v = unsafe { raw::ndriver_skb_tso(self.0.as_ptr()) };
        if v < 0 {
            return Err(Error::from_errno(v as c_int));
        }
        Ok(u32::try_from(v).ok().filter(|&v| v != 0))
    }

    /// Cuts it into segments in software for a device of `nd` without segmentation
    /// offload (and, `sg` or `csum` false, without scatter-gather or checksum offload):
    /// the segments, it consumed; or itself back if that failed.
    pub(crate) fn segment(self, nd: &NetDev, sg: bool, csum: bool) -> Result<Segments, Skb> {
        // SAFETY: `self.0` is a live skb this handle owns (type invariant); `nd` a live
        // `net_device` (its invariant).
        let first = unsafe { raw::ndriver_skb_segment(self.0.as_ptr(), nd.as_raw(), sg, csum) };
        if first.is_null() {
            return Err(self);
        }
        // The skb was consumed.
        let _ = self.into_raw();
        // INVARIANT: the first of the list of segments `skb_gso_segment` made, ours.
        Ok(Segments(first))
    }

    /// What it puts on the wire once sent: `(frames, bytes)`, the segments of a GSO skb
    /// each counted with its headers.
    pub(crate) fn wire(&self) -> (u64, u64) {
        let (mut frames, mut bytes) = (0, 0);
        // SAFETY: `self.0` is a live skb (type invariant); two out-pointers.
        unsafe { raw::ndriver_skb_wire(self.0.as_ptr(), &mut frames, &mut bytes) };
        (frames, bytes)
    }

    /// Computes the checksum the stack left to the device, if any, in software.
    pub(crate) fn checksum_help(&mut self) -> Result {
        // SAFETY: `self.0` is a live skb this handle owns (type invariant), which may be
        // changed: the stack gave it up for transmission.
        kernel::error::to_result(unsafe { raw::ndriver_skb_checksum_help(self.0.as_ptr()) })
    }

    /// Puts all its data in its linear part (any context; may allocate).
    pub(crate) fn linearize(&mut self) -> Result {
        // SAFETY: `self.0` is a live skb this handle owns (type invariant), which may be
        // changed (its data moved into a new linear part): the stack gave it up for
        // transmission.
        kernel::error::to_result(unsafe { raw::ndriver_skb_linearize(self.0.as_ptr()) })
    }

    /// A reference of its own that keeps the skb's data readable until it drops, even
    /// if the skb itself is freed meanwhile (by a driver's report during the call it
    /// was lent for).
    pub(crate) fn hold(&self) -> SkbHold {
        // SAFETY: `self.0` is a live skb (type invariant); `skb_get` takes a reference.
        unsafe { raw::ndriver_skb_get(self.0.as_ptr()) };
        // INVARIANT: the reference just taken is the hold's own.
        SkbHold(self.0)
    }

    /// Frees it as sent (any context).
    pub(crate) fn consume(self) {
        let p = self.into_raw();
        // SAFETY: `p` was a live skb this handle owned (type invariant), and the handle is
        // gone; `dev_consume_skb_any` frees it from any context.
        unsafe { raw::ndriver_skb_consume_any(p) }
    }

    /// Sends it again through the stack (queueing discipline included); task context,
    /// bottom halves on or off, interrupts on. Gives up ownership.
    pub(crate) fn requeue(self) -> c_int {
        let p = self.into_raw();
        // SAFETY: `p` was a live skb this handle owned (type invariant), and the handle is
        // gone; `dev_queue_xmit` consumes it in every case.
        unsafe { raw::ndriver_skb_requeue(p) }
    }
}

/// The segments [`Skb::segment`] cut, in order; those not taken are freed with it.
///
/// # Invariants
///
/// `self.0` is NULL or the first of a list of live skbs linked by `next` that this value
/// owns, on no other list.
pub(crate) struct Segments(*mut c_void);

impl Iterator for Segments {
    type Item = Skb;

    fn next(&mut self) -> Option<Skb> {
        let first = self.0;
        if first.is_null() {
            return None;
        }
        // SAFETY: `first` heads the list this value owns (type invariant); unlinked here.
        let rest = unsafe { raw::ndriver_skb_next(first) };
        // INVARIANT: the rest of the list, still ours.
        self.0 = rest;
        // SAFETY: `first` is live, ours, and on no list any more.
        unsafe { Skb::from_raw(first) }
    }
}

impl Drop for Segments {
    fn drop(&mut self) {
        // Each freed as dropped.
        for _ in self.by_ref() {}
    }
}

// SAFETY: the segments belong to whoever holds the value, as an `Skb` does.
unsafe impl Send for Segments {}

impl Drop for Skb {
    /// Frees it as dropped (any context).
    fn drop(&mut self) {
        // SAFETY: `self.0` is a live skb this handle owns (type invariant), and the handle
        // ends here; `dev_kfree_skb_any` frees it from any context.
        unsafe { raw::ndriver_skb_free_any(self.0.as_ptr()) }
    }
}

/// A reference to an skb that keeps its data, but gives no right to send, queue or
/// free it: see [`Skb::hold`].
///
/// # Invariants
///
/// `self.0` is a live skb on which this value owns one reference.
pub(crate) struct SkbHold(NonNull<c_void>);

impl Drop for SkbHold {
    fn drop(&mut self) {
        // SAFETY: the hold owns a reference on the live skb `self.0` (type invariant), given
        // up here; `dev_consume_skb_any` drops it (and frees the skb if it was the last) from
        // any context.
        unsafe { raw::ndriver_skb_consume_any(self.0.as_ptr()) }
    }
}

/// A `sk_buff_head` with its own IRQ-safe lock: the `resend` or the `sent` queue of a
/// placeholder, only ever seen through a shared reference (from [`NetDev::resend`] or
/// [`NetDev::sent`]). A field of the placeholder's private area, so its owner is the
/// placeholder's [`NetDevBox`].
///
/// # Invariants
///
/// A `&SkbQueue` points at the `resend` or the `sent` queue in the private area of a
/// placeholder `net_device` as [`NetDev`]'s invariant describes it, initialised by
/// `skb_queue_head_init` in `ndriver_nic_alloc`, which stays allocated for the
/// reference's whole lifetime (`ndriver_nic_free` purges the queue before freeing the
/// `net_device`). Every skb on it was put there by [`SkbQueue::push`], which took it from
/// its only owner, so one taken off by [`SkbQueue::pop`] is owned by whoever took it.
#[repr(transparent)]
pub(crate) struct SkbQueue(Opaque<bindings::sk_buff_head>);

// SAFETY: a `&SkbQueue` only reaches the queue through `skb_queue_tail` and `skb_dequeue`,
// which take its lock, and a lockless read of its length; the skbs on it move between
// CPUs as `Skb` does.
unsafe impl Sync for SkbQueue {}

impl SkbQueue {
    /// The queue behind a pointer into a placeholder's private area.
    ///
    /// # Safety
    ///
    /// `q` is the `resend` or the `sent` queue of a placeholder made by
    /// [`NetDevBox::alloc`] that is not freed for the whole of `'a`.
    unsafe fn from_raw<'a>(q: *mut bindings::sk_buff_head) -> &'a SkbQueue {
        // CAST: `SkbQueue` is a `repr(transparent)` wrapper of `bindings::sk_buff_head`.
        // INVARIANT: a placeholder's queue, allocated for `'a` (this function's contract).
        // SAFETY: `q` points at a live, initialised `sk_buff_head` for `'a` (this function's
        // contract), and `SkbQueue` only hands out shared access to it.
        unsafe { &*q.cast::<SkbQueue>() }
    }

    /// The raw `sk_buff_head`, for the calls below.
    fn as_raw(&self) -> *mut bindings::sk_buff_head {
        self.0.get()
    }

    /// Appends `skb`; the queue owns it until [`SkbQueue::pop`].
    pub(crate) fn push(&self, skb: Skb) {
        let p = skb.into_raw();
        // SAFETY: a live queue (type invariant); `p` is an skb on no list whose handle is
        // gone, so the queue is its only owner; `skb_queue_tail` takes the queue's lock.
        unsafe { raw::skb_queue_tail(self.as_raw(), p) }
    }

    /// Takes the oldest skb off.
    pub(crate) fn pop(&self) -> Option<Skb> {
        // SAFETY: a live queue (type invariant); `skb_dequeue` takes its lock.
        let p = unsafe { raw::skb_dequeue(self.as_raw()) };
        // SAFETY: `p` is NULL or an skb `push` gave the queue, now unlinked, and ours.
        unsafe { Skb::from_raw(p) }
    }

    /// Current length (a snapshot).
    pub(crate) fn len(&self) -> usize {
        // SAFETY: a live queue (type invariant); `skb_queue_len_lockless` only reads its
        // length (a snapshot).
        unsafe { raw::ndriver_skb_queue_len(self.as_raw()) as usize }
    }
}

/// A fresh 64-byte skb (process context), to time what the unfinished-transmit table adds
/// to each transmitted skb (`bench`).
pub(crate) fn spare_skb() -> Result<Skb> {
    // SAFETY: no preconditions; NULL on failure.
    let p = unsafe { raw::ndriver_skb_new(64) };
    // SAFETY: `p` is NULL or a new skb on no list, ours alone.
    unsafe { Skb::from_raw(p) }.ok_or(ENOMEM)
}

/// Copies `s` into the C buffer `out` of `len` bytes, NUL-terminated and truncated.
///
/// # Safety
///
/// `out` is writable for `len` bytes.
pub(crate) unsafe fn copy_cstr(out: *mut c_char, len: usize, s: &str) {
    if len == 0 {
        return;
    }
    let n = s.len().min(len - 1);
    // SAFETY: per this function's contract, `n + 1 <= len`.
    unsafe {
        core::ptr::copy_nonoverlapping(s.as_ptr(), out.cast::<u8>(), n);
        *out.add(n) = 0;
    }
}

#[kunit_tests(ndriver_net)]
mod tests {
    use super::*;

    #[test]
    fn copy_cstr_truncates_and_terminates() {
        let mut buf = [b'x'; 8];
        // SAFETY: `buf` is writable for its 8 bytes.
        unsafe { copy_cstr(buf.as_mut_ptr().cast(), buf.len(), "hello world") };
        assert_eq!(&buf, b"hello w\0");
        let mut buf = [b'x'; 8];
        // SAFETY: as above, 4 of them.
        unsafe { copy_cstr(buf.as_mut_ptr().cast(), 4, "abc") };
        assert_eq!(&buf, b"abc\0xxxx");
        // SAFETY: as above, 1 of them.
        unsafe { copy_cstr(buf.as_mut_ptr().cast(), 1, "abc") };
        assert_eq!(&buf, b"\0bc\0xxxx");
        let mut buf = [b'x'; 8];
        // SAFETY: nothing is written for a length of 0.
        unsafe { copy_cstr(buf.as_mut_ptr().cast(), 0, "abc") };
        assert_eq!(&buf, b"xxxxxxxx");
    }

    #[test]
    fn skb_handles() -> Result {
        // SAFETY: NULL is allowed and makes no handle.
        assert!(unsafe { Skb::from_raw(core::ptr::null_mut()) }.is_none());
        let skb = spare_skb()?;
        let (data, len) = skb.data();
        assert!(!data.is_null());
        assert_eq!(len, 0);
        assert!(skb.linear());
        let p = skb.into_raw();
        // SAFETY: `p` is the skb whose handle `into_raw` just ended: ours alone.
        let skb = unsafe { Skb::from_raw(p) }.ok_or(EINVAL)?;
        // A hold keeps its own reference: the skb is freed once both are gone.
        let hold = skb.hold();
        drop(skb);
        drop(hold);
        Ok(())
    }
}
