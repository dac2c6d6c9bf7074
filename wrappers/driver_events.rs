// SPDX-License-Identifier: GPL-2.0

//! The entry functions every class's operation table has for the events of the resources
//! [`Dev`](super::Dev) hands out: `devirq` (the interrupt line of
//! [`Dev::request_irq`](super::Dev::request_irq)), `timer` (a [`Dev::timer`]) and `work`
//! (a [`Dev::work`]). Each finds the probed driver, raises the fault `inject ... entry=`
//! asks for (`entry_faults.rs`) and calls the driver's method, the same way in every
//! class. A class glue says how its entry functions reach a driver ([`EntryGlue`]: the
//! slot's for `testdev` and `blk`, `driver_slot.rs`; its own for `nic`) and which event
//! methods the driver has ([`EventGlue`]), both for its `Adapter<T>`, and points its
//! table's `devirq`, `timer` and `work` at [`devirq`], [`timer`] and [`work`]. Part of
//! `driver_dev.rs`.
//!
//! [`Dev::timer`]: super::Dev::timer
//! [`Dev::work`]: super::Dev::work

use crate::abi::Instance;
use kernel::error::VTABLE_DEFAULT_ERROR;
use kernel::prelude::*;

/// How the entry functions of a class reach one of its drivers: the probed driver of the
/// instance they are called for, what its methods get, and the fault injected at an entry.
pub(crate) trait EntryGlue {
    /// The driver (the class trait's `Self`).
    type Driver;
    /// What the driver's methods get for one call besides the driver (its `Dev` and
    /// state).
    type Call<'a>
    where
        Self: 'a;
    /// The class's entry points, as `inject ... entry=` numbers them.
    type Entry: Into<u32>;
    /// What an event entry answers for an instance that is not probed.
    const UNPROBED: Result<i64>;

    /// The probed driver of `inst` and its call, or `None` if the instance is not
    /// probed.
    ///
    /// # Safety
    ///
    /// `inst` is what the framework passes to the entry functions of an implementation
    /// this glue is for (a live instance of it), and the call uses what this returns
    /// only until it returns.
    unsafe fn enter<'a>(inst: *mut Instance) -> Option<(&'a Self::Driver, Self::Call<'a>)>
    where
        Self: 'a;
    /// Raises the fault `inject ... entry=` asks for at `entry` now, if any.
    fn raise<'a>(call: &Self::Call<'a>, entry: Self::Entry) -> Result
    where
        Self: 'a;
}

/// A class whose operation table has the event entry points: which of them the driver
/// has. The event methods are optional, as in the class traits (`#[vtable]`): a `HAS_*`
/// constant says whether the driver has one, and the entry function of an absent one
/// neither enters the instance nor raises a fault.
pub(crate) trait EventGlue: EntryGlue {
    /// The `devirq` entry.
    const DEVIRQ: Self::Entry;
    /// The `timer` entry.
    const TIMER: Self::Entry;
    /// The `work` entry.
    const WORK: Self::Entry;
    /// Whether the driver takes its device's interrupt; without, every interrupt is
    /// "not mine".
    const HAS_DEVIRQ: bool = false;
    /// Whether the driver has a timer handler; without, a timer that expires fails the
    /// instance (`ENOSYS`).
    const HAS_TIMER: bool = false;
    /// Whether the driver has a work handler; without, a work item that runs fails the
    /// instance (`ENOSYS`).
    const HAS_WORK: bool = false;

