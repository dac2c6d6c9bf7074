// SPDX-License-Identifier: GPL-2.0

//! `ndriver_kunit`: the KUnit suites of the implementation side's typed layer.
//!
//! The files of `wrappers/` that implementations compile in with `#[path]` (the BARs,
//! coherent DMA buffers and memory of `driver_dev.rs` and its event entry functions, the
//! block glue's requests, the NIC glue's transmit slots and rings), and the e1000
//! drivers' shared hardware layer (`sample-drivers/e1000_hw.rs`), carry their
//! `#[kunit_tests]` suites behind `cfg(ndriver_kunit)`, which only this module is built
//! with (`Kbuild`): each suite then exists once, and no sample driver carries test code
//! in its text (where random fault sites are drawn). KUnit runs the suites when the
//! module loads (`selftests/guest/tests/02-kunit.sh` reads the results); the module
//! itself does nothing else and registers no implementation. It needs `ndriver.ko`
//! loaded for the callouts the wrappers link against, which the suites never call.

use kernel::prelude::*;

// Only the tests use these files here: no implementation is built on them.
#[allow(dead_code, unused_imports, unused_macros)]
#[path = "../../ndriver/abi.rs"]
mod abi;
#[allow(dead_code, unused_imports, unused_macros)]
#[path = "../../ndriver/abi_blk.rs"]
mod abi_blk;
#[allow(dead_code, unused_imports, unused_macros)]
#[path = "../../wrappers/blk_driver.rs"]
mod blk_driver;
#[allow(dead_code, unused_imports, unused_macros)]
#[path = "../../wrappers/callouts_api.rs"]
mod callouts_api;
#[allow(dead_code, unused_imports, unused_macros)]
#[path = "../../wrappers/callouts_api_blk.rs"]
mod callouts_api_blk;
#[allow(dead_code, unused_imports, unused_macros)]
#[path = "../../wrappers/driver_dev.rs"]
mod driver_dev;
#[allow(dead_code, unused_imports, unused_macros)]
#[path = "../../wrappers/driver_lock.rs"]
mod driver_lock;
#[allow(dead_code, unused_imports, unused_macros)]
#[path = "../../sample-drivers/e1000_hw.rs"]
mod e1000_hw;
#[allow(dead_code, unused_imports, unused_macros)]
#[path = "../../wrappers/nic_driver.rs"]
mod nic_driver;

module! {
    type: NdriverKunit,
    name: "ndriver_kunit",
    authors: ["ndriver developers"],
    description: "KUnit suites of ndriver's implementation-side typed layer",
    license: "GPL",
}

struct NdriverKunit;

impl kernel::Module for NdriverKunit {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        Ok(NdriverKunit)
    }
}
