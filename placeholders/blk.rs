// SPDX-License-Identifier: GPL-2.0

//! `blk`: the framework-owned block device (`ndblk0`), a class of the generic device
//! (`ndriver/device.rs`): its blk-mq tag set and gendisk, here; the guarded
//! `blk_mq_ops` and the re-issue of unfinished requests after a recovery or swap in
//! `blk/mq.rs`; a request's data mapped for the device in `blk/map.rs`; requests
//! finished in an interrupt in `blk/irq_done.rs`.
//!
//! The kernel only ever sees the placeholder's tag set (allocated at load) and gendisk
//! (registered once a PCI function is attached, `pci` in debugfs, and an instance
//! reported the disk's size), and both stay registered across every recovery and
//! swap: mounts stay mounted. blk-mq calls the framework's `queue_rq`, `commit_rqs`,
//! `complete` and `timeout`, which pass the request to the current instance under the
//! guard.
//!
//! Each request carries a small framework state in its PDU: which generation holds it
//! and whether it is with the driver (`ISSUED`), finished by the device and waiting
//! for `complete` (`DONE`), or with blk-mq (`IDLE`). Exactly one party moves a request
//! out of `ISSUED` or `DONE` (compare-and-swap), and that party either ends it or hands
//! it back to blk-mq with `blk_mq_requeue_request`. So blk-mq's in-flight tracking is
//! the unfinished-request list: once a new instance serves, every request an older
//! generation still holds is requeued and dispatched again, to the new instance; a
//! `complete` that finds its generation gone requeues its request too.
//!
//! No entry point has a caller waiting in process context: a failure marks the
//! instance failed (nothing more is admitted into it) and hands recovery to the
//! device's work item, while blk-mq retries what could not be dispatched. The blk-mq
//! request timeout asks the driver (`timeout`); if the device made no progress that is
//! a device hang, recovered like any failure.

use crate::abi::{AdoptFn, Instance};
use crate::abi_blk::{
    BlkEntry, BlkOps, BlkRq, BLK_DONE_IOERR, BLK_DONE_OK, BLK_DONE_UNSUPP, BLK_ENTRIES,
    BLK_MAX_BYTES, BLK_OP_FLUSH, BLK_OP_READ, BLK_OP_WRITE, BLK_QUEUE_DEPTH, BLK_SEGS_MAX,
};
use crate::device::{now_ns, Class, Device};
use crate::instance::{Event, InstanceState, ServedDevice};
use crate::placeholders::blk_busy::{BusyWatch, BUSY_STALL_NS};
use crate::placeholders::blk_rq_state::{RqState, RQ_COMPLETING, RQ_DONE, RQ_IDLE, RQ_ISSUED};
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use kernel::bindings;
use kernel::ffi::c_void;
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::types::Opaque;

#[path = "blk/irq_done.rs"]
pub(crate) mod irq_done;
#[path = "blk/map.rs"]
pub(crate) mod map;
#[path = "blk/mq.rs"]
mod mq;

use irq_done::IrqDone;
use map::RqMap;
use mq::{complete, reissue, MQ_OPS};
pub(crate) use mq::{done, holds};

const QUEUE_RQ: usize = BlkEntry::QueueRq as usize;
const COMMIT_RQS: usize = BlkEntry::CommitRqs as usize;
const COMPLETE: usize = BlkEntry::Complete as usize;
const TIMEOUT: usize = BlkEntry::Timeout as usize;
/// `queue_rq`'s answer for no room now: dispatched again once a request completes.
const BUSY: i64 = -(bindings::EBUSY as i64);
const DEPTH: usize = BLK_QUEUE_DEPTH as usize;

/// `REQ_OP_*` of `include/linux/blk_types.h` (the low 8 bits of `cmd_flags`).
const REQ_OP_MASK: u32 = 0xff;
const REQ_OP_READ: u32 = 0;
const REQ_OP_WRITE: u32 = 1;
const REQ_OP_FLUSH: u32 = 2;
/// `BLK_FEAT_WRITE_CACHE` (a `__force` cast in C, so not in the bindings).
const BLK_FEAT_WRITE_CACHE: u32 = 1 << 0;
/// `blk_status_t` values (`include/linux/blk_types.h`).
const BLK_STS_OK: u8 = 0;
const BLK_STS_NOTSUPP: u8 = 1;
const BLK_STS_RESOURCE: u8 = 9;
const BLK_STS_IOERR: u8 = 10;
const BLK_STS_DEV_RESOURCE: u8 = 13;

