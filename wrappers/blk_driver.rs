// SPDX-License-Identifier: GPL-2.0

//! The safe layer a block (`blk` class) implementation is written against.
//!
//! A driver implements [`BlkDriver`] in ordinary Rust and invokes
//! [`blk_implementation!`]; the macro builds the `#[repr(C)]` operation table and
//! descriptor (`abi.rs`, `abi_blk.rs`) and registers them at `insmod`. The kernel sees
//! only the framework's placeholder disk (`placeholders/blk.rs`); the driver owns the
//! requests it is given as [`Request`] handles (`queue_rq` gives one, [`Dev::done`]
//! gives it back, `complete` gives it again to be ended with [`Request::end`]) and sees
//! the device through [`Dev`] (the handle and resources of `driver_dev.rs`, with the
//! block callouts added below). Every resource comes
//! from the callouts and is recorded in the instance's undo list; the driver's state
//! lives in callout memory, so the framework reclaims it after a fault without
//! running the driver's destructors. Compiled into each block implementation module
//! with `#[path]`, after `abi`, `abi_blk`, `callouts_api`, `callouts_api_blk`,
//! `driver_dev` and `driver_lock`.

// Each implementation uses only the parts it needs.
#![allow(dead_code)]

use crate::abi::{Instance, PciId};
use crate::abi_blk::{BlkEntry, BlkRq, BLK_OP_FLUSH, BLK_OP_READ, BLK_OP_WRITE};
use crate::callouts_api as api;
use crate::callouts_api_blk as bapi;
use crate::driver_lock::DriverLock;
use core::ptr;
use kernel::error::VTABLE_DEFAULT_ERROR;
use kernel::ffi::{c_int, c_void};
use kernel::io::register::FixedRegister;
use kernel::prelude::*;

pub(crate) use crate::driver_dev::*;

#[path = "entry_faults.rs"]
mod entry_faults;

/// What a request asks for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Op {
    /// Read from the disk into the request.
    Read,
    /// Write the request to the disk.
    Write,
    /// Make completed writes durable.
    Flush,
}

/// A block request the driver owns, in the spirit of `kernel::block::mq::Request`:
/// [`BlkDriver::queue_rq`] hands it over, the driver keeps it with the device's work
/// (a per-tag slot of its [`BlkDriver::State`], say) and gives it back once with
/// [`Dev::done`] when the device has finished it; [`BlkDriver::complete`] then hands
/// it over again, and the driver ends it with [`Request::end`]. Neither `Copy` nor
/// `Clone`, and both steps consume it, so the driver cannot report a request finished
/// twice, or end one it was not given to end.
///
/// # Invariants
///
/// - `rq` and `tag` name a request the framework issued to the instance this value was
///   made for (passed to its `queue_rq` or `complete`); `op`, `sector` and `bytes` are
///   that request's, copied from its descriptor. `rq` is only ever handed to the block
///   callouts, which check again that the calling instance holds it (a stale one is
///   refused as `misuse`); it is never dereferenced here.
/// - For each time the framework passes a request to `queue_rq` or `complete`, the glue
///   makes exactly one owned `Request` (`timeout` only lends one, `&Request`, for the
///   call), so at most one owned handle per issued request exists.
/// - Dropping a `Request` completes nothing and tells the framework nothing: the
///   framework keeps every request it issued in its own list (the request's PDU) until
///   it ends or requeues it itself. A handle dropped by a live instance leaves its
///   request with that instance, unfinished, until the instance is replaced (blk-mq's
///   timer asks [`BlkDriver::timeout`], which may call the device hung). One dropped
///   with the driver's state on an orderly `remove`, or never dropped because the
///   instance died (its state is reclaimed without running destructors), leaves the
///   request to the framework, which re-issues every request an older generation still
///   holds to the next instance (`placeholders/blk.rs`, `reissue`). That is why
///   `Request` has no `Drop`: ending or reporting a request from a destructor would
///   race with that re-issue.
pub(crate) struct Request {
    rq: *mut c_void,
    tag: u32,
    op: Op,
    sector: u64,
    bytes: u32,
}

