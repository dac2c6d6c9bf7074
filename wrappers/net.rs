// SPDX-License-Identifier: GPL-2.0

//! The framework's safe net layer: `net_device`, socket buffers, NAPI and transmit
//! queue control, as the placeholder NIC (`placeholders/nic.rs`) and the net callouts
//! (`wrappers/callouts_net.rs`) use them.
//!
//! The kernel crate has no `net_device` abstraction, so this file is the one place
//! that calls the raw functions: the exported ones directly, the `static inline`
//! ones through `wrappers/netdevice.c` and `wrappers/skbuff.c`. Kernel objects are
//! opaque pointers here; their layouts stay on the C side.

use core::mem::ManuallyDrop;
use core::ptr::NonNull;
use kernel::ffi::{c_char, c_int, c_uint, c_void};
use kernel::prelude::*;

mod raw {
    use kernel::ffi::{c_char, c_int, c_uint, c_void};

    extern "C" {
        // wrappers/netdevice.c
        pub(super) fn ndriver_nic_alloc(dev: *mut c_void, name: *const c_char) -> *mut c_void;
        pub(super) fn ndriver_nic_dev_of(nd: *mut c_void) -> *mut c_void;
        pub(super) fn ndriver_nic_dev_of_napi(napi: *mut c_void) -> *mut c_void;
        pub(super) fn ndriver_nic_napi(nd: *mut c_void) -> *mut c_void;
        pub(super) fn ndriver_nic_resend(nd: *mut c_void) -> *mut c_void;
        pub(super) fn ndriver_nic_sent(nd: *mut c_void) -> *mut c_void;
        pub(super) fn ndriver_nic_free(nd: *mut c_void);
        pub(super) fn ndriver_netif_stop_queue(nd: *mut c_void);
        pub(super) fn ndriver_netif_wake_queue(nd: *mut c_void);
        pub(super) fn ndriver_napi_schedule(napi: *mut c_void) -> bool;
        pub(super) fn ndriver_nic_flags(nd: *mut c_void) -> c_uint;
        pub(super) fn ndriver_nic_running(nd: *mut c_void) -> bool;
        pub(super) fn ndriver_nic_mtu(nd: *mut c_void) -> c_uint;
        pub(super) fn ndriver_nic_max_mtu(nd: *mut c_void) -> c_uint;
        pub(super) fn ndriver_nic_set_mtu(nd: *mut c_void, mtu: c_uint);
        pub(super) fn ndriver_nic_addr(nd: *mut c_void) -> u64;
        pub(super) fn ndriver_nic_set_addr(nd: *mut c_void, mac: *const u8);
        pub(super) fn ndriver_nic_mc_list(nd: *mut c_void, mc: *mut u64, max: c_uint) -> c_uint;
        pub(super) fn ndriver_nic_addr_lock_bh(nd: *mut c_void);
        pub(super) fn ndriver_nic_addr_unlock_bh(nd: *mut c_void);
        // wrappers/skbuff.c
        pub(super) fn ndriver_skb_data(skb: *mut c_void) -> *const u8;
        pub(super) fn ndriver_skb_len(skb: *mut c_void) -> c_uint;
        pub(super) fn ndriver_skb_linear(skb: *mut c_void) -> bool;
        pub(super) fn ndriver_skb_get(skb: *mut c_void);
        pub(super) fn ndriver_skb_consume_any(skb: *mut c_void);
        pub(super) fn ndriver_skb_free_any(skb: *mut c_void);
        pub(super) fn ndriver_skb_rx(
            nd: *mut c_void,
            napi: *mut c_void,
            data: *const c_void,
            len: c_uint,
        ) -> c_int;
        pub(super) fn ndriver_skb_requeue(skb: *mut c_void) -> c_int;
        pub(super) fn ndriver_skb_queue_len(q: *mut c_void) -> c_uint;
        pub(super) fn ndriver_skb_new(len: c_uint) -> *mut c_void;
        // Exported kernel functions.
        pub(super) fn register_netdev(nd: *mut c_void) -> c_int;
        pub(super) fn unregister_netdev(nd: *mut c_void);
        pub(super) fn netif_carrier_on(nd: *mut c_void);
        pub(super) fn netif_carrier_off(nd: *mut c_void);
        pub(super) fn napi_enable(napi: *mut c_void);
        pub(super) fn napi_disable(napi: *mut c_void);
        pub(super) fn napi_complete_done(napi: *mut c_void, work: c_int) -> bool;
        pub(super) fn skb_queue_tail(q: *mut c_void, skb: *mut c_void);
        pub(super) fn skb_dequeue(q: *mut c_void) -> *mut c_void;
    }
}

