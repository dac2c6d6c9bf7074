// SPDX-License-Identifier: GPL-2.0

//! The instance slot of a driver that keeps what it changes in one `State` behind the
//! instance's lock (the `testdev` and `blk` classes): the `probe` and `remove` entry
//! functions, which make the slot in callout memory and free it, and [`enter`], the start
//! of the class's other entry functions. A class glue implements [`SlotGlue`] for its
//! drivers (its `Adapter<T>`) and points its operation table's `probe` and `remove` at
//! [`probe`] and [`remove`]; the slot is then how the event entry functions reach the
//! driver too ([`EntryGlue`]). Part of `driver_dev.rs`.

use super::entry_faults;
use super::events::EntryGlue;
use super::Dev;
use crate::abi::Instance;
use crate::callouts_api as api;
use crate::driver_lock::DriverLock;
use core::ptr;
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;

/// A class whose drivers keep their state in a [`Slot`]: what the slot's entry functions
/// need of one of its drivers.
pub(crate) trait SlotGlue {
    /// The driver (the class trait's `Self`).
    type Driver;
    /// What the driver changes while it runs (the class trait's `State`): `Default` when
    /// the instance starts, behind the instance's lock.
    type State: Default + Send;
    /// The class's entry points, as `inject ... entry=` numbers them.
    type Entry: Into<u32>;
    /// The `probe` entry.
    const PROBE: Self::Entry;
    /// The `adopt` entry (warm restart), for a class that has one.
    const ADOPT: Option<Self::Entry> = None;
    /// The `remove` entry.
    const REMOVE: Self::Entry;
    /// The name of the state's lock (lockdep's).
    const LOCK_NAME: &'static CStr;

    /// Starts an instance (the class trait's `probe`).
    fn probe(dev: &Dev, state: &DriverLock<Self::State>) -> Result<Self::Driver>;
    /// Starts an instance on a device the previous one left running (the class trait's
    /// `adopt`); only called where the class's table has `adopt`.
    fn adopt(_dev: &Dev, _state: &DriverLock<Self::State>) -> Result<Self::Driver> {
        Err(EOPNOTSUPP)
    }
    /// Orderly stop (the class trait's `remove`); the slot is dropped afterwards.
    fn remove(driver: &Self::Driver, dev: &Dev, state: &DriverLock<Self::State>);
}

/// The driver's state, in callout memory: the instance's private data from `probe` to
/// `remove`.
#[pin_data]
struct Slot<G: SlotGlue> {
    #[pin]
    state: DriverLock<G::State>,
    /// The driver, once its `probe` succeeded.
    data: Option<G::Driver>,
}

/// One entry-point call of a probed driver: what every method of the class gets besides
/// the driver.
pub(crate) struct Call<'a, S> {
    /// The instance the entry point was called for.
    pub(crate) dev: Dev,
    /// The driver's state.
    pub(crate) state: &'a DriverLock<S>,
}

impl<S> Call<'_, S> {
    /// Raises the fault `inject ... entry=` asks for at `entry` now, if any
    /// (`entry_faults.rs`); an injected `deadlock` takes the state's lock twice.
    pub(crate) fn raise(&self, entry: impl Into<u32>) -> Result {
        entry_faults::raise(&self.dev, entry, self.state)
    }
}

/// The driver's handle for the instance an entry point was called for.
fn dev_of(inst: *mut Instance) -> Dev {
    // SAFETY: the slot's entry points are called by the framework with their live
    // instance only, and each uses the handle only during its call.
    unsafe { Dev::from_handle(inst) }
}

