// SPDX-License-Identifier: GPL-2.0

//! The safe layer a `nic` implementation is written against (the driver side of the
//! net layer; the framework side is `wrappers/net.rs` and `placeholders/nic.rs`).
//!
//! A driver implements [`NicDriver`] and invokes [`nic_implementation!`], which builds
//! the `#[repr(C)]` operation table (`abi::NicOps`) and registers it at `insmod`. Each
//! entry point gets a [`Ctx`]: the instance handle ([`Dev`], with the resource
//! callouts of `driver_dev.rs` and the net callouts of `nic_callouts.rs`) and the
//! instance's two locks, `DriverLock`s in callout memory: `tx` and `rx` (the driver's
//! transmit and receive state, `Default` until `open` fills them). A third lock, the
//! glue's own, is what an injected `deadlock` takes twice: taking `tx` would stall every
//! other path of the instance (the interrupt handler with interrupts off, NAPI,
//! transmit under the queue lock) until each one's own deadline, not only the faulted
//! call. Deliver received frames without holding `tx`: the stack may transmit (an ACK)
//! from inside the delivery, and that comes back into `start_xmit`.
//!
//! Transmits are owned values: `start_xmit` gets a [`TxSkb`], which the driver takes
//! (into a [`TxSlots`] slot, or as a [`PendingSkb`]) and gives back exactly once with
//! [`Dev::tx_done`]; it never sees a token or a pointer. `nic_rings.rs` holds the typed
//! rings a driver keeps them in: [`TxSlots`], the ring registrations
//! ([`Dev::register_rx_ring`], [`Dev::register_tx_ring`]) and the delivery of a frame
//! from a buffer of a `DmaBuffers` (`driver_dma.rs`) to the stack.
//!
//! This file holds what a driver is written against: [`NicDriver`], the [`Ctx`] its
//! methods get, [`Xmit`] and [`nic_implementation!`]. Its parts, compiled in below with
//! `#[path]`:
//!
//! - `nic_callouts.rs`: the net callouts on [`Dev`], [`TxSkb`], [`PendingSkb`] and
//!   [`RxFilter`];
//! - `nic_rings.rs`: the typed rings;
//! - `nic_glue.rs`: the entry functions of the operation table (`glue`), which the macro
//!   names, with `driver_dev`'s `devirq`, `timer` and `work` (`driver_events.rs`). They
//!   raise the faults `inject ... entry=` asks for at the top of each entry
//!   (`driver_dev`'s `entry_faults.rs`).
//!
//! Compiled into each implementation module with `#[path]`, after `abi`,
//! `callouts_api`, `driver_dev` and `driver_lock`.

// Each implementation uses only the calls it needs.
#![allow(dead_code)]

use crate::abi::{NicHwStats, PciId};
use crate::driver_dev::Dev;
use crate::driver_lock::DriverLock;
use kernel::error::VTABLE_DEFAULT_ERROR;
use kernel::prelude::*;

#[path = "nic_callouts.rs"]
mod callouts;
#[path = "nic_glue.rs"]
pub(crate) mod glue;
#[path = "nic_rings.rs"]
mod rings;
// Each implementation uses only some of them.
#[allow(unused_imports)]
pub(crate) use callouts::{PendingSkb, RxFilter, TxChecksum, TxSkb, TxTso};
#[allow(unused_imports)]
pub(crate) use rings::{RingDescriptor, RingRegistration, RxFrame, TxSlots};

/// What a `start_xmit` did with the skb. The skb's fate decides what the framework is
/// told: one the driver took ([`TxSkb::into_pending`], [`TxSlots::insert`]) is queued,
/// one it did not is given back to the stack, even if the driver says otherwise (it
/// would be lost, or sent twice).
pub(crate) enum Xmit {
    /// Queued (the skb was taken); the driver reports it with [`Dev::tx_done`].
    Queued,
    /// The ring is full; the skb was not taken (the driver stopped the queue).
    Busy,
}

/// One entry-point call: the instance and its locks.
pub(crate) struct Ctx<'a, T: NicDriver> {
    /// The instance.
    pub(crate) dev: Dev,
    /// The glue's own lock, which only injected faults take.
    fault_lock: &'a DriverLock<u64>,
    /// Transmit state.
    pub(crate) tx: &'a DriverLock<T::Tx>,
    /// Receive state.
    pub(crate) rx: &'a DriverLock<T::Rx>,
}

