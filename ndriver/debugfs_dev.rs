// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/debug/ndriver/<device>/`: one directory per device. The files are
//! documented in `Documentation/debugfs.rst`. A malformed write is refused with
//! `-EINVAL` and a warning in the kernel log, and changes nothing.

use crate::abi::TESTDEV_ENTRIES;
use crate::inject_spec::{self, Armed};
use crate::pci_addr;
use crate::policy::Policy;
use crate::testdev::{self, TestDev};
use crate::timeout::Bounds;
use core::fmt;
use core::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use kernel::debugfs::{Dir, File};
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::uaccess::UserSliceReader;

/// Longest accepted write.
const MAX_WRITE: usize = 256;

/// What the `call` file remembers of the last request.
struct CallFile {
    dev: Arc<TestDev>,
    last: AtomicI64,
    count: AtomicU64,
}

/// A device's directory and files; removed when dropped.
pub(crate) struct DevDir {
    _files: KVec<Pin<KBox<File<Arc<TestDev>>>>>,
    _call: Pin<KBox<File<CallFile>>>,
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

fn status_show(d: &Arc<TestDev>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    d.show_status(f)
}

fn stats_show(d: &Arc<TestDev>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    d.counters.show(f, &TESTDEV_ENTRIES)
}

fn recoveries_show(d: &Arc<TestDev>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    d.show_recoveries(f)
}

fn inject_show(d: &Arc<TestDev>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    d.show_inject(f)
}

fn inject_write(d: &Arc<TestDev>, r: &mut UserSliceReader) -> Result {
    let mut buf = [0u8; MAX_WRITE];
    let text = read_text(r, &mut buf)?;
    if text == "off" {
        d.set_inject(None);
        return Ok(());
    }
    match inject_spec::parse(text, &TESTDEV_ENTRIES) {
        Ok(spec) => {
            // SAFETY: `ktime_get` has no preconditions; it only seeds the draw.
            let seed = unsafe { kernel::bindings::ktime_get() } as u32;
            d.set_inject(Some(Armed::new(spec, seed)));
            Ok(())
        }
        Err(e) => {
            pr_warn!("{}: inject: {:?} in '{}'\n", d.name, e, text);
            Err(EINVAL)
        }
    }
}

fn swap_show(_d: &Arc<TestDev>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    writeln!(f, "write an implementation name, or 'next'")
}

fn swap_write(d: &Arc<TestDev>, r: &mut UserSliceReader) -> Result {
    let mut buf = [0u8; MAX_WRITE];
    let text = read_text(r, &mut buf)?;
    let target = match text {
        "next" | "" => None,
        name => Some(name),
    };
    d.swap(target).inspect_err(|e| {
        pr_warn!("{}: swap to '{}' failed: {:?}\n", d.name, text, e);
    })
}

fn pci_show(d: &Arc<TestDev>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if d.pci_dev().is_null() {
        writeln!(f, "none")
    } else {
        d.show_pci(f)
    }
}

fn pci_write(d: &Arc<TestDev>, r: &mut UserSliceReader) -> Result {
    let mut buf = [0u8; MAX_WRITE];
    let text = read_text(r, &mut buf)?;
    let addr = match text {
        "none" => None,
        t => Some(pci_addr::parse(t).ok_or_else(|| {
            pr_warn!(
                "{}: pci: '{}' is not a PCI address (DDDD:BB:SS.F) or 'none'\n",
                d.name,
                t
            );
            EINVAL
        })?),
    };
    d.set_pci(addr).inspect_err(|e| match *e {
        e if e == ENODEV => pr_warn!("{}: pci: no PCI function {}\n", d.name, text),
        e if e == EBUSY => pr_warn!(
            "{}: pci: {} is bound to a kernel driver; unbind it first\n",
            d.name,
            text
        ),
        e => pr_warn!("{}: pci: attaching {} failed: {:?}\n", d.name, text, e),
    })
}

fn policy_show(d: &Arc<TestDev>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let (p, b) = d.policy();
    writeln!(
        f,
        "restarts={} backoff_ms={} backoff_max_ms={} calm_ms={} rejuvenate_ms={} guard_ns={} \
         floor_ns={} ceiling_ns={}",
        p.restarts,
        p.backoff_ms,
        p.backoff_max_ms,
        p.calm_ms,
        p.rejuvenate_ms,
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

fn policy_write(d: &Arc<TestDev>, r: &mut UserSliceReader) -> Result {
    let mut buf = [0u8; MAX_WRITE];
    let text = read_text(r, &mut buf)?;
    let (p, b) = d.policy();
    let (p, b) = parse_policy(text, p, b).inspect_err(|_| {
        pr_warn!("{}: policy: refused '{}'\n", d.name, text);
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
    let mut words = text.split_ascii_whitespace();
    let verb = words.next().unwrap_or("");
    let a = words.next().map(num::<u64>);
    let b = words.next().map(num::<u64>);
    let bad = || {
        pr_warn!("{}: call: refused '{}'\n", c.dev.name, text);
        EINVAL
    };
    if words.next().is_some() {
        return Err(bad());
    }
    match (verb, a, b) {
        ("config", Some(Ok(key)), Some(Ok(value))) => {
            let key = u32::try_from(key).map_err(|_| bad())?;
            c.dev.configure(key, value)
        }
        (v, Some(Ok(arg)), None) => {
            let entry = testdev::request_entry(v).ok_or_else(bad)?;
            let res = c.dev.call(entry, arg)?;
            c.last.store(res, Ordering::Relaxed);
            c.count.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        _ => Err(bad()),
    }
}

impl DevDir {
    /// Creates `parent/<name>/` for `dev`.
    pub(crate) fn new(parent: &Dir, dev: &Arc<TestDev>) -> Result<Self> {
        let dir = parent.subdir(c"testdev0");
        let mut files = KVec::new();
        // Each file owns a reference to the device.
        macro_rules! add {
            ($init:expr) => {
                files.push(KBox::pin_init($init, GFP_KERNEL)?, GFP_KERNEL)?
            };
        }
        add!(dir.read_callback_file(c"status", dev.clone(), &status_show));
        add!(dir.read_callback_file(c"stats", dev.clone(), &stats_show));
        add!(dir.read_callback_file(c"recoveries", dev.clone(), &recoveries_show));
        add!(dir.read_write_callback_file(c"inject", dev.clone(), &inject_show, &inject_write));
        add!(dir.read_write_callback_file(c"swap", dev.clone(), &swap_show, &swap_write));
        add!(dir.read_write_callback_file(c"policy", dev.clone(), &policy_show, &policy_write));
        add!(dir.read_write_callback_file(c"pci", dev.clone(), &pci_show, &pci_write));
        let call = KBox::pin_init(
            dir.read_write_callback_file(
                c"call",
                CallFile {
                    dev: dev.clone(),
                    last: AtomicI64::new(0),
                    count: AtomicU64::new(0),
                },
                &call_show,
                &call_write,
            ),
            GFP_KERNEL,
        )?;
        Ok(Self {
            _files: files,
            _call: call,
            _dir: dir,
        })
    }
}