    /// The device's interrupt (`irq`): `true` if it was this device's.
    fn devirq(_driver: &Self::Driver, _call: &Self::Call<'_>, _irq: u64) -> Result<bool> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// A timer with `cookie` expired.
    fn timer(_driver: &Self::Driver, _call: &Self::Call<'_>, _cookie: u64) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// A work item with `cookie` runs.
    fn work(_driver: &Self::Driver, _call: &Self::Call<'_>, _cookie: u64) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
}

/// An entry function's answer for error `e`: the negative errno.
pub(crate) fn errno(e: Error) -> i64 {
    e.to_errno() as i64
}

/// An entry function's answer: the value, or the negative errno.
fn answer(r: Result<i64>) -> i64 {
    r.unwrap_or_else(errno)
}

/// The answer of event `entry` of `inst`: `f` with the probed driver and its call, once
/// the fault injected at `entry` is raised (and returned); [`EntryGlue::UNPROBED`] if the
/// instance is not probed.
///
/// # Safety
///
/// As for [`EntryGlue::enter`].
unsafe fn event<G: EventGlue>(
    inst: *mut Instance,
    entry: G::Entry,
    f: impl FnOnce(&G::Driver, &G::Call<'_>) -> Result<i64>,
) -> i64 {
    // SAFETY: per this function's contract; `d` and `c` live only in this call.
    let r = match unsafe { G::enter(inst) } {
        Some((d, c)) => G::raise(&c, entry).and_then(|()| f(d, &c)),
        None => G::UNPROBED,
    };
    answer(r)
}

/// The `devirq` entry function: 1 if the interrupt was the device's, 0 if not (also
/// without [`EventGlue::HAS_DEVIRQ`]), or a negative errno.
///
/// # Safety
///
/// Called by the framework only, with the instance [`EntryGlue::enter`] requires.
pub(crate) unsafe extern "C" fn devirq<G: EventGlue>(inst: *mut Instance, irq: u64) -> i64 {
    if !G::HAS_DEVIRQ {
        return 0;
    }
    // SAFETY: per this function's contract.
    unsafe { event::<G>(inst, G::DEVIRQ, |d, c| G::devirq(d, c, irq).map(i64::from)) }
}

/// The `timer` entry function: 0 or a negative errno (`ENOSYS` without
/// [`EventGlue::HAS_TIMER`]).
///
/// # Safety
///
/// Called by the framework only, with the instance [`EntryGlue::enter`] requires.
pub(crate) unsafe extern "C" fn timer<G: EventGlue>(inst: *mut Instance, cookie: u64) -> i64 {
    if !G::HAS_TIMER {
        return errno(ENOSYS);
    }
    // SAFETY: per this function's contract.
    unsafe { event::<G>(inst, G::TIMER, |d, c| G::timer(d, c, cookie).map(|()| 0)) }
}

/// The `work` entry function: 0 or a negative errno (`ENOSYS` without
/// [`EventGlue::HAS_WORK`]).
///
/// # Safety
///
/// Called by the framework only, with the instance [`EntryGlue::enter`] requires.
pub(crate) unsafe extern "C" fn work<G: EventGlue>(inst: *mut Instance, cookie: u64) -> i64 {
    if !G::HAS_WORK {
        return errno(ENOSYS);
    }
    // SAFETY: per this function's contract.
    unsafe { event::<G>(inst, G::WORK, |d, c| G::work(d, c, cookie).map(|()| 0)) }
}

// Built into the test module only (`selftests/kunit/`): every implementation compiles
// this file in.
#[cfg(ndriver_kunit)]
#[kunit_tests(ndriver_events)]
mod tests {
    use super::*;
    use core::cell::Cell;

    /// An event entry function.
    type EventFn = unsafe extern "C" fn(*mut Instance, u64) -> i64;

    /// A test driver, whose instance handle is the `Log` itself: what it is to answer,
    /// and what it was asked.
    struct Log {
        probed: bool,
        /// What raising the injected fault returns.
        fault: Option<Error>,
        /// What each method returns instead of its answer.
        fails: Option<Error>,
        /// `devirq`'s answer.
        mine: bool,
        /// The entry a fault was raised at.
        raised: Cell<Option<u32>>,
        /// The argument a method got.
        called: Cell<Option<u64>>,
    }

    impl Log {
        fn probed() -> Self {
            Log {
                probed: true,
                fault: None,
                fails: None,
                mine: false,
                raised: Cell::new(None),
                called: Cell::new(None),
            }
        }

        /// The handle the test glue's `enter` takes.
        fn inst(&self) -> *mut Instance {
            core::ptr::from_ref(self).cast_mut().cast()
        }

        /// What `devirq`, `timer` and `work` answer (in that order), each with argument 5.
        fn events<G: EventGlue>(&self) -> [i64; 3] {
            let entries: [EventFn; 3] = [devirq::<G>, timer::<G>, work::<G>];
            // SAFETY: `self.inst()` is a live `Log`, the handle the test glue takes.
            entries.map(|f| unsafe { f(self.inst(), 5) })
        }
    }

    /// A test glue: with every event method if `ALL`, else with none; an unprobed
    /// instance answers as a NIC's (0) if `NIC`, else as a slot's (`ENODEV`).
    struct Glue<const ALL: bool, const NIC: bool>;

    impl<const ALL: bool, const NIC: bool> EntryGlue for Glue<ALL, NIC> {
        type Driver = Log;
        type Call<'a>
            = &'a Log
        where
            Self: 'a;
        type Entry = u32;
        const UNPROBED: Result<i64> = if NIC { Ok(0) } else { Err(ENODEV) };

        /// # Safety
        ///
        /// As for [`EntryGlue::enter`].
        unsafe fn enter<'a>(inst: *mut Instance) -> Option<(&'a Log, &'a Log)>
        where
            Self: 'a,
        {
            // SAFETY: the tests pass a live `Log` as the handle (`Log::inst`).
            let log = unsafe { &*inst.cast::<Log>() };
            log.probed.then_some((log, log))
        }

        fn raise<'a>(log: &&'a Log, entry: u32) -> Result
        where
            Self: 'a,
        {
            log.raised.set(Some(entry));
            log.fault.map_or(Ok(()), Err)
        }
    }

    impl<const ALL: bool, const NIC: bool> EventGlue for Glue<ALL, NIC> {
        const DEVIRQ: u32 = 6;
        const TIMER: u32 = 7;
        const WORK: u32 = 8;
        const HAS_DEVIRQ: bool = ALL;
        const HAS_TIMER: bool = ALL;
        const HAS_WORK: bool = ALL;

        fn devirq(log: &Log, _: &&Log, irq: u64) -> Result<bool> {
            log.called.set(Some(irq));
            log.fails.map_or(Ok(log.mine), Err)
        }

        fn timer(log: &Log, _: &&Log, cookie: u64) -> Result {
            log.called.set(Some(cookie));
            log.fails.map_or(Ok(()), Err)
        }

        fn work(log: &Log, _: &&Log, cookie: u64) -> Result {
            log.called.set(Some(cookie));
            log.fails.map_or(Ok(()), Err)
        }
    }

    #[test]
    fn absent_events_enter_nothing() {
        let log = Log::probed();
        let enosys = errno(ENOSYS);
        // Without the method: "not mine", and a timer or work item fails the instance.
        assert_eq!(log.events::<Glue<false, false>>(), [0, enosys, enosys]);
        assert_eq!(log.events::<Glue<false, true>>(), [0, enosys, enosys]);
        // No fault raised, no method called.
        assert_eq!(log.raised.get(), None);
        assert_eq!(log.called.get(), None);
    }

    #[test]
    fn unprobed_answers_the_class_answer() {
        let log = Log {
            probed: false,
            ..Log::probed()
        };
        let enodev = errno(ENODEV);
        assert_eq!(log.events::<Glue<true, false>>(), [enodev; 3]);
        assert_eq!(log.events::<Glue<true, true>>(), [0; 3]);
        assert_eq!(log.raised.get(), None);
        assert_eq!(log.called.get(), None);
    }

    #[test]
    fn fault_first_at_its_entry() {
        type G = Glue<true, false>;
        let log = Log {
            fault: Some(EIO),
            ..Log::probed()
        };
        let entries: [(u32, EventFn); 3] = [(6, devirq::<G>), (7, timer::<G>), (8, work::<G>)];
        for (entry, f) in entries {
            // SAFETY: `log.inst()` is a live `Log`, the handle the test glue takes.
            assert_eq!(unsafe { f(log.inst(), 5) }, errno(EIO));
            assert_eq!(log.raised.get(), Some(entry));
        }
        // The fault's error is the answer: the method never ran.
        assert_eq!(log.called.get(), None);
    }

    #[test]
    fn methods_answer() {
        let mut log = Log::probed();
        assert_eq!(log.events::<Glue<true, false>>(), [0, 0, 0]);
        assert_eq!(log.called.get(), Some(5));
        log.mine = true;
        assert_eq!(log.events::<Glue<true, true>>(), [1, 0, 0]);
        log.fails = Some(EINVAL);
        assert_eq!(log.events::<Glue<true, false>>(), [errno(EINVAL); 3]);
    }
}
