// SPDX-License-Identifier: GPL-2.0

//! The boundary between `ndriver.ko` and implementation modules.
//!
//! Modules share no Rust types, so both sides compile this one file in (`#[path]`) and
//! meet only through these `#[repr(C)]` layouts and the functions `ndriver.ko` exports
//! (declared in `wrappers/callouts_api.rs`). Bump [`ABI_VERSION`] on any layout change:
//! the core refuses descriptors of another version instead of misreading them.

// Both sides compile this file; each uses only its part.
#![allow(dead_code)]

use kernel::ffi::{c_char, c_int, c_void};

// The ID table entry is kernel-free (host-tested) and part of this ABI.
#[path = "pci_ids.rs"]
pub(crate) mod pci_ids;
pub(crate) use pci_ids::PciId;

/// Layout version of everything in this file (and of [`PciId`]).
pub(crate) const ABI_VERSION: u32 = 14;

/// `start_xmit` flag: the stack passes another skb right after this one
/// (`netdev_xmit_more()`, and the transmit queue was not stopped when the call began),
/// so the driver may leave its device's transmit doorbell for the last of the batch.
/// The framework calls the driver for that last one, unless it refuses it first: the
/// instance is not admitted (it is being recovered, swapped or rejuvenated: its
/// transmits go out again on the next instance), every transmit slot is lent (more
/// than any ring holds; the queue stops, and the kernel's transmit watchdog,
/// `ndo_tx_timeout`, recovers the device if nothing completes), or the frame could not
/// be put in a form the implementation takes (no memory to linearize it; dropped). In
/// those cases frames of the batch may wait for the next transmit.
pub(crate) const XMIT_MORE: u32 = 1;
/// `start_xmit` flag: the device must compute the frame's TCP or UDP checksum, from
/// byte `csum & 0xffff` of the frame to its end, and store it at byte `csum >> 16`
/// (both from the frame's start, `csum` being `start_xmit`'s argument). Given only to
/// an implementation whose [`NicOps::csum_reach`] covers the second offset.
pub(crate) const XMIT_CSUM: u32 = 2;
/// `start_xmit` flag: the frame is a TCP over IPv4 segment larger than the MSS, which
/// the device cuts into segments of `gso & 0xffff` bytes of payload, each behind a copy
/// of the frame's first `(gso >> 16) & 0xff` bytes (its Ethernet, IP and TCP headers,
/// the IP header at byte `gso >> 24`), as a kernel driver announcing `NETIF_F_TSO` gets
/// them (TCP segmentation offload). Always with [`XMIT_CSUM`] (the TCP checksum's
/// place). The headers lie in the first piece. Given only to an implementation with
/// [`NIC_F_TSO`].
pub(crate) const XMIT_TSO: u32 = 4;

/// One piece of a frame handed to `start_xmit`: `len` bytes at kernel virtual address
/// `data`, readable until the call returns. The first piece is the skb's linear part,
/// the others its page fragments, in order.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct TxPiece {
    /// The bytes.
    pub(crate) data: *const u8,
    /// How many (never 0).
    pub(crate) len: u32,
    /// Zero.
    pub(crate) _pad: u32,
}

/// The layout `wrappers/skbuff.c` fills (`struct ndriver_tx_piece`).
const _: () = assert!(
    core::mem::size_of::<TxPiece>() == 16
        && core::mem::offset_of!(TxPiece, data) == 0
        && core::mem::offset_of!(TxPiece, len) == 8
        && core::mem::offset_of!(TxPiece, _pad) == 12
);

/// The most pieces a frame has when it reaches `start_xmit`: one more than the kernel's
/// default `MAX_SKB_FRAGS` (17); an skb with more (a kernel built with up to 45) is
/// linearized first, a 64 KiB atomic allocation for a GSO skb, which may fail under
/// memory pressure (the frame is then dropped, `tx_unfit`).
pub(crate) const TX_PIECES_MAX: usize = 18;