// SAFETY: a `Request` is a copy of a request's descriptor and the framework's name for
// it, which the driver only passes to callouts (that check it and may be called from
// any context and thread); nothing in it is tied to a thread.
unsafe impl Send for Request {}

impl Request {
    /// The handle for the request `rq` describes.
    ///
    /// # Safety
    ///
    /// `rq` is the descriptor the framework passed to the entry point being called, for
    /// a request it issued to that entry point's instance; the caller makes at most one
    /// `Request` of it that it hands over (see the type's invariants).
    unsafe fn from_raw(rq: *const BlkRq) -> Self {
        // SAFETY: `rq` is valid for this entry-point call (this function's contract).
        let r = unsafe { &*rq };
        let op = match r.op {
            BLK_OP_READ => Op::Read,
            BLK_OP_WRITE => Op::Write,
            BLK_OP_FLUSH => Op::Flush,
            _ => Op::Flush,
        };
        // INVARIANT: copied from the descriptor of a request issued to this instance.
        Request {
            rq: r.rq,
            tag: r.tag,
            op,
            sector: r.sector,
            bytes: r.bytes,
        }
    }

    /// The blk-mq tag: unique among the requests the instance holds, below
    /// `abi_blk::BLK_QUEUE_DEPTH`.
    pub(crate) fn tag(&self) -> u32 {
        self.tag
    }

    /// What to do.
    pub(crate) fn op(&self) -> Op {
        self.op
    }

    /// First 512-byte sector.
    pub(crate) fn sector(&self) -> u64 {
        self.sector
    }

    /// Data length in bytes.
    pub(crate) fn bytes(&self) -> u32 {
        self.bytes
    }

    /// Ends the request (in [`BlkDriver::complete`], which returns the result) with the
    /// device's answer `status`: the framework ends it in blk-mq as `complete` returns.
    pub(crate) fn end(self, status: Done) -> Ended {
        // INVARIANT: made by `end`, from this request.
        Ended {
            tag: self.tag,
            rq: self.rq,
            status,
        }
    }

    /// [`Request::end`] with [`Done::Ok`].
    pub(crate) fn end_ok(self) -> Ended {
        self.end(Done::Ok)
    }
}

/// A request ended by [`Request::end`]: what [`BlkDriver::complete`] returns.
///
/// # Invariants
///
/// Made only by [`Request::end`], from the request with tag `tag` and framework name
/// `rq`.
#[must_use = "return it from `BlkDriver::complete`"]
pub(crate) struct Ended {
    tag: u32,
    rq: *mut c_void,
    status: Done,
}

impl Ended {
    /// `complete`'s answer (`BLK_DONE_*`) for the request `rq` with tag `tag`, or `EINVAL`
    /// (a failure) if the driver ended another request (one it kept from `queue_rq`, or
    /// an older one with the same tag) instead of the one `complete` gave it.
    fn answer(&self, tag: u32, rq: *mut c_void) -> i64 {
        if self.tag != tag || self.rq != rq {
            return errno(EINVAL);
        }
        match self.status {
            Done::Ok => crate::abi_blk::BLK_DONE_OK,
            Done::IoError => crate::abi_blk::BLK_DONE_IOERR,
            Done::Unsupported => crate::abi_blk::BLK_DONE_UNSUPP,
        }
    }
}

/// How the device ended a request (the answer of [`BlkDriver::complete`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Done {
    /// Done.
    Ok,
    /// The device reported an I/O error.
    IoError,
    /// The device does not support the request.
    Unsupported,
}

