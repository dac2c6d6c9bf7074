// SPDX-License-Identifier: GPL-2.0

//! The registry of implementations that modules offered to ndriver.
//!
//! Implementation modules call [`ndriver_register_impl`] from their `init` and
//! [`ndriver_unregister_impl`] from their exit. The module dependency that the exported
//! symbols create keeps `ndriver.ko` loaded while any implementation module is.
//!
//! A registered implementation's module text becomes a place where the watchdog may
//! abandon a hung call. A device bound to an implementation that is being withdrawn is
//! first swapped to another one (or left unbound), so an implementation module that is
//! in use can be `rmmod`ed at any time without the device noticing more than a swap.
//!
//! The registry owns the implementations and knows nothing of devices: the device set
//! (`devices.rs`), which owns the devices, subscribes with [`subscribe`] and is told
//! of each implementation that comes or goes. The devices ask the registry which
//! implementations of their class there are ([`impls_of`]), and which of them drive
//! the PCI function they have: each implementation declares the functions it drives
//! in an ID table, which the registry checks and copies at registration (what a
//! module's descriptor says later is never read again).

use crate::abi::pci_ids::{FuncId, IdTable, TableError, MAX_IDS};
use crate::abi::{ImplDesc, PciId, ABI_VERSION};
use crate::guard;
use crate::names::check_name;
use core::ffi::CStr;
use core::fmt::{self, Write};
use kernel::ffi::c_int;
use kernel::prelude::*;
use kernel::sync::SetOnce;

/// Most implementations registered at once.
pub(crate) const MAX_IMPLS: usize = 16;

/// One registered implementation.
struct Registered {
    desc: *const ImplDesc,
    class: &'static str,
    name: &'static str,
    owner: *mut kernel::bindings::module,
    /// The PCI functions it drives (a checked copy of its descriptor's table).
    ids: IdTable,
    /// Registration order: alternatives are tried in it.
    seq: u64,
    /// The operation table's address read at registration, and how many bytes from
    /// there on lie in the module (0: NULL or outside).
    ops_at: usize,
    ops_room: usize,
    /// The module's read-only data (where its string constants lie).
    rodata: Option<(usize, usize)>,
    /// Being withdrawn: no device may start it any more.
    leaving: bool,
}

// SAFETY: `desc` points at an immutable static of a module that stays loaded until it
// unregisters (which removes this entry first); it is only read.
unsafe impl Send for Registered {}

impl Registered {
    /// The operation table's address, read once, if it is not NULL and its first `len`
    /// bytes lie in the registering module; else 0.
    fn checked_ops(&self, len: usize) -> usize {
        // SAFETY: `self.desc` is registered, so its module is loaded (it unregisters
        // before it unloads) and its descriptor valid.
        let ops = unsafe { (*self.desc).ops } as usize;
        // The module's layout is fixed while it is loaded: the room found at
        // registration holds while the table is where it was then.
        if ops != 0 && ops == self.ops_at && len <= self.ops_room {
            ops
        } else {
            0
        }
    }
}

/// Fixed slots: registration happens at `insmod` time, and a fixed table needs no
/// allocation in the path that modules call.
pub(crate) struct Slots([Option<Registered>; MAX_IMPLS], u64);

impl Slots {
    const EMPTY: Self = Self([const { None }; MAX_IMPLS], 0);

    /// The registration of `desc`, if it is registered (leaving or not).
    fn of(&self, desc: *const ImplDesc) -> Option<&Registered> {
        self.0
            .iter()
            .flatten()
            .find(|r| core::ptr::eq(r.desc, desc))
    }
}

kernel::sync::global_lock! {
    // SAFETY: `init` is called from the module initialiser before the exported
    // functions can be reached (they are unavailable to other modules until `init`
    // of this module returns).
    unsafe(uninit) static REGISTRY: Mutex<Slots> = Slots::EMPTY;
}

/// Who is told of implementations coming and going (the device set).
#[derive(Clone, Copy)]
pub(crate) struct Subscriber {
    /// An implementation of class `class` registered.
    pub(crate) registered: fn(class: &str, desc: *const ImplDesc),
    /// An implementation of class `class` is being withdrawn: called before it goes.
    pub(crate) withdrawn: fn(class: &str, desc: *const ImplDesc),
}

/// The subscriber, once there is one.
static SUBSCRIBER: SetOnce<Subscriber> = SetOnce::new();

