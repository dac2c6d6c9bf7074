// SPDX-License-Identifier: GPL-2.0

//! The placeholder's side of blk-mq: its `blk_mq_ops` ([`MQ_OPS`]), each of which hands
//! the request to the current instance under the guard (`queue_rq`, `commit_rqs`,
//! `complete`, `timeout`), the framework's record of which instance holds which
//! request, and the re-issue of what a dead instance held. Part of `blk.rs`.

use super::*;

/// The blk-mq operations of the placeholder.
pub(super) static MQ_OPS: bindings::blk_mq_ops = bindings::blk_mq_ops {
    queue_rq: Some(mq_queue_rq),
    commit_rqs: Some(mq_commit_rqs),
    timeout: Some(mq_timeout),
    complete: Some(mq_complete),
    init_request: Some(mq_init_request),
    exit_request: Some(mq_exit_request),
    // SAFETY: all-zero is "no operation" (NULL) for every other member.
    ..unsafe { core::mem::zeroed() }
};

/// The request queue, once the disk exists.
fn queue(dev: &BlkDevice) -> *mut bindings::request_queue {
    let disk = dev.class.disk.load(Ordering::Acquire);
    if disk.is_null() {
        return core::ptr::null_mut();
    }
    // SAFETY: the disk lives until `remove_disk`, which clears `disk` first.
    unsafe { (*disk).queue }
}

/// Hands `rq` (moved out of `ISSUED` or into `COMPLETING` by the caller) back to blk-mq, which
/// dispatches it again.
fn requeue(dev: &BlkDevice, rq: *mut bindings::request) {
    // SAFETY: `rq` is a started request of our tag set that nobody else ends.
    unsafe { pdu(rq) }.state.idle();
    dev.class.requeued.fetch_add(1, Ordering::Relaxed);
    // SAFETY: `rq` is a started request of our tag set that nobody else ends or requeues (the
    // caller claimed it by its state change).
    unsafe { bindings::blk_mq_requeue_request(rq, true) };
}

/// Ends `rq` (moved out of `ISSUED` or into `COMPLETING` by the caller) with `status`.
fn end(dev: &BlkDevice, rq: *mut bindings::request, status: u8) {
    // SAFETY: `rq` is a started request of our tag set that nobody else ends.
    unsafe {
        pdu(rq).state.idle();
        bindings::blk_mq_end_request(rq, status);
    }
    if dev.class.refused.swap(false, Ordering::AcqRel) {
        let q = queue(dev);
        if !q.is_null() {
            // SAFETY: the queue of the live disk.
            unsafe { bindings::blk_mq_run_hw_queues(q, true) };
        }
    }
}

