// SPDX-License-Identifier: GPL-2.0

//! `crate::placeholders`: the framework-owned devices, one class each, that callers
//! see while implementations come and go underneath.
//!
//! - `testdev.rs`: the guarded test device `testdev0`;
//! - `nic.rs`: the Ethernet device `ndeth0`, with `nic_tx.rs`, the skbs its instances
//!   hold;
//! - `blk.rs`: the block device `ndblk0`, with its parts in `blk/` (`mq.rs`, the
//!   guarded blk-mq operations; `irq_done.rs`, requests finished in an interrupt;
//!   `map.rs`, a request's data mapped for the device), `blk_busy.rs`, the watch on
//!   an instance that refuses requests while it holds none, and `blk_rq_state.rs`,
//!   where a request is.
//!
//! Rust resolves a plain `mod x;` in a file reached through `#[path]` (as this one is
//! from `ndriver/ndriver_main.rs`) next to that file, hence the `#[path]` on each part.

#[path = "blk.rs"]
pub(crate) mod blk;
#[path = "blk_busy.rs"]
pub(crate) mod blk_busy;
#[path = "blk_rq_state.rs"]
pub(crate) mod blk_rq_state;
#[path = "nic.rs"]
pub(crate) mod nic;
#[path = "nic_tx.rs"]
pub(crate) mod nic_tx;
#[path = "testdev.rs"]
pub(crate) mod testdev;
