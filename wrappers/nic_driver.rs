// SPDX-License-Identifier: GPL-2.0

//! The safe layer a `nic` implementation is written against (the driver side of the
//! net layer; the framework side is `wrappers/net.rs` and `placeholders/nic.rs`).
//!
//! A driver implements [`NicDriver`] and invokes [`nic_implementation!`], which builds
//! the `#[repr(C)]` operation table (`abi::NicOps`) and registers it at `insmod`. Each
//! entry point gets a [`Ctx`]: the instance handle ([`Dev`], with the resource
//! callouts of `driver_dev.rs` and the net callouts below) and the instance's two
//! locks, `DriverLock`s in callout memory: `tx` and `rx` (the driver's transmit and
//! receive state, `Default` until `open` fills them). A third lock, the glue's own, is
//! what an injected `deadlock` takes twice: taking `tx` would stall every other path
//! of the instance (the interrupt handler with interrupts off, NAPI, transmit under the
//! queue lock) until each one's own deadline, not only the faulted call. Deliver received frames without holding `tx`: the stack may transmit (an
//! ACK) from inside the delivery, and that comes back into `start_xmit`.
//!
//! Transmits are owned values: `start_xmit` gets a [`TxSkb`], which the driver takes
//! (into a [`TxSlots`] slot, or as a [`PendingSkb`]) and gives back exactly once with
//! [`Dev::tx_done`]; it never sees a token or a pointer. `nic_rings.rs` holds the typed
//! rings a driver keeps them in: [`TxSlots`], the ring registrations
//! ([`Dev::register_rx_ring`], [`Dev::register_tx_ring`]) and [`DmaBuffers`].
//!
//! Compiled into each implementation module with `#[path]`, after `abi`,
//! `callouts_api`, `driver_dev` and `driver_lock`.

// Each implementation uses only the calls it needs.
#![allow(dead_code)]

use crate::abi::{Instance, NicEntry, NicHwStats, PciId, NIC_RX_ALLMULTI, NIC_RX_PROMISC};
use crate::callouts_api as api;
use crate::driver_dev::{Dev, DmaMapping};
use crate::driver_lock::DriverLock;
use core::cell::Cell;
use core::ptr;
use kernel::error::VTABLE_DEFAULT_ERROR;
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;

#[path = "entry_faults.rs"]
mod entry_faults;
#[path = "nic_rings.rs"]
mod rings;
// Each implementation uses only some of them.
#[allow(unused_imports)]
pub(crate) use rings::{DmaBuffers, RingDescriptor, RingRegistration, RxFrame, TxSlots};

/// A socket buffer handed to `start_xmit`: its frame, readable for the call, and the
/// skb itself, which the driver takes with [`TxSkb::into_pending`] (or puts straight
/// into a [`TxSlots`] slot) and gives back exactly once, with [`Dev::tx_done`]. The value
/// cannot outlive the call (`'a`), so the frame cannot be read after the skb may have
/// been freed.
///
/// An skb the driver does not take is not queued: when `start_xmit` returns, the
/// framework gives it back to the stack, whatever [`Xmit`] says.
///
/// # Invariants
///
/// `data` points to `len` bytes that stay readable and unwritten for `'a`, the
/// `start_xmit` call this value was made for (the framework holds a reference on the skb
/// until that call returns, even if the driver reports it done before); `token` is the
/// token under which the framework lent the skb to the instance for that call, and
/// `taken` is the call's record of whether the driver took it (false until this value
/// becomes a [`PendingSkb`]).
#[must_use = "an skb not taken is given back to the stack"]
pub(crate) struct TxSkb<'a> {
    token: u64,
    data: *const u8,
    len: u32,
    taken: &'a Cell<bool>,
}

