// SPDX-License-Identifier: GPL-2.0

//! The class-independent part of every device ndriver serves: the instance lifecycle
//! and the recovery manager.
//!
//! A [`Device<C>`] is the framework-owned side of one placeholder device of class `C`
//! (`placeholders/testdev.rs`, `placeholders/nic.rs`, ...). It owns the instance
//! serving the device, admits calls into it, runs each entry point under the guard,
//! and on a failure contains it, recovers (quiesce, undo, instantiate, reconfigure,
//! redirect) as the policy ladder says, and records the phase times. Orderly swaps,
//! periodic rejuvenation, PCI attachment, fault injection, statistics and the debugfs
//! files are the same for every class.
//!
//! A class supplies, through [`Class`], its name, its entry point names, how the
//! lifecycle entry points (`probe`, `configure`, `remove`) and the events of callout
//! resources (device interrupt, timer, work item) are called in its operation table,
//! and optional hooks around a recovery (the NIC collects its unfinished transmits
//! when an instance dies and sends them again once a new one serves). The class's own
//! per-device state is the [`Device::class`] field; its request paths call
//! [`Device::admit`], [`Device::guarded_entry`] and [`Device::recover`] or
//! [`Device::fail_async`].
//!
//! Callouts reach a device without knowing its class through their instance's
//! `ServedDevice` trait object (defined with the instance, `instance.rs`); debugfs and
//! the device set through the [`DeviceApi`] trait object, which extends it.
//!
//! The parts, one file each under `ndriver/device/`:
//!
//! - `class.rs`: [`Class`], what a class supplies (the callout resources' `Event`s
//!   are the instance's, `instance.rs`);
//! - `state.rs`: [`Device<C>`] itself, its control state under the `ctl` mutex (with
//!   the ring of recovery records), and the accessors the classes use;
//! - `admission.rs`: [`Admitted`], [`Device::admit`] and in-flight accounting,
//!   `quiesce`;
//! - `entry.rs`: [`Device::guarded_entry`] and the watchdog deadlines, [`Failure`] and
//!   failure counting, [`Device::async_entry`] for interrupts, timers and work items;
//! - `config.rs`: [`Device::configure`] and the configuration log a new instance
//!   replays;
//! - `recovery.rs`: [`Device::recover`], [`Device::fail_async`] and the pending failure
//!   the recovery work item takes, starting an instance (with the policy's restart
//!   ladder and back-off) and replaying the configuration into it, redirecting calls;
//! - `report.rs`: crash reports, one per recovery from a failure: the faulting context
//!   the guard captured, kept from the failed call to its recovery, and the ring of the
//!   newest reports (`reports` in debugfs);
//! - `swap.rs`: orderly swaps and periodic rejuvenation (its work item);
//! - `hot.rs`: hot restart: a request's error return that changed nothing, retried on
//!   the same instance;
//! - `warm.rs`: warm restart: the resources a failed instance kept, held by the device
//!   for the next instance of its implementation to adopt;
//! - `api.rs`: [`DeviceApi`] and its implementation (and `ServedDevice`'s): the
//!   registry's hooks, shutdown and the debugfs files.
//!
//! A device does not know the device set (`devices.rs`), which owns the devices and
//! passes the registry's news on to them; it asks the registry (`registry.rs`) which
//! implementations of its class there are.
//!
//! Rust resolves a plain `mod x;` in a file reached through `#[path]` (as this one is
//! from `ndriver_main.rs`) next to that file, hence the `#[path]` on each part.

#[path = "device/admission.rs"]
mod admission;
#[path = "device/api.rs"]
mod api;
#[path = "device/class.rs"]
mod class;
#[path = "device/config.rs"]
mod config;
#[path = "device/entry.rs"]
mod entry;
#[path = "device/hot.rs"]
mod hot;
#[path = "device/recovery.rs"]
mod recovery;
#[path = "device/report.rs"]
mod report;
#[path = "device/state.rs"]
mod state;
#[path = "device/swap.rs"]
mod swap;
#[path = "device/warm.rs"]
mod warm;

pub(crate) use admission::Admitted;
pub(crate) use api::DeviceApi;
pub(crate) use class::Class;
pub(crate) use entry::{now_ns, Failure};
pub(crate) use recovery::MAX_ATTEMPTS;
pub(crate) use state::Device;