/// The framework's part of every request (blk-mq's PDU, `cmd_size`).
#[repr(C)]
pub(super) struct Pdu {
    /// Where the request is, and which issue of it (`blk_rq_state.rs`).
    state: RqState,
    /// Generation of the instance that holds the request (while not `IDLE`).
    gen: AtomicU64,
    /// The request's data mapped for the device (`blk/map.rs`).
    pub(super) map: RqMap,
    /// The next request on the list of those finished in an interrupt
    /// (`blk/irq_done.rs`), while the request is on it.
    pub(super) irq_next: AtomicPtr<bindings::request>,
}

/// The PDU of `rq`.
///
/// # Safety
///
/// `rq` must be a live request of the placeholder's tag set: handed over by blk-mq,
/// in flight, or loaded from `rqs` inside a [`TagsRead`] section that is still open
/// (an I/O scheduler's requests are freed when it is switched away).
pub(super) unsafe fn pdu<'a>(rq: *mut bindings::request) -> &'a Pdu {
    // SAFETY: the tag set's `cmd_size` reserves a `Pdu` behind every request,
    // initialised by `init_request`.
    unsafe { &*bindings::blk_mq_rq_to_pdu(rq).cast::<Pdu>() }
}

/// A read-side section of the tag set's `tags_srcu`. blk-mq frees the requests of an
/// I/O scheduler being switched away (`exit_request` on each, which clears its slots
/// of `rqs`, then their pages through `call_srcu` on this SRCU) only once every
/// section begun before has ended: a request pointer loaded from `rqs` inside one may
/// be read until it ends. Without it a stale slot read while the scheduler goes (a
/// driver's forged or late tag, a recovery's walk, `status`) reads freed memory.
///
/// A section must not span a call into the driver or an access to memory the driver
/// names (unless nested in a guarded call of its own): the guard abandons a faulting
/// frame without running its drops, and a reader that never ends would stop every
/// later free of the tag set's requests and hang `srcu_barrier` when the disk goes.
/// A request used past a section must be in flight (issued, not ended), which no
/// scheduler switch frees (it waits for the queue to drain).
///
/// # Invariants
///
/// `idx` came from `srcu_read_lock` on `srcu`, the `tags_srcu` of a tag set that
/// outlives `'a`; the section ends when this value drops.
pub(super) struct TagsRead<'a> {
    srcu: *mut bindings::srcu_struct,
    idx: kernel::ffi::c_int,
    _set: core::marker::PhantomData<&'a Blk>,
}

impl Blk {
    /// Begins a [`TagsRead`] section. Any context but NMI.
    pub(super) fn tags_read(&self) -> TagsRead<'_> {
        // SAFETY: `self.set` is the tag set `self` owns, allocated at creation (the type's
        // invariant); only the field's address is taken.
        let srcu = unsafe { &raw mut (*self.set.get()).tags_srcu };
        // SAFETY: `blk_mq_alloc_tag_set` initialised the set's `tags_srcu` at creation, and
        // it is cleaned up only when `self` drops.
        let idx = unsafe { bindings::srcu_read_lock(srcu) };
        // INVARIANT: the section just begun, on the set `self` owns.
        TagsRead {
            srcu,
            idx,
            _set: core::marker::PhantomData,
        }
    }
}

impl Drop for TagsRead<'_> {
    fn drop(&mut self) {
        // SAFETY: `idx` came from `srcu_read_lock` on `srcu`, still initialised (type
        // invariant); each section ends once.
        unsafe { bindings::srcu_read_unlock(self.srcu, self.idx) };
    }
}

/// The driver's view of `rq`; `None` for an operation the class does not pass on.
///
/// # Safety
///
/// `rq` must be a request of the placeholder's tag set, owned by the caller.
pub(super) unsafe fn describe(rq: *mut bindings::request) -> Option<BlkRq> {
    // SAFETY: per this function's contract; the fields are stable while we own it.
    let (flags, sector, bytes, tag) =
        unsafe { ((*rq).cmd_flags, (*rq).__sector, (*rq).__data_len, (*rq).tag) };
    let op = match flags & REQ_OP_MASK {
        REQ_OP_READ => BLK_OP_READ,
        REQ_OP_WRITE => BLK_OP_WRITE,
        REQ_OP_FLUSH => BLK_OP_FLUSH,
        _ => return None,
    };
    if tag < 0 || tag as usize >= DEPTH || bytes > BLK_MAX_BYTES {
        return None;
    }
    Some(BlkRq {
        rq: rq.cast(),
        tag: tag as u32,
        op,
        sector,
        bytes,
        reserved: 0,
    })
}

