// SPDX-License-Identifier: GPL-2.0

//! The C-facing side of a block implementation: the entry functions of its operation
//! table (`abi_blk::BlkOps`, filled in by
//! [`blk_implementation!`](super::blk_implementation)), each of which finds the
//! driver's state in callout memory, raises the fault `inject ... entry=` asks for
//! (`entry_faults.rs`) and calls the [`BlkDriver`] method. What is the same in every
//! class is `driver_dev`'s, instantiated for [`Adapter`]: `probe` and `remove` are the
//! slot's (`driver_slot.rs`), `devirq`, `timer` and `work` the event entries
//! (`driver_events.rs`); this file holds the rest, and which class-trait method each
//! calls. Part of `blk_driver.rs`.

use super::{BlkDriver, Request};
use crate::abi::Instance;
use crate::abi_blk::{BlkEntry, BlkRq};
use crate::callouts_api_blk::ndriver_blk_done;
use crate::driver_dev::events::{errno, EventGlue};
use crate::driver_dev::slot::{self, SlotGlue};
use crate::driver_dev::{entry_faults, Dev};
use crate::driver_lock::DriverLock;
use core::marker::PhantomData;
use kernel::prelude::*;

/// The class glue's view of block implementation `T`, for which the shared entry
/// functions (`driver_slot.rs`, `driver_events.rs`) are instantiated.
pub(crate) struct Adapter<T>(PhantomData<T>);

impl<T: BlkDriver> SlotGlue for Adapter<T> {
    type Driver = T;
    type State = T::State;
    type Entry = BlkEntry;
    const PROBE: BlkEntry = BlkEntry::Probe;
    const ADOPT: Option<BlkEntry> = Some(BlkEntry::Adopt);
    const REMOVE: BlkEntry = BlkEntry::Remove;
    const LOCK_NAME: &'static CStr = c"blk_driver_state";

    fn probe(dev: &Dev, state: &DriverLock<T::State>) -> Result<T> {
        T::probe(dev, state)
    }

    fn adopt(dev: &Dev, state: &DriverLock<T::State>) -> Result<T> {
        T::adopt(dev, state)
    }

    fn remove(driver: &T, dev: &Dev, state: &DriverLock<T::State>) {
        driver.remove(dev, state)
    }
}

impl<T: BlkDriver> EventGlue for Adapter<T> {
    const DEVIRQ: BlkEntry = BlkEntry::DevIrq;
    const TIMER: BlkEntry = BlkEntry::Timer;
    const WORK: BlkEntry = BlkEntry::Work;
    const HAS_DEVIRQ: bool = T::HAS_DEVIRQ;
    const HAS_TIMER: bool = T::HAS_TIMER;
    const HAS_WORK: bool = T::HAS_WORK;

    fn devirq(d: &T, c: &slot::Call<'_, T::State>, irq: u64) -> Result<bool> {
        d.devirq(&c.dev, c.state, irq)
    }

    fn timer(d: &T, c: &slot::Call<'_, T::State>, cookie: u64) -> Result {
        d.timer(&c.dev, c.state, cookie)
    }

    fn work(d: &T, c: &slot::Call<'_, T::State>, cookie: u64) -> Result {
        d.work(&c.dev, c.state, cookie)
    }
}

/// [`slot::enter`] for an entry function given a request: also the handle for the
/// request `rq` describes, and what the injected fault asks of the answer. A fault
/// raised at `entry` drops the handle unused: the framework takes the request back.
///
/// # Safety
///
/// `inst` is a live instance of implementation `T` (the framework calls entry functions
/// only so); and `rq` is the descriptor the framework passed to this call, for a request
/// it issued to `inst`, of which the caller makes no other [`Request`].
unsafe fn enter_rq<'a, T: BlkDriver>(
    inst: *mut Instance,
    rq: *const BlkRq,
    entry: BlkEntry,
) -> Result<(
    &'a T,
    slot::Call<'a, T::State>,
    Request,
    entry_faults::Injected,
)> {
    // The request `complete` is called for was reported done already: class
    // `double_complete` reports it again.
    let report_done = |dev: &Dev| {
        // SAFETY: `rq` is this call's descriptor (this function's contract).
        let tag = unsafe { (*rq).tag };
        // SAFETY: the callout checks the tag against the requests the instance holds and
        // touches none it does not hold; that this one was reported already is the
        // injected misuse.
        unsafe { ndriver_blk_done(dev.handle(), tag) };
    };
    let report_done: &dyn Fn(&Dev) = if entry == BlkEntry::Complete {
        &report_done
    } else {
        &|_| {}
    };
    // SAFETY: per this function's contract, `inst`'s private data is NULL or the slot
    // that `probe` (`slot::probe::<Adapter<T>>`) set.
    let (d, c, injected) = unsafe { slot::enter_with::<Adapter<T>>(inst, entry, report_done) }?;
    // SAFETY: `rq` is this call's descriptor of a request issued to `inst`; this is the
    // one handle made of it (this function's contract).
    let rq = unsafe { Request::from_raw(rq) };
    Ok((d, c, rq, injected))
}