impl TxSkb<'_> {
    /// The frame.
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: `len` readable bytes at `data`, unchanged for as long as `self` lives (type
        // invariant).
        unsafe { core::slice::from_raw_parts(self.data, self.len as usize) }
    }

    /// Maps the frame for streaming DMA towards the device, until the mapping drops;
    /// drop it before reporting the skb done (else the device may read a freed frame).
    /// [`TxSlots`] keeps it with the skb.
    pub(crate) fn dma_map(&self, dev: &Dev) -> Result<DmaMapping> {
        // SAFETY: `len` readable bytes at `data` (type invariant).
        unsafe { dev.dma_map_raw(self.data, self.len as usize) }
    }

    /// Its length.
    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }

    /// Takes the skb: the driver now owes the framework one report of it
    /// ([`Dev::tx_done`]). The frame is no longer readable through it (a mapping made
    /// with [`TxSkb::dma_map`] stays valid).
    pub(crate) fn into_pending(self) -> PendingSkb {
        self.taken.set(true);
        // INVARIANT: made once per lent skb (this consumes its only `TxSkb`).
        PendingSkb { token: self.token }
    }
}

/// An skb the driver took in `start_xmit` and still owes a report for: it gives it back
/// by value, exactly once, with [`Dev::tx_done`]. Neither `Copy` nor `Clone`.
///
/// Dropping it without a report leaves the skb to the framework, as a fault would: it
/// stays lent to the instance, and is taken back and sent again by the next instance
/// when this one ends (what `remove` does with the transmits still queued). While the
/// instance runs, an skb left so is a stalled transmit once more follow (`tx_stalls`,
/// after 5 s), which recovers the device.
///
/// # Invariants
///
/// `token` is the token under which the framework lent an skb to the instance whose
/// `start_xmit` made this value, and no other `PendingSkb` holds it.
#[must_use = "an skb dropped unreported waits for the framework to take it back"]
pub(crate) struct PendingSkb {
    token: u64,
}

/// What the receive filter should let through.
pub(crate) struct RxFilter {
    /// Every frame.
    pub(crate) promisc: bool,
    /// Every multicast frame.
    pub(crate) allmulti: bool,
    /// The multicast addresses (first byte in the low bits).
    pub(crate) mc: [u64; 16],
    /// How many of `mc` are valid.
    pub(crate) count: usize,
}

/// The net callouts.
impl Dev {
    /// The driver is done with a transmitted skb (`sent`: it went out; else it is
    /// dropped): the framework takes it back.
    pub(crate) fn tx_done(&self, skb: PendingSkb, sent: bool) {
        // The framework takes the skb by its token; the value ends here.
        let token = skb.token as usize as *mut c_void;
        // SAFETY: the live instance reports an skb it was lent, once (`PendingSkb`'s
        // invariant; the framework refuses any other token anyway).
        unsafe { api::ndriver_net_tx_done(self.handle(), token, sent as u32) }
    }

    /// Hands a received frame to the stack (copied). `napi`: from `poll`.
    pub(crate) fn rx(&self, frame: &[u8], napi: bool) -> Result {
        // SAFETY: the live instance; `frame` is readable for its length.
        kernel::error::to_result(unsafe {
            api::ndriver_net_rx(
                self.handle(),
                frame.as_ptr(),
                frame.len() as u32,
                napi as u32,
            )
        })
    }

    /// Schedules the NAPI poll.
    pub(crate) fn napi_schedule(&self) -> bool {
        // SAFETY: the live instance.
        unsafe { api::ndriver_net_napi_schedule(self.handle()) != 0 }
    }

    /// Ends the current poll (`work` < budget); true if interrupts may go back on.
    pub(crate) fn napi_complete(&self, work: i32) -> bool {
        // SAFETY: the live instance, from its `poll`.
        unsafe { api::ndriver_net_napi_complete(self.handle(), work) != 0 }
    }

    /// Reports the link state.
    pub(crate) fn carrier(&self, on: bool) {
        // SAFETY: the live instance.
        unsafe { api::ndriver_net_carrier(self.handle(), on as u32) }
    }