/// The `blk` class's per-device state.
///
/// # Invariants
///
/// - `set` is a tag set `blk_mq_alloc_tag_set` allocated in `create` with [`MQ_OPS`],
///   one hardware queue of `BLK_QUEUE_DEPTH` tags and a [`Pdu`] behind every request
///   (`cmd_size`, initialised by `mq_init_request`). It is pinned, and freed only when
///   this drops, after `shutdown` removed the disk; requests of the set live as long
///   as it does.
/// - `fops` is pinned, all-zero but for its owner (this module), and outlives the disk
///   whose `fops` it is.
/// - `disk` is NULL or a gendisk `add_disk` allocated on `set` with the [`BlkDevice`]
///   this is the class of as its queue's `queuedata`, on which this holds a reference:
///   `remove_disk` clears it (after `del_gendisk`) before `put_disk` drops that
///   reference.
/// - Each entry of `rqs` is NULL or the request of `set` last issued with that tag
///   (`queue_rq`); its PDU says whether an instance holds it.
#[pin_data(PinnedDrop)]
pub(crate) struct Blk {
    /// The disk's name (`/dev/<name>`).
    disk_name: &'static CStr,
    /// The tag set (allocated at creation, freed on drop).
    #[pin]
    set: Opaque<bindings::blk_mq_tag_set>,
    /// `block_device_operations` of the disk (the module is the owner).
    #[pin]
    fops: Opaque<bindings::block_device_operations>,
    /// The gendisk, NULL until the first instance on a device reported a capacity.
    disk: AtomicPtr<bindings::gendisk>,
    /// Capacity in sectors the newest instance reported (0: none yet).
    capacity: AtomicU64,
    /// The request behind each tag since it was last issued.
    rqs: [AtomicPtr<bindings::request>; DEPTH],
    /// A driver said `EBUSY`: run the queue again after the next completion.
    refused: AtomicBool,
    /// Refusals while the instance held no request (no completion to come).
    busy: BusyWatch,
    /// Instances failed because they refused every request while holding none.
    busy_stalls: AtomicU64,
    /// Requests handed back to blk-mq because the instance holding them died.
    requeued: AtomicU64,
    /// blk-mq request timeouts seen.
    timeouts: AtomicU64,
    /// Requests ended with an I/O error because no instance could serve them.
    failed: AtomicU64,
    /// Requests whose data an instance mapped for the device in place (`blk/map.rs`).
    pub(super) mapped: AtomicU64,
    /// A mapping was refused for want of room (bounce buffers, memory): the driver's
    /// `EBUSY` that follows is the framework's doing, not a driver refusing for nothing.
    pub(super) map_starved: AtomicBool,
    /// Requests whose data an instance copied in or out (`ndriver_blk_copy`).
    pub(crate) copied: AtomicU64,
    /// The policy gave up on every implementation: requests fail until a swap.
    down: AtomicBool,
    /// Requests finished during the instance's interrupt call, ended after it.
    irq_done: IrqDone,
}

// SAFETY: the tag set and operation table are set up once and then only used through
// the C API, which does its own locking; everything else is atomic.
unsafe impl Send for Blk {}
// SAFETY: a `&Blk` only hands the tag set and operation table to the C API, which does its
// own locking, and every other field is atomic.
unsafe impl Sync for Blk {}

/// The placeholder block device.
pub(crate) type BlkDevice = Device<Blk>;

#[pinned_drop]
impl PinnedDrop for Blk {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: allocated at creation; the disk using it is gone (`shutdown`).
        unsafe { bindings::blk_mq_free_tag_set(self.set.get()) };
    }
}