/// Makes `s` the one subscriber (a second one is ignored).
pub(crate) fn subscribe(s: Subscriber) {
    SUBSCRIBER.populate(s);
}

/// Initialises the registry lock.
///
/// # Safety
///
/// Must be called exactly once, from the module initialiser, before any other function
/// of this file.
pub(crate) unsafe fn init() {
    // SAFETY: called once, before first use, as this function's contract requires.
    unsafe { REGISTRY.init() };
}

/// Reads a NUL-terminated name from a descriptor and checks it.
///
/// # Safety
///
/// `ptr` must be NULL or point at a NUL-terminated string that lives as long as the
/// module that owns the descriptor stays registered.
unsafe fn desc_name(ptr: *const kernel::ffi::c_char) -> Result<&'static str> {
    if ptr.is_null() {
        return Err(EINVAL);
    }
    // SAFETY: non-NULL and NUL-terminated by this function's contract. The `'static`
    // lifetime is bounded in practice by the registration, which is removed before the
    // owning module goes away.
    let s = unsafe { CStr::from_ptr(ptr.cast()) };
    let s = s.to_str().map_err(|_| EINVAL)?;
    check_name(s.as_bytes()).map_err(|_| EINVAL)?;
    Ok(s)
}

/// The name of module `owner`, for messages (`?` if it has none).
///
/// # Safety
///
/// `owner` must be NULL or a loaded module that stays loaded while the result is used.
unsafe fn module_name<'a>(owner: *mut kernel::bindings::module) -> &'a str {
    // SAFETY: NULL or a loaded module, by this function's contract.
    let Some(m) = (unsafe { owner.as_ref() }) else {
        return "?";
    };
    // SAFETY: `name` is an array inside the module, readable for its whole length.
    let bytes = unsafe { core::slice::from_raw_parts(m.name.as_ptr().cast::<u8>(), m.name.len()) };
    CStr::from_bytes_until_nul(bytes)
        .ok()
        .and_then(|c| c.to_str().ok())
        .unwrap_or("?")
}

/// Whether the `len` bytes at `addr` lie inside one of the (non-init) memory regions
/// of module `owner`: text, data, read-only data, read-only after init.
///
/// # Safety
///
/// `owner` must be NULL (then nothing is inside) or a loaded module.
unsafe fn in_module(owner: *mut kernel::bindings::module, addr: usize, len: usize) -> bool {
    // SAFETY: per this function's contract.
    let room = unsafe { room_in_module(owner, addr) };
    room != 0 && addr.checked_add(len).is_some() && len <= room
}

/// How many bytes from `addr` on lie in one memory region of module `owner` (its text,
/// data, read-only data or data read-only after init); 0 if `addr` lies in none.
///
/// # Safety
///
/// `owner` is NULL or a module that stays loaded during the call.
unsafe fn room_in_module(owner: *mut kernel::bindings::module, addr: usize) -> usize {
    use kernel::bindings::{
        mod_mem_type_MOD_DATA, mod_mem_type_MOD_RODATA, mod_mem_type_MOD_RO_AFTER_INIT,
        mod_mem_type_MOD_TEXT,
    };
    // SAFETY: NULL or a loaded module, by this function's contract.
    let Some(m) = (unsafe { owner.as_ref() }) else {
        return 0;
    };
    [
        mod_mem_type_MOD_TEXT,
        mod_mem_type_MOD_DATA,
        mod_mem_type_MOD_RODATA,
        mod_mem_type_MOD_RO_AFTER_INIT,
    ]
    .iter()
    .filter_map(|t| m.mem.get(*t as usize))
    .find_map(|r| {
        let (base, size) = (r.base as usize, r.size as usize);
        let end = base.saturating_add(size);
        (addr >= base && addr < end).then(|| end - addr)
    })
    .unwrap_or(0)
}

