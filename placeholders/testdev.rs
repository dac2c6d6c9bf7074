// SPDX-License-Identifier: GPL-2.0

//! `testdev`: the guarded test device, a class of the generic device
//! (`ndriver/device.rs`).
//!
//! Callers (the `call` debugfs file) only ever see `testdev0`; which implementation
//! instance serves it changes underneath. Every entry point is called through the
//! guard. A failed call (exception, watchdog overrun or error return) is contained,
//! the device is recovered and the failed request is re-issued to the new instance.
//! `tick` runs in softirq context (a soft hrtimer) and `irq` in hardirq context (a hard
//! hrtimer): their faults are contained where they happen, and recovery follows in the
//! waiting caller's process context, which then re-issues the request in the original
//! context. The asynchronous entry points (`devirq`, `timer`, `work`) are the events of
//! resources the instance took through the callouts.

use crate::abi::{Instance, TestdevEntry, TestdevOps, TESTDEV_ENTRIES};
use crate::detected::Detected;
use crate::device::{now_ns, Class, Device, Failure, MAX_ATTEMPTS};
use crate::instance::Event;
use core::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use kernel::impl_has_hr_timer;
use kernel::prelude::*;
use kernel::sync::completion::Completion;
use kernel::sync::{Arc, ArcBorrow};
use kernel::time::hrtimer::{
    HrTimer, HrTimerCallback, HrTimerCallbackContext, HrTimerPointer, HrTimerRestart, RelativeMode,
    RelativeSoftMode,
};
use kernel::time::{Delta, Monotonic};

/// Entry point indices (see [`TESTDEV_ENTRIES`]).
const OP: usize = TestdevEntry::Op as usize;
const TICK: usize = TestdevEntry::Tick as usize;
const IRQ: usize = TestdevEntry::Irq as usize;

/// The `testdev` class; it keeps no per-device state of its own.
#[pin_data]
pub(crate) struct Testdev {}

/// The placeholder device.
pub(crate) type TestDev = Device<Testdev>;

impl Class for Testdev {
    const NAME: &'static str = "testdev";
    type Ops = TestdevOps;
    const ENTRIES: &'static [&'static str] = &TESTDEV_ENTRIES;
    const PROBE: usize = TestdevEntry::Probe as usize;
    const CONFIGURE: usize = TestdevEntry::Configure as usize;
    const REMOVE: usize = TestdevEntry::Remove as usize;
    const HAS_CALL: bool = true;

    fn event_entry(ev: Event) -> Option<usize> {
        Some(match ev {
            Event::DevIrq => TestdevEntry::DevIrq as usize,
            Event::Timer => TestdevEntry::Timer as usize,
            Event::Work => TestdevEntry::Work as usize,
        })
    }

    /// # Safety
    ///
    /// As for [`Class::probe`].
    unsafe fn probe(ops: &TestdevOps, h: *mut Instance) -> i64 {
        // SAFETY: per the trait's contract.
        unsafe { (ops.probe)(h) as i64 }
    }

    /// # Safety
    ///
    /// As for [`Class::configure`].
    unsafe fn configure(ops: &TestdevOps, h: *mut Instance, key: u32, value: u64) -> i64 {
        // SAFETY: per the trait's contract.
        unsafe { (ops.configure)(h, key, value) as i64 }
    }

    /// # Safety
    ///
    /// As for [`Class::remove`].
    unsafe fn remove(ops: &TestdevOps, h: *mut Instance) {
        // SAFETY: per the trait's contract.
        unsafe { (ops.remove)(h) }
    }

    /// # Safety
    ///
    /// As for [`Class::event`].
    unsafe fn event(ops: &TestdevOps, h: *mut Instance, ev: Event, arg: u64) -> i64 {
        let f = match ev {
            Event::DevIrq => ops.devirq,
            Event::Timer => ops.timer,
            Event::Work => ops.work,
        };
        // SAFETY: per the trait's contract.
        unsafe { f(h, arg) }
    }

    /// `op ARG [DEPTH]`, `tick ARG`, `irq ARG` or `config KEY VALUE`. `DEPTH` (0 to 3)
    /// issues `op` with 32 * `DEPTH` bytes more of the calling task's stack in use, for
    /// tests that need the driver's stack at another alignment (`31-frame-address`).
    fn call(dev: &Arc<TestDev>, text: &str) -> Result<i64> {
        let mut words = text.split_ascii_whitespace();
        let verb = words.next().unwrap_or("");
        let num = |w: Option<&str>| w.map(|v| v.parse::<u64>().map_err(|_| EINVAL));
        let a = num(words.next());
        let b = num(words.next());
        if words.next().is_some() {
            return Err(EINVAL);
        }
        match (verb, a, b) {
            ("config", Some(Ok(key)), Some(Ok(value))) => {
                let key = u32::try_from(key).map_err(|_| EINVAL)?;
                dev.configure(key, value).map(|()| 0)
            }
            (v, Some(Ok(arg)), None) => {
                let entry = request_entry(v).ok_or(EINVAL)?;
                call(dev, entry, arg)
            }
            ("op", Some(Ok(arg)), Some(Ok(depth))) => match depth {
                0 => call_deeper::<0>(dev, arg),
                1 => call_deeper::<32>(dev, arg),
                2 => call_deeper::<64>(dev, arg),
                3 => call_deeper::<96>(dev, arg),
                _ => Err(EINVAL),
            },
            _ => Err(EINVAL),
        }
    }
}