fn queue_rq(dev: &BlkDevice, rq: *mut bindings::request, last: bool) -> u8 {
    // SAFETY: blk-mq hands us a request of our tag set.
    let p = unsafe { pdu(rq) };
    // SAFETY: blk-mq hands `queue_rq` a request of our tag set, ours until we end or requeue it.
    let Some(brq) = (unsafe { describe(rq) }) else {
        return BLK_STS_NOTSUPP;
    };
    let Some(a) = dev.admit() else {
        if dev.class.down.load(Ordering::Acquire) {
            dev.class.failed.fetch_add(1, Ordering::Relaxed);
            return BLK_STS_IOERR;
        }
        // Starting or recovering: blk-mq dispatches it again shortly.
        return BLK_STS_RESOURCE;
    };
    dev.class.rqs[brq.tag as usize].store(rq, Ordering::Release);
    p.gen.store(a.inst.generation, Ordering::Relaxed);
    let issue = p.state.issue();
    // SAFETY: a request blk-mq gave us to start.
    unsafe { bindings::blk_mq_start_request(rq) };
    let h = a.handle();
    let f = a.ops().queue_rq;
    let inst = a.inst;
    let r = dev.guarded_entry_answering(
        QUEUE_RQ,
        BUSY,
        // SAFETY: `h` is the live instance `f` belongs to; `brq` outlives the call.
        || unsafe { f(h, &brq, last as u32) },
        |v| {
            if v != 0 {
                inst.misuse(format_args!(
                    "queue_rq of tag {} answered {}, neither 0 nor -EBUSY",
                    brq.tag, v
                ));
            }
        },
    );
    // Only this issue goes back: the device may have finished it meanwhile, and blk-mq
    // issued the request again (`blk_rq_state.rs`).
    let release = |p: &Pdu| p.state.release(issue);
    match r {
        Ok(0) => {
            dev.class.busy.progress();
            BLK_STS_OK
        }
        Ok(_busy) => {
            // This issue back first: then nobody else moves the request until this
            // returns, and a mapping of it is this issue's (else the device finished
            // it and whoever moved it on owns the mapping).
            if !release(p) {
                return BLK_STS_OK;
            }
            // Refused: not on the device, so not mapped for it either.
            map::unmap_held(a.inst, rq);
            if dev.class.map_starved.swap(false, Ordering::AcqRel) {
                // No room to map it now: blk-mq retries after a short delay, and the
                // driver is not counted as refusing with nothing in flight.
                return BLK_STS_RESOURCE;
            }
            // Order the release above before the scan (store-buffering with another
            // CPU's refusal: each must see the other's request idle).
            core::sync::atomic::fence(Ordering::SeqCst);
            // No PCI function: the instance waits for one (`EBUSY` by design), and the
            // attach's new instance runs the queue again (`redirected`, `reissue`).
            if requests_held(dev) == 0 && !dev.pci_dev().is_null() {
                // Refused with nothing in flight: no completion will run the queue
                // again, so blk-mq retries after a short delay; a driver that keeps
                // this up is stuck (`blk_busy.rs`).
                if dev.class.busy.refused_idle(now_ns(), BUSY_STALL_NS) {
                    dev.class.busy_stalls.fetch_add(1, Ordering::Relaxed);
                    pr_warn!(
                        "{}: the driver refuses every request and holds none, for over {} ms: recovering the device\n",
                        dev.name,
                        BUSY_STALL_NS / 1_000_000
                    );
                    let fail = dev.device_hang(QUEUE_RQ);
                    dev.fail_async(a, QUEUE_RQ, fail);
                }
                return BLK_STS_RESOURCE;
            }
            // No room in the driver: blk-mq keeps it, and the next completion runs the
            // queue again (a request another CPU is handing to the driver right now
            // may be refused too: only an accepted request or a completion ends a run).
            dev.class.refused.store(true, Ordering::Release);
            BLK_STS_DEV_RESOURCE
        }
        Err(fail) => {
            // Mapped for the device, it may be on the device too: it stays the dead
            // instance's (`ISSUED`), and is issued again once its mapping is undone
            // (after a reset, or after the adopter drained the device: `redirected`).
            let mapped = map::mapped_by(rq, a.inst.generation);
            dev.fail_async(a, QUEUE_RQ, fail);
            if mapped || !release(p) {
                // Or the device finished it before the fault: `complete` requeues it.
                return BLK_STS_OK;
            }
            BLK_STS_RESOURCE
        }
    }
}

fn commit_rqs(dev: &BlkDevice) {
    let Some(a) = dev.admit() else {
        return;
    };
    let h = a.handle();
    let f = a.ops().commit_rqs;
    // SAFETY: `h` is the live instance `f` belongs to.
    if let Err(fail) = dev.guarded_entry(COMMIT_RQS, || unsafe { f(h) }) {
        // Requests the device was not told about are re-issued by the recovery.
        dev.fail_async(a, COMMIT_RQS, fail);
    }
}