/// Reads and checks the ID table of descriptor `d`, whose module is `owner` (named
/// `module`): a table with entries that is NULL, misaligned, overlong or not inside
/// the module, or an entry that matches no real vendor, refuses the registration.
///
/// # Safety
///
/// `owner` must be NULL or the loaded module whose static `d` is. When `d.pci_ids`
/// lies inside that module, aligned, with `d.pci_ids_len` at most [`MAX_IDS`], it
/// must point at that many entries (the descriptor's static table, as `ImplDesc`
/// requires).
unsafe fn desc_ids(
    d: &ImplDesc,
    owner: *mut kernel::bindings::module,
    module: &str,
) -> Result<IdTable> {
    let (ptr, len) = (d.pci_ids, d.pci_ids_len);
    if len == 0 {
        return Ok(IdTable::EMPTY);
    }
    if len > MAX_IDS {
        pr_err!(
            "{}: implementation refused: {} PCI IDs, at most {} allowed\n",
            module,
            len,
            MAX_IDS
        );
        return Err(EINVAL);
    }
    // SAFETY: `owner` is NULL or loaded, by this function's contract.
    let inside = unsafe { in_module(owner, ptr as usize, len * core::mem::size_of::<PciId>()) };
    if ptr.is_null() || !ptr.is_aligned() || !inside {
        pr_err!(
            "{}: implementation refused: its PCI ID table ({} entries) is at a bad address\n",
            module,
            len
        );
        return Err(EINVAL);
    }
    // SAFETY: non-NULL, aligned, of a bounded length and inside the loaded module
    // (checked); the entries are there by this function's contract. The slice is only
    // read here, to copy it.
    let ids: &[PciId] = unsafe { core::slice::from_raw_parts(ptr, len) };
    IdTable::copy_of(ids).map_err(|e| {
        pr_err!("{}: implementation refused: {}\n", module, e);
        EINVAL
    })
}

fn register(desc: *const ImplDesc, owner: *mut kernel::bindings::module) -> Result {
    if desc.is_null() {
        return Err(EINVAL);
    }
    // SAFETY: `owner` is the registering module, loaded during its `init`.
    let module = unsafe { module_name(owner) };
    // Only `abi_version` is read (no reference to the whole descriptor) until the version
    // says the rest is this version's layout: an older descriptor is smaller.
    // SAFETY: the caller passes a pointer to its static descriptor (see `ImplDesc`),
    // which in every ABI version starts with `abi_version`.
    let version = unsafe { core::ptr::addr_of!((*desc).abi_version).read() };
    if version != ABI_VERSION {
        pr_err!(
            "{}: implementation built for ABI {} refused: ndriver speaks ABI {}\n",
            module,
            version,
            ABI_VERSION
        );
        return Err(EINVAL);
    }
    // SAFETY: `desc` is the registering module's static descriptor, which stays
    // loaded during its `init`, and its version matched: it is a whole `ImplDesc`.
    let d = unsafe { &*desc };
    // SAFETY: the descriptor's strings are static literals of the registering module.
    let class = unsafe { desc_name(d.class) }?;
    // SAFETY: the implementation name is a static literal of the registering module,
    // like the class name.
    let name = unsafe { desc_name(d.name) }?;
    // SAFETY: `owner` is the registering module, loaded during its `init`, and `d` its
    // static descriptor; the ABI version matched, so `d` has the table fields, which
    // describe the module's static table (checked as far as can be).
    let ids = unsafe { desc_ids(d, owner, module) }?;
    // Every device of the class reads its table through `ops`: NULL (a class without
    // entry points) or aligned and in the registering module (its size is the class's
    // layout, which this class-free registry does not know: the first word is checked
    // here, the whole table by the device that starts it, `checked_ops`).
    // SAFETY: `owner` is the registering module, loaded during its `init`.
    let ops_room = unsafe { room_in_module(owner, d.ops as usize) };
    if !d.ops.is_null() && !(d.ops.cast::<u64>().is_aligned() && ops_room >= 8) {
        pr_err!(
            "{}: implementation refused: its operation table is at a bad address\n",
            module
        );
        return Err(EINVAL);
    }

    let mut slots = REGISTRY.lock();
    if slots
        .0
        .iter()
        .flatten()
        .any(|r| r.class == class && r.name == name)
    {
        pr_err!("implementation {}/{} is already registered\n", class, name);
        return Err(EEXIST);
    }
    slots.1 += 1;
    let seq = slots.1;
    let free = slots.0.iter_mut().find(|s| s.is_none()).ok_or(ENOSPC)?;
    // SAFETY: `owner` is the registering module, loaded until it unregisters (which
    // unregisters the text first).
    unsafe { guard::register_module_text(owner) }?;
    *free = Some(Registered {
        desc,
        class,
        name,
        owner,
        ids,
        seq,
        leaving: false,
        ops_at: d.ops as usize,
        ops_room,
        // SAFETY: `owner` is the registering module, loaded during its `init`.
        rodata: unsafe { module_rodata(owner) },
    });
    drop(slots);
    pr_info!("registered implementation {}/{}\n", class, name);
    if let Some(s) = SUBSCRIBER.as_ref() {
        (s.registered)(class, desc);
    }
    Ok(())
}