/// [`NicOps::features`] bit: the implementation sends a frame in pieces (scatter-gather):
/// its `start_xmit` gets up to [`TX_PIECES_MAX`] of them. Without it, one.
pub(crate) const NIC_F_SG: u32 = 1;
/// [`NicOps::features`] bit: the implementation segments TCP over IPv4 itself
/// ([`XMIT_TSO`]); only with [`NIC_F_SG`] and a checksum reach.
pub(crate) const NIC_F_TSO: u32 = 2;

/// The highest fault class number (`FaultClass`, `ndriver/fault_class.rs`) an entry point's
/// glue raises (`wrappers/entry_faults.rs`); 0 is none.
pub(crate) const FAULT_CLASS_LAST: u32 = 34;

/// Static description of one implementation of a device class.
#[repr(C)]
pub(crate) struct ImplDesc {
    /// Must be [`ABI_VERSION`].
    pub(crate) abi_version: u32,
    /// NUL-terminated device class this implementation drives (e.g. `"testdev"`).
    pub(crate) class: *const c_char,
    /// NUL-terminated implementation name, unique within its class.
    pub(crate) name: *const c_char,
    /// The class's operation table (for `testdev`: a [`TestdevOps`]); NULL for a class
    /// without entry points (`hello`). A table not NULL must be aligned and inside the
    /// registering module (checked at registration for its first word, and whole when
    /// a device starts the implementation: refused otherwise).
    pub(crate) ops: *const c_void,
    /// The PCI functions this implementation drives: `pci_ids_len` entries (at most
    /// `pci_ids::MAX_IDS`); NULL and 0 for none. While a device has a PCI function,
    /// only implementations whose table lists it may serve the device.
    pub(crate) pci_ids: *const PciId,
    /// Number of entries at `pci_ids`.
    pub(crate) pci_ids_len: usize,
}

// SAFETY: an `ImplDesc` is an immutable static whose pointers refer to immutable
// statics (string literals, an operation table, an ID table); sharing it between
// threads is sound.
unsafe impl Sync for ImplDesc {}

/// The framework's handle on one running instance of an implementation. Opaque to
/// implementations: they pass it back to the callouts.
#[repr(C)]
pub(crate) struct Instance {
    _opaque: [u8; 0],
}

/// Entry points of the `testdev` class, the guarded test device that proves the guard
/// runtime. Every entry point is called through a guard. `probe` creates the driver's
/// state (memory from `ndriver_alloc`, recorded with `ndriver_set_priv`); `remove`
/// releases it on an orderly swap and is never called after a fault.
#[repr(C)]
pub(crate) struct TestdevOps {
    /// Starts the instance. Process context.
    pub(crate) probe: unsafe extern "C" fn(inst: *mut Instance) -> c_int,
    /// Sets configuration item `key` to `value`. Process context.
    pub(crate) configure: unsafe extern "C" fn(inst: *mut Instance, key: u32, value: u64) -> c_int,
    /// A request handled in process context; returns a result or a negative errno.
    pub(crate) op: unsafe extern "C" fn(inst: *mut Instance, arg: u64) -> i64,
    /// A request handled in softirq context (a soft hrtimer).
    pub(crate) tick: unsafe extern "C" fn(inst: *mut Instance, arg: u64) -> i64,
    /// A request handled in hardirq context (an hrtimer expiring in hardirq context, as an interrupt handler).
    pub(crate) irq: unsafe extern "C" fn(inst: *mut Instance, arg: u64) -> i64,
    /// Stops the instance in an orderly way. Process context.
    pub(crate) remove: unsafe extern "C" fn(inst: *mut Instance),
    /// The device's interrupt handler (hardirq context; `arg` is the IRQ number), run
    /// when the instance took an IRQ with `ndriver_request_irq`. Returns 1 when the
    /// interrupt was the device's, 0 when not (a shared line), or a negative errno.
    pub(crate) devirq: unsafe extern "C" fn(inst: *mut Instance, arg: u64) -> i64,
    /// A timer of the instance expired (softirq context; `arg` is the timer's cookie).
    pub(crate) timer: unsafe extern "C" fn(inst: *mut Instance, arg: u64) -> i64,
    /// A work item of the instance runs (process context; `arg` is its cookie).
    pub(crate) work: unsafe extern "C" fn(inst: *mut Instance, arg: u64) -> i64,
}

