// SPDX-License-Identifier: GPL-2.0

//! ndriver: keeps devices serving while their Rust drivers crash or hang.
//!
//! This crate is `ndriver.ko`. Implementation modules register with it through the
//! symbols it exports (see `abi.rs`); operators watch and steer it through
//! `/sys/kernel/debug/ndriver/` (see `Documentation/debugfs.rst`).
//!
//! # Modules
//!
//! The module tree follows the folders: the files in `ndriver/` are top-level modules
//! (`guard` and `device` with their parts in `guard/` and `device/`), and
//! `placeholders/`, `undo/` and `wrappers/` are `crate::placeholders`, `crate::undo`
//! and `crate::wrappers`, each listed in the folder's own `.rs` file.
//!
//! # Layers
//!
//! There are no import cycles: a module uses only modules listed before it, lowest
//! first.
//!
//! 1. What needs nothing else: `abi` (with `abi::pci_ids`, the PCI ID tables),
//!    `abi_blk`, `pt_regs`, `x86`, `detected`, `fault_class`, `inject_spec`,
//!    `site_insn`, `site_raise`, `slowest_step`, `stats`, `names`, `ksym`, `pci_addr`,
//!    `pci_claim`, `policy`, `timeout`, `race`, `esb`, `warm_spec`, `bottom_halves`,
//!    `recovery_queue`, `undo::action_list`, `wrappers::net`,
//!    `placeholders::blk_busy`, `placeholders::blk_rq_state`.
//! 2. `trace`: the single-step tracer. The guard drives it (as it drives `esb`) and
//!    passes in what it needs of the guard.
//! 3. `guard`.
//! 4. `instance`: an instance's state, the callout resources' `Event`s, and
//!    `ServedDevice`, the device as its callouts reach it (implemented by `device`).
//! 5. `registry` (implementations; the device set subscribes to it), then the
//!    class-free callouts `wrappers::callouts`, `callouts_async`, `callouts_device`,
//!    `callouts_reset`, `callouts_warm`.
//! 6. `site`: fault injection at instructions (and starting a trace, which excludes it),
//!    with `site::probe` (the kprobe handlers) and `site::effect` (what a fault did).
//! 7. `device`: the class-independent device and its recovery manager; `stall_probe`
//!    (which times with it).
//! 8. The classes: `placeholders::nic_tx`, `testdev`, `nic` (with its parts in
//!    `nic/`), `blk` (with `blk::mq`, `blk::irq_done` and `blk::map`, in `blk/`), then their own
//!    callouts `wrappers::callouts_net`, `callouts_blk`.
//! 9. `devices` (the device set, given this module by the crate root), `bench`.
//! 10. `debugfs_dev`, `debugfs_root`, and this crate root.

use kernel::prelude::*;

#[path = "abi.rs"]
mod abi;
#[path = "abi_blk.rs"]
mod abi_blk;
#[path = "bench.rs"]
mod bench;
#[path = "bottom_halves.rs"]
mod bottom_halves;
#[path = "debugfs_dev.rs"]
mod debugfs_dev;
#[path = "debugfs_root.rs"]
mod debugfs_root;
#[path = "detected.rs"]
mod detected;
#[path = "device.rs"]
mod device;
#[path = "devices.rs"]
mod devices;
#[path = "esb.rs"]
mod esb;
#[path = "fault_class.rs"]
mod fault_class;
#[path = "guard.rs"]
mod guard;
#[path = "inject_spec.rs"]
mod inject_spec;
#[path = "instance.rs"]
mod instance;
#[path = "ksym.rs"]
mod ksym;
#[path = "names.rs"]
mod names;
#[path = "pci_addr.rs"]
mod pci_addr;
#[path = "pci_claim.rs"]
mod pci_claim;
#[path = "../placeholders/placeholders.rs"]
mod placeholders;
#[path = "policy.rs"]
mod policy;
#[path = "pt_regs.rs"]
mod pt_regs;
#[path = "race.rs"]
mod race;
#[path = "recovery_queue.rs"]
mod recovery_queue;
#[path = "registry.rs"]
mod registry;
#[path = "site.rs"]
mod site;
#[path = "site_insn.rs"]
mod site_insn;
#[path = "site_raise.rs"]
mod site_raise;
#[path = "slowest_step.rs"]
mod slowest_step;
#[path = "stall_probe.rs"]
mod stall_probe;
#[path = "stats.rs"]
mod stats;
#[path = "timeout.rs"]
mod timeout;
#[path = "trace.rs"]
mod trace;
#[path = "../undo/undo.rs"]
mod undo;
#[path = "warm_spec.rs"]
mod warm_spec;
#[path = "../wrappers/wrappers.rs"]
mod wrappers;
#[path = "x86.rs"]
mod x86;

module! {
    type: Ndriver,
    name: "ndriver",
    authors: ["ndriver developers"],
    description: "Online driver swapping for guarded Rust drivers",
    license: "GPL",
    params: {
        nics: u32 {
            default: 1,
            description: "NIC placeholders to create, ndeth0 onwards (0-4)",
        },
        disks: u32 {
            default: 1,
            description: "Block placeholders to create, ndblk0 onwards (0-4)",
        },
    },
}

// Fields drop in order: files first, then the devices (which undo their instances),
// then the queue their recoveries ran on, then the i6300ESB (disarmed while the guard's
// NMI handler still takes its NMI), then the guard runtime, and last what a trace
// recorded.
struct Ndriver {
    _debugfs: debugfs_root::Root,
    _devices: devices::Devices,
    _recovery: recovery_queue::RecoveryQueue,
    _esb: esb::Esb,
    _guard: guard::Runtime,
    _trace: trace::Recorded,
}

impl kernel::Module for Ndriver {
    fn init(module: &'static ThisModule) -> Result<Self> {
        // SAFETY: called once, before anything can reach the registry.
        unsafe { registry::init() };
        // SAFETY: the module being initialised is loaded.
        let own = unsafe { guard::module_text(module.as_ptr()) };
        // SAFETY: called once, before anything can reach a trace.
        unsafe { trace::init(own) };
        let guard = guard::Runtime::new()?;
        let esb = esb::Esb::new();
        // SAFETY: called once, before any device exists.
        unsafe { pci_claim::init() };
        let recovery = recovery_queue::RecoveryQueue::new()?;
        let devices = devices::Devices::new(
            module,
            module_parameters::nics.value(),
            module_parameters::disks.value(),
        )?;
        let debugfs = debugfs_root::Root::new(&devices)?;
        pr_info!("loaded (ABI {})\n", abi::ABI_VERSION);
        Ok(Ndriver {
            _debugfs: debugfs,
            _devices: devices,
            _recovery: recovery,
            _esb: esb,
            _guard: guard,
            _trace: trace::Recorded,
        })
    }
}

impl Drop for Ndriver {
    fn drop(&mut self) {
        pr_info!("unloaded\n");
    }
}