/// The block callouts, on the handle of [`driver_dev`](crate::driver_dev).
impl Dev {
    /// Has the undo list write register value `value` of `io` if the instance dies: the
    /// device reset that must come before its DMA buffers and register mapping are given
    /// back. `R` is a register of `kernel::io::register!` at a fixed offset, 8, 16 or 32
    /// bits wide; its offset is checked against `SIZE` when the driver is built. Dropping
    /// the result (an orderly stop) drops the record without writing; drop it before `io`
    /// (the framework refuses to unmap a BAR a recorded reset writes into).
    pub(crate) fn reset_on_undo<const SIZE: usize, R>(
        &self,
        io: &IoBar<SIZE>,
        value: R,
    ) -> Result<ResetOnUndo>
    where
        R: FixedRegister,
        R::Storage: Into<u32>,
    {
        let width = core::mem::size_of::<R::Storage>();
        kernel::build_assert::const_assert!(
            R::OFFSET % core::mem::size_of::<R::Storage>() == 0
                && R::OFFSET + core::mem::size_of::<R::Storage>() <= SIZE,
            "a reset register outside the BAR or misaligned"
        );
        let offset = u32::try_from(R::OFFSET).map_err(|_| EINVAL)?;
        let raw: u32 = <R::Storage as From<R>>::from(value).into();
        // SAFETY: `self` is the live instance this entry point was called for; `io` is
        // a mapping of this instance.
        kernel::error::to_result(unsafe {
            bapi::ndriver_io_reset_on_undo(self.handle(), io.addr(), offset, raw, width as u32)
        })?;
        // INVARIANT: the callout recorded the reset for this instance at `io` + `offset`.
        Ok(ResetOnUndo {
            inst: self.handle(),
            base: io.addr(),
            offset,
        })
    }

    /// Reports the disk's size in 512-byte sectors (from `probe`).
    pub(crate) fn set_capacity(&self, sectors: u64) -> Result {
        // SAFETY: `self` is the live instance this entry point was called for.
        kernel::error::to_result(unsafe { bapi::ndriver_blk_set_capacity(self.handle(), sectors) })
    }

    /// Copies the data of write request `rq` into `buf` at `offset`.
    pub(crate) fn copy_from_request(
        &self,
        rq: &Request,
        buf: &DmaCoherent,
        offset: usize,
    ) -> Result {
        self.copy(rq, buf, offset, 0)
    }

    /// Copies the data for read request `rq` from `buf` at `offset` into the request.
    pub(crate) fn copy_to_request(&self, rq: &Request, buf: &DmaCoherent, offset: usize) -> Result {
        self.copy(rq, buf, offset, 1)
    }

    fn copy(&self, rq: &Request, buf: &DmaCoherent, offset: usize, to_rq: u32) -> Result {
        let data = buf.range(offset, rq.bytes() as usize).ok_or(EINVAL)?;
        // SAFETY: the live instance of this call; `rq.rq` names a request issued to it
        // (`Request`'s invariant; the callout checks it still holds it); `data` is
        // `rq.bytes()` bytes of `buf` (checked by `range`).
        kernel::error::to_result(unsafe {
            bapi::ndriver_blk_copy(self.handle(), rq.rq, data.cast(), rq.bytes(), to_rq)
        })
    }

    /// The device finished `rq`: gives it back to the framework, which calls
    /// [`BlkDriver::complete`] with it (possibly before this returns, so call it
    /// outside the driver's lock). `ENOENT` (and a failed instance) if the framework
    /// does not count `rq` as this instance's: the request stays with the framework,
    /// which re-issues it.
    pub(crate) fn done(&self, rq: Request) -> Result {
        // SAFETY: `self` is the live instance this entry point was called for; the tag
        // is checked by the callout against the requests the instance holds.
        kernel::error::to_result(unsafe { bapi::ndriver_blk_done(self.handle(), rq.tag) })
    }
}

