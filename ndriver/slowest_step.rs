// SPDX-License-Identifier: GPL-2.0

//! The slowest step of one recovery: which part of its undo and instantiate phases took
//! longest (`slowest=` in `recoveries` and reports), so that the time of a slow
//! recovery can be placed without a tracer.

use core::cell::UnsafeCell;
use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering};
use kernel::prelude::kunit_tests;
use kernel::time::{Instant, Monotonic};

/// Longest name a driver gives one of its steps, in bytes.
pub(crate) const DRIVER_NAME_MAX: usize = 16;
// A part's length fits the `u8` it is kept in.
const _: () = assert!(DRIVER_NAME_MAX <= u8::MAX as usize);

/// The longest of the steps timed so far in one recovery.
///
/// A framework step is kept by its static name alone: noting one copies nothing, as a
/// recovery notes a dozen (under TCG, copying and filtering each name was a measurable
/// part of a test device's recovery). Only a part a driver names is copied, since its
/// module may be gone by the time the step is shown.
#[derive(Clone, Copy, Default)]
pub(crate) struct SlowestStep {
    /// The framework step, or the driver call (`probe`, `adopt`) a named part belongs to;
    /// `""` while no step was timed.
    call: &'static str,
    /// The name of the driver's part of `call`, `part_len` bytes of `[A-Za-z0-9_]`; none
    /// for a framework step.
    part: [u8; DRIVER_NAME_MAX],
    part_len: u8,
    /// Whether a step was timed.
    some: bool,
    /// How long it took, in nanoseconds.
    ns: u64,
}

impl SlowestStep {
    /// Notes framework step `name` (`[a-z_]`) that took `ns`: kept if it is the longest
    /// so far.
    pub(crate) fn note(&mut self, name: &'static str, ns: u64) {
        if self.some && ns <= self.ns {
            return;
        }
        *self = Self {
            call: name,
            part: [0; DRIVER_NAME_MAX],
            part_len: 0,
            some: true,
            ns,
        };
    }

    /// Notes step `call.part` (or `call` when `part` is empty), a part of a driver's
    /// call named by the driver, that took `ns`: kept if it is the longest so far.
    /// Bytes of `part` past [`DRIVER_NAME_MAX`] are cut, and any but `[A-Za-z0-9_]`
    /// shown as `_`.
    pub(crate) fn note_parts(&mut self, call: &'static str, part: &[u8], ns: u64) {
        if self.some && ns <= self.ns {
            return;
        }
        let mut name = [0u8; DRIVER_NAME_MAX];
        let part = &part[..part.len().min(DRIVER_NAME_MAX)];
        for (to, &b) in name.iter_mut().zip(part) {
            *to = match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' => b,
                _ => b'_',
            };
        }
        *self = Self {
            call,
            part: name,
            part_len: part.len() as u8,
            some: true,
            ns,
        };
    }

    /// Notes the longest step of `other` (another part of the same recovery): kept if
    /// it is longer than this one's, as [`SlowestStep::note`] would.
    pub(crate) fn merge(&mut self, other: &SlowestStep) {
        if other.some && (!self.some || other.ns > self.ns) {
            *self = *other;
        }
    }

    /// Runs `f` as step `name`, timed.
    pub(crate) fn time<R>(&mut self, name: &'static str, f: impl FnOnce() -> R) -> R {
        let t = Instant::<Monotonic>::now();
        let r = f();
        self.note(name, u64::try_from(t.elapsed().as_nanos()).unwrap_or(0));
        r
    }
}

/// The parts of one `probe` or `adopt` call its driver names as it goes
/// ([`DriverSteps::mark`], the `ndriver_step` callout), for the recovery's
/// [`SlowestStep`]: each is the time since the call began or since the previous part.
///
/// # Invariants
///
/// While `gen` is not 0, `rodata` is the read-only data of the module whose instance of
/// generation `gen` is in the timed call: loaded until the call has returned, when
/// [`DriverSteps::close`] clears `gen`.
#[derive(Default)]
pub(crate) struct DriverSteps {
    /// Generation of the instance whose call is timed; 0 while none is.
    gen: u64,
    /// The call's name, `probe` or `adopt`.
    call: &'static str,
    /// The task making the call: parts are named by it only.
    task: usize,
    /// Start and length of its module's read-only data, where names must lie.
    rodata: (usize, usize),
    /// When the call began or its last part ended.
    since: u64,
    slowest: SlowestStep,
}

