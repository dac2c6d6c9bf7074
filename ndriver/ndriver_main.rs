// SPDX-License-Identifier: GPL-2.0

//! ndriver: keeps devices serving while their Rust drivers crash or hang.
//!
//! This crate is `ndriver.ko`. Implementation modules register with it through the
//! symbols it exports (see `abi.rs`); operators watch and steer it through
//! `/sys/kernel/debug/ndriver/` (see `Documentation/debugfs.rst`).

use kernel::prelude::*;

#[path = "abi.rs"]
mod abi;
#[path = "debugfs_root.rs"]
mod debugfs_root;
#[path = "names.rs"]
mod names;
#[path = "registry.rs"]
mod registry;

module! {
    type: Ndriver,
    name: "ndriver",
    authors: ["ndriver developers"],
    description: "Online driver swapping for guarded Rust drivers",
    license: "GPL",
}

struct Ndriver {
    _debugfs: debugfs_root::Root,
}

impl kernel::Module for Ndriver {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: called once, before anything can reach the registry.
        unsafe { registry::init() };
        let debugfs = debugfs_root::Root::new()?;
        pr_info!("loaded (ABI {})\n", abi::ABI_VERSION);
        Ok(Ndriver { _debugfs: debugfs })
    }
}

impl Drop for Ndriver {
    fn drop(&mut self) {
        pr_info!("unloaded\n");
    }
}