/// The implementations of `class` that may be started, in registration order: with
/// a PCI function `func`, only those whose ID table lists it.
pub(crate) fn impls_of(class: &str, func: Option<&FuncId>) -> KVec<*const ImplDesc> {
    let slots = REGISTRY.lock();
    let mut found: KVec<(u64, *const ImplDesc)> = KVec::new();
    for r in slots.0.iter().flatten() {
        if r.class == class
            && !r.leaving
            && r.ids.drives(func)
            && found.push((r.seq, r.desc), GFP_KERNEL).is_err()
        {
            break;
        }
    }
    found.sort_unstable_by_key(|(seq, _)| *seq);
    let mut out = KVec::new();
    for (_, d) in found {
        if out.push(d, GFP_KERNEL).is_err() {
            break;
        }
    }
    out
}

/// The name of a registered implementation.
pub(crate) fn name_of(desc: *const ImplDesc) -> Option<&'static str> {
    REGISTRY.lock().of(desc).map(|r| r.name)
}

/// The address of registered implementation `desc`'s operation table, read once, if it
/// is not NULL and its first `len` bytes (the size of its class's table) lie in the
/// registering module; else 0.
pub(crate) fn checked_ops(desc: *const ImplDesc, len: usize) -> usize {
    REGISTRY.lock().of(desc).map_or(0, |r| r.checked_ops(len))
}

/// What starting an instance of a registered implementation needs of its registration.
#[derive(Clone, Copy)]
pub(crate) struct StartView {
    /// The implementation's name.
    pub(crate) name: &'static str,
    /// Its operation table's address if the table lies whole in its module
    /// ([`checked_ops`]), else 0.
    pub(crate) ops: usize,
    /// Its module's read-only data (where its string constants lie), unless it is being
    /// withdrawn.
    pub(crate) rodata: Option<(usize, usize)>,
    /// It is being withdrawn.
    pub(crate) leaving: bool,
}

/// [`name_of`], [`checked_ops`] (for a table of `len` bytes) and the module's read-only
/// data of `desc`, read under one hold of the registry lock (a recovery starts an
/// instance in the time of a few of them); `None` if `desc` is not registered.
pub(crate) fn start_view(desc: *const ImplDesc, len: usize) -> Option<StartView> {
    let slots = REGISTRY.lock();
    let r = slots.of(desc)?;
    Some(StartView {
        name: r.name,
        ops: r.checked_ops(len),
        rodata: if r.leaving { None } else { r.rodata },
        leaving: r.leaving,
    })
}

/// Whether `desc` is a registered implementation that may be started and drives PCI
/// function `func` (every one serves a device without a function, `None`).
pub(crate) fn drives(desc: *const ImplDesc, func: Option<&FuncId>) -> bool {
    REGISTRY
        .lock()
        .of(desc)
        .is_some_and(|r| !r.leaving && r.ids.drives(func))
}

/// The implementation of `class` named `name` that may be started.
pub(crate) fn find(class: &str, name: &str) -> Option<*const ImplDesc> {
    let slots = REGISTRY.lock();
    slots
        .0
        .iter()
        .flatten()
        .find(|r| r.class == class && r.name == name && !r.leaving)
        .map(|r| r.desc)
}