/// A `nic` implementation. Every method runs under a guard, called from an entry function
/// of the operation table that first raises the fault `inject ... entry=` asks for
/// (`entry_faults.rs`). `adopt`, `tx_timeout`, `get_stats`, `poll`, `timer` and
/// `work` are optional (`#[vtable]`): without them a transmit timeout only replaces the instance,
/// the hardware counters stay 0, a poll does no work, and a timer or work item the
/// driver nevertheless arms fails the instance.
#[vtable]
pub(crate) trait NicDriver: Sized + Send + Sync {
    /// The PCI functions this implementation drives, as `pci::Driver::ID_TABLE` says
    /// it for a kernel driver (`abi::PciId`; `&[]` for none). While the device has a
    /// function attached, only implementations that list it serve the device; a
    /// function no implementation of the class lists cannot be attached.
    const PCI_IDS: &'static [PciId];

    /// The largest MTU the driver takes (`net_device::max_mtu` of a kernel driver): the
    /// placeholder offers it once an instance serves. Ethernet's 1500 unless the
    /// hardware takes longer frames; `change_mtu` still sees every change.
    const MAX_MTU: u32 = 1500;

    /// Whether `start_xmit` takes a frame in pieces ([`TxSkb::piece`], up to
    /// `abi::TX_PIECES_MAX`), as a kernel driver announcing `NETIF_F_SG`: the skb's linear
    /// part and page fragments, each mapped on its own, where the stack has them. Without
    /// it the framework hands over every frame in one piece (linearized if need be).
    const SCATTER_GATHER: bool = false;

    /// Checksum offload, as a kernel driver announcing `NETIF_F_HW_CSUM`: the largest frame
    /// offset at which the device stores a TCP or UDP checksum it computes
    /// ([`TxSkb::checksum`]); 0, the default, for none. The framework computes in software
    /// every checksum beyond it.
    const CHECKSUM_REACH: u16 = 0;

    /// TCP segmentation offload, as a kernel driver announcing `NETIF_F_TSO`: `start_xmit`
    /// takes a TCP over IPv4 frame of up to 64 KiB and has the device cut it into
    /// segments ([`TxSkb::tso`]). Only with [`NicDriver::SCATTER_GATHER`] and a
    /// [`NicDriver::CHECKSUM_REACH`]. Without it the framework segments in software.
    const TSO: bool = false;

    /// Transmit state (rings), behind [`Ctx::tx`].
    ///
    /// It lives, as [`NicDriver::Rx`] and `Self` do, in callout memory and is dropped only
    /// when an orderly `remove` returns (`free_slot`). An instance that fails (its `probe`
    /// returns an error, or the framework detects a failure in any entry point, `remove`'s
    /// included) is undone by its undo list, which frees that memory without running any
    /// destructor: whatever the three own outside the framework's resources (a `KBox` or
    /// `KVec` from the kernel's allocator, rather than [`Dev::alloc`] memory) then leaks.
    type Tx: Default + Send;
    /// Receive state, behind [`Ctx::rx`]; dropped, or not, as [`NicDriver::Tx`].
    type Rx: Default + Send;

