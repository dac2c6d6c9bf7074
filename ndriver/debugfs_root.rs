// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/debug/ndriver/`: the operator's view of the framework.
//!
//! Files are documented in `Documentation/debugfs.rst`.

use crate::abi::ABI_VERSION;
use crate::bench::{self, Bench};
use crate::debugfs_dev::DevDir;
use crate::devices::Devices;
use crate::guard;
use crate::race;
use crate::registry;
use crate::stall_probe::{self, StallProbe};
use core::fmt;
use kernel::debugfs::{Dir, File};
use kernel::prelude::*;

/// The top-level directory and its files; removed when dropped.
pub(crate) struct Root {
    // Files go before the directory so they are removed first.
    _devs: KVec<DevDir>,
    _status: Pin<KBox<File<()>>>,
    _bench: Pin<KBox<File<Bench>>>,
    _race: Pin<KBox<File<()>>>,
    _stalls: Pin<KBox<File<StallProbe>>>,
    _dir: Dir,
}

fn status_show(_: &(), f: &mut fmt::Formatter<'_>) -> fmt::Result {
    writeln!(f, "ndriver abi {}", ABI_VERSION)?;
    registry::show(f)?;
    guard::show(f)?;
    writeln!(
        f,
        "callouts forged_handles={}",
        crate::instance::FORGED_HANDLES.load(core::sync::atomic::Ordering::Relaxed)
    )
}

impl Root {
    pub(crate) fn new(devices: &Devices) -> Result<Self> {
        let dir = Dir::new(c"ndriver");
        let mut devs = KVec::new();
        for d in devices.all() {
            devs.push(DevDir::new(&dir, *d)?, GFP_KERNEL)?;
        }
        let status = KBox::pin_init(
            dir.read_callback_file(c"status", (), &status_show),
            GFP_KERNEL,
        )?;
        let bench = KBox::pin_init(
            dir.read_write_callback_file(c"bench", Bench::new(), &bench::show, &bench::write),
            GFP_KERNEL,
        )?;
        let race = KBox::pin_init(
            dir.read_write_callback_file(c"race", (), &race::show, &race::write),
            GFP_KERNEL,
        )?;
        let stalls = KBox::pin_init(
            dir.read_write_callback_file(
                c"stalls",
                StallProbe::new(),
                &stall_probe::show,
                &stall_probe::write,
            ),
            GFP_KERNEL,
        )?;
        Ok(Self {
            _devs: devs,
            _status: status,
            _bench: bench,
            _race: race,
            _stalls: stalls,
            _dir: dir,
        })
    }
}