// The kernel log takes `kernel::fmt::Display`; `pci_ids.rs` is kernel-free and
// implements only `core::fmt::Display`.
impl kernel::fmt::Display for FuncId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl kernel::fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Writes into `buf` what each implementation of `class` drives, in registration
/// order, for messages: `e1000-napi: 8086:100e; e1000-irq: 8086:100e`, or
/// `none registered`; cut short, ending in `...`, when `buf` is too small.
///
/// Called before the message is logged, never as a `Display` argument of it:
/// `printk` formats with interrupts off, where the registry mutex may not be taken
/// (nor memory allocated, so this allocates nothing).
pub(crate) fn driven_by<'b>(class: &str, buf: &'b mut [u8]) -> &'b str {
    let len = buf.len();
    let (written, cut) = {
        let slots = REGISTRY.lock();
        let mut w = kernel::str::Formatter::new(buf);
        let mut res = Ok(());
        // Registration order without a copy: the next larger `seq` each time
        // (`seq` starts at 1).
        let mut last = 0;
        while let Some(r) = slots
            .0
            .iter()
            .flatten()
            .filter(|r| r.class == class && !r.leaving && r.seq > last)
            .min_by_key(|r| r.seq)
        {
            let sep = if last == 0 { "" } else { "; " };
            last = r.seq;
            res = write!(w, "{}{}: {}", sep, r.name, r.ids);
            if res.is_err() {
                break;
            }
        }
        if last == 0 {
            res = write!(w, "none registered");
        }
        (w.bytes_written().min(len), res.is_err())
    };
    let n = if cut && len >= 3 {
        buf[len - 3..].copy_from_slice(b"...");
        len
    } else {
        written
    };
    // Names and IDs are ASCII, so any cut is at a character boundary.
    core::str::from_utf8(&buf[..n]).unwrap_or("?")
}

/// `f` of the module that registered `desc` (and is not leaving), under the registry
/// lock, so loaded for the call; `None` for an unknown descriptor.
fn with_owner<R>(
    desc: *const ImplDesc,
    f: impl FnOnce(*mut kernel::bindings::module) -> Option<R>,
) -> Option<R> {
    let slots = REGISTRY.lock();
    let r = slots.of(desc).filter(|r| !r.leaving)?;
    f(r.owner)
}

/// Start and length of the text of a registered implementation's module.
pub(crate) fn text_of(desc: *const ImplDesc) -> Option<(usize, usize)> {
    with_owner(desc, |owner| {
        // SAFETY: `owner` is the registering module, loaded while it is registered
        // (`with_owner` holds the registry lock).
        let (start, len) = unsafe { guard::module_text(owner) };
        (len != 0).then_some((start, len))
    })
}

/// Start and length of the read-only data of module `owner`, if it has any.
///
/// # Safety
///
/// `owner` is NULL or a module that stays loaded during the call.
unsafe fn module_rodata(owner: *mut kernel::bindings::module) -> Option<(usize, usize)> {
    // SAFETY: per this function's contract; a live module's memory descriptors are
    // fixed.
    let m = unsafe { owner.as_ref() }?;
    let ro = m
        .mem
        .get(kernel::bindings::mod_mem_type_MOD_RODATA as usize)?;
    (ro.size != 0).then_some((ro.base as usize, ro.size as usize))
}

/// Offers an implementation to ndriver. Returns 0 or a negative error code.
///
/// `desc` must point at a static [`ImplDesc`] that stays valid until
/// [`ndriver_unregister_impl`] is called with it.
#[unsafe(no_mangle)]
pub(crate) extern "C" fn ndriver_register_impl(
    desc: *const ImplDesc,
    owner: *mut kernel::ffi::c_void,
) -> c_int {
    match register(desc, owner.cast()) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// Withdraws an implementation offered by [`ndriver_register_impl`].
#[unsafe(no_mangle)]
pub(crate) extern "C" fn ndriver_unregister_impl(desc: *const ImplDesc) {
    let class = {
        let mut slots = REGISTRY.lock();
        let Some(r) = slots
            .0
            .iter_mut()
            .flatten()
            .find(|r| core::ptr::eq(r.desc, desc))
        else {
            pr_warn!("unregister of an implementation that is not registered\n");
            return;
        };
        r.leaving = true;
        r.class
    };
    // Devices move off it before it goes (this may start another implementation).
    if let Some(s) = SUBSCRIBER.as_ref() {
        (s.withdrawn)(class, desc);
    }
    let mut slots = REGISTRY.lock();
    for slot in slots.0.iter_mut() {
        if let Some(r) = slot {
            if core::ptr::eq(r.desc, desc) {
                // SAFETY: registered in `register` for this still-loaded module.
                unsafe { guard::unregister_module_text(r.owner) };
                pr_info!("unregistered implementation {}/{}\n", r.class, r.name);
                *slot = None;
                return;
            }
        }
    }
}

/// Writes the registry as `status` shows it.
pub(crate) fn show(f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let slots = REGISTRY.lock();
    let n = slots.0.iter().flatten().count();
    writeln!(f, "implementations: {}", n)?;
    for r in slots.0.iter().flatten() {
        writeln!(f, "  {}/{} pci_ids {}", r.class, r.name, r.ids)?;
    }
    Ok(())
}