    /// Starts an instance: take the device, reset it. Interface still down.
    fn probe(c: &Ctx<'_, Self>) -> Result<Self>;
    /// Warm restart (optional): starts an instance in place of [`NicDriver::probe`] on a
    /// device the implementation's previous instance left running, interface up or
    /// down as the placeholder says. Takes back what that instance kept
    /// ([`Dev::keep`], [`Dev::adopt`]) without resetting the device or rewriting its
    /// configuration, and checks the state it inherits before trusting it (registers
    /// answer, rings where the kept buffers are, indices in range, every descriptor's
    /// buffer inside the kept buffers): an error makes the framework restart cold,
    /// through `probe`. Without it every restart is cold.
    fn adopt(_c: &Ctx<'_, Self>) -> Result<Self> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// Interface up: rings, interrupts, receiver and transmitter.
    fn open(&self, c: &Ctx<'_, Self>) -> Result;
    /// Interface down: everything `open` took is given back.
    fn stop(&self, c: &Ctx<'_, Self>) -> Result;
    /// Queue one frame.
    fn start_xmit(&self, c: &Ctx<'_, Self>, skb: TxSkb<'_>) -> Result<Xmit>;
    /// Program the receive filter from [`Dev::rx_filter`].
    fn set_rx_mode(&self, c: &Ctx<'_, Self>) -> Result;
    /// Program a new station address.
    fn set_mac_address(&self, c: &Ctx<'_, Self>, mac: [u8; 6]) -> Result;
    /// Accept a new MTU (`EINVAL` refuses it).
    fn change_mtu(&self, c: &Ctx<'_, Self>, mtu: u32) -> Result;
    /// Transmit hangs: the kernel's watchdog fired, or the placeholder found the oldest
    /// frame waiting too long (from `ndo_start_xmit`, transmit lock held). The instance
    /// is replaced afterwards.
    fn tx_timeout(&self, _c: &Ctx<'_, Self>) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// Add the hardware counters since the last call.
    fn get_stats(&self, _c: &Ctx<'_, Self>, _stats: &mut NicHwStats) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// NAPI poll; returns the work done (at most `budget`).
    fn poll(&self, _c: &Ctx<'_, Self>, _budget: i32) -> Result<i32> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// The device interrupt; true if it was this device's.
    fn interrupt(&self, c: &Ctx<'_, Self>) -> Result<bool>;
    /// A timer of the instance expired.
    fn timer(&self, _c: &Ctx<'_, Self>, _cookie: u64) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// A work item of the instance runs.
    fn work(&self, _c: &Ctx<'_, Self>, _cookie: u64) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// Orderly stop (the state is dropped afterwards).
    fn remove(&self, c: &Ctx<'_, Self>);
}

/// Defines the operation table and descriptor of `nic` implementation `$t` named
/// `$name`, and the module that registers it.
macro_rules! nic_implementation {
    (type: $t:ty, name: $name:literal, module: $module:literal, description: $desc:literal $(,)?) => {
        static OPS: abi::NicOps = abi::NicOps {
            probe: nic_driver::glue::probe::<$t>,
            configure: nic_driver::glue::configure::<$t>,
            remove: nic_driver::glue::remove::<$t>,
            open: nic_driver::glue::open::<$t>,
            stop: nic_driver::glue::stop::<$t>,
            start_xmit: nic_driver::glue::start_xmit::<$t>,
            set_rx_mode: nic_driver::glue::set_rx_mode::<$t>,
            set_mac_address: nic_driver::glue::set_mac_address::<$t>,
            change_mtu: nic_driver::glue::change_mtu::<$t>,
            tx_timeout: nic_driver::glue::tx_timeout::<$t>,
            get_stats64: nic_driver::glue::get_stats64::<$t>,
            poll: nic_driver::glue::poll::<$t>,
            devirq: driver_dev::events::devirq::<nic_driver::glue::Adapter<$t>>,
            timer: driver_dev::events::timer::<nic_driver::glue::Adapter<$t>>,
            work: driver_dev::events::work::<nic_driver::glue::Adapter<$t>>,
            adopt: if <$t as nic_driver::NicDriver>::HAS_ADOPT {
                Some(nic_driver::glue::adopt::<$t>)
            } else {
                None
            },
            max_mtu: <$t as nic_driver::NicDriver>::MAX_MTU,
            features: if <$t as nic_driver::NicDriver>::SCATTER_GATHER {
                abi::NIC_F_SG
                    | if <$t as nic_driver::NicDriver>::TSO
                        && <$t as nic_driver::NicDriver>::CHECKSUM_REACH > 0
                    {
                        abi::NIC_F_TSO
                    } else {
                        0
                    }
            } else {
                0
            },
            csum_reach: <$t as nic_driver::NicDriver>::CHECKSUM_REACH as u32,
        };
        driver_dev::implementation_module! {
            class: c"nic",
            ops: OPS,
            pci_ids: <$t as nic_driver::NicDriver>::PCI_IDS,
            name: $name,
            module: $module,
            description: $desc,
        }
    };
}
pub(crate) use nic_implementation;
