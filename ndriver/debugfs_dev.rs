// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/debug/ndriver/<device>/`: one directory per device. The files are
//! documented in `Documentation/debugfs.rst`. A malformed write is refused with
//! `-EINVAL` and a warning in the kernel log, and changes nothing.

use crate::devices::DevRef;
use crate::fault_class::FaultClass;
use crate::inject_spec::{self, Armed, Request};
use crate::pci_addr;
use crate::policy::Policy;
use crate::timeout::Bounds;
use core::fmt;
use core::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use kernel::debugfs::{Dir, File};
use kernel::prelude::*;
use kernel::uaccess::UserSliceReader;

/// Longest accepted write.
const MAX_WRITE: usize = 256;

/// What the `call` file remembers of the last request.
struct CallFile {
    dev: DevRef,
    last: AtomicI64,
    count: AtomicU64,
}

/// A device's directory and files; removed when dropped.
pub(crate) struct DevDir {
    _files: KVec<Pin<KBox<File<DevRef>>>>,
    _call: Option<Pin<KBox<File<CallFile>>>>,
    _dir: Dir,
}

/// Reads a whole write into `buf`, returning it as trimmed text.
fn read_text<'a>(r: &mut UserSliceReader, buf: &'a mut [u8; MAX_WRITE]) -> Result<&'a str> {
    let n = r.len();
    if n > MAX_WRITE {
        pr_warn!(
            "debugfs write of {} bytes refused (at most {})\n",
            n,
            MAX_WRITE
        );
        return Err(EINVAL);
    }
    r.read_slice(&mut buf[..n])?;
    let s = core::str::from_utf8(&buf[..n]).map_err(|_| {
        pr_warn!("debugfs write is not text\n");
        EINVAL
    })?;
    Ok(s.trim())
}

fn status_show(d: &DevRef, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    d.get().show_status(f)
}

fn stats_show(d: &DevRef, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    d.get().show_stats(f)
}

fn recoveries_show(d: &DevRef, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    d.get().show_recoveries(f)
}

fn reports_show(d: &DevRef, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    d.get().show_reports(f)
}

fn inject_show(d: &DevRef, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    d.get().show_inject(f)
}

fn inject_write(d: &DevRef, r: &mut UserSliceReader) -> Result {
    let d = d.get();
    let mut buf = [0u8; MAX_WRITE];
    let text = read_text(r, &mut buf)?;
    if text == "off" {
        d.set_inject(None);
        return Ok(());
    }
    match inject_spec::parse_request(text, d.entries()) {
        Ok(Request::Entry(spec))
            if (spec.class.in_trylock() && !crate::guard::trylock_path_known())
                || (spec.class.in_unlock() && !crate::guard::unlock_path_known()) =>
        {
            pr_warn!(
                "{}: inject: {} needs a kernel whose lock path the guard knows (status: guard lock_paths)\n",
                d.name(),
                spec.class.name()
            );
            Err(EOPNOTSUPP)
        }
        Ok(Request::Entry(spec))
            if spec.class.overflows_stack() && !crate::guard::stack_guard_known() =>
        {
            pr_warn!(
                "{}: inject: {} needs a kernel with stack guard pages that tells the die notifiers of a hit one (status: guard stack_guard)\n",
                d.name(),
                spec.class.name()
            );
            Err(EOPNOTSUPP)
        }
        Ok(Request::Entry(spec))
            if spec.class.stores_to_stack_guard() && !crate::guard::stack_guard_wild_known() =>
        {
            pr_warn!(
                "{}: inject: {} needs a kernel that tells the die notifiers of a wild access to a stack guard page (status: guard stack_guard wild)\n",
                d.name(),
                spec.class.name()
            );
            Err(EOPNOTSUPP)
        }
        Ok(Request::Entry(spec))
            if spec.class == FaultClass::KernelPrintk
                && !crate::guard::printk_depth_restorable() =>
        {
            pr_warn!(
                "{}: inject: {} needs a kernel that lets the guard give printk's recursion depth back (status: guard printk_depth)\n",
                d.name(),
                spec.class.name()
            );
            Err(EOPNOTSUPP)
        }
        Ok(Request::Entry(spec)) => {
            // SAFETY: `ktime_get` has no preconditions; it only seeds the draw.
            let seed = unsafe { kernel::bindings::ktime_get() } as u32;
            d.set_inject(Some(Armed::new(spec, seed)));
            Ok(())
        }
        Ok(Request::Site(spec)) => d.set_site(&spec),
        Err(e) => {
            pr_warn!("{}: inject: {:?} in '{}'\n", d.name(), e, text);
            Err(EINVAL)
        }
    }
}