/// `IFF_PROMISC` of `net_device::flags`.
pub(crate) const IFF_PROMISC: u32 = 0x100;
/// `IFF_ALLMULTI` of `net_device::flags`.
pub(crate) const IFF_ALLMULTI: u32 = 0x200;

/// A placeholder `net_device` (with its NAPI context and queue of transmits to send again in
/// its private area), owned by the framework from [`NetDev::alloc`] to
/// [`NetDev::free`].
///
/// # Invariants
///
/// `self.0` is a `net_device` made by `ndriver_nic_alloc` (`wrappers/netdevice.c`,
/// through [`NetDev::alloc`]) and not freed yet: its private area is the placeholder's
/// (`struct ndriver_nic_priv`: the owner, the NAPI context added with
/// `netif_napi_add`, the `resend` and `sent` queues initialised there), and its
/// operation tables are the placeholder's. The handle is `Copy`; the `net_device` is
/// freed only by [`NetDev::free`], which is `unsafe`: its caller promises that no copy,
/// nor a [`Napi`] or [`SkbQueue`] taken from it, is used afterwards.
///
/// Whether it is registered is not part of the invariant: [`NetDev::register`] and
/// [`NetDev::unregister`] rely on their one caller (`placeholders/nic.rs`, `create`
/// then `shutdown`) calling each once, in that order.
#[derive(Clone, Copy)]
pub(crate) struct NetDev(*mut c_void);

// SAFETY: a `net_device` is used from any context; the operations below are the
// kernel's thread-safe ones (or documented to need the caller's serialisation).
unsafe impl Send for NetDev {}
// SAFETY: a `&NetDev` only reaches the `net_device` through the kernel operations below,
// which do their own locking (or are documented to need the caller's serialisation).
unsafe impl Sync for NetDev {}

impl NetDev {
    /// An Ethernet placeholder named `name` whose callbacks find `owner` (see
    /// [`NetDev::owner`]); random station address, carrier off, not registered.
    pub(crate) fn alloc(owner: *const c_void, name: &CStr) -> Result<Self> {
        // SAFETY: `name` is NUL-terminated; `owner` is stored, not dereferenced.
        let nd = unsafe { raw::ndriver_nic_alloc(owner.cast_mut(), name.as_char_ptr()) };
        if nd.is_null() {
            return Err(ENOMEM);
        }
        // INVARIANT: made by `ndriver_nic_alloc` just now; freed only by `free`.
        Ok(NetDev(nd))
    }

    /// The placeholder behind a pointer the kernel passed to a callback.
    ///
    /// # Safety
    ///
    /// `nd` is a placeholder made by [`NetDev::alloc`] and not freed.
    pub(crate) unsafe fn from_raw(nd: *mut c_void) -> Self {
        // INVARIANT: per this function's contract.
        NetDev(nd)
    }

    /// The placeholder of a NAPI context the kernel passed to a poll callback.
    ///
    /// # Safety
    ///
    /// `napi` is the NAPI context of a live placeholder.
    pub(crate) unsafe fn owner_of_napi(napi: *mut c_void) -> *const c_void {
        // SAFETY: per this function's contract.
        unsafe { raw::ndriver_nic_dev_of_napi(napi) }
    }

    /// The `owner` given to [`NetDev::alloc`].
    pub(crate) fn owner(&self) -> *const c_void {
        // SAFETY: `self.0` is a live placeholder.
        unsafe { raw::ndriver_nic_dev_of(self.0) }
    }

    /// The raw pointer (for identity checks only).
    pub(crate) fn as_ptr(&self) -> *mut c_void {
        self.0
    }

    /// Registers it with the network stack.
    pub(crate) fn register(&self) -> Result {
        // SAFETY: a live, allocated, unregistered placeholder.
        kernel::error::to_result(unsafe { raw::register_netdev(self.0) })
    }

    /// Unregisters it (process context, not under the RTNL lock).
    pub(crate) fn unregister(&self) {
        // SAFETY: registered by `register`.
        unsafe { raw::unregister_netdev(self.0) }
    }

    /// Frees it and the skbs still queued on it.
    ///
    /// # Safety
    ///
    /// Not registered any more, and not used afterwards.
    pub(crate) unsafe fn free(self) {
        // SAFETY: per this function's contract.
        unsafe { raw::ndriver_nic_free(self.0) }
    }

    /// Stops the transmit queue (no netlink event).
    pub(crate) fn stop_queue(&self) {
        // SAFETY: a live placeholder; safe from any context.
        unsafe { raw::ndriver_netif_stop_queue(self.0) }
    }