/// A part's name does not lie in its module's read-only data.
#[derive(Debug, PartialEq)]
pub(crate) struct BadName;

impl DriverSteps {
    /// Starts timing call `call` of the instance of generation `gen` (not 0), made by
    /// `task`, at `now`.
    ///
    /// # Safety
    ///
    /// `rodata` is the read-only data of that instance's module, which stays loaded
    /// until [`DriverSteps::close`].
    pub(crate) unsafe fn open(
        &mut self,
        gen: u64,
        call: &'static str,
        task: usize,
        rodata: (usize, usize),
        now: u64,
    ) {
        // INVARIANT: per this function's contract.
        *self = Self {
            gen,
            call,
            task,
            rodata,
            since: now,
            slowest: SlowestStep::default(),
        };
    }

    /// `task`, of the instance of generation `gen`, ended the part named by the `len`
    /// bytes at `name` (the first [`DRIVER_NAME_MAX`] read) at `now`. Ignored for any
    /// other instance or task, or when no call is timed; `BadName` for a name that is
    /// empty or not inside the module's read-only data (nothing read then).
    pub(crate) fn mark(
        &mut self,
        gen: u64,
        task: usize,
        name: usize,
        len: usize,
        now: u64,
    ) -> Result<(), BadName> {
        if gen == 0 || gen != self.gen || task != self.task {
            return Ok(());
        }
        let n = len.min(DRIVER_NAME_MAX);
        let (start, size) = self.rodata;
        let inside = name
            .checked_add(n)
            .is_some_and(|end| name >= start && end <= start.saturating_add(size));
        if n == 0 || !inside {
            return Err(BadName);
        }
        // SAFETY: `[name, name + n)` lies in the read-only data of the module whose
        // instance is in the timed call (checked above), loaded until the call returns
        // (type invariant), and never written.
        let bytes = unsafe { core::slice::from_raw_parts(name as *const u8, n) };
        self.slowest
            .note_parts(self.call, bytes, now.saturating_sub(self.since));
        self.since = now;
        Ok(())
    }

    /// Ends the timing at `now`: the longest part, the rest of the call (after its last
    /// named part) counted as the call itself; `None` if no call was timed.
    pub(crate) fn close(&mut self, now: u64) -> Option<SlowestStep> {
        if self.gen == 0 {
            return None;
        }
        let mut s = self.slowest;
        s.note(self.call, now.saturating_sub(self.since));
        // INVARIANT: `gen` is 0 again: nothing is read any more (the other fields are
        // set anew by the next `open`).
        self.gen = 0;
        Some(s)
    }
}

/// The [`DriverSteps`] of a device's `probe` or `adopt` call under way, which the driver's
/// step callouts reach without a lock: only the task making the call reads or writes
/// it (two IRQ-safe lock holds around every `probe` were a visible part of a test
/// device's recovery under icount).
///
/// # Invariants
///
/// While `task` is 0, `steps` is read and written only by [`OpenCall::open`] and
/// [`OpenCall::close`], whose calls do not overlap; while it is not 0, only by task
/// `task`, in task context, in calls that do not nest.
pub(crate) struct OpenCall {
    /// The task making the timed call; 0 while none is.
    task: AtomicUsize,
    steps: UnsafeCell<DriverSteps>,
}

// SAFETY: `steps` is only reached by one context at a time (type invariant); the rest are
// atomics.
unsafe impl Sync for OpenCall {}

impl OpenCall {
    /// No call under way.
    pub(crate) fn new() -> Self {
        // INVARIANT: `task` is 0.
        Self {
            task: AtomicUsize::new(0),
            steps: UnsafeCell::new(DriverSteps::default()),
        }
    }

    /// Starts timing call `call` of the instance of generation `gen`, made by the calling
    /// task, at `now` ([`DriverSteps::open`]).
    ///
    /// # Safety
    ///
    /// - `rodata` is the read-only data of that instance's module, which stays loaded
    ///   until [`OpenCall::close`];
    /// - the caller is in task context and calls [`OpenCall::close`] once the timed call
    ///   has returned, before any other `open` of `self`; calls of `open` and `close` of
    ///   `self` do not overlap.
    pub(crate) unsafe fn open(
        &self,
        gen: u64,
        call: &'static str,
        rodata: (usize, usize),
        now: u64,
    ) {
        let task = kernel::task::Task::current_raw() as usize;
        // SAFETY: no call is under way (`task` is 0: the previous `close` ran, this
        // function's contract), so only this call reaches `steps` (type invariant);
        // `rodata` as this function's contract says.
        unsafe { (*self.steps.get()).open(gen, call, task, rodata, now) };
        // INVARIANT: from here on only this task, in task context, reaches `steps`: its
        // marks, and then its own `close`.
        self.task.store(task, Ordering::Release);
    }