    /// Stops the transmit queue (ring full).
    pub(crate) fn stop_queue(&self) {
        // SAFETY: the live instance.
        unsafe { api::ndriver_net_stop_queue(self.handle()) }
    }

    /// Wakes the transmit queue.
    pub(crate) fn wake_queue(&self) {
        // SAFETY: the live instance.
        unsafe { api::ndriver_net_wake_queue(self.handle()) }
    }

    /// The station address to program.
    pub(crate) fn mac(&self) -> [u8; 6] {
        // SAFETY: the live instance.
        let v = unsafe { api::ndriver_net_mac(self.handle()) }.to_le_bytes();
        [v[0], v[1], v[2], v[3], v[4], v[5]]
    }

    /// The MTU.
    pub(crate) fn mtu(&self) -> u32 {
        // SAFETY: the live instance.
        unsafe { api::ndriver_net_mtu(self.handle()) }
    }

    /// The receive filter to program.
    pub(crate) fn rx_filter(&self) -> RxFilter {
        let mut mc = [0u64; 16];
        let mut count = 0u32;
        // SAFETY: the live instance; room for 16 addresses and a count.
        let flags =
            unsafe { api::ndriver_net_rx_filter(self.handle(), mc.as_mut_ptr(), 16, &mut count) };
        RxFilter {
            promisc: flags & NIC_RX_PROMISC != 0,
            allmulti: flags & NIC_RX_ALLMULTI != 0,
            mc,
            count: (count as usize).min(16),
        }
    }
}

/// What a `start_xmit` did with the skb. The skb's fate decides what the framework is
/// told: one the driver took ([`TxSkb::into_pending`], [`TxSlots::insert`]) is queued,
/// one it did not is given back to the stack, even if the driver says otherwise (it
/// would be lost, or sent twice).
pub(crate) enum Xmit {
    /// Queued (the skb was taken); the driver reports it with [`Dev::tx_done`].
    Queued,
    /// The ring is full; the skb was not taken (the driver stopped the queue).
    Busy,
}

/// One entry-point call: the instance and its locks.
pub(crate) struct Ctx<'a, T: NicDriver> {
    /// The instance.
    pub(crate) dev: Dev,
    /// The glue's own lock, which only injected faults take.
    fault_lock: &'a DriverLock<u64>,
    /// Transmit state.
    pub(crate) tx: &'a DriverLock<T::Tx>,
    /// Receive state.
    pub(crate) rx: &'a DriverLock<T::Rx>,
}

/// A `nic` implementation. Every method runs under a guard, called from an entry function
/// of the operation table that first raises the fault `inject ... entry=` asks for
/// (`entry_faults.rs`). `tx_timeout`, `get_stats`, `poll`, `timer` and `work` are
/// optional (`#[vtable]`): without them a transmit timeout only replaces the instance,
/// the hardware counters stay 0, a poll does no work, and a timer or work item the
/// driver nevertheless arms fails the instance.
#[vtable]
pub(crate) trait NicDriver: Sized + Send + Sync {
    /// The PCI functions this implementation drives, as `pci::Driver::ID_TABLE` says
    /// it for a kernel driver (`abi::PciId`; `&[]` for none). While the device has a
    /// function attached, only implementations that list it serve the device; a
    /// function no implementation of the class lists cannot be attached.
    const PCI_IDS: &'static [PciId];

    /// Transmit state (rings), behind [`Ctx::tx`].
    type Tx: Default + Send;
    /// Receive state, behind [`Ctx::rx`].
    type Rx: Default + Send;