/// The device reset the undo list performs if the instance dies. Like the handles of
/// `driver_dev.rs`, dropping it (an orderly `remove`) gives the record back through
/// the callouts; after a fault the undo list performs the reset instead.
///
/// # Invariants
///
/// The instance `inst` holds a reset record at `base + offset`, dropped (not performed)
/// when this value drops.
pub(crate) struct ResetOnUndo {
    inst: *mut Instance,
    base: *mut c_void,
    offset: u32,
}
// SAFETY: the record is an instance pointer and a mapping address; the callout `drop`
// calls is safe from any context and thread.
unsafe impl Send for ResetOnUndo {}
// SAFETY: a `&ResetOnUndo` gives access to nothing (no methods read or write through it), so
// sharing it between threads cannot race.
unsafe impl Sync for ResetOnUndo {}
impl Drop for ResetOnUndo {
    fn drop(&mut self) {
        // SAFETY: the record belongs to this live instance.
        unsafe { bapi::ndriver_io_reset_cancel(self.inst, self.base, self.offset) };
    }
}

/// A block implementation. Every method runs under a guard; `state` is the driver's own
/// mutable state ([`BlkDriver::State`]) behind the instance's IRQ-safe lock (an injected
/// `deadlock` takes that lock twice, for real). `commit_rqs`,
/// `devirq` and `timer` are optional (`#[vtable]`): without `commit_rqs` every request
/// must be on the device once `queue_rq` returns; without `devirq` no interrupt is
/// taken for the device's, and a timer the driver nevertheless arms fails the instance.
#[vtable]
pub(crate) trait BlkDriver: Sized + Send + Sync {
    /// The PCI functions this implementation drives, as `pci::Driver::ID_TABLE` says
    /// it for a kernel driver (`abi::PciId`; `&[]` for none). While the device has a
    /// function attached, only implementations that list it serve the device; a
    /// function no implementation of the class lists cannot be attached.
    const PCI_IDS: &'static [PciId];

    /// What the driver changes while it runs (the [`Request`]s the device holds, ...),
    /// behind the instance's lock; `Default` when the instance starts. What `probe` sets up once
    /// and never changes goes into `Self` instead.
    type State: Default + Send;

    /// Starts an instance: takes and resets the device, reports the capacity.
    fn probe(dev: &Dev, state: &DriverLock<Self::State>) -> Result<Self>;
    /// Takes `rq`, to keep until the device has finished it ([`Dev::done`]); `last` is
    /// false when more requests follow at once. `Err(EBUSY)`: no room now, ask again
    /// after a completion. Any other error is a failure. After an error the request is
    /// the framework's again (blk-mq dispatches it again): drop `rq`, keep no handle.
    fn queue_rq(
        &self,
        dev: &Dev,
        state: &DriverLock<Self::State>,
        rq: Request,
        last: bool,
    ) -> Result;
    /// Tells the device about requests taken with `last` false.
    fn commit_rqs(&self, _dev: &Dev, _state: &DriverLock<Self::State>) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// The device finished `rq` (the driver gave it back with [`Dev::done`]): copy read
    /// data into it and end it with the device's answer ([`Request::end`]). An error
    /// (or the end of another request) fails the instance; the framework then
    /// re-issues `rq`.
    fn complete(&self, dev: &Dev, state: &DriverLock<Self::State>, rq: Request) -> Result<Ended>;
    /// blk-mq's timer expired for `rq` (lent for the call: the driver's own handle, if
    /// it still has it, is in its state): `true` if it is progressing or was found done.
    fn timeout(&self, dev: &Dev, state: &DriverLock<Self::State>, rq: &Request) -> Result<bool>;
    /// The device's interrupt (`irq`): `true` if it was this device's.
    fn devirq(&self, _dev: &Dev, _state: &DriverLock<Self::State>, _irq: u64) -> Result<bool> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// A timer from [`Dev::timer`] expired.
    fn timer(&self, _dev: &Dev, _state: &DriverLock<Self::State>, _cookie: u64) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// Orderly stop (the state is dropped afterwards).
    fn remove(&self, dev: &Dev, state: &DriverLock<Self::State>);
}

/// The driver's state, in callout memory.
#[pin_data]
struct Slot<T: BlkDriver> {
    #[pin]
    state: DriverLock<T::State>,
    data: Option<T>,
}