    /// Wakes the transmit queue.
    pub(crate) fn wake_queue(&self) {
        // SAFETY: `self.0` is a live placeholder; `netif_wake_queue` is safe from any context.
        unsafe { raw::ndriver_netif_wake_queue(self.0) }
    }

    /// Sets the carrier (a change is a link event).
    pub(crate) fn set_carrier(&self, on: bool) {
        // SAFETY: `self.0` is a live placeholder; `netif_carrier_on`/`_off` are safe from any
        // context.
        unsafe {
            if on {
                raw::netif_carrier_on(self.0)
            } else {
                raw::netif_carrier_off(self.0)
            }
        }
    }

    /// `net_device::flags`.
    pub(crate) fn flags(&self) -> u32 {
        // SAFETY: a live placeholder.
        unsafe { raw::ndriver_nic_flags(self.0) }
    }

    /// Whether the interface is up.
    pub(crate) fn running(&self) -> bool {
        // SAFETY: a live placeholder.
        unsafe { raw::ndriver_nic_running(self.0) }
    }

    /// The MTU.
    pub(crate) fn mtu(&self) -> u32 {
        // SAFETY: a live placeholder.
        unsafe { raw::ndriver_nic_mtu(self.0) }
    }

    /// The largest MTU it accepts (what the hardware behind it may receive).
    pub(crate) fn max_mtu(&self) -> u32 {
        // SAFETY: a live placeholder.
        unsafe { raw::ndriver_nic_max_mtu(self.0) }
    }

    /// Sets the MTU.
    ///
    /// # Safety
    ///
    /// The caller holds the RTNL lock (as `ndo_change_mtu` runs): the MTU is written
    /// without another lock.
    pub(crate) unsafe fn set_mtu(&self, mtu: u32) {
        // SAFETY: a live placeholder; the RTNL lock serialises the write (this function's
        // contract).
        unsafe { raw::ndriver_nic_set_mtu(self.0, mtu) }
    }

    /// The station address, first byte in the low bits.
    pub(crate) fn addr(&self) -> u64 {
        // SAFETY: a live placeholder.
        unsafe { raw::ndriver_nic_addr(self.0) }
    }

    /// Sets the station address.
    ///
    /// # Safety
    ///
    /// The caller holds the RTNL lock (as `ndo_set_mac_address` runs): the address is
    /// written without another lock.
    pub(crate) unsafe fn set_addr(&self, mac: u64) {
        let b = mac.to_le_bytes();
        // SAFETY: a live placeholder; `b` holds at least 6 bytes; the RTNL lock serialises
        // the write (this function's contract).
        unsafe { raw::ndriver_nic_set_addr(self.0, b.as_ptr()) }
    }

    /// Copies up to `mc.len()` multicast addresses; returns how many there are.
    /// `locked`: the caller runs under the address lock (`ndo_set_rx_mode`).
    pub(crate) fn mc_list(&self, mc: &mut [u64], locked: bool) -> usize {
        // SAFETY: a live placeholder; the list is read under the address lock, taken
        // here unless the caller holds it.
        unsafe {
            if !locked {
                raw::ndriver_nic_addr_lock_bh(self.0);
            }
            let n = raw::ndriver_nic_mc_list(self.0, mc.as_mut_ptr(), mc.len() as c_uint);
            if !locked {
                raw::ndriver_nic_addr_unlock_bh(self.0);
            }
            n as usize
        }
    }

    /// Its NAPI context.
    pub(crate) fn napi(&self) -> Napi {
        // INVARIANT: the NAPI context in the private area of a live placeholder.
        // SAFETY: a live placeholder.
        Napi(unsafe { raw::ndriver_nic_napi(self.0) })
    }

    /// Its queue of transmits a dead instance never reported done, to be sent again.
    pub(crate) fn resend(&self) -> SkbQueue {
        // INVARIANT: the `resend` queue in the private area of a live placeholder.
        // SAFETY: a live placeholder.
        SkbQueue(unsafe { raw::ndriver_nic_resend(self.0) })
    }

    /// Its queue of transmits a dead instance's device had sent, freed once the
    /// instance's DMA mappings are undone.
    pub(crate) fn sent(&self) -> SkbQueue {
        // INVARIANT: the `sent` queue in the private area of a live placeholder.
        // SAFETY: a live placeholder.
        SkbQueue(unsafe { raw::ndriver_nic_sent(self.0) })
    }

    /// Hands a received frame to the stack (copied into a fresh skb): through GRO
    /// when `napi` is given, else through the backlog. `ENOMEM`: dropped.
    pub(crate) fn receive(&self, napi: Option<Napi>, frame: &[u8]) -> Result {
        let n = napi.map_or(core::ptr::null_mut(), |n| n.0);
        // SAFETY: a live placeholder; `frame` is readable for its length.
        kernel::error::to_result(unsafe {
            raw::ndriver_skb_rx(self.0, n, frame.as_ptr().cast(), frame.len() as c_uint)
        })
    }
}