/// Whether `rq` is a request instance `st` holds now (issued to it, not finished).
pub(crate) fn holds(dev: &BlkDevice, st: &InstanceState, rq: *mut bindings::request) -> bool {
    let _tags = dev.class.tags_read();
    if rq.is_null()
        || !dev
            .class
            .rqs
            .iter()
            .any(|r| r.load(Ordering::Acquire) == rq)
    {
        return false;
    }
    // SAFETY: `rq` was found in `rqs` inside `_tags`: blk-mq frees it only after the
    // section.
    let p = unsafe { pdu(rq) };
    let state = p.state.get();
    p.gen.load(Ordering::Acquire) == st.generation && (state == RQ_ISSUED || state == RQ_COMPLETING)
}

/// The request last issued with `tag` and the generation of the instance holding it,
/// if one holds it and has not reported it done.
pub(super) fn issued_rq(dev: &BlkDevice, tag: u32) -> Option<(*mut bindings::request, u64)> {
    // A request returned was in flight (issued) when the section ended; the caller
    // relies on it staying so (`lent`: during `adopt`, nothing moves a dead instance's
    // requests).
    let _tags = dev.class.tags_read();
    let rq = dev.class.rqs.get(tag as usize)?.load(Ordering::Acquire);
    if rq.is_null() {
        return None;
    }
    // SAFETY: loaded from `rqs` inside `_tags`: blk-mq frees it only after the section.
    let p = unsafe { pdu(rq) };
    let gen = p.gen.load(Ordering::Acquire);
    (p.state.get() == RQ_ISSUED).then_some((rq, gen))
}

/// Whether `rq` is issued to instance generation `gen` and not reported done.
pub(super) fn issued_to(rq: *mut bindings::request, gen: u64) -> bool {
    // SAFETY: a request of our tag set (the caller's).
    let p = unsafe { pdu(rq) };
    p.state.get() == RQ_ISSUED && p.gen.load(Ordering::Acquire) == gen
}

/// The device finished request `tag` of instance `st` (`ndriver_blk_done`).
pub(crate) fn done(dev: &BlkDevice, st: &InstanceState, tag: u32) -> Result {
    // The section covers the lookup and the state change only: once `DONE` the request
    // is ours and in flight, and its completion (which may run the driver's `complete`
    // right here) stays out of it.
    let rq = {
        let _tags = dev.class.tags_read();
        let rq = dev
            .class
            .rqs
            .get(tag as usize)
            .map(|r| r.load(Ordering::Acquire))
            .filter(|r| !r.is_null())
            .ok_or(ENOENT)?;
        // SAFETY: loaded from `rqs` inside `_tags`: blk-mq frees it only after the section.
        let p = unsafe { pdu(rq) };
        if p.gen.load(Ordering::Acquire) != st.generation {
            return Err(ENOENT);
        }
        if !p.state.advance(RQ_ISSUED, RQ_DONE) {
            return Err(ENOENT);
        }
        rq
    };
    // SAFETY: a started request of our tag set, ours now (`DONE`), completed by nobody
    // else.
    if unsafe { dev.class.irq_done.collect(rq) } {
        return Ok(());
    }
    // SAFETY: a started request we own; blk-mq calls `complete` for it.
    unsafe { bindings::blk_mq_complete_request(rq) };
    Ok(())
}