    /// Ends the timing at `now` ([`DriverSteps::close`]).
    ///
    /// # Safety
    ///
    /// Called by the task that called [`OpenCall::open`] last, after it, in task context.
    pub(crate) unsafe fn close(&self, now: u64) -> Option<SlowestStep> {
        // INVARIANT: `task` is 0 again; nothing else reaches `steps` (the caller is the
        // task that made the call, whose marks are done).
        self.task.store(0, Ordering::Release);
        // SAFETY: the owner of the call is this task (this function's contract), and no
        // other context reaches `steps` while `task` is 0 but `open` and `close`, whose
        // calls do not overlap.
        unsafe { (*self.steps.get()).close(now) }
    }

    /// A mark of the call under way ([`DriverSteps::mark`]: `gen`, `name`, `len`, the time
    /// `now` gives) by the calling context. Ignored unless that is the task making the
    /// call, in task context (an interrupt on top of it runs as the same task).
    pub(crate) fn mark(
        &self,
        gen: u64,
        name: usize,
        len: usize,
        now: impl FnOnce() -> u64,
    ) -> Result<(), BadName> {
        if crate::guard::context_level() != 0 {
            return Ok(());
        }
        let task = kernel::task::Task::current_raw() as usize;
        if self.task.load(Ordering::Acquire) != task {
            return Ok(());
        }
        // This task's marks do not nest: a mark calls nothing that could mark again, and
        // interrupts, which could run one on top of it, are turned away above.
        // SAFETY: task `task`, in task context, is named by `self.task`: nothing else
        // reaches `steps` (type invariant), and this is its only access now.
        unsafe { (*self.steps.get()).mark(gen, task, name, len, now()) }
    }
}

/// `NAME:NS`, or `-` when no step was timed.
impl fmt::Display for SlowestStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.some {
            return f.write_str("-");
        }
        let len = usize::from(self.part_len).min(DRIVER_NAME_MAX);
        if len == 0 {
            return write!(f, "{}:{}", self.call, self.ns);
        }
        // Only `[A-Za-z0-9_]` is ever stored (`note_parts`): valid UTF-8.
        let part = core::str::from_utf8(&self.part[..len]).unwrap_or("?");
        write!(f, "{}.{}:{}", self.call, part, self.ns)
    }
}

#[kunit_tests(ndriver_slowest_step)]
mod tests {
    use super::*;
    use core::fmt::Write;
    use kernel::prelude::*;

    /// A `fmt::Write` into a fixed buffer, for checking [`SlowestStep`]'s text.
    struct Buf {
        bytes: [u8; 32],
        len: usize,
    }