/// Names of the `testdev` entry points, in the order of [`TestdevEntry`]; `inject` and
/// `stats` use them.
pub(crate) const TESTDEV_ENTRIES: [&str; 9] = [
    "probe",
    "configure",
    "op",
    "tick",
    "irq",
    "remove",
    "devirq",
    "timer",
    "work",
];

/// Index of a `testdev` entry point, as passed to `ndriver_fault_point`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum TestdevEntry {
    /// [`TestdevOps::probe`].
    Probe = 0,
    /// [`TestdevOps::configure`].
    Configure = 1,
    /// [`TestdevOps::op`].
    Op = 2,
    /// [`TestdevOps::tick`].
    Tick = 3,
    /// [`TestdevOps::irq`].
    Irq = 4,
    /// [`TestdevOps::remove`].
    Remove = 5,
    /// [`TestdevOps::devirq`].
    DevIrq = 6,
    /// [`TestdevOps::timer`].
    Timer = 7,
    /// [`TestdevOps::work`].
    Work = 8,
}

impl From<TestdevEntry> for u32 {
    fn from(e: TestdevEntry) -> u32 {
        e as u32
    }
}

/// An implementation's `adopt` entry point (warm restart), in every class's table that
/// has one: starts the instance on the device its predecessor left running.
pub(crate) type AdoptFn = unsafe extern "C" fn(inst: *mut Instance) -> c_int;

/// `kind` of `ndriver_keep` and `ndriver_adopt` (warm restart): the enabled PCI
/// function (`obj` ignored).
pub(crate) const KEEP_PCI_ENABLE: u32 = 1;
/// `kind`: a claimed and mapped BAR (`obj` its mapping; adopted: `cpu` the mapping,
/// `len` the BAR number).
pub(crate) const KEEP_IOMAP: u32 = 2;
/// `kind`: the interrupt line (`obj` ignored): it stays requested, its handler runs the
/// adopter's `devirq` once the adopter serves.
pub(crate) const KEEP_IRQ: u32 = 3;
/// `kind`: a coherent DMA buffer (`obj` its CPU address; adopted: `cpu`, `len`, `dma`).
pub(crate) const KEEP_DMA_COHERENT: u32 = 4;
/// `kind`: a reset recorded with `ndriver_io_reset_on_undo` (`obj` the register's
/// address: mapping plus offset; adopted: `cpu` the mapping, `len` the offset). Keep the
/// mapping too.
pub(crate) const KEEP_RESET: u32 = 5;

/// What `ndriver_adopt` returns (by value: the callout writes through no pointer of the
/// driver's): `status` 0 and the resource handed to the adopting instance (see the
/// `KEEP_*` kinds for what each field holds; 0 where a kind has no such value), or a
/// negative errno in `status` and nothing else.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct Adopted {
    /// 0, or a negative errno.
    pub(crate) status: i32,
    /// Reserved, 0.
    pub(crate) reserved: u32,
    /// CPU address (a BAR mapping, a coherent buffer).
    pub(crate) cpu: u64,
    /// Length in bytes, or the BAR number; for the interrupt line 1 if it is an MSI-X
    /// vector, 0 for INTx.
    pub(crate) len: u64,
    /// Bus address of a coherent buffer.
    pub(crate) dma: u64,
}

/// `dir` of `ndriver_dma_map`: the device reads the buffer.
pub(crate) const DMA_TO_DEVICE: u32 = 1;
/// `dir` of `ndriver_dma_map`: the device writes the buffer.
pub(crate) const DMA_FROM_DEVICE: u32 = 2;