/// Request `rq`, `DONE`, is handed back to its instance and ended: from blk-mq's
/// `complete`, or after the instance's interrupt call (`blk/irq_done.rs`).
pub(super) fn complete(dev: &BlkDevice, rq: *mut bindings::request) {
    // SAFETY: blk-mq or the interrupt's list hands us a started request of our tag set.
    let p = unsafe { pdu(rq) };
    if !p.state.advance(RQ_DONE, RQ_COMPLETING) {
        return;
    }
    let gen = p.gen.load(Ordering::Acquire);
    // SAFETY: a started request of our tag set, ours now (we moved it from `DONE` to
    // `COMPLETING`).
    let Some(brq) = (unsafe { describe(rq) }) else {
        // Not passed on, so never mapped; should it be, by a live instance, unmapped.
        if let Some(a) = dev.admit() {
            map::unmap_held(a.inst, rq);
        }
        end(dev, rq, BLK_STS_IOERR);
        return;
    };
    let a = match dev.admit() {
        Some(a) if a.inst.generation == gen => a,
        _ => {
            if dev.class.down.load(Ordering::Acquire) {
                dev.class.failed.fetch_add(1, Ordering::Relaxed);
                end(dev, rq, BLK_STS_IOERR);
            } else {
                // Its instance is gone (or going): dispatch it again.
                requeue(dev, rq);
            }
            return;
        }
    };
    let h = a.handle();
    let f = a.ops().complete;
    let inst = a.inst;
    let r = dev.guarded_entry_checked(
        COMPLETE,
        // SAFETY: `h` is the live instance `f` belongs to; `brq` outlives the call.
        || unsafe { f(h, &brq) },
        |v| {
            if !matches!(v, BLK_DONE_OK | BLK_DONE_IOERR | BLK_DONE_UNSUPP) {
                inst.misuse(format_args!(
                    "complete of tag {} answered {}, no status",
                    brq.tag, v
                ));
            }
        },
    );
    match r {
        Ok(v) => {
            // The device is done with the pages: unmapped before the request ends.
            map::unmap_held(inst, rq);
            drop(a);
            dev.class.busy.progress();
            let status = match v {
                BLK_DONE_OK => BLK_STS_OK,
                BLK_DONE_IOERR => BLK_STS_IOERR,
                BLK_DONE_UNSUPP => BLK_STS_NOTSUPP,
                // A misuse (checked in the call): not returned as `Ok`.
                _ => BLK_STS_IOERR,
            };
            end(dev, rq, status);
        }
        Err(fail) => {
            dev.fail_async(a, COMPLETE, fail);
            requeue(dev, rq);
        }
    }
}

fn timeout(dev: &BlkDevice, rq: *mut bindings::request) -> bindings::blk_eh_timer_return {
    let reset = bindings::blk_eh_timer_return_BLK_EH_RESET_TIMER;
    dev.class.timeouts.fetch_add(1, Ordering::Relaxed);
    // SAFETY: blk-mq hands us a request of our tag set.
    let p = unsafe { pdu(rq) };
    if p.state.get() != RQ_ISSUED {
        return reset;
    }
    let gen = p.gen.load(Ordering::Acquire);
    let Some(a) = dev.admit() else {
        return reset;
    };
    if a.inst.generation != gen {
        // Held by a dead instance: the recovery requeues it.
        return reset;
    }
    // SAFETY: a started request of our tag set.
    let Some(brq) = (unsafe { describe(rq) }) else {
        return reset;
    };
    let h = a.handle();
    let f = a.ops().timeout;
    // SAFETY: `h` is the live instance `f` belongs to; `brq` outlives the call.
    let fail = match dev.guarded_entry(TIMEOUT, || unsafe { f(h, &brq) }) {
        Ok(v) if v > 0 => return reset,
        // The device made no progress: a device hang.
        Ok(_) => dev.device_hang(TIMEOUT),
        Err(fail) => fail,
    };
    pr_warn!(
        "{}: request {} timed out: recovering the device\n",
        dev.name,
        brq.tag
    );
    dev.fail_async(a, TIMEOUT, fail);
    reset
}