/// Creates the block placeholder `name` (also its disk's name) with its tag set and
/// interrupt name `irq_name`; the disk follows once an instance runs on an attached
/// PCI function.
pub(crate) fn create(
    name: &'static CStr,
    irq_name: &'static CStr,
    module: *mut bindings::module,
) -> Result<Arc<BlkDevice>> {
    let done_in_irq = IrqDone::new()?;
    // INVARIANT: the tag set is allocated as the type says (or `create` fails), `fops`
    // owned by `module`; no disk, no request issued yet.
    Arc::pin_init(
        Device::new(
            name,
            irq_name,
            try_pin_init!(Blk {
                disk_name: name,
                set <- Opaque::try_ffi_init(move |set: *mut bindings::blk_mq_tag_set| {
                    // SAFETY: `set` is pinned memory for a tag set, zeroed first as the
                    // C API expects, then filled and allocated.
                    unsafe {
                        core::ptr::write_bytes(set, 0, 1);
                        (*set).ops = &MQ_OPS;
                        (*set).nr_hw_queues = 1;
                        (*set).queue_depth = BLK_QUEUE_DEPTH;
                        // No I/O scheduler unless the operator picks one: a single
                        // hardware queue would get mq-deadline, whose dispatch from
                        // kblockd cost vblk-a about 40 % of its 4 KiB rate at
                        // depth 32 (`evaluation.rst`); the C driver's per-CPU queues
                        // get none.
                        (*set).flags = bindings::BLK_MQ_F_NO_SCHED_BY_DEFAULT as u32;
                        (*set).numa_node = bindings::NUMA_NO_NODE;
                        (*set).cmd_size = core::mem::size_of::<Pdu>() as u32;
                        (*set).nr_maps = 1;
                        kernel::error::to_result(bindings::blk_mq_alloc_tag_set(set))
                    }
                }),
                fops <- Opaque::ffi_init(move |fops: *mut bindings::block_device_operations| {
                    // SAFETY: `fops` is memory for the table; all-zero is a table without
                    // operations; the owner keeps ndriver loaded while the disk is open.
                    unsafe {
                        core::ptr::write_bytes(fops, 0, 1);
                        (*fops).owner = module;
                    }
                }),
                disk: AtomicPtr::new(core::ptr::null_mut()),
                capacity: AtomicU64::new(0),
                rqs: [const { AtomicPtr::new(core::ptr::null_mut()) }; DEPTH],
                refused: AtomicBool::new(false),
                busy: BusyWatch::new(),
                busy_stalls: AtomicU64::new(0),
                requeued: AtomicU64::new(0),
                timeouts: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                mapped: AtomicU64::new(0),
                map_starved: AtomicBool::new(false),
                copied: AtomicU64::new(0),
                down: AtomicBool::new(false),
                irq_done: done_in_irq,
            }? Error),
        ),
        GFP_KERNEL,
    )
}

/// Requests of the disk that are not idle: issued to an instance and not finished.
fn requests_held(dev: &BlkDevice) -> usize {
    let _tags = dev.class.tags_read();
    dev.class
        .rqs
        .iter()
        .filter(|r| {
            let rq = r.load(Ordering::Relaxed);
            // SAFETY: loaded from `rqs` inside `_tags`: blk-mq frees it only after the
            // section.
            !rq.is_null() && unsafe { pdu(rq) }.state.get() != RQ_IDLE
        })
        .count()
}

