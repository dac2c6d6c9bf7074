// SPDX-License-Identifier: GPL-2.0

//! The C-facing side of a `nic` implementation: the entry functions of its operation
//! table (`abi::NicOps`, filled in by [`nic_implementation!`](super::nic_implementation)),
//! each of which finds the driver's state in callout memory, raises the fault `inject ...
//! entry=` asks for (`entry_faults.rs`) and calls the [`NicDriver`] method with a
//! [`Ctx`]. `devirq`, `timer` and `work` are `driver_dev`'s event entries
//! (`driver_events.rs`), instantiated for [`Adapter`], which says how they reach the
//! driver. Part of `nic_driver.rs`.

use super::{Ctx, NicDriver, TxSkb, Xmit};
use crate::abi::{Instance, NicEntry, NicHwStats, TxPiece};
use crate::callouts_api as api;
use crate::driver_dev::events::{EntryGlue, EventGlue};
use crate::driver_dev::{entry_faults, Dev};
use crate::driver_lock::DriverLock;
use core::cell::Cell;
use core::marker::PhantomData;
use core::ptr;
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;

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

/// The probed driver of `inst` and its context, or `None` if the instance is not probed.
///
/// # Safety
///
/// `inst` is a live instance of this implementation (called by the framework), and the
/// call uses what this returns only until it returns.
unsafe fn entered<'a, T: NicDriver>(inst: *mut Instance) -> Option<(&'a T, Ctx<'a, T>)> {
    // SAFETY: per this function's contract.
    let s = unsafe { slot::<T>(inst) }?;
    let d = s.data.as_ref()?;
    let c = Ctx {
        // SAFETY: the live instance of this call, used during it only.
        dev: unsafe { Dev::from_handle(inst) },
        fault_lock: &s.fault_lock,
        tx: &s.tx,
        rx: &s.rx,
    };
    Some((d, c))
}

/// Runs `f` with the probed driver of `inst` and its context; `none` if not probed.
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
    match unsafe { entered::<T>(inst) } {
        Some((d, c)) => f(d, &c),
        None => none,
    }
}

/// The class glue's view of `nic` implementation `T`, for which the shared event entry
/// functions (`driver_events.rs`) are instantiated.
pub(crate) struct Adapter<T>(PhantomData<T>);

/// An event entry answers 0 for an instance that is not probed (a NIC without a PCI
/// function stays so).
impl<T: NicDriver> EntryGlue for Adapter<T> {
    type Driver = T;
    type Call<'a>
        = Ctx<'a, T>
    where
        Self: 'a;
    type Entry = NicEntry;
    const UNPROBED: Result<i64> = Ok(0);

    /// # Safety
    ///
    /// As for [`EntryGlue::enter`].
    unsafe fn enter<'a>(inst: *mut Instance) -> Option<(&'a T, Ctx<'a, T>)>
    where
        Self: 'a,
    {
        // SAFETY: per this function's contract, `inst` is a live instance of `T`.
        unsafe { entered::<T>(inst) }
    }

    fn raise<'a>(c: &Ctx<'a, T>, entry: NicEntry) -> Result
    where
        Self: 'a,
    {
        c.fault(entry)
    }
}

/// `devirq` calls [`NicDriver::interrupt`], which every driver has.
impl<T: NicDriver> EventGlue for Adapter<T> {
    const DEVIRQ: NicEntry = NicEntry::DevIrq;
    const TIMER: NicEntry = NicEntry::Timer;
    const WORK: NicEntry = NicEntry::Work;
    const HAS_DEVIRQ: bool = true;
    const HAS_TIMER: bool = T::HAS_TIMER;
    const HAS_WORK: bool = T::HAS_WORK;

    fn devirq(d: &T, c: &Ctx<'_, T>, _irq: u64) -> Result<bool> {
        d.interrupt(c)
    }

    fn timer(d: &T, c: &Ctx<'_, T>, cookie: u64) -> Result {
        d.timer(c, cookie)
    }

    fn work(d: &T, c: &Ctx<'_, T>, cookie: u64) -> Result {
        d.work(c, cookie)
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
    // SAFETY: per the contract.
    unsafe { start::<T>(inst, NicEntry::Probe, T::probe) }
}

/// # Safety
///
/// See [`probe`]; only in a table whose driver has `adopt` (`T::HAS_ADOPT`).
pub(crate) unsafe extern "C" fn adopt<T: NicDriver>(inst: *mut Instance) -> c_int {
    // SAFETY: per the contract.
    unsafe { start::<T>(inst, NicEntry::Adopt, T::adopt) }
}

/// Starts the instance: its state in callout memory, then `f` (probe or adopt), after
/// the fault `inject ... entry=` asks for at `entry`.
///
/// # Safety
///
/// See [`probe`].
unsafe fn start<T: NicDriver>(
    inst: *mut Instance,
    entry: NicEntry,
    f: impl FnOnce(&Ctx<'_, T>) -> Result<T>,
) -> c_int {
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
    if let Err(e) = c.fault(entry) {
        return e.to_errno();
    }
    match f(&c) {
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
/// See [`probe`]; `skb` is the token of a lent skb whose frame is the `count` pieces at
/// `pieces`, which (and whose bytes) stay readable and unwritten until this call
/// returns.
pub(crate) unsafe extern "C" fn start_xmit<T: NicDriver>(
    inst: *mut Instance,
    skb: *mut c_void,
    pieces: *const TxPiece,
    count: u32,
    flags: u32,
    csum: u32,
    gso: u32,
) -> c_int {
    let taken = Cell::new(false);
    // SAFETY: the `count` pieces at `pieces` and their bytes stay readable until this
    // call returns (this function's contract), and `s` does not outlive the call; `skb`
    // is the token of this call's skb, not taken yet.
    let s = unsafe {
        TxSkb::lent(
            skb as usize as u64,
            pieces,
            count,
            (flags, csum, gso),
            (T::SCATTER_GATHER, T::CHECKSUM_REACH, T::TSO),
            &taken,
        )
    };
    let Ok(s) = s else {
        // The framework passed what no driver of this kind takes: refused, untaken.
        return EINVAL.to_errno();
    };
    // Class `double_complete` reports this call's skb done (dropped), twice.
    let report_done = |dev: &Dev| {
        // SAFETY: the callout checks the token against the transmits lent to the
        // instance and touches no skb it does not hold; that the second report names one
        // already reported is the injected misuse.
        unsafe { api::ndriver_net_tx_done(dev.handle(), skb, 0) };
    };
    // SAFETY: per the contract.
    unsafe {
        with::<T, _>(inst, ENODEV.to_errno(), |d, c| {
            match entry_faults::raise_with(&c.dev, NicEntry::StartXmit, c.fault_lock, &report_done)
                .and_then(entry_faults::Injected::or_error)
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
            match entry_faults::raise_with(&c.dev, NicEntry::Poll, c.fault_lock, &|_| {}) {
                // Injected: more frames than the budget allowed.
                Ok(entry_faults::Injected::BadReturn) => i64::from(budget) + 1,
                r => match r.and_then(|_| d.poll(c, budget)) {
                    Ok(n) => n as i64,
                    Err(e) => e.to_errno() as i64,
                },
            }
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
    // SAFETY: `inst` is live and nothing else runs on it during an orderly remove; its
    // private data is our initialised `Slot<T>` from `ndriver_alloc` (probe), and the
    // borrow `with` made of it has ended.
    unsafe { api::free_slot::<Slot<T>>(inst) };
}