/// Issues request `entry(arg)` once, in its own context. `Ok(None)`: no instance. A
/// failure comes with the generation of the instance that failed.
fn issue(dev: &Arc<TestDev>, entry: usize, arg: u64) -> Result<Option<i64>, (u64, Failure)> {
    match entry {
        OP => {
            let Some(a) = dev.admit() else {
                return Ok(None);
            };
            let h = a.handle();
            let f = a.ops().op;
            // SAFETY: `h` is the live instance `f` belongs to.
            dev.guarded_entry_hot(a.inst, OP, || unsafe { f(h, arg) })
                .map(Some)
                .map_err(|fail| (a.inst.generation, fail))
        }
        TICK | IRQ => Trigger::run(dev, entry, arg),
        _ => Ok(None),
    }
}

/// A request from process context: issued, and on failure retried in place (hot, once,
/// where the failure allows it) or recovered, and re-issued until it succeeds. Returns
/// the driver's result.
pub(crate) fn call(dev: &Arc<TestDev>, entry: usize, arg: u64) -> Result<i64> {
    // When the last recovery finished: the re-issue phase runs from there.
    let mut recovered_at = None;
    // The recovery (by its number in `recoveries`) the re-issue time is noted on: a
    // hot retry's own; `None` for the newest (a recovery of this request).
    let mut record = None;
    let mut retried_hot = false;
    for _ in 0..MAX_ATTEMPTS {
        match issue(dev, entry, arg) {
            Ok(Some(v)) => {
                if let Some(t) = recovered_at {
                    dev.note_reissue(record, now_ns().saturating_sub(t));
                }
                return Ok(v);
            }
            Ok(None) => {
                // Nothing admitted the call: recover from a failure of an
                // asynchronous entry point, wait for a recovery in progress (it
                // holds `ctl`), or report that the device has no instance.
                dev.recover_pending();
                let ctl = dev.ctl();
                if ctl.instance.is_none() || ctl.down {
                    return Err(ENODEV);
                }
            }
            Err((gen, fail)) => {
                record = dev.retry_hot(gen, entry, &fail, retried_hot);
                if record.is_some() {
                    retried_hot = true;
                } else {
                    dev.recover(gen, entry, fail)?;
                }
                dev.counters.reissued.fetch_add(1, Ordering::Relaxed);
                recovered_at = Some(now_ns());
            }
        }
    }
    Err(EIO)
}

/// [`call`] of `op` with `PAD` bytes of this frame's own in use below the caller's.
#[inline(never)]
fn call_deeper<const PAD: usize>(dev: &Arc<TestDev>, arg: u64) -> Result<i64> {
    let pad = [0u8; PAD];
    // `black_box` keeps the array (and so the depth) from being optimised away.
    core::hint::black_box(&pad);
    call(dev, OP, arg)
}

/// Checks that an entry index names a request entry (`op`, `tick`, `irq`).
pub(crate) fn request_entry(name: &str) -> Option<usize> {
    match name {
        "op" => Some(OP),
        "tick" => Some(TICK),
        "irq" => Some(IRQ),
        _ => None,
    }
}