impl Class for Blk {
    const NAME: &'static str = "blk";
    type Ops = BlkOps;
    const ENTRIES: &'static [&'static str] = &BLK_ENTRIES;
    const PROBE: usize = BlkEntry::Probe as usize;
    // The class has no configuration items; `configure` is never called.
    const CONFIGURE: usize = BlkEntry::Probe as usize;
    const REMOVE: usize = BlkEntry::Remove as usize;
    const ADOPT: Option<usize> = Some(BlkEntry::Adopt as usize);

    fn event_entry(ev: Event) -> Option<usize> {
        Some(match ev {
            Event::DevIrq => BlkEntry::DevIrq as usize,
            Event::Timer => BlkEntry::Timer as usize,
            Event::Work => BlkEntry::Work as usize,
        })
    }

    /// # Safety
    ///
    /// As for [`Class::probe`].
    unsafe fn probe(ops: &BlkOps, h: *mut Instance) -> i64 {
        // SAFETY: per the trait's contract.
        unsafe { (ops.probe)(h) as i64 }
    }

    fn adopt_fn(ops: &BlkOps) -> Option<AdoptFn> {
        ops.adopt
    }

    /// Warm after a failure in the I/O path, the interrupt or a timer, where the device
    /// itself is not in doubt; not after a request timed out (the device may be hung),
    /// nor in `probe`, `adopt` or `remove`. The requests the instance held are issued
    /// again once the adopter serves, as after a cold restart: the adopter waits until
    /// the device gave back every one it was given, so none is both finished by the
    /// device for the dead instance and issued again to the new one. The requests' data
    /// the instance mapped (`blk/map.rs`) stays mapped until then (the undo list lends
    /// those mappings to the kept set on its own), and the adopter checks the chains it
    /// inherits against them (`ndriver_blk_lent`). No other memory is lent: `false`.
    fn warm_ok(_dev: &BlkDevice, _st: &InstanceState, entry: usize) -> Option<bool> {
        const WARM_ENTRIES: [BlkEntry; 6] = [
            BlkEntry::QueueRq,
            BlkEntry::CommitRqs,
            BlkEntry::Complete,
            BlkEntry::DevIrq,
            BlkEntry::Timer,
            BlkEntry::Work,
        ];
        WARM_ENTRIES
            .iter()
            .any(|e| *e as usize == entry)
            .then_some(false)
    }

    /// # Safety
    ///
    /// As for [`Class::configure`].
    unsafe fn configure(_ops: &BlkOps, _h: *mut Instance, _key: u32, _value: u64) -> i64 {
        EINVAL.to_errno() as i64
    }

    /// # Safety
    ///
    /// As for [`Class::remove`].
    unsafe fn remove(ops: &BlkOps, h: *mut Instance) {
        // SAFETY: per the trait's contract.
        unsafe { (ops.remove)(h) }
    }

    /// In an interrupt, the requests the call reports done are ended right after it
    /// (`blk/irq_done.rs`), not in blk-mq's completion softirq.
    fn run_event(dev: &BlkDevice, _ev: Event, call: impl FnOnce() -> Option<i64>) -> Option<i64> {
        dev.class.irq_done.run(call, |rq| complete(dev, rq))
    }

    /// # Safety
    ///
    /// As for [`Class::event`].
    unsafe fn event(ops: &BlkOps, h: *mut Instance, ev: Event, arg: u64) -> i64 {
        let f = match ev {
            Event::DevIrq => ops.devirq,
            Event::Timer => ops.timer,
            Event::Work => ops.work,
        };
        // SAFETY: per the trait's contract.
        unsafe { f(h, arg) }
    }

    /// A new instance serves: what older generations held is dispatched again, and the
    /// disk is registered if this is the first instance on a device.
    fn redirected(dev: &BlkDevice) {
        dev.class.down.store(false, Ordering::Release);
        // A run of idle refusals belongs to the instance that refused.
        dev.class.busy.progress();
        let n = reissue(dev, dev.ctl_generation_hint(), false);
        dev.counters.reissued.fetch_add(n, Ordering::Relaxed);
        if dev.class.disk.load(Ordering::Acquire).is_null()
            && dev.class.capacity.load(Ordering::Acquire) != 0
        {
            if let Err(e) = add_disk(dev) {
                pr_err!("{}: registering the disk failed: {:?}\n", dev.name, e);
            }
        }
    }

    /// The policy gave up: what the dead instances held fails, and so does every
    /// request until an operator swap brings an instance back.
    fn gave_up(dev: &BlkDevice) {
        dev.class.down.store(true, Ordering::Release);
        reissue(dev, u64::MAX, true);
    }

    /// The device goes away: unregister the disk while an instance still serves its
    /// remaining I/O.
    fn shutdown(dev: &BlkDevice) {
        remove_disk(dev);
    }

    fn unfinished(dev: &BlkDevice) -> Option<usize> {
        Some(requests_held(dev))
    }

    fn show_status(dev: &BlkDevice, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let c = &dev.class;
        match c.disk.load(Ordering::Relaxed).is_null() {
            true => writeln!(f, "disk none")?,
            false => writeln!(f, "disk {}", c.disk_name.to_str().unwrap_or("?"))?,
        }
        writeln!(f, "capacity_sectors {}", c.capacity.load(Ordering::Relaxed))?;
        writeln!(f, "requests_held {}", requests_held(dev))?;
        writeln!(f, "queue_depth {}", BLK_QUEUE_DEPTH)
    }

    fn show_stats(dev: &BlkDevice, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let c = &dev.class;
        writeln!(f, "requeued {}", c.requeued.load(Ordering::Relaxed))?;
        writeln!(f, "busy_stalls {}", c.busy_stalls.load(Ordering::Relaxed))?;
        writeln!(f, "timeouts {}", c.timeouts.load(Ordering::Relaxed))?;
        writeln!(f, "failed_requests {}", c.failed.load(Ordering::Relaxed))?;
        writeln!(f, "mapped_requests {}", c.mapped.load(Ordering::Relaxed))?;
        writeln!(f, "copied_requests {}", c.copied.load(Ordering::Relaxed))
    }
}