/// Entry points of the `nic` class: an Ethernet controller behind the placeholder
/// `net_device` (`placeholders/nic.rs`). Every entry point is called through a guard;
/// the glue is `wrappers/nic_driver.rs` (its entry functions in `nic_glue.rs`). Socket
/// buffers are opaque handles (`skb`): the framework keeps each one handed to
/// `start_xmit` until the driver reports it done with `ndriver_net_tx_done`, and sends it
/// again on a new instance if it never does.
#[repr(C)]
pub(crate) struct NicOps {
    /// Starts the instance (device reset, MAC address read). Process context.
    pub(crate) probe: unsafe extern "C" fn(inst: *mut Instance) -> c_int,
    /// Sets a configuration item other than the ones routed to their own entry point
    /// (`NIC_KEY_*`). Process context.
    pub(crate) configure: unsafe extern "C" fn(inst: *mut Instance, key: u32, value: u64) -> c_int,
    /// Stops the instance in an orderly way. Process context.
    pub(crate) remove: unsafe extern "C" fn(inst: *mut Instance),
    /// The interface goes up: rings, interrupts, receiver and transmitter on.
    /// Process context.
    pub(crate) open: unsafe extern "C" fn(inst: *mut Instance) -> c_int,
    /// The interface goes down. Process context.
    pub(crate) stop: unsafe extern "C" fn(inst: *mut Instance) -> c_int,
    /// Queue `skb`, a frame in `count` pieces at `pieces` (one unless the implementation
    /// has [`NIC_F_SG`]), for transmission. 0: taken (report it with
    /// `ndriver_net_tx_done`), 1: ring full (not taken), or a negative errno. Softirq
    /// context (bottom halves off), serialised by the kernel's transmit lock. `flags`:
    /// [`XMIT_MORE`], [`XMIT_CSUM`] (then `csum` says where), [`XMIT_TSO`] (then `gso`
    /// says how), or 0.
    pub(crate) start_xmit: unsafe extern "C" fn(
        inst: *mut Instance,
        skb: *mut c_void,
        pieces: *const TxPiece,
        count: u32,
        flags: u32,
        csum: u32,
        gso: u32,
    ) -> c_int,
    /// Program the receive filter from the placeholder's flags and multicast list
    /// (`ndriver_net_rx_filter`). Atomic context.
    pub(crate) set_rx_mode: unsafe extern "C" fn(inst: *mut Instance) -> c_int,
    /// Program a new station address (`mac` in the low 48 bits, first byte lowest).
    /// Process context.
    pub(crate) set_mac_address: unsafe extern "C" fn(inst: *mut Instance, mac: u64) -> c_int,
    /// Accept a new MTU (`-EINVAL` refuses it). Process context.
    pub(crate) change_mtu: unsafe extern "C" fn(inst: *mut Instance, mtu: u32) -> c_int,
    /// The kernel's transmit watchdog fired; the instance is replaced afterwards.
    /// Softirq context.
    pub(crate) tx_timeout: unsafe extern "C" fn(inst: *mut Instance) -> c_int,
    /// Adds the hardware counters since the last call to `stats`. Any context.
    pub(crate) get_stats64:
        unsafe extern "C" fn(inst: *mut Instance, stats: *mut NicHwStats) -> c_int,
    /// NAPI poll: up to `budget` packets; returns the work done. Softirq context.
    pub(crate) poll: unsafe extern "C" fn(inst: *mut Instance, budget: i32) -> i64,
    /// The device's interrupt (hardirq; `arg` is the IRQ number); 1: it was ours.
    pub(crate) devirq: unsafe extern "C" fn(inst: *mut Instance, arg: u64) -> i64,
    /// A timer of the instance expired (softirq; `arg` is its cookie).
    pub(crate) timer: unsafe extern "C" fn(inst: *mut Instance, arg: u64) -> i64,
    /// A work item of the instance runs (process context; `arg` is its cookie).
    pub(crate) work: unsafe extern "C" fn(inst: *mut Instance, arg: u64) -> i64,
    /// Warm restart (optional, NULL for none): starts the instance in place of `probe`
    /// on a device its implementation's previous instance left running, taking back
    /// what that one kept (`ndriver_adopt`) and checking the device state it inherits.
    /// 0, or a negative errno after which the framework restarts cold (`probe`).
    /// Process context.
    pub(crate) adopt: Option<AdoptFn>,
    /// The largest MTU the implementation takes: the placeholder's maximum once an
    /// instance of it serves (bounded by the framework).
    pub(crate) max_mtu: u32,
    /// What the implementation's `start_xmit` takes besides a linear frame: [`NIC_F_SG`],
    /// [`NIC_F_TSO`] or 0. The placeholder announces both whatever it says, and puts a
    /// frame in one piece, or cuts it into segments, for an implementation without.
    pub(crate) features: u32,
    /// Checksum offload: the largest frame offset at which the device stores a checksum
    /// it computes ([`XMIT_CSUM`]), 0 for none. The placeholder announces checksum
    /// offload whatever it says, and computes in software a checksum beyond it.
    pub(crate) csum_reach: u32,
}