    /// Starts an instance: take the device, reset it. Interface still down.
    fn probe(c: &Ctx<'_, Self>) -> Result<Self>;
    /// Interface up: rings, interrupts, receiver and transmitter.
    fn open(&self, c: &Ctx<'_, Self>) -> Result;
    /// Interface down: everything `open` took is given back.
    fn stop(&self, c: &Ctx<'_, Self>) -> Result;
    /// Queue one frame.
    fn start_xmit(&self, c: &Ctx<'_, Self>, skb: TxSkb<'_>) -> Result<Xmit>;
    /// Program the receive filter from [`Dev::rx_filter`].
    fn set_rx_mode(&self, c: &Ctx<'_, Self>) -> Result;
    /// Program a new station address.
    fn set_mac_address(&self, c: &Ctx<'_, Self>, mac: [u8; 6]) -> Result;
    /// Accept a new MTU (`EINVAL` refuses it).
    fn change_mtu(&self, c: &Ctx<'_, Self>, mtu: u32) -> Result;
    /// Transmit hangs: the kernel's watchdog fired, or the placeholder found the oldest
    /// frame waiting too long (from `ndo_start_xmit`, transmit lock held). The instance
    /// is replaced afterwards.
    fn tx_timeout(&self, _c: &Ctx<'_, Self>) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// Add the hardware counters since the last call.
    fn get_stats(&self, _c: &Ctx<'_, Self>, _stats: &mut NicHwStats) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// NAPI poll; returns the work done (at most `budget`).
    fn poll(&self, _c: &Ctx<'_, Self>, _budget: i32) -> Result<i32> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// The device interrupt; true if it was this device's.
    fn interrupt(&self, c: &Ctx<'_, Self>) -> Result<bool>;
    /// A timer of the instance expired.
    fn timer(&self, _c: &Ctx<'_, Self>, _cookie: u64) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// A work item of the instance runs.
    fn work(&self, _c: &Ctx<'_, Self>, _cookie: u64) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// Orderly stop (the state is dropped afterwards).
    fn remove(&self, c: &Ctx<'_, Self>);
}

/// The driver's state, in callout memory.
struct Slot<T: NicDriver> {
    fault_lock: DriverLock<u64>,
    tx: DriverLock<T::Tx>,
    rx: DriverLock<T::Rx>,
    data: Option<T>,
}

/// The state of the instance behind `inst`, if probed.
///
/// # Safety
///
/// `inst` must be a live instance whose private data is NULL or a `Slot<T>`.
unsafe fn slot<'a, T: NicDriver>(inst: *mut Instance) -> Option<&'a Slot<T>> {
    // SAFETY: per this function's contract.
    let p = unsafe { api::ndriver_get_priv(inst) }.cast::<Slot<T>>();
    // SAFETY: set by `probe` to an initialised `Slot<T>` that lives until `remove`
    // (or the framework's undo after a fault, after which no call comes).
    unsafe { p.as_ref() }
}

/// Runs `f` with the probed driver of `inst` and its context.
///
/// # Safety
///
/// `inst` is a live instance of this implementation (called by the framework).
unsafe fn with<T: NicDriver, R>(
    inst: *mut Instance,
    none: R,
    f: impl FnOnce(&T, &Ctx<'_, T>) -> R,
) -> R {
    // SAFETY: per this function's contract.
    match unsafe { slot::<T>(inst) } {
        Some(s) => match &s.data {
            Some(d) => {
                let c = Ctx {
                    // SAFETY: the live instance of this call, used during it only.
                    dev: unsafe { Dev::from_handle(inst) },
                    fault_lock: &s.fault_lock,
                    tx: &s.tx,
                    rx: &s.rx,
                };
                f(d, &c)
            }
            None => none,
        },
        None => none,
    }
}

impl<T: NicDriver> Ctx<'_, T> {
    /// Raises the fault `inject` asks for at `entry` now, if any (`entry_faults.rs`).
    fn fault(&self, entry: NicEntry) -> Result {
        entry_faults::raise(&self.dev, entry, self.fault_lock)
    }
}

fn ret(r: Result) -> c_int {
    match r {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Called by the framework only, with a live instance (so for every `extern "C"` below).
pub(crate) unsafe extern "C" fn probe<T: NicDriver>(inst: *mut Instance) -> c_int {
    let size = core::mem::size_of::<Slot<T>>();
    // SAFETY: `inst` is live; the block is recorded in its undo list.
    let mem = unsafe { api::ndriver_alloc(inst, size, 0) }.cast::<Slot<T>>();
    if mem.is_null() {
        return ENOMEM.to_errno();
    }
    let fault_lock = DriverLock::new(kernel::new_spinlock_irq!(0u64, "nic_driver_fault"));
    let tx = DriverLock::new(kernel::new_spinlock_irq!(T::Tx::default(), "nic_driver_tx"));
    let rx = DriverLock::new(kernel::new_spinlock_irq!(T::Rx::default(), "nic_driver_rx"));
    // SAFETY: `mem` is a fresh, suitably aligned block of the right size; the locks
    // are pinned there for the block's life. `data` is written before anyone reads it.
    unsafe {
        if fault_lock.__init(&raw mut (*mem).fault_lock).is_err()
            || tx.__init(&raw mut (*mem).tx).is_err()
            || rx.__init(&raw mut (*mem).rx).is_err()
        {
            api::ndriver_free(inst, mem.cast());
            return ENOMEM.to_errno();
        }
        ptr::write(&raw mut (*mem).data, None);
        api::ndriver_set_priv(inst, mem.cast::<c_void>());
    }
    // SAFETY: `mem` is initialised above.
    let s = unsafe { &mut *mem };
    // Without a PCI function the instance stays idle: the placeholder refuses `open`.
    // SAFETY: the live instance of this call.
    if unsafe { api::ndriver_pci_present(inst) } == 0 {
        return 0;
    }
    let c = Ctx {
        // SAFETY: the live instance of this call, used during it only.
        dev: unsafe { Dev::from_handle(inst) },
        fault_lock: &s.fault_lock,
        tx: &s.tx,
        rx: &s.rx,
    };
    if let Err(e) = c.fault(NicEntry::Probe) {
        return e.to_errno();
    }
    match T::probe(&c) {
        Ok(d) => {
            s.data = Some(d);
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// See [`probe`].
pub(crate) unsafe extern "C" fn configure<T: NicDriver>(
    _inst: *mut Instance,
    _key: u32,
    _value: u64,
) -> c_int {
    EINVAL.to_errno()
}

/// # Safety
///
/// See [`probe`].
pub(crate) unsafe extern "C" fn open<T: NicDriver>(inst: *mut Instance) -> c_int {
    // SAFETY: per the contract.
    unsafe {
        with::<T, _>(inst, ENODEV.to_errno(), |d, c| {
            ret(c.fault(NicEntry::Open).and_then(|()| d.open(c)))
        })
    }
}

/// # Safety
///
/// See [`probe`].
pub(crate) unsafe extern "C" fn stop<T: NicDriver>(inst: *mut Instance) -> c_int {
    // SAFETY: per the contract.
    unsafe {
        with::<T, _>(inst, 0, |d, c| {
            ret(c.fault(NicEntry::Stop).and_then(|()| d.stop(c)))
        })
    }
}

/// # Safety
///
/// See [`probe`]; `skb` is the token of a lent skb whose `len` bytes at `data` stay
/// readable and unwritten until this call returns.
pub(crate) unsafe extern "C" fn start_xmit<T: NicDriver>(
    inst: *mut Instance,
    skb: *mut c_void,
    data: *const u8,
    len: u32,
) -> c_int {
    let taken = Cell::new(false);
    // INVARIANT: `data` stays readable until this call returns (this function's contract),
    // and `s` does not outlive the call; `skb` is the token of this call's skb, not taken
    // yet.
    let s = TxSkb {
        token: skb as usize as u64,
        data,
        len,
        taken: &taken,
    };
    // SAFETY: per the contract.
    unsafe {
        with::<T, _>(inst, ENODEV.to_errno(), |d, c| {
            match c
                .fault(NicEntry::StartXmit)
                .and_then(|()| d.start_xmit(c, s))
            {
                // Queued if the driver took the skb, else given back (`Xmit`).
                Ok(_) if taken.get() => 0,
                Ok(Xmit::Busy) => 1,
                // `Queued` without taking the skb: given back as busy, the stack would
                // retry it at once, forever. A driver that says so is broken.
                Ok(Xmit::Queued) => EINVAL.to_errno(),
                Err(e) => e.to_errno(),
            }
        })
    }
}

/// # Safety
///
/// See [`probe`].
pub(crate) unsafe extern "C" fn set_rx_mode<T: NicDriver>(inst: *mut Instance) -> c_int {
    // SAFETY: per the contract.
    unsafe {
        with::<T, _>(inst, 0, |d, c| {
            ret(c.fault(NicEntry::SetRxMode).and_then(|()| d.set_rx_mode(c)))
        })
    }
}

/// # Safety
///
/// See [`probe`].
pub(crate) unsafe extern "C" fn set_mac_address<T: NicDriver>(
    inst: *mut Instance,
    mac: u64,
) -> c_int {
    let b = mac.to_le_bytes();
    let m = [b[0], b[1], b[2], b[3], b[4], b[5]];
    // SAFETY: per the contract.
    unsafe {
        with::<T, _>(inst, 0, |d, c| {
            ret(c
                .fault(NicEntry::SetMacAddress)
                .and_then(|()| d.set_mac_address(c, m)))
        })
    }
}

/// # Safety
///
/// See [`probe`].
pub(crate) unsafe extern "C" fn change_mtu<T: NicDriver>(inst: *mut Instance, mtu: u32) -> c_int {
    // SAFETY: per the contract.
    unsafe {
        with::<T, _>(inst, 0, |d, c| {
            ret(c
                .fault(NicEntry::ChangeMtu)
                .and_then(|()| d.change_mtu(c, mtu)))
        })
    }
}

/// # Safety
///
/// See [`probe`].
pub(crate) unsafe extern "C" fn tx_timeout<T: NicDriver>(inst: *mut Instance) -> c_int {
    if !T::HAS_TX_TIMEOUT {
        return 0;
    }
    // SAFETY: per the contract.
    unsafe {
        with::<T, _>(inst, 0, |d, c| {
            ret(c.fault(NicEntry::TxTimeout).and_then(|()| d.tx_timeout(c)))
        })
    }
}

/// # Safety
///
/// See [`probe`]; `stats` is writable.
pub(crate) unsafe extern "C" fn get_stats64<T: NicDriver>(
    inst: *mut Instance,
    stats: *mut NicHwStats,
) -> c_int {
    if !T::HAS_GET_STATS {
        return 0;
    }
    // SAFETY: per the contract.
    let st = unsafe { &mut *stats };
    // SAFETY: per the contract.
    unsafe {
        with::<T, _>(inst, 0, |d, c| {
            ret(c
                .fault(NicEntry::GetStats64)
                .and_then(|()| d.get_stats(c, st)))
        })
    }
}

/// # Safety
///
/// See [`probe`].
pub(crate) unsafe extern "C" fn poll<T: NicDriver>(inst: *mut Instance, budget: i32) -> i64 {
    if !T::HAS_POLL {
        return 0;
    }
    // SAFETY: per the contract.
    unsafe {
        with::<T, _>(inst, 0, |d, c| {
            match c.fault(NicEntry::Poll).and_then(|()| d.poll(c, budget)) {
                Ok(n) => n as i64,
                Err(e) => e.to_errno() as i64,
            }
        })
    }
}

/// # Safety
///
/// See [`probe`].
pub(crate) unsafe extern "C" fn devirq<T: NicDriver>(inst: *mut Instance, _irq: u64) -> i64 {
    // SAFETY: per the contract.
    unsafe {
        with::<T, _>(inst, 0, |d, c| {
            match c.fault(NicEntry::DevIrq).and_then(|()| d.interrupt(c)) {
                Ok(mine) => mine as i64,
                Err(e) => e.to_errno() as i64,
            }
        })
    }
}

/// # Safety
///
/// See [`probe`].
pub(crate) unsafe extern "C" fn timer<T: NicDriver>(inst: *mut Instance, cookie: u64) -> i64 {
    if !T::HAS_TIMER {
        return ENOSYS.to_errno() as i64;
    }
    // SAFETY: per the contract.
    unsafe {
        with::<T, _>(inst, 0, |d, c| {
            ret(c.fault(NicEntry::Timer).and_then(|()| d.timer(c, cookie))) as i64
        })
    }
}

/// # Safety
///
/// See [`probe`].
pub(crate) unsafe extern "C" fn work<T: NicDriver>(inst: *mut Instance, cookie: u64) -> i64 {
    if !T::HAS_WORK {
        return ENOSYS.to_errno() as i64;
    }
    // SAFETY: per the contract.
    unsafe {
        with::<T, _>(inst, 0, |d, c| {
            ret(c.fault(NicEntry::Work).and_then(|()| d.work(c, cookie))) as i64
        })
    }
}

/// # Safety
///
/// Called by the framework only, with a live instance, for an orderly stop.
pub(crate) unsafe extern "C" fn remove<T: NicDriver>(inst: *mut Instance) {
    // SAFETY: `inst` is live; its private data is NULL or our `Slot<T>`.
    let p = unsafe { api::ndriver_get_priv(inst) }.cast::<Slot<T>>();
    if p.is_null() {
        return;
    }
    // SAFETY: `inst` is a live instance of this implementation (this function's contract),
    // as `with` requires.
    unsafe {
        with::<T, _>(inst, (), |d, c| {
            // A fault here is contained like any other; the framework then undoes.
            let _ = c.fault(NicEntry::Remove);
            d.remove(c)
        })
    };
    // SAFETY: `p` is the initialised slot; nothing else runs on this instance during
    // an orderly remove, so it is ours to drop and free.
    unsafe {
        ptr::drop_in_place(p);
        api::ndriver_set_priv(inst, ptr::null_mut());
        api::ndriver_free(inst, p.cast());
    }
}

/// Defines the operation table and descriptor of `nic` implementation `$t` named
/// `$name`, and the module that registers it.
macro_rules! nic_implementation {
    (type: $t:ty, name: $name:literal, module: $module:literal, description: $desc:literal $(,)?) => {
        static OPS: abi::NicOps = abi::NicOps {
            probe: nic_driver::probe::<$t>,
            configure: nic_driver::configure::<$t>,
            remove: nic_driver::remove::<$t>,
            open: nic_driver::open::<$t>,
            stop: nic_driver::stop::<$t>,
            start_xmit: nic_driver::start_xmit::<$t>,
            set_rx_mode: nic_driver::set_rx_mode::<$t>,
            set_mac_address: nic_driver::set_mac_address::<$t>,
            change_mtu: nic_driver::change_mtu::<$t>,
            tx_timeout: nic_driver::tx_timeout::<$t>,
            get_stats64: nic_driver::get_stats64::<$t>,
            poll: nic_driver::poll::<$t>,
            devirq: nic_driver::devirq::<$t>,
            timer: nic_driver::timer::<$t>,
            work: nic_driver::work::<$t>,
        };
        driver_dev::implementation_module! {
            class: c"nic",
            ops: OPS,
            pci_ids: <$t as nic_driver::NicDriver>::PCI_IDS,
            name: $name,
            module: $module,
            description: $desc,
        }
    };
}
pub(crate) use nic_implementation;