impl BlkDevice {
    /// Generation of the instance serving now (called with the control lock held by
    /// the recovery that is redirecting, so read from the current instance).
    fn ctl_generation_hint(&self) -> u64 {
        match self.admit() {
            Some(a) => a.inst.generation,
            None => u64::MAX,
        }
    }
}

/// Capacity reported by a starting instance (`ndriver_blk_set_capacity`). Refused if
/// the disk exists with another size.
pub(crate) fn set_capacity(dev: &BlkDevice, sectors: u64) -> Result {
    let c = &dev.class;
    let old = c.capacity.load(Ordering::Relaxed);
    if !c.disk.load(Ordering::Acquire).is_null() && old != sectors {
        pr_err!(
            "{}: new instance reports {} sectors, the disk has {}\n",
            dev.name,
            sectors,
            old
        );
        return Err(EINVAL);
    }
    c.capacity.store(sectors, Ordering::Release);
    Ok(())
}

/// Creates and registers the gendisk. Without partitions, so registering it issues
/// no I/O (it runs under the device's control lock).
fn add_disk(dev: &BlkDevice) -> Result {
    let c = &dev.class;
    // SAFETY: all-zero `queue_limits` are "defaults" to `blk_validate_limits`.
    let mut lim: bindings::queue_limits = unsafe { core::mem::zeroed() };
    lim.logical_block_size = 512;
    lim.physical_block_size = 512;
    lim.max_hw_sectors = BLK_MAX_BYTES / 512;
    // Each piece one entry of the request's own scatterlist (`blk/map.rs`).
    lim.max_segments = BLK_SEGS_MAX as u16;
    lim.features = BLK_FEAT_WRITE_CACHE;
    // SAFETY: the tag set is allocated; the device outlives the disk (removed in
    // `shutdown`), so it can be the queue's `queuedata`.
    let disk = unsafe {
        bindings::__blk_mq_alloc_disk(
            c.set.get(),
            &mut lim,
            core::ptr::from_ref(dev).cast_mut().cast::<c_void>(),
            kernel::static_lock_class!().as_ptr(),
        )
    };
    let disk = kernel::error::from_err_ptr(disk)?;
    let name = c.disk_name.to_bytes_with_nul();
    // SAFETY: `disk` is a fresh gendisk of ours.
    unsafe {
        if name.len() > (*disk).disk_name.len() {
            bindings::put_disk(disk);
            return Err(EINVAL);
        }
        for (i, b) in name.iter().enumerate() {
            (*disk).disk_name[i] = *b as _;
        }
        (*disk).fops = c.fops.get();
        (*disk).flags |= bindings::GENHD_FL_NO_PART as i32;
        bindings::set_capacity(disk, c.capacity.load(Ordering::Relaxed));
    }
    // INVARIANT: a gendisk of `set` whose reference we hold, with the device as its
    // queue's `queuedata`.
    c.disk.store(disk, Ordering::Release);
    // SAFETY: `disk` is ready.
    let r =
        unsafe { bindings::device_add_disk(core::ptr::null_mut(), disk, core::ptr::null_mut()) };
    if r != 0 {
        c.disk.store(core::ptr::null_mut(), Ordering::Release);
        // SAFETY: not added, ours to drop.
        unsafe { bindings::put_disk(disk) };
        return Err(Error::from_errno(r));
    }
    pr_info!(
        "{}: disk of {} sectors registered\n",
        dev.name,
        c.capacity.load(Ordering::Relaxed)
    );
    Ok(())
}