/// Hardware counters a `nic` driver reports from `get_stats64` (increments).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct NicHwStats {
    /// Frames dropped for lack of receive buffers.
    pub(crate) rx_missed: u64,
    /// Frames received with errors (CRC, alignment, length).
    pub(crate) rx_errors: u64,
    /// Transmit errors (collisions, underruns).
    pub(crate) tx_errors: u64,
}

/// Names of the `nic` entry points, in the order of [`NicEntry`].
pub(crate) const NIC_ENTRIES: [&str; 16] = [
    "probe",
    "configure",
    "remove",
    "open",
    "stop",
    "start_xmit",
    "set_rx_mode",
    "set_mac_address",
    "change_mtu",
    "tx_timeout",
    "get_stats64",
    "poll",
    "devirq",
    "timer",
    "work",
    "adopt",
];

/// Index of a `nic` entry point, as passed to `ndriver_fault_point`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum NicEntry {
    /// [`NicOps::probe`].
    Probe = 0,
    /// [`NicOps::configure`].
    Configure = 1,
    /// [`NicOps::remove`].
    Remove = 2,
    /// [`NicOps::open`].
    Open = 3,
    /// [`NicOps::stop`].
    Stop = 4,
    /// [`NicOps::start_xmit`].
    StartXmit = 5,
    /// [`NicOps::set_rx_mode`].
    SetRxMode = 6,
    /// [`NicOps::set_mac_address`].
    SetMacAddress = 7,
    /// [`NicOps::change_mtu`].
    ChangeMtu = 8,
    /// [`NicOps::tx_timeout`].
    TxTimeout = 9,
    /// [`NicOps::get_stats64`].
    GetStats64 = 10,
    /// [`NicOps::poll`].
    Poll = 11,
    /// [`NicOps::devirq`].
    DevIrq = 12,
    /// [`NicOps::timer`].
    Timer = 13,
    /// [`NicOps::work`].
    Work = 14,
    /// [`NicOps::adopt`].
    Adopt = 15,
}

impl From<NicEntry> for u32 {
    fn from(e: NicEntry) -> u32 {
        e as u32
    }
}

/// Configuration key of the `nic` class: interface up (1) or down (0), replayed
/// through `open`/`stop`.
pub(crate) const NIC_KEY_UP: u32 = 1;
/// Configuration key: the MTU, replayed through `change_mtu`.
pub(crate) const NIC_KEY_MTU: u32 = 2;
/// Configuration key: the station address, replayed through `set_mac_address`.
pub(crate) const NIC_KEY_MAC: u32 = 3;

/// `flags` of `ndriver_net_rx_filter`: receive every frame.
pub(crate) const NIC_RX_PROMISC: u32 = 1;
/// `flags` of `ndriver_net_rx_filter`: receive every multicast frame.
pub(crate) const NIC_RX_ALLMULTI: u32 = 2;