/// Every request a generation older than `gen` still holds goes back to blk-mq to be
/// dispatched again (or, with `fail`, ends with an I/O error). Returns how many.
pub(super) fn reissue(dev: &BlkDevice, gen: u64, fail: bool) -> u64 {
    let mut n = 0u64;
    let tags = dev.class.tags_read();
    for slot in dev.class.rqs.iter() {
        let rq = slot.load(Ordering::Acquire);
        if rq.is_null() {
            continue;
        }
        // SAFETY: loaded from `rqs` inside `tags`: blk-mq frees it only after the section.
        let p = unsafe { pdu(rq) };
        // The issue first, then its holder: a newer issue (to the new instance) has a
        // newer word, and only this one is taken back.
        let Some(issue) = p.state.issued() else {
            continue;
        };
        if p.gen.load(Ordering::Acquire) >= gen {
            continue;
        }
        if !p.state.release(issue) {
            // Idle (blk-mq has it) or done (its `complete` requeues it).
            continue;
        }
        n += 1;
        if fail {
            dev.class.failed.fetch_add(1, Ordering::Relaxed);
            end(dev, rq, BLK_STS_IOERR);
        } else {
            requeue(dev, rq);
        }
    }
    drop(tags);
    let q = queue(dev);
    if !q.is_null() {
        // SAFETY: the queue of the live disk.
        unsafe {
            bindings::blk_mq_kick_requeue_list(q);
            bindings::blk_mq_run_hw_queues(q, true);
        }
    }
    n
}

/// The placeholder behind a request queue.
///
/// # Safety
///
/// `q` must be the queue of the placeholder's disk.
unsafe fn dev_of<'a>(q: *mut bindings::request_queue) -> &'a BlkDevice {
    // SAFETY: `add_disk` made the device the queue's `queuedata`; the device outlives
    // its disk.
    unsafe { &*(*q).queuedata.cast::<BlkDevice>() }
}

unsafe extern "C" fn mq_queue_rq(
    hctx: *mut bindings::blk_mq_hw_ctx,
    bd: *const bindings::blk_mq_queue_data,
) -> bindings::blk_status_t {
    // SAFETY: blk-mq passes its live hardware context and queue data.
    let (dev, rq, last) = unsafe { (dev_of((*hctx).queue), (*bd).rq, (*bd).last) };
    queue_rq(dev, rq, last)
}

unsafe extern "C" fn mq_commit_rqs(hctx: *mut bindings::blk_mq_hw_ctx) {
    // SAFETY: blk-mq passes its live hardware context.
    commit_rqs(unsafe { dev_of((*hctx).queue) });
}

unsafe extern "C" fn mq_complete(rq: *mut bindings::request) {
    // SAFETY: a request of our queue.
    complete(unsafe { dev_of((*rq).q) }, rq);
}

unsafe extern "C" fn mq_timeout(rq: *mut bindings::request) -> bindings::blk_eh_timer_return {
    // SAFETY: a request of our queue.
    timeout(unsafe { dev_of((*rq).q) }, rq)
}

unsafe extern "C" fn mq_init_request(
    _set: *mut bindings::blk_mq_tag_set,
    rq: *mut bindings::request,
    _hctx_idx: kernel::ffi::c_uint,
    _numa_node: kernel::ffi::c_int,
) -> kernel::ffi::c_int {
    // SAFETY: blk-mq passes a request of our tag set with room for the PDU.
    unsafe {
        bindings::blk_mq_rq_to_pdu(rq).cast::<Pdu>().write(Pdu {
            state: RqState::new(),
            gen: AtomicU64::new(0),
            map: RqMap::new(),
            irq_next: AtomicPtr::new(core::ptr::null_mut()),
        })
    };
    0
}

unsafe extern "C" fn mq_exit_request(
    set: *mut bindings::blk_mq_tag_set,
    rq: *mut bindings::request,
    _hctx_idx: kernel::ffi::c_uint,
) {
    // The request is freed next (an I/O scheduler's requests go when the scheduler
    // does): no tag may name it any more.
    // SAFETY: `set` is the `set` field of a live `Blk` (blk-mq frees requests before
    // the tag set, which `Blk` frees on drop).
    let blk = unsafe {
        &*kernel::container_of!(set.cast::<Opaque<bindings::blk_mq_tag_set>>(), Blk, set)
    };
    for slot in blk.rqs.iter() {
        let _ = slot.compare_exchange(
            rq,
            core::ptr::null_mut(),
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }
}