/// One request run from a timer, in softirq (`tick`) or hardirq (`irq`) context.
macro_rules! trigger {
    ($t:ident, $mode:ty) => {
        #[pin_data]
        struct $t {
            #[pin]
            timer: HrTimer<Self>,
            dev: Arc<TestDev>,
            entry: usize,
            arg: u64,
            /// 0: no instance; 1: ok; 2: failed.
            outcome: AtomicU32,
            value: AtomicI64,
            errno: AtomicI64,
            detected: AtomicU32,
            contain_ns: AtomicU64,
            ctx: AtomicU64,
            /// Generation of the instance that failed.
            gen: AtomicU64,
            injected: AtomicBool,
            waiter: AtomicBool,
            unchanged: AtomicBool,
            #[pin]
            done: Completion,
        }

        impl_has_hr_timer! {
            impl HasHrTimer<Self> for $t { mode: $mode, field: self.timer }
        }

        impl HrTimerCallback for $t {
            type Pointer<'a> = Arc<Self>;

            fn run(this: ArcBorrow<'_, Self>, _ctx: HrTimerCallbackContext<'_, Self>) -> HrTimerRestart {
                this.fire();
                HrTimerRestart::NoRestart
            }
        }

        impl $t {
            fn fire(&self) {
                let dev = &*self.dev;
                match dev.admit() {
                    None => self.outcome.store(0, Ordering::Relaxed),
                    Some(a) => {
                        let h = a.handle();
                        let arg = self.arg;
                        let ops = a.ops();
                        let f = if self.entry == TICK { ops.tick } else { ops.irq };
                        // SAFETY: `h` is the live instance `f` belongs to.
                        match dev.guarded_entry_hot(a.inst, self.entry, || unsafe { f(h, arg) }) {
                            Ok(v) => {
                                self.value.store(v, Ordering::Relaxed);
                                self.outcome.store(1, Ordering::Relaxed);
                            }
                            Err(fail) => {
                                self.gen.store(a.inst.generation, Ordering::Relaxed);
                                self.detected.store(fail.detected as u32, Ordering::Relaxed);
                                self.errno.store(fail.errno, Ordering::Relaxed);
                                self.contain_ns.store(fail.contain_ns, Ordering::Relaxed);
                                self.ctx.store(fail.ctx, Ordering::Relaxed);
                                self.injected.store(fail.injected, Ordering::Relaxed);
                                self.waiter.store(fail.waiter, Ordering::Relaxed);
                                self.unchanged.store(fail.unchanged, Ordering::Relaxed);
                                self.outcome.store(2, Ordering::Relaxed);
                            }
                        }
                    }
                }
                self.done.complete_all();
            }

            fn go(
                dev: &Arc<TestDev>,
                entry: usize,
                arg: u64,
            ) -> Result<Option<i64>, (u64, Failure)> {
                let init = pin_init!(Self {
                    timer <- HrTimer::new(),
                    dev: dev.clone(),
                    entry,
                    arg,
                    outcome: AtomicU32::new(0),
                    value: AtomicI64::new(0),
                    errno: AtomicI64::new(0),
                    detected: AtomicU32::new(0),
                    contain_ns: AtomicU64::new(0),
                    ctx: AtomicU64::new(0),
                    gen: AtomicU64::new(0),
                    injected: AtomicBool::new(false),
                    waiter: AtomicBool::new(false),
                    unchanged: AtomicBool::new(false),
                    done <- Completion::new(),
                });
                let Ok(t) = Arc::pin_init(init, GFP_KERNEL) else {
                    return Ok(None);
                };
                let handle = t.clone().start(Delta::from_micros(10));
                t.done.wait_for_completion();
                drop(handle);
                match t.outcome.load(Ordering::Relaxed) {
                    1 => Ok(Some(t.value.load(Ordering::Relaxed))),
                    2 => Err((t.gen.load(Ordering::Relaxed), Failure {
                        detected: Detected::from_raw(t.detected.load(Ordering::Relaxed)),
                        errno: t.errno.load(Ordering::Relaxed),
                        contain_ns: t.contain_ns.load(Ordering::Relaxed),
                        ctx: t.ctx.load(Ordering::Relaxed),
                        injected: t.injected.load(Ordering::Relaxed),
                        waiter: t.waiter.load(Ordering::Relaxed),
                        unchanged: t.unchanged.load(Ordering::Relaxed),
                    })),
                    _ => Ok(None),
                }
            }
        }
    };
}

trigger!(SoftTrigger, RelativeSoftMode<Monotonic>);
// Not `RelativeHardMode`: a plain hrtimer expires in hardirq context too (on a kernel
// without PREEMPT_RT), but lockdep then allows what a device interrupt handler may do,
// such as taking a `spinlock_t`; a hard-mode timer may only take raw spinlocks.
trigger!(HardTrigger, RelativeMode<Monotonic>);

/// Dispatches a timer-context request.
struct Trigger;

impl Trigger {
    fn run(dev: &Arc<TestDev>, entry: usize, arg: u64) -> Result<Option<i64>, (u64, Failure)> {
        if entry == TICK {
            SoftTrigger::go(dev, entry, arg)
        } else {
            HardTrigger::go(dev, entry, arg)
        }
    }
}