/// # Safety
///
/// Called by the framework only, with a live, probed instance and a valid request.
pub(crate) unsafe extern "C" fn queue_rq<T: BlkDriver>(
    inst: *mut Instance,
    rq: *const BlkRq,
    last: u32,
) -> i64 {
    // SAFETY: the framework calls entry points only with their live instance, and
    // `rq` is this call's, of a request issued to `inst`; its one handle is handed to
    // the driver.
    match unsafe { enter_rq::<T>(inst, rq, BlkEntry::QueueRq) }.and_then(|(d, c, rq, injected)| {
        injected.or_error()?;
        d.queue_rq(&c.dev, c.state, rq, last != 0)
    }) {
        Ok(()) => 0,
        Err(e) => errno(e),
    }
}

/// # Safety
///
/// Called by the framework only, with a live, probed instance.
pub(crate) unsafe extern "C" fn commit_rqs<T: BlkDriver>(inst: *mut Instance) -> i64 {
    // SAFETY: the framework calls entry points only with their live instance, whose
    // private data is NULL or the slot that `probe` (`slot::probe::<Adapter<T>>`) set.
    let r = unsafe { slot::enter::<Adapter<T>>(inst, BlkEntry::CommitRqs) }.and_then(|(d, c)| {
        if T::HAS_COMMIT_RQS {
            d.commit_rqs(&c.dev, c.state)
        } else {
            Ok(())
        }
    });
    match r {
        Ok(()) => 0,
        Err(e) => errno(e),
    }
}

/// The answer of a block `complete` under class `bad_return`: none of `BLK_DONE_*`.
const BAD_STATUS: i64 = 99;

/// # Safety
///
/// Called by the framework only, with a live, probed instance and a valid request.
pub(crate) unsafe extern "C" fn complete<T: BlkDriver>(
    inst: *mut Instance,
    rq: *const BlkRq,
) -> i64 {
    // SAFETY: the framework calls entry points only with their live instance, and
    // `rq` is this call's, of a request the instance reported done; its one handle is
    // handed to the driver.
    let entered = unsafe { enter_rq::<T>(inst, rq, BlkEntry::Complete) };
    entered
        .and_then(|(d, c, rq, injected)| match injected {
            // Injected: a status the ABI does not have.
            entry_faults::Injected::BadReturn => Ok(BAD_STATUS),
            entry_faults::Injected::Nothing => {
                let (tag, name) = (rq.tag(), rq.rq);
                Ok(d.complete(&c.dev, c.state, rq)?.answer(tag, name))
            }
        })
        .unwrap_or_else(errno)
}

/// # Safety
///
/// Called by the framework only, with a live, probed instance and a valid request.
pub(crate) unsafe extern "C" fn timeout<T: BlkDriver>(
    inst: *mut Instance,
    rq: *const BlkRq,
) -> i64 {
    // SAFETY: the framework calls entry points only with their live instance, and
    // `rq` is this call's, of a request issued to `inst`; its one handle is only lent to
    // the driver, and dropped here.
    match unsafe { enter_rq::<T>(inst, rq, BlkEntry::Timeout) }.and_then(|(d, c, rq, injected)| {
        injected.or_error()?;
        d.timeout(&c.dev, c.state, &rq)
    }) {
        Ok(progressing) => progressing as i64,
        Err(e) => errno(e),
    }
}