/// A NAPI context of a placeholder.
///
/// # Invariants
///
/// `self.0` is the NAPI context in the private area of a placeholder `net_device` as
/// [`NetDev`]'s invariant describes it (added by `netif_napi_add` in
/// `ndriver_nic_alloc`, with the placeholder's poll); it lives as long as that
/// placeholder, which [`NetDev::free`]'s caller promises is not freed while a `Napi`
/// taken from it is used.
///
/// Whether polling is enabled is not part of the invariant: [`Napi::enable`] and
/// [`Napi::disable`] rely on their callers (`ndo_open` and `ndo_stop` in
/// `placeholders/nic/ndo.rs`) pairing them, and [`Napi::complete`] on being called
/// from this context's poll.
#[derive(Clone, Copy)]
pub(crate) struct Napi(*mut c_void);

impl Napi {
    /// The raw pointer the kernel passes to poll (for identity).
    ///
    /// # Safety
    ///
    /// `napi` is the NAPI context of a live placeholder.
    pub(crate) unsafe fn from_raw(napi: *mut c_void) -> Self {
        // INVARIANT: per this function's contract.
        Napi(napi)
    }

    /// Enables polling (`ndo_open`).
    pub(crate) fn enable(&self) {
        // SAFETY: the NAPI context of a live placeholder, disabled.
        unsafe { raw::napi_enable(self.0) }
    }

    /// Disables polling, waiting for a running poll (`ndo_stop`).
    pub(crate) fn disable(&self) {
        // SAFETY: the NAPI context of a live placeholder, enabled.
        unsafe { raw::napi_disable(self.0) }
    }

    /// Schedules a poll; false if one was already scheduled.
    pub(crate) fn schedule(&self) -> bool {
        // SAFETY: the NAPI context of a live placeholder; any context.
        unsafe { raw::ndriver_napi_schedule(self.0) }
    }

    /// Ends a poll that did `work` (less than its budget).
    pub(crate) fn complete(&self, work: i32) -> bool {
        // SAFETY: called from the poll of this context.
        unsafe { raw::napi_complete_done(self.0, work) }
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

    /// Its data and length (a linear skb: the placeholder offers no scatter-gather).
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

    /// Sends it again through the stack (queueing discipline included); process
    /// context. Gives up ownership.
    pub(crate) fn requeue(self) -> c_int {
        let p = self.into_raw();
        // SAFETY: `p` was a live skb this handle owned (type invariant), and the handle is
        // gone; `dev_queue_xmit` consumes it in every case.
        unsafe { raw::ndriver_skb_requeue(p) }
    }
}

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

/// A `sk_buff_head` with its own IRQ-safe lock.
///
/// # Invariants
///
/// `self.0` is the `resend` or the `sent` queue in the private area of a placeholder
/// `net_device` as [`NetDev`]'s invariant describes it (made only by
/// [`NetDev::resend`] and [`NetDev::sent`]), initialised by `skb_queue_head_init` in
/// `ndriver_nic_alloc`; it lives as long as that placeholder (`ndriver_nic_free` purges
/// it before freeing the `net_device`). Every skb on it was put there by
/// [`SkbQueue::push`], which took it from its only owner, so one taken off by
/// [`SkbQueue::pop`] is owned by whoever took it.
#[derive(Clone, Copy)]
pub(crate) struct SkbQueue(*mut c_void);

impl SkbQueue {
    /// Appends `skb`; the queue owns it until [`SkbQueue::pop`].
    pub(crate) fn push(&self, skb: Skb) {
        let p = skb.into_raw();
        // SAFETY: a live queue; `p` is an skb on no list whose handle is gone, so the queue
        // is its only owner; `skb_queue_tail` takes the queue's lock.
        unsafe { raw::skb_queue_tail(self.0, p) }
    }

    /// Takes the oldest skb off.
    pub(crate) fn pop(&self) -> Option<Skb> {
        // SAFETY: a live queue (it lives as long as its placeholder); `skb_dequeue` takes its lock.
        let p = unsafe { raw::skb_dequeue(self.0) };
        // SAFETY: `p` is NULL or an skb `push` gave the queue, now unlinked, and ours.
        unsafe { Skb::from_raw(p) }
    }

    /// Current length (a snapshot).
    pub(crate) fn len(&self) -> usize {
        // SAFETY: a live queue; `skb_queue_len_lockless` only reads its length (a snapshot).
        unsafe { raw::ndriver_skb_queue_len(self.0) as usize }
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