/// The state of the instance behind `inst`, if probed.
///
/// # Safety
///
/// `inst` must be a live instance whose private data is NULL or a `Slot<T>`.
unsafe fn slot<'a, T: BlkDriver>(inst: *mut Instance) -> Option<(&'a DriverLock<T::State>, &'a T)> {
    // SAFETY: per this function's contract.
    let p = unsafe { api::ndriver_get_priv(inst) }.cast::<Slot<T>>();
    // SAFETY: set by `probe` below to an initialised `Slot<T>` that lives until
    // `remove` (or the framework's undo after a fault, after which no call comes).
    let s = unsafe { p.as_ref() }?;
    s.data.as_ref().map(|d| (&s.state, d))
}

/// The driver's handle for the instance an entry point was called for.
fn dev_of(inst: *mut Instance) -> Dev {
    // SAFETY: the glue's entry points are called by the framework with their live
    // instance only, and each uses the handle only during its call.
    unsafe { Dev::from_handle(inst) }
}

fn errno(e: Error) -> i64 {
    e.to_errno() as i64
}

/// # Safety
///
/// Called by the framework only, with a live instance (so for every `extern "C"` below).
pub(crate) unsafe extern "C" fn probe<T: BlkDriver>(inst: *mut Instance) -> c_int {
    let size = core::mem::size_of::<Slot<T>>();
    // SAFETY: `inst` is live; the block is recorded in its undo list.
    let mem = unsafe { api::ndriver_alloc(inst, size, 0) }.cast::<Slot<T>>();
    if mem.is_null() {
        return ENOMEM.to_errno();
    }
    let state = DriverLock::new(kernel::new_spinlock_irq!(
        T::State::default(),
        "blk_driver_state"
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
    if let Err(e) = entry_faults::raise(&dev, BlkEntry::Probe, &s.state) {
        return e.to_errno();
    }
    match T::probe(&dev, &s.state) {
        Ok(d) => {
            s.data = Some(d);
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Called by the framework only, with a live, probed instance and a valid request.
pub(crate) unsafe extern "C" fn queue_rq<T: BlkDriver>(
    inst: *mut Instance,
    rq: *const BlkRq,
    last: u32,
) -> i64 {
    // SAFETY: the framework calls entry points only on probed instances.
    let Some((state, d)) = (unsafe { slot::<T>(inst) }) else {
        return errno(ENODEV);
    };
    // SAFETY: `rq` is the descriptor of this call, of a request issued to `inst`; this
    // is the one handle made of it, handed to the driver.
    let rq = unsafe { Request::from_raw(rq) };
    let dev = dev_of(inst);
    // An injected fault drops `rq` unused: the framework takes the request back.
    match entry_faults::raise(&dev, BlkEntry::QueueRq, state)
        .and_then(|()| d.queue_rq(&dev, state, rq, last != 0))
    {
        Ok(()) => 0,
        Err(e) => errno(e),
    }
}

/// # Safety
///
/// Called by the framework only, with a live, probed instance.
pub(crate) unsafe extern "C" fn commit_rqs<T: BlkDriver>(inst: *mut Instance) -> i64 {
    // SAFETY: the framework calls entry points only on probed instances.
    let Some((state, d)) = (unsafe { slot::<T>(inst) }) else {
        return errno(ENODEV);
    };
    let dev = dev_of(inst);
    let r = entry_faults::raise(&dev, BlkEntry::CommitRqs, state).and_then(|()| {
        if T::HAS_COMMIT_RQS {
            d.commit_rqs(&dev, state)
        } else {
            Ok(())
        }
    });
    match r {
        Ok(()) => 0,
        Err(e) => errno(e),
    }
}

/// # Safety
///
/// Called by the framework only, with a live, probed instance and a valid request.
pub(crate) unsafe extern "C" fn complete<T: BlkDriver>(
    inst: *mut Instance,
    rq: *const BlkRq,
) -> i64 {
    // SAFETY: the framework calls entry points only on probed instances.
    let Some((state, d)) = (unsafe { slot::<T>(inst) }) else {
        return errno(ENODEV);
    };
    // SAFETY: `rq` is the descriptor of this call, of a request the instance reported
    // done; this is the one handle made of it, handed to the driver.
    let rq = unsafe { Request::from_raw(rq) };
    let (tag, name) = (rq.tag(), rq.rq);
    let dev = dev_of(inst);
    match entry_faults::raise(&dev, BlkEntry::Complete, state)
        .and_then(|()| d.complete(&dev, state, rq))
    {
        Ok(ended) => ended.answer(tag, name),
        Err(e) => errno(e),
    }
}

/// # Safety
///
/// Called by the framework only, with a live, probed instance and a valid request.
pub(crate) unsafe extern "C" fn timeout<T: BlkDriver>(
    inst: *mut Instance,
    rq: *const BlkRq,
) -> i64 {
    // SAFETY: the framework calls entry points only on probed instances.
    let Some((state, d)) = (unsafe { slot::<T>(inst) }) else {
        return errno(ENODEV);
    };
    // SAFETY: `rq` is the descriptor of this call, of a request issued to `inst`; the
    // handle is only lent to the driver, and dropped here.
    let rq = unsafe { Request::from_raw(rq) };
    let dev = dev_of(inst);
    match entry_faults::raise(&dev, BlkEntry::Timeout, state)
        .and_then(|()| d.timeout(&dev, state, &rq))
    {
        Ok(progressing) => progressing as i64,
        Err(e) => errno(e),
    }
}

/// # Safety
///
/// Called by the framework only, with a live, probed instance.
pub(crate) unsafe extern "C" fn devirq<T: BlkDriver>(inst: *mut Instance, arg: u64) -> i64 {
    if !T::HAS_DEVIRQ {
        return 0;
    }
    // SAFETY: the framework calls entry points only on probed instances.
    let Some((state, d)) = (unsafe { slot::<T>(inst) }) else {
        return errno(ENODEV);
    };
    let dev = dev_of(inst);
    match entry_faults::raise(&dev, BlkEntry::DevIrq, state)
        .and_then(|()| d.devirq(&dev, state, arg))
    {
        Ok(mine) => mine as i64,
        Err(e) => errno(e),
    }
}

/// # Safety
///
/// Called by the framework only, with a live, probed instance.
pub(crate) unsafe extern "C" fn timer<T: BlkDriver>(inst: *mut Instance, arg: u64) -> i64 {
    if !T::HAS_TIMER {
        return errno(ENOSYS);
    }
    // SAFETY: the framework calls entry points only on probed instances.
    let Some((state, d)) = (unsafe { slot::<T>(inst) }) else {
        return errno(ENODEV);
    };
    let dev = dev_of(inst);
    match entry_faults::raise(&dev, BlkEntry::Timer, state).and_then(|()| d.timer(&dev, state, arg))
    {
        Ok(()) => 0,
        Err(e) => errno(e),
    }
}

/// # Safety
///
/// Called by the framework only, with a live instance. Block implementations take no
/// work items, so none runs.
pub(crate) unsafe extern "C" fn work<T: BlkDriver>(_inst: *mut Instance, _arg: u64) -> i64 {
    0
}

/// # Safety
///
/// Called by the framework only, with a live instance, for an orderly stop.
pub(crate) unsafe extern "C" fn remove<T: BlkDriver>(inst: *mut Instance) {
    // SAFETY: `inst` is live; its private data is NULL or our `Slot<T>`.
    let p = unsafe { api::ndriver_get_priv(inst) }.cast::<Slot<T>>();
    if p.is_null() {
        return;
    }
    // SAFETY: `p` is the initialised slot, live until it is dropped below.
    let s = unsafe { &*p };
    if let Some(d) = &s.data {
        let dev = dev_of(inst);
        // A fault here is contained like any other; the framework then undoes.
        let _ = entry_faults::raise(&dev, BlkEntry::Remove, &s.state);
        d.remove(&dev, &s.state);
    }
    // SAFETY: `p` is the initialised slot, no longer borrowed; nothing else runs on this
    // instance during an orderly remove, so it is ours to drop and free.
    unsafe {
        ptr::drop_in_place(p);
        api::ndriver_set_priv(inst, ptr::null_mut());
        api::ndriver_free(inst, p.cast());
    }
}

/// Defines the operation table and descriptor of `blk` implementation `$t` named
/// `$name`, and the module that registers it.
macro_rules! blk_implementation {
    (type: $t:ty, name: $name:literal, module: $module:literal, description: $desc:literal $(,)?) => {
        static OPS: abi_blk::BlkOps = abi_blk::BlkOps {
            probe: blk_driver::probe::<$t>,
            queue_rq: blk_driver::queue_rq::<$t>,
            commit_rqs: blk_driver::commit_rqs::<$t>,
            complete: blk_driver::complete::<$t>,
            timeout: blk_driver::timeout::<$t>,
            remove: blk_driver::remove::<$t>,
            devirq: blk_driver::devirq::<$t>,
            timer: blk_driver::timer::<$t>,
            work: blk_driver::work::<$t>,
        };
        driver_dev::implementation_module! {
            class: c"blk",
            ops: OPS,
            pci_ids: <$t as blk_driver::BlkDriver>::PCI_IDS,
            name: $name,
            module: $module,
            description: $desc,
        }
    };
}
pub(crate) use blk_implementation;

// Built into the test module only (`selftests/kunit/`): every block implementation
// compiles this file in.
#[cfg(ndriver_kunit)]
#[kunit_tests(ndriver_blk_request)]
mod tests {
    use super::*;
    use crate::abi_blk::{BLK_DONE_IOERR, BLK_DONE_OK, BLK_DONE_UNSUPP};

    /// The framework's names of two requests (never dereferenced: only compared).
    const RQ_A: *mut c_void = ptr::without_provenance_mut(0x1000);
    const RQ_B: *mut c_void = ptr::without_provenance_mut(0x2000);

    /// The handle a `queue_rq` or `complete` call would make of request `rq` with tag
    /// `tag`.
    fn request(rq: *mut c_void, tag: u32, op: u32) -> Request {
        let d = BlkRq {
            rq,
            tag,
            op,
            sector: 64,
            bytes: 4096,
            reserved: 0,
        };
        // SAFETY: `d` is valid for the call; one handle is made of it.
        unsafe { Request::from_raw(&d) }
    }

    #[test]
    fn descriptor_copied() {
        let r = request(RQ_A, 7, BLK_OP_WRITE);
        assert_eq!(r.tag(), 7);
        assert_eq!(r.op(), Op::Write);
        assert_eq!(r.sector(), 64);
        assert_eq!(r.bytes(), 4096);
        assert_eq!(request(RQ_A, 0, BLK_OP_READ).op(), Op::Read);
        assert_eq!(request(RQ_A, 0, BLK_OP_FLUSH).op(), Op::Flush);
    }

    #[test]
    fn answer_for_the_request_complete_gave() {
        assert_eq!(
            request(RQ_A, 3, BLK_OP_READ).end_ok().answer(3, RQ_A),
            BLK_DONE_OK
        );
        assert_eq!(
            request(RQ_A, 3, BLK_OP_READ)
                .end(Done::IoError)
                .answer(3, RQ_A),
            BLK_DONE_IOERR
        );
        assert_eq!(
            request(RQ_A, 3, BLK_OP_READ)
                .end(Done::Unsupported)
                .answer(3, RQ_A),
            BLK_DONE_UNSUPP
        );
    }

    #[test]
    fn another_request_ended_is_an_error() {
        let einval = errno(EINVAL);
        // Another tag: a request kept from `queue_rq` instead of the one `complete` gave.
        assert_eq!(
            request(RQ_A, 4, BLK_OP_READ).end_ok().answer(3, RQ_A),
            einval
        );
        // The same tag, another request: an older one that had the tag before.
        assert_eq!(
            request(RQ_B, 3, BLK_OP_READ).end_ok().answer(3, RQ_A),
            einval
        );
        assert!(einval < 0);
    }
}