fn trace_show(d: &DevRef, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let d = d.get();
    crate::trace::hold().show(f, d.serving_text(), d.owner_tag())
}

fn trace_write(d: &DevRef, r: &mut UserSliceReader) -> Result {
    let d = d.get();
    let mut buf = [0u8; MAX_WRITE];
    let text = read_text(r, &mut buf)?;
    let held = crate::trace::hold();
    match text {
        "on" => {
            let Some((start, len)) = d.serving_text() else {
                pr_warn!("{}: trace: no implementation serves the device\n", d.name());
                return Err(ENODEV);
            };
            crate::site::start_trace(&held, d.name(), d.owner_tag(), start, len)
        }
        "off" => held.stop(d.name(), d.owner_tag()),
        _ => {
            pr_warn!("{}: trace: write on or off, not '{}'\n", d.name(), text);
            Err(EINVAL)
        }
    }
}

fn race_show(d: &DevRef, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    crate::race::show_for(f, d.get().owner_tag())
}

fn race_write(d: &DevRef, r: &mut UserSliceReader) -> Result {
    crate::race::write_for(r, d.get().owner_tag())
}

fn warm_corrupt_show(d: &DevRef, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match d.get().warm_corrupt() {
        Some(c) => writeln!(f, "{}", c),
        None => writeln!(f, "off"),
    }
}

fn warm_corrupt_write(d: &DevRef, r: &mut UserSliceReader) -> Result {
    let d = d.get();
    let mut buf = [0u8; MAX_WRITE];
    let text = read_text(r, &mut buf)?;
    let c = crate::warm_spec::parse(text).map_err(|()| {
        pr_warn!(
            "{}: warm_corrupt: write 'swap ROLE A B', 'reg ROLE OFF MASK' or 'off', not '{}'\n",
            d.name(),
            text
        );
        EINVAL
    })?;
    d.set_warm_corrupt(c);
    Ok(())
}

fn swap_show(_d: &DevRef, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    writeln!(f, "write an implementation name, or 'next'")
}

fn swap_write(d: &DevRef, r: &mut UserSliceReader) -> Result {
    let d = d.get();
    let mut buf = [0u8; MAX_WRITE];
    let text = read_text(r, &mut buf)?;
    let target = match text {
        "next" | "" => None,
        name => Some(name),
    };
    d.swap(target).inspect_err(|e| {
        // ENXIO: the device said which function the implementation does not drive.
        if *e != ENXIO {
            pr_warn!("{}: swap to '{}' failed: {:?}\n", d.name(), text, e);
        }
    })
}

fn pci_show(d: &DevRef, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    d.get().show_pci(f)
}

fn pci_write(d: &DevRef, r: &mut UserSliceReader) -> Result {
    let d = d.get();
    let mut buf = [0u8; MAX_WRITE];
    let text = read_text(r, &mut buf)?;
    let addr = match text {
        "none" => None,
        t => Some(pci_addr::parse(t).ok_or_else(|| {
            pr_warn!(
                "{}: pci: '{}' is not a PCI address (DDDD:BB:SS.F) or 'none'\n",
                d.name(),
                t
            );
            EINVAL
        })?),
    };
    d.set_pci(addr).inspect_err(|e| match *e {
        e if e == ENODEV => pr_warn!("{}: pci: no PCI function {}\n", d.name(), text),
        // The device said what its implementations drive instead, or who holds
        // the function.
        e if e == ENXIO || e == EBUSY => {}
        e => pr_warn!("{}: pci: attaching {} failed: {:?}\n", d.name(), text, e),
    })
}

fn policy_show(d: &DevRef, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let (p, b) = d.get().policy();
    writeln!(
        f,
        "restarts={} backoff_ms={} backoff_max_ms={} calm_ms={} rejuvenate_ms={} guard={} \
         mem_kb={} kernel_bug={} warm={} hot={} guard_ns={} floor_ns={} ceiling_ns={}",
        p.restarts,
        p.backoff_ms,
        p.backoff_max_ms,
        p.calm_ms,
        p.rejuvenate_ms,
        u8::from(p.guard),
        p.mem_kb,
        u8::from(p.kernel_bug),
        u8::from(p.warm),
        u8::from(p.hot),
        b.guard_ns,
        b.floor_ns,
        b.ceiling_ns
    )
}

fn num<T: core::str::FromStr>(v: &str) -> Result<T> {
    v.parse::<T>().map_err(|_| EINVAL)
}