/// Unregisters and drops the gendisk (I/O still flows while `del_gendisk` runs).
fn remove_disk(dev: &BlkDevice) {
    let disk = dev.class.disk.load(Ordering::Acquire);
    if disk.is_null() {
        return;
    }
    // SAFETY: the disk we added; `del_gendisk` drains its I/O.
    unsafe { bindings::del_gendisk(disk) };
    dev.class
        .disk
        .store(core::ptr::null_mut(), Ordering::Release);
    // SAFETY: drops our reference; the queue goes with it.
    unsafe { bindings::put_disk(disk) };
}

/// The block placeholder an instance serves, if it is a `blk` instance.
pub(crate) fn of_instance(st: &InstanceState) -> Option<&BlkDevice> {
    st.device().as_any().downcast_ref::<BlkDevice>()
}

#[kunit_tests(ndriver_blk_describe)]
mod tests {
    use super::*;

    /// A request with the fields [`describe`] reads set, the rest zero.
    fn request(flags: u32, tag: i32, bytes: u32) -> Result<KBox<bindings::request>> {
        // SAFETY: `struct request` is made of integers, pointers, optional function pointers
        // and unions of them, for all of which zero is a valid value.
        let zeroed = unsafe { core::mem::zeroed::<bindings::request>() };
        let mut rq = KBox::new(zeroed, GFP_KERNEL)?;
        rq.cmd_flags = flags;
        rq.tag = tag;
        rq.__data_len = bytes;
        rq.__sector = 2048;
        Ok(rq)
    }

    /// What [`describe`] makes of a request: `None`, or its op, tag, sector and bytes.
    fn described(flags: u32, tag: i32, bytes: u32) -> Result<Option<(u32, u32, u64, u32)>> {
        let mut rq = request(flags, tag, bytes)?;
        let p: *mut bindings::request = &mut *rq;
        // SAFETY: `describe` reads `cmd_flags`, `__sector`, `__data_len` and `tag` of a
        // request the caller owns: `rq` is ours, with those fields set.
        let d = unsafe { describe(p) };
        Ok(d.map(|d| {
            let same = d.rq == p.cast::<c_void>() && d.reserved == 0;
            (if same { d.op } else { u32::MAX }, d.tag, d.sector, d.bytes)
        }))
    }

    #[test]
    fn operations_passed_on() -> Result {
        assert_eq!(
            described(REQ_OP_READ, 3, 4096)?,
            Some((BLK_OP_READ, 3, 2048, 4096))
        );
        assert_eq!(
            described(REQ_OP_WRITE, 0, 512)?,
            Some((BLK_OP_WRITE, 0, 2048, 512))
        );
        assert_eq!(
            described(REQ_OP_FLUSH, 5, 0)?,
            Some((BLK_OP_FLUSH, 5, 2048, 0))
        );
        // Flags above the operation (REQ_FUA, REQ_SYNC, ...) do not change it.
        assert_eq!(
            described(REQ_OP_WRITE | 0x3f00, 1, 512)?.map(|d| d.0),
            Some(BLK_OP_WRITE)
        );
        // Operations the class does not pass on: discard (3), write zeroes (9), a driver's own.
        for op in [3, 9, 34, 0xff] {
            assert_eq!(described(op, 1, 512)?, None);
        }
        Ok(())
    }

    #[test]
    fn tags_inside_the_queue_depth() -> Result {
        let last = DEPTH as i32 - 1;
        assert_eq!(
            described(REQ_OP_READ, last, 512)?.map(|d| d.1),
            Some(last as u32)
        );
        assert_eq!(described(REQ_OP_READ, DEPTH as i32, 512)?, None);
        assert_eq!(described(REQ_OP_READ, -1, 512)?, None);
        assert_eq!(described(REQ_OP_READ, i32::MIN, 512)?, None);
        assert_eq!(described(REQ_OP_READ, i32::MAX, 512)?, None);
        Ok(())
    }

    #[test]
    fn length_bounded() -> Result {
        assert_eq!(
            described(REQ_OP_WRITE, 1, BLK_MAX_BYTES)?.map(|d| d.3),
            Some(BLK_MAX_BYTES)
        );
        assert_eq!(described(REQ_OP_WRITE, 1, BLK_MAX_BYTES + 1)?, None);
        assert_eq!(described(REQ_OP_READ, 1, u32::MAX)?, None);
        Ok(())
    }
}