    impl Write for Buf {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            let end = self.len + s.len();
            self.bytes
                .get_mut(self.len..end)
                .ok_or(fmt::Error)?
                .copy_from_slice(s.as_bytes());
            self.len = end;
            Ok(())
        }
    }

    fn text(s: &SlowestStep) -> Result<Buf> {
        let mut b = Buf {
            bytes: [0; 32],
            len: 0,
        };
        write!(b, "{s}").map_err(|_| EINVAL)?;
        Ok(b)
    }

    #[test]
    fn keeps_the_longest_step() -> Result {
        let mut s = SlowestStep::default();
        assert_eq!(&text(&s)?.bytes[..1], b"-");
        // The first step is kept even when it took no measurable time.
        s.note("probe", 0);
        assert_eq!(&text(&s)?.bytes[..7], b"probe:0");
        s.note("undo_irq", 20);
        s.note("discarding", 10);
        // A tie keeps the first.
        s.note("stop_dma", 20);
        let t = text(&s)?;
        assert_eq!(&t.bytes[..t.len], b"undo_irq:20");
        Ok(())
    }

    #[test]
    fn names_a_drivers_own_steps() -> Result {
        let mut s = SlowestStep::default();
        s.note_parts("adopt", b"check_tx", 5);
        let t = text(&s)?;
        assert_eq!(&t.bytes[..t.len], b"adopt.check_tx:5");
        // Cut to 16 bytes; what is not a name character shows as `_` (a dot too).
        s.note_parts("adopt", b"a.b c-0123456789abcdef", 6);
        let t = text(&s)?;
        assert_eq!(&t.bytes[..t.len], b"adopt.a_b_c_0123456789:6");
        // The tail of the call, after the driver's last step, is the call's own name.
        s.note_parts("adopt", b"", 7);
        let t = text(&s)?;
        assert_eq!(&t.bytes[..t.len], b"adopt:7");
        let mut m = SlowestStep::default();
        m.note("probe", 3);
        m.merge(&s);
        let t = text(&m)?;
        assert_eq!(&t.bytes[..t.len], b"adopt:7");
        m.merge(&SlowestStep::default());
        let t = text(&m)?;
        assert_eq!(&t.bytes[..t.len], b"adopt:7");
        Ok(())
    }

    /// Names standing in for a driver's, in this module's read-only data.
    static NAMES: [u8; 8] = *b"check_tx";

    #[test]
    fn only_the_task_making_the_call_marks_it() -> Result {
        let at = NAMES.as_ptr() as usize;
        let c = OpenCall::new();
        // Nothing is open: a mark is ignored.
        assert_eq!(c.mark(3, at, 8, || 150), Ok(()));
        // SAFETY: `NAMES` is static; this test, in task context, closes it below.
        unsafe { c.open(3, "adopt", (at, NAMES.len()), 100) };
        // This task's mark is taken, a bad name refused, another generation's ignored.
        assert_eq!(c.mark(3, at, 8, || 150), Ok(()));
        assert_eq!(c.mark(3, at + 1, 8, || 160), Err(BadName));
        assert_eq!(c.mark(2, at, 8, || 170), Ok(()));
        // SAFETY: this task opened it above.
        let t = text(&unsafe { c.close(400) }.ok_or(EINVAL)?)?;
        assert_eq!(&t.bytes[..t.len], b"adopt:250");
        // Closed: a mark is ignored again, and reads nothing.
        assert_eq!(c.mark(3, at + 1, 8, || 500), Ok(()));
        Ok(())
    }

    #[test]
    fn times_the_parts_a_driver_names() -> Result {
        let at = NAMES.as_ptr() as usize;
        let ro = (at, NAMES.len());
        let mut d = DriverSteps::default();
        // Nothing is timed before `open`.
        assert_eq!(d.mark(3, 9, at, 8, 150), Ok(()));
        assert!(d.close(160).is_none());
        // SAFETY: `NAMES` is static: it outlives the test.
        unsafe { d.open(3, "adopt", 9, ro, 100) };
        // Another instance's or task's mark is ignored.
        assert_eq!(d.mark(2, 9, at, 8, 120), Ok(()));
        assert_eq!(d.mark(3, 8, at, 8, 120), Ok(()));
        assert_eq!(d.mark(3, 9, at, 8, 150), Ok(()));
        // Empty, or not inside the module's read-only data: refused, nothing read.
        assert_eq!(d.mark(3, 9, at, 0, 160), Err(BadName));
        assert_eq!(d.mark(3, 9, at + 1, 8, 160), Err(BadName));
        assert_eq!(d.mark(3, 9, at - 1, 8, 160), Err(BadName));
        assert_eq!(d.mark(3, 9, usize::MAX, 8, 160), Err(BadName));
        let t = text(&d.close(400).ok_or(EINVAL)?)?;
        assert_eq!(&t.bytes[..t.len], b"adopt:250");
        // Without a named part the whole call is one step, as before parts existed.
        // SAFETY: as above.
        unsafe { d.open(4, "probe", 9, ro, 1000) };
        let t = text(&d.close(1700).ok_or(EINVAL)?)?;
        assert_eq!(&t.bytes[..t.len], b"probe:700");
        // Closed: marks are ignored again.
        assert_eq!(d.mark(4, 9, at, 8, 1800), Ok(()));
        // SAFETY: as above.
        unsafe { d.open(5, "adopt", 9, ro, 0) };
        assert_eq!(d.mark(5, 9, at, 8, 600), Ok(()));
        let t = text(&d.close(700).ok_or(EINVAL)?)?;
        assert_eq!(&t.bytes[..t.len], b"adopt.check_tx:600");
        Ok(())
    }
}