fn parse_policy(text: &str, mut p: Policy, mut b: Bounds) -> Result<(Policy, Bounds)> {
    for word in text.split_ascii_whitespace() {
        let (k, v) = word.split_once('=').ok_or(EINVAL)?;
        match k {
            "restarts" => p.restarts = num(v)?,
            "backoff_ms" => p.backoff_ms = num(v)?,
            "backoff_max_ms" => p.backoff_max_ms = num(v)?,
            "calm_ms" => p.calm_ms = num(v)?,
            "rejuvenate_ms" => p.rejuvenate_ms = num(v)?,
            "guard" => p.guard = crate::policy::parse_switch(v).ok_or(EINVAL)?,
            "mem_kb" => p.mem_kb = num(v)?,
            "kernel_bug" => p.kernel_bug = crate::policy::parse_switch(v).ok_or(EINVAL)?,
            "warm" => p.warm = crate::policy::parse_switch(v).ok_or(EINVAL)?,
            "hot" => p.hot = crate::policy::parse_switch(v).ok_or(EINVAL)?,
            "guard_ns" => b.guard_ns = num(v)?,
            "floor_ns" => b.floor_ns = num(v)?,
            "ceiling_ns" => b.ceiling_ns = num(v)?,
            _ => return Err(EINVAL),
        }
    }
    if !p.valid() || !b.valid() {
        return Err(EINVAL);
    }
    Ok((p, b))
}

fn policy_write(d: &DevRef, r: &mut UserSliceReader) -> Result {
    let d = d.get();
    let mut buf = [0u8; MAX_WRITE];
    let text = read_text(r, &mut buf)?;
    let (p, b) = d.policy();
    let (p, b) = parse_policy(text, p, b).inspect_err(|_| {
        pr_warn!("{}: policy: refused '{}'\n", d.name(), text);
    })?;
    d.set_policy(p, b);
    Ok(())
}

fn call_show(c: &CallFile, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    writeln!(
        f,
        "requests {} last {}",
        c.count.load(Ordering::Relaxed),
        c.last.load(Ordering::Relaxed)
    )
}

fn call_write(c: &CallFile, r: &mut UserSliceReader) -> Result {
    let mut buf = [0u8; MAX_WRITE];
    let text = read_text(r, &mut buf)?;
    let dev = c.dev.get();
    let res = dev.call(text).inspect_err(|e| {
        if *e == EINVAL {
            pr_warn!("{}: call: refused '{}'\n", dev.name(), text);
        }
    })?;
    if !text.starts_with("config") {
        c.last.store(res, Ordering::Relaxed);
        c.count.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

impl DevDir {
    /// Creates `parent/<name>/` for `dev`.
    pub(crate) fn new(parent: &Dir, dev: DevRef) -> Result<Self> {
        let dir = parent.subdir(dev.get().cname());
        let mut files = KVec::new();
        // The files go before the device does (see `DevRef::get`).
        macro_rules! add {
            ($init:expr) => {
                files.push(KBox::pin_init($init, GFP_KERNEL)?, GFP_KERNEL)?
            };
        }
        add!(dir.read_callback_file(c"status", dev, &status_show));
        add!(dir.read_callback_file(c"stats", dev, &stats_show));
        add!(dir.read_callback_file(c"recoveries", dev, &recoveries_show));
        add!(dir.read_callback_file(c"reports", dev, &reports_show));
        add!(dir.read_write_callback_file(c"inject", dev, &inject_show, &inject_write));
        add!(dir.read_write_callback_file(c"swap", dev, &swap_show, &swap_write));
        add!(dir.read_write_callback_file(c"trace", dev, &trace_show, &trace_write));
        add!(dir.read_write_callback_file(c"policy", dev, &policy_show, &policy_write));
        add!(dir.read_write_callback_file(c"pci", dev, &pci_show, &pci_write));
        add!(dir.read_write_callback_file(c"race", dev, &race_show, &race_write));
        add!(dir.read_write_callback_file(
            c"warm_corrupt",
            dev,
            &warm_corrupt_show,
            &warm_corrupt_write
        ));
        let call = if dev.get().has_call() {
            Some(KBox::pin_init(
                dir.read_write_callback_file(
                    c"call",
                    CallFile {
                        dev,
                        last: AtomicI64::new(0),
                        count: AtomicU64::new(0),
                    },
                    &call_show,
                    &call_write,
                ),
                GFP_KERNEL,
            )?)
        } else {
            None
        };
        Ok(Self {
            _files: files,
            _call: call,
            _dir: dir,
        })
    }
}