/// The probed driver of `inst` and its call, or `None` if the instance is not probed.
///
/// # Safety
///
/// `inst` is a live instance whose private data is NULL or the `Slot<G>` that [`probe`]
/// set (the framework calls the entry functions of an implementation glued by `G` only
/// so), and the call uses what this returns only until it returns.
pub(crate) unsafe fn entered<'a, G: SlotGlue + 'a>(
    inst: *mut Instance,
) -> Option<(&'a G::Driver, Call<'a, G::State>)> {
    // SAFETY: `inst` is live (this function's contract).
    let p = unsafe { api::ndriver_get_priv(inst) }.cast::<Slot<G>>();
    // SAFETY: NULL or set by `probe` to an initialised `Slot<G>` that lives until
    // `remove` (or the framework's undo after a fault, after which no call comes).
    let s = unsafe { p.as_ref() }?;
    let d = s.data.as_ref()?;
    Some((
        d,
        Call {
            dev: dev_of(inst),
            state: &s.state,
        },
    ))
}

/// The slot is how the entry functions of its classes reach a driver: an event entry
/// answers `ENODEV` for an instance that is not probed.
impl<G: SlotGlue> EntryGlue for G {
    type Driver = <G as SlotGlue>::Driver;
    type Call<'a>
        = Call<'a, G::State>
    where
        Self: 'a;
    type Entry = <G as SlotGlue>::Entry;
    const UNPROBED: Result<i64> = Err(ENODEV);

    /// # Safety
    ///
    /// As for [`EntryGlue::enter`].
    unsafe fn enter<'a>(inst: *mut Instance) -> Option<(&'a Self::Driver, Self::Call<'a>)>
    where
        Self: 'a,
    {
        // SAFETY: `inst` is a live instance of an implementation glued by `G` (this
        // function's contract), so its private data is NULL or the `Slot<G>` of `probe`.
        unsafe { entered::<G>(inst) }
    }

    fn raise<'a>(c: &Self::Call<'a>, entry: Self::Entry) -> Result
    where
        Self: 'a,
    {
        c.raise(entry)
    }
}

/// The start of every entry function of the class but `probe` and `remove`: the probed
/// driver of `inst` and its call, once the fault `inject ... entry=` asks for at `entry`
/// is raised (and returned). `ENODEV` if the instance is not probed.
///
/// # Safety
///
/// As for [`entered`].
pub(crate) unsafe fn enter<'a, G: SlotGlue + 'a>(
    inst: *mut Instance,
    entry: G::Entry,
) -> Result<(&'a G::Driver, Call<'a, G::State>)> {
    // SAFETY: per this function's contract.
    let (d, c, injected) = unsafe { enter_with::<G>(inst, entry, &|_| {}) }?;
    injected.or_error()?;
    Ok((d, c))
}

/// [`enter`] for an entry point whose call carries a unit of work the driver reports
/// done through a callout, which `report_done` reports, or whose answer has a range
/// (`entry_faults::raise_with`).
///
/// # Safety
///
/// As for [`entered`].
pub(crate) unsafe fn enter_with<'a, G: SlotGlue + 'a>(
    inst: *mut Instance,
    entry: G::Entry,
    report_done: &dyn Fn(&Dev),
) -> Result<(&'a G::Driver, Call<'a, G::State>, entry_faults::Injected)> {
    // SAFETY: per this function's contract.
    let (d, c) = unsafe { entered::<G>(inst) }.ok_or(ENODEV)?;
    let injected = entry_faults::raise_with(&c.dev, entry, c.state, report_done)?;
    Ok((d, c, injected))
}

/// The `probe` entry function: makes the slot, raises the fault injected at `probe`, and
/// keeps the driver [`SlotGlue::probe`] returns.
///
/// # Safety
///
/// Called by the framework only, with a live instance.
pub(crate) unsafe extern "C" fn probe<G: SlotGlue>(inst: *mut Instance) -> c_int {
    // SAFETY: per this function's contract.
    unsafe { start::<G>(inst, G::PROBE, G::probe) }
}

