// SPDX-License-Identifier: GPL-2.0

//! `crate::wrappers`: the framework's side of the callout API and its safe layer over
//! the kernel's C interfaces that have no Rust abstraction.
//!
//! - `callout_thunks.rs`: the exported symbols of the callouts, which clear the
//!   registers a callout may leave behind before they return to the driver;
//! - `callouts.rs`: memory, the instance's private data, and what every callout shares;
//! - `callouts_async.rs`: hrtimers and work items;
//! - `callouts_blk.rs`: the `blk` class's callouts;
//! - `callouts_device.rs`: the PCI function (`callouts_pci.rs`), its BARs
//!   (`callouts_bar.rs`), interrupt line (`callouts_irq.rs`) and DMA (`callouts_dma.rs`);
//! - `callouts_net.rs`: the `nic` class's callouts;
//! - `callouts_reset.rs`: the device reset undo performs;
//! - `callouts_warm.rs`: resources kept across a warm restart and adopted;
//! - `net.rs`: `net_device`, socket buffers, NAPI (with `netdevice.c` and `skbuff.c`).
//!
//! The other Rust files in `wrappers/` (`callouts_api*.rs`, `driver_dev.rs` with
//! `driver_bar.rs`, `driver_dma.rs` and the parts every class glue shares,
//! `entry_faults.rs`, `driver_events.rs` and `driver_slot.rs`; `driver_lock.rs`,
//! `testdev_driver.rs` with `testdev_glue.rs`, `nic_driver.rs` with `nic_callouts.rs`,
//! `nic_glue.rs` and `nic_rings.rs`, `blk_driver.rs` with `blk_request.rs`,
//! `blk_callouts.rs` and `blk_glue.rs`) are the implementation side: each implementation
//! module compiles them in with `#[path]`, and they are not part of this crate.
//!
//! Rust resolves a plain `mod x;` in a file reached through `#[path]` (as this one is
//! from `ndriver/ndriver_main.rs`) next to that file, hence the `#[path]` on each part.

#[path = "callout_thunks.rs"]
mod callout_thunks;
#[path = "callouts.rs"]
pub(crate) mod callouts;
#[path = "callouts_async.rs"]
pub(crate) mod callouts_async;
#[path = "callouts_blk.rs"]
pub(crate) mod callouts_blk;
#[path = "callouts_device.rs"]
pub(crate) mod callouts_device;
#[path = "callouts_net.rs"]
pub(crate) mod callouts_net;
#[path = "callouts_reset.rs"]
pub(crate) mod callouts_reset;
#[path = "callouts_warm.rs"]
pub(crate) mod callouts_warm;
#[path = "net.rs"]
pub(crate) mod net;
