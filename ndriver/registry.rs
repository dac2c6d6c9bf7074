// SPDX-License-Identifier: GPL-2.0

//! The registry of implementations that modules offered to ndriver.
//!
//! Implementation modules call [`ndriver_register_impl`] from their `init` and
//! [`ndriver_unregister_impl`] from their exit. The module dependency that the exported
//! symbols create keeps `ndriver.ko` loaded while any implementation module is.

use crate::abi::{ImplDesc, ABI_VERSION};
use crate::names::check_name;
use core::ffi::CStr;
use core::fmt;
use kernel::ffi::c_int;
use kernel::prelude::*;

/// Most implementations registered at once.
pub(crate) const MAX_IMPLS: usize = 16;

/// One registered implementation.
struct Registered {
    desc: *const ImplDesc,
    class: &'static str,
    name: &'static str,
}

// SAFETY: `desc` points at an immutable static of a module that stays loaded until it
// unregisters (which removes this entry first); it is only read.
unsafe impl Send for Registered {}

/// Fixed slots: registration happens at `insmod` time, and a fixed table needs no
/// allocation in the path that modules call.
pub(crate) struct Slots([Option<Registered>; MAX_IMPLS]);

impl Slots {
    const EMPTY: Self = Self([const { None }; MAX_IMPLS]);
}

kernel::sync::global_lock! {
    // SAFETY: `init` is called from the module initialiser before the exported
    // functions can be reached (they are unavailable to other modules until `init`
    // of this module returns).
    unsafe(uninit) static REGISTRY: Mutex<Slots> = Slots::EMPTY;
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

fn register(desc: *const ImplDesc) -> Result {
    if desc.is_null() {
        return Err(EINVAL);
    }
    // SAFETY: the caller passes a pointer to its static descriptor (see `ImplDesc`).
    let d = unsafe { &*desc };
    if d.abi_version != ABI_VERSION {
        pr_err!(
            "implementation built for ABI {} refused: ndriver speaks ABI {}\n",
            d.abi_version,
            ABI_VERSION
        );
        return Err(EINVAL);
    }
    // SAFETY: the descriptor's strings are static literals of the registering module.
    let class = unsafe { desc_name(d.class) }?;
    // SAFETY: as above.
    let name = unsafe { desc_name(d.name) }?;

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
    let free = slots.0.iter_mut().find(|s| s.is_none()).ok_or(ENOSPC)?;
    *free = Some(Registered { desc, class, name });
    pr_info!("registered implementation {}/{}\n", class, name);
    Ok(())
}

/// Offers an implementation to ndriver. Returns 0 or a negative error code.
///
/// `desc` must point at a static [`ImplDesc`] that stays valid until
/// [`ndriver_unregister_impl`] is called with it.
#[unsafe(no_mangle)]
pub(crate) extern "C" fn ndriver_register_impl(desc: *const ImplDesc) -> c_int {
    match register(desc) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// Withdraws an implementation offered by [`ndriver_register_impl`].
#[unsafe(no_mangle)]
pub(crate) extern "C" fn ndriver_unregister_impl(desc: *const ImplDesc) {
    let mut slots = REGISTRY.lock();
    for slot in slots.0.iter_mut() {
        if let Some(r) = slot {
            if core::ptr::eq(r.desc, desc) {
                pr_info!("unregistered implementation {}/{}\n", r.class, r.name);
                *slot = None;
                return;
            }
        }
    }
    pr_warn!("unregister of an implementation that is not registered\n");
}

/// Writes the registry as `status` shows it.
pub(crate) fn show(f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let slots = REGISTRY.lock();
    let n = slots.0.iter().flatten().count();
    writeln!(f, "implementations: {}", n)?;
    for r in slots.0.iter().flatten() {
        writeln!(f, "  {}/{}", r.class, r.name)?;
    }
    Ok(())
}