/// The `adopt` entry function (warm restart), as [`probe`] with [`SlotGlue::adopt`];
/// in a table only where the class has `adopt` ([`SlotGlue::ADOPT`]).
///
/// # Safety
///
/// Called by the framework only, with a live instance.
pub(crate) unsafe extern "C" fn adopt<G: SlotGlue>(inst: *mut Instance) -> c_int {
    let Some(entry) = G::ADOPT else {
        return EOPNOTSUPP.to_errno();
    };
    // SAFETY: per this function's contract.
    unsafe { start::<G>(inst, entry, G::adopt) }
}

/// Makes the slot, raises the fault injected at `entry`, and keeps the driver `f`
/// returns.
///
/// # Safety
///
/// Called by the framework only, with a live instance, from a starting entry point.
unsafe fn start<G: SlotGlue>(
    inst: *mut Instance,
    entry: G::Entry,
    f: fn(&Dev, &DriverLock<G::State>) -> Result<G::Driver>,
) -> c_int {
    let size = core::mem::size_of::<Slot<G>>();
    // SAFETY: `inst` is live; the block is recorded in its undo list.
    let mem = unsafe { api::ndriver_alloc(inst, size, 0) }.cast::<Slot<G>>();
    if mem.is_null() {
        return ENOMEM.to_errno();
    }
    // One lock class for every `G` of a module (a `static` in a generic function is
    // not per instantiation): right while a module is one implementation, as every
    // sample driver is; a module with two slot-glued drivers would need a class per
    // `G`, or lockdep warns of one key under two names.
    // The state is written through the lock's own slot rather than handed over by
    // value and moved: a driver's state (a slot per tag of a deep queue, say) may be
    // larger than a stack frame should be. The language does not promise the default
    // is built in place; optimised, it is, and `build-modules.sh` refuses a module
    // with a frame of 4 KiB or more should that change.
    let in_place = |slot: *mut G::State| {
        // SAFETY: `slot` is the lock's data, valid for writing and not yet initialised.
        unsafe { slot.write(G::State::default()) };
        Ok::<(), core::convert::Infallible>(())
    };
    let state = DriverLock::new(kernel::sync::SpinLockIrq::new(
        // SAFETY: the closure initialises the whole of `*slot` and never fails.
        unsafe { pin_init::pin_init_from_closure(in_place) },
        G::LOCK_NAME,
        kernel::static_lock_class!(),
    ));
    // SAFETY: `mem` is a fresh, suitably aligned block of the right size; the lock is
    // pinned there for the block's life. `data` is written before anyone reads it.
    unsafe {
        if state.__init(&raw mut (*mem).state).is_err() {
            api::ndriver_free(inst, mem.cast());
            return ENOMEM.to_errno();
        }
        ptr::write(&raw mut (*mem).data, None);
        api::ndriver_set_priv(inst, mem.cast::<c_void>());
    }
    // SAFETY: `mem` is initialised above.
    let s = unsafe { &mut *mem };
    let dev = dev_of(inst);
    if let Err(e) = entry_faults::raise(&dev, entry, &s.state) {
        return e.to_errno();
    }
    match f(&dev, &s.state) {
        Ok(d) => {
            s.data = Some(d);
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// The `remove` entry function: raises the fault injected at `remove`, calls
/// [`SlotGlue::remove`] and frees the slot (dropping the state and the driver).
///
/// # Safety
///
/// Called by the framework only, with a live instance, for an orderly stop.
pub(crate) unsafe extern "C" fn remove<G: SlotGlue>(inst: *mut Instance) {
    // SAFETY: `inst` is live; its private data is NULL or our `Slot<G>`; the call is over
    // before the slot is freed below.
    if let Some((d, c)) = unsafe { entered::<G>(inst) } {
        // A fault here is contained like any other; the framework then undoes.
        let _ = c.raise(G::REMOVE);
        G::remove(d, &c.dev, c.state);
    }
    // SAFETY: `inst` is live and its private data NULL or the `Slot<G>` that `probe`
    // initialised in memory from `ndriver_alloc`; the borrows of it above have ended, and
    // nothing else runs on this instance during an orderly remove.
    unsafe { api::free_slot::<Slot<G>>(inst) };
}
