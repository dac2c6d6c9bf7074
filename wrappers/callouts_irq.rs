// SPDX-License-Identifier: GPL-2.0

//! Device callouts: the interrupt line of the instance's PCI function -- its INTx, or
//! one MSI-X vector of its own -- recorded in the undo action list, and the masking of
//! the function's interrupt while the instance cannot take it. Part of
//! `callouts_device.rs`.
//!
//! The interrupt handler is the framework's: it runs the instance's `devirq` entry
//! under a guard. When the instance cannot take the interrupt (it is starting,
//! quiesced or failed) the function's INTx, or its MSI-X vector, is masked instead of
//! left screaming, and unmasked when the instance is redirected to or given back. The
//! function, not the line: an INTx line may be shared with other devices (another
//! ndriver device among them), which keep being served meanwhile. An MSI-X vector is
//! the function's alone: masking it is masking the function; the edge it is masked on
//! is taken, those after it are held (the first as pending by the kernel's lazy
//! disable, then in the vector's pending bit) and delivered once it is unmasked.

use super::{device_of, pci_of};
use crate::abi;
use crate::instance::{Event, InstanceState, ServedDevice};
use crate::undo::action_list::{Action, Kind};
use crate::wrappers::callouts::{record, release};
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::bindings;
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;
use kernel::sync::{new_spinlock_irq, SpinLockIrq};

/// The framework's side of one requested interrupt line (the `dev_id`).
///
/// # Invariants
///
/// Once `ndriver_request_irq` or `ndriver_request_irq_msix` has recorded it:
///
/// - it lives in a `KBox` given up with `KBox::into_raw`, does not move (it is pinned
///   for `mask`), is the `dev_id` of the handler `irq_trampoline` on line `irq`, and is
///   the `obj` of an `Irq` action in the undo list of the instance `st`, or, while `st`
///   is NULL, in the kept set of `device` (warm restart); only that action's undo
///   (`undo_irq`) frees it, after `free_irq`, so no handler runs with it when it goes;
/// - `st`, when not NULL, is the instance whose undo list holds the action, which
///   outlives its undo list and so the action there; it is set NULL
///   ([`keep_irq`], [`detach_irq`]) before that instance goes, and a handler that loaded
///   it before has returned by then (`synchronize_irq`, or the `free_irq` of the
///   action's undo, which comes first); it is set to the adopting instance
///   ([`adopt_irq`]) when the action moves into that instance's list;
/// - `device` is the device of every instance `st` ever points at, which outlives its
///   instances and its kept set;
/// - `pdev` is the PCI function attached to `st`'s device when the line was requested,
///   which the device references until the function is detached, only after the
///   instance's undo; `irq` is its interrupt line, not 0: `pdev->irq` (INTx), or with
///   `vectors` the Linux IRQ of vector 0 of those MSI-X vectors of `pdev`, which the
///   action allocated (only it has MSI-X on: `ndriver_request_irq_msix` refuses a
///   function with MSI or MSI-X on) and its undo frees; `intx_mask` whether its INTx
///   disable bit works (`broken_intx_masking` is fixed at enumeration), never with
///   `vectors`;
/// - in `mask`: without `intx_mask`, `masked` is true exactly while one
///   `disable_irq_nosync(irq)` of [`mask`] is not yet balanced by the `enable_irq` of
///   [`unmask`]; with it, `masked` says the framework set the function's INTx disable
///   bit (which another write of the command register may have cleared since: `mask`
///   checks on every interrupt). `freeing`, once set (by the undo), stays set, and
///   `mask` masks nothing more.
#[pin_data]
struct IrqAction {
    st: AtomicPtr<InstanceState>,
    device: *const (dyn ServedDevice + 'static),
    pdev: *mut bindings::pci_dev,
    irq: u32,
    /// The MSI-X vectors the action allocated (and frees in its undo), the line being
    /// vector 0; `None` for the INTx.
    vectors: Option<Vectors>,
    /// The function's INTx disable bit works (`pci_intx_mask_supported`): the handler
    /// masks the function. Else it masks the whole line, as the only way to stop a
    /// level-triggered function nobody can acknowledge -- and the way for an MSI-X
    /// vector, which only this function uses.
    intx_mask: bool,
    /// Whether the framework holds the function's INTx masked, and whether the line is
    /// being freed. A lock rather than an atomic flag: the flag and the INTx bit it
    /// stands for must change together, or a mask in the handler on one CPU and an
    /// unmask on another can interleave into a function left masked for good.
    #[pin]
    mask: SpinLockIrq<MaskState>,
}

/// What the framework did to the function of a line it requested (under
/// `IrqAction::mask`).
struct MaskState {
    /// The framework set the function's INTx disable bit (or, without INTx masking,
    /// disabled the line) because the instance could not take an interrupt.
    masked: bool,
    /// `free_irq` is coming: the undo silenced the function for good.
    freeing: bool,
}

/// What [`mask`] did with an interrupt the instance did not take.
enum Unserved {
    /// It was the function's, which is masked now.
    Masked,
    /// The instance serves by now (the redirect won the race): offer it again.
    Serves,
    /// Not the function's (another device on a shared line), or the line is being
    /// freed.
    NotMasked,
}

/// Masks the INTx of `a`'s function if it is the one signalling (its MSI-X vector: it
/// is), unless the line is being freed or the instance serves again.
///
/// The handler asks because the instance did not serve; the redirect that makes it
/// serve sets `running` and then unmasks (under the same lock). Checked again here
/// under the lock, so a mask that loses that race is not left in place. Only the
/// function is silenced: masking the whole line once stalled every device sharing it
/// (the guest's virtio disks and 9p root file system among them), and a second
/// ndriver device on the line would lose its interrupts during this one's recovery.
fn mask(a: &IrqAction) -> Unserved {
    let mut m = a.mask.lock();
    // SAFETY: the device outlives its instances and kept set, so this action.
    let dev = unsafe { &*a.device };
    // SAFETY: a non-NULL `st` is the instance holding the line, alive until it is set
    // NULL and the handlers that loaded it have returned (`keep_irq`); we are one.
    let st = unsafe { a.st.load(Ordering::Acquire).as_ref() };
    if m.freeing {
        return Unserved::NotMasked;
    }
    if st.is_some_and(|st| dev.serves(st)) {
        return Unserved::Serves;
    }
    if !a.intx_mask {
        if !m.masked {
            // SAFETY: the line is requested by us; `disable_irq_nosync` may be called
            // from its own handler and with interrupts off. `unmask` balances it.
            unsafe { bindings::disable_irq_nosync(a.irq) };
            m.masked = true;
        }
        return Unserved::Masked;
    }
    // Checked on every interrupt, masked or not: another read-modify-write of the
    // command register (bus mastering turned off by recovery) may have cleared the
    // bit behind this flag.
    // SAFETY: `pdev` is the attached function, referenced by the device until its
    // instance's undo (which frees this line) ran; the check and mask is one config
    // space access under the PCI lock, allowed in hard interrupt context.
    if unsafe { bindings::pci_check_and_mask_intx(a.pdev) } {
        m.masked = true;
        return Unserved::Masked;
    }
    Unserved::NotMasked
}

/// Unmasks the INTx of `a`'s function if the framework masked it. With `freeing` (the
/// undo, which has silenced the function itself) the bit stays set: nothing may
/// raise the line once its handler is gone. An MSI-X vector stays masked then too
/// (`free_irq` shuts it down; unmasking would only replay a pending edge to no one).
fn unmask(a: &IrqAction, freeing: bool) {
    let mut m = a.mask.lock();
    m.freeing |= freeing;
    if m.masked {
        if !a.intx_mask && !(a.vectors.is_some() && m.freeing) {
            // Also when freeing an INTx line: it is shared and must be left enabled.
            // SAFETY: balances `mask`'s `disable_irq_nosync` (the lock makes the pair
            // and the flag one step); allowed with interrupts off.
            unsafe { bindings::enable_irq(a.irq) };
        } else if a.intx_mask && !m.freeing {
            // SAFETY: `pdev` is the attached, referenced function (see `mask`); a
            // config space write under the PCI lock, allowed with interrupts off.
            unsafe { bindings::pci_intx(a.pdev, 1) };
        }
        m.masked = false;
    }
}

/// Unmasks the lines the framework masked while `st` could not take interrupts (it was
/// starting or quiesced); called once it serves again.
pub(crate) fn unmask_irqs(st: &InstanceState) {
    let list = st.undo.lock();
    for a in list.of_kind(Kind::Irq) {
        // SAFETY: `obj` of an `Irq` action is its live `IrqAction` (freed by its undo,
        // which first removes it from the list).
        unmask(unsafe { &*(a.obj as *const IrqAction) }, false);
    }
}

/// The interrupt handler of every line an instance requested.
///
/// # Safety
///
/// Called by the IRQ core with the `dev_id` given to `request_irq`: a live `IrqAction`.
unsafe extern "C" fn irq_trampoline(irq: c_int, dev_id: *mut c_void) -> bindings::irqreturn_t {
    // SAFETY: per this function's contract; `free_irq` waits for us before it is freed.
    let a = unsafe { &*dev_id.cast::<IrqAction>() };
    // SAFETY: a non-NULL `st` is the instance holding the line, alive until it is set
    // NULL and the running handlers returned (`keep_irq` waits for us).
    let st = unsafe { a.st.load(Ordering::Acquire).as_ref() };
    // A kept line (between two instances of a warm restart) has no instance: nobody
    // can acknowledge the device, as below.
    let mut r = st.and_then(|st| device_of(st).event(st, Event::DevIrq, irq as u64));
    if r.is_none() {
        // Nobody can acknowledge the device now: if it is the one signalling, hold it
        // masked until the instance serves again or recovery gives the line back; else
        // the interrupt is another device's on the shared line. An MSI-X edge taken
        // here is not replayed (those after it are held until the unmask): an
        // instance serves after it has reset the device (`probe`) or drained it by
        // polling (`adopt`).
        match mask(a) {
            Unserved::Masked => return bindings::irqreturn::IRQ_HANDLED,
            Unserved::NotMasked => return bindings::irqreturn::IRQ_NONE,
            Unserved::Serves => {
                // Made current since it was first offered: offered once more (an edge
                // dropped here would not come again).
                // SAFETY: a non-NULL `st` is the instance holding the line, alive until it is
                // set NULL and the running handlers returned; it may be an adopter by now.
                let st = unsafe { a.st.load(Ordering::Acquire).as_ref() };
                r = st.and_then(|st| device_of(st).event(st, Event::DevIrq, irq as u64));
                if r.is_none() && matches!(mask(a), Unserved::Masked) {
                    // Stopped serving again meanwhile: held masked after all.
                    return bindings::irqreturn::IRQ_HANDLED;
                }
            }
        }
    }
    match r {
        Some(v) if v > 0 => bindings::irqreturn::IRQ_HANDLED,
        _ => bindings::irqreturn::IRQ_NONE,
    }
}

/// Undo of `ndriver_request_irq` and `ndriver_request_irq_msix`: silence the function
/// first (its INTx stays off; an MSI-X vector masked by the handler stays masked, and
/// `free_irq` shuts it down), so the line is quiet when the handler is freed; then an
/// MSI-X vector goes back.
///
/// # Safety
///
/// `a` was recorded by `ndriver_request_irq` or `ndriver_request_irq_msix` and not
/// undone yet.
unsafe fn undo_irq(a: &Action) {
    let ia = a.obj as *mut IrqAction;
    // SAFETY: `ia` is the live `IrqAction` of this action, from `KBox::into_raw`.
    let r = unsafe { &*ia };
    let (pdev, vectors) = (r.pdev, r.vectors);
    // `pdev` stays referenced by the device until the instance's undo and the kept set
    // are done (a detach waits for both). It is usually still enabled (the enable's
    // undo comes later in the same list, and `discard` frees kept lines before a failed
    // adopter's list); freeing the line and the vectors of a function disabled
    // meanwhile (an adopter that dropped its `PciEnabled` on an error) is allowed too.
    // SAFETY: `pdev` is referenced (above); the line is ours, with `ia` as dev_id.
    unsafe {
        bindings::pci_intx(pdev, 0);
        unmask(r, true);
        bindings::free_irq(r.irq, ia.cast());
    }
    // SAFETY: `free_irq` returned, so the handler no longer runs with `ia`.
    drop(unsafe { KBox::from_raw(ia) });
    if let Some(v) = vectors {
        // SAFETY: the vectors this action allocated, their one line freed above; freed
        // once (the action is undone once).
        unsafe { v.free() };
    }
}

/// Installs the framework's handler on the device's (possibly shared) INTx line;
/// interrupts then reach the instance's `devirq` entry. Call after
/// `ndriver_pci_enable`. 0 or a negative errno; asking while the instance holds an
/// MSI-X vector is a misuse that fails the instance.
pub(crate) extern "C" fn ndriver_request_irq(inst: *mut abi::Instance) -> c_int {
    let Some((st, p)) = pci_of(inst) else {
        return ENODEV.to_errno();
    };
    if holds_msix(st) {
        st.misuse(format_args!(
            "ndriver_request_irq while holding an MSI-X vector"
        ));
        return EBUSY.to_errno();
    }
    // SAFETY: `p` is the attached function.
    let irq = unsafe { (*p).irq };
    if irq == 0 {
        return EINVAL.to_errno();
    }
    match request(st, p, irq, None) {
        Ok(()) => {
            // The handler is in place: the function may interrupt now (until the
            // instance serves, the handler masks it again if it does).
            // SAFETY: `p` is the attached, enabled function.
            unsafe { bindings::pci_intx(p, 1) };
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// Gives the function one MSI-X vector of its own and installs the framework's handler
/// on it; interrupts then reach the instance's `devirq` entry, and the function's INTx
/// stays off. Call after `ndriver_pci_enable`. 0; `-EOPNOTSUPP` if the function has no
/// MSI-X or the kernel cannot give it a vector (MSI off, none left), `-ENOMEM`, or
/// another negative errno; the driver may take its INTx instead. Asking while the
/// instance holds a line is a misuse that fails the instance.
pub(crate) extern "C" fn ndriver_request_irq_msix(inst: *mut abi::Instance) -> c_int {
    let Some((st, p)) = pci_of(inst) else {
        return ENODEV.to_errno();
    };
    if st.undo.lock().of_kind(Kind::Irq).next().is_some() {
        st.misuse(format_args!(
            "ndriver_request_irq_msix while holding an interrupt line"
        ));
        return EBUSY.to_errno();
    }
    // The function's MSI flags change only by vector allocations, which for an attached
    // function are the framework's (its device serves one instance at a time, and the
    // kept set is empty while an instance probes).
    // SAFETY: `p` is the attached, referenced function; reads two of its flags.
    if unsafe { (*p).msi_enabled() != 0 || (*p).msix_enabled() != 0 } {
        // Not the instance's doing (vectors someone else left on the function): the
        // kernel would refuse another allocation, with a warning for MSI-X. The INTx
        // may still serve.
        pr_warn!(
            "{}: the function has MSI or MSI-X on already: no vector for it\n",
            st.impl_name
        );
        return EOPNOTSUPP.to_errno();
    }
    // SAFETY: `p` is the attached function; reads its capability.
    if unsafe { bindings::pci_msix_vec_count(p) } < 1 {
        return EOPNOTSUPP.to_errno();
    }
    // The kernel keeps a device's MSI state (its per-device MSI domain, the sysfs
    // `msi_irqs` group) as devres of the device, released when its driver unbinds. No
    // driver is bound to a function ndriver drives: they are made in a devres group of
    // their own, released with the vectors; left behind, they would keep the kernel's
    // own driver from binding the function again ("Resources present before probing").
    // SAFETY: `p` is the attached, referenced function; its `dev` is a live device.
    let dev = unsafe { &raw mut (*p).dev };
    // SAFETY: `dev` is live; a NULL id asks for a new group.
    let group = unsafe { bindings::devres_open_group(dev, ptr::null_mut(), bindings::GFP_KERNEL) };
    if group.is_null() {
        return ENOMEM.to_errno();
    }
    // SAFETY: `p` is the attached, enabled function with no vectors allocated (checked
    // above); may sleep (callouts that sleep are made from process context).
    let n = unsafe { bindings::pci_alloc_irq_vectors(p, 1, 1, bindings::PCI_IRQ_MSIX) };
    // SAFETY: `group` is the group opened above on `dev`, still open.
    unsafe { bindings::devres_close_group(dev, group) };
    let vectors = Vectors { pdev: p, group };
    if n < 1 {
        // SAFETY: no vector was allocated; the group holds what the attempt left.
        unsafe { vectors.free() };
        // Only a want of memory is worth a retry; for anything else (MSI off on this
        // bus or kernel, no vector left) the function's INTx is the way.
        return if n == ENOMEM.to_errno() {
            n
        } else {
            EOPNOTSUPP.to_errno()
        };
    }
    // SAFETY: vector 0 was allocated just above.
    let irq = unsafe { bindings::pci_irq_vector(p, 0) };
    let irq = match u32::try_from(irq) {
        Ok(irq) if irq != 0 => irq,
        _ => {
            // SAFETY: the vectors allocated above, with no line requested on them.
            unsafe { vectors.free() };
            return EINVAL.to_errno();
        }
    };
    match request(st, p, irq, Some(vectors)) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// The MSI-X vectors allocated for a function, with the devres group that holds the
/// kernel's MSI state of the function (see `ndriver_request_irq_msix`).
#[derive(Clone, Copy)]
struct Vectors {
    pdev: *mut bindings::pci_dev,
    group: *mut c_void,
}

impl Vectors {
    /// Gives the vectors back and releases the group; the function's INTx, which
    /// turning MSI-X off gives back, stays off as the enable left it.
    ///
    /// # Safety
    ///
    /// `pdev` is a function still referenced by the device whose vectors were
    /// allocated in the closed devres group `group` of its `dev`, with no line
    /// requested on them; called once.
    unsafe fn free(self) {
        // SAFETY: per the contract.
        unsafe {
            bindings::pci_free_irq_vectors(self.pdev);
            bindings::devres_release_group(&raw mut (*self.pdev).dev, self.group);
            bindings::pci_intx(self.pdev, 0);
        }
    }
}

/// Whether `st` holds an MSI-X vector.
fn holds_msix(st: &InstanceState) -> bool {
    st.undo.lock().of_kind(Kind::Irq).any(|a| a.aux != 0)
}

/// Installs the framework's handler on line `irq` of function `p` for `st` and records
/// it: vector 0 of `vectors`, which the caller allocated and which are given back if
/// this fails, or the function's INTx.
fn request(
    st: &InstanceState,
    p: *mut bindings::pci_dev,
    irq: u32,
    vectors: Option<Vectors>,
) -> Result {
    let device = st.device;
    let me = core::ptr::from_ref(st).cast_mut();
    let msix = vectors.is_some();
    let intx_mask = if msix {
        false
    } else {
        // SAFETY: `p` is the attached, referenced function; the flag is set when it is
        // found and not changed after.
        unsafe { (*p).broken_intx_masking() == 0 }
    };
    let fail = |e: Error| {
        if let Some(v) = vectors {
            // SAFETY: the caller allocated the vectors; no line is requested on them;
            // the failing path ends here, so they are freed once.
            unsafe { v.free() };
        }
        e
    };
    let ia = KBox::pin_init(
        pin_init!(IrqAction {
            st: AtomicPtr::new(me),
            device,
            pdev: p,
            irq,
            vectors,
            intx_mask,
            mask <- new_spinlock_irq!(MaskState { masked: false, freeing: false }, "ndriver_irq_mask"),
        }),
        GFP_KERNEL,
    )
    .map_err(fail)?;
    // SAFETY: the action is never moved out of its box: it is used through this pointer
    // and dropped in place by `KBox::from_raw` in its undo.
    let ia = KBox::into_raw(unsafe { Pin::into_inner_unchecked(ia) });
    // INVARIANT: `ia` is boxed for good; once `request_irq` succeeds it is the line's
    // `dev_id`, and it is recorded below (or, if that fails, undone at once), so only the
    // undo frees it. `st`, `device`, `p`, `irq`, `vectors` and `intx_mask` are the
    // instance, its device, its attached function, the line (INTx, or vector 0 of the
    // vectors the caller allocated), those vectors and its INTx masking; nothing
    // masked yet.
    // SAFETY: `ia` stays valid until `free_irq` in the undo; the name is static.
    let r = unsafe {
        bindings::request_irq(
            irq,
            Some(irq_trampoline),
            if msix { 0 } else { bindings::IRQF_SHARED as _ },
            device_of(st).irq_name().as_char_ptr(),
            ia.cast(),
        )
    };
    if r != 0 {
        // SAFETY: not registered, so ours again.
        drop(unsafe { KBox::from_raw(ia) });
        return Err(fail(Error::from_errno(r)));
    }
    let action = Action {
        kind: Kind::Irq,
        obj: ia as usize,
        arg: irq as usize,
        aux: usize::from(msix),
        ctx: p as usize,
        depends_on: 0,
        kept: None,
        undo: undo_irq,
    };
    // On failure `record` has run the undo, which gave the vectors back.
    if record(st, action) {
        Ok(())
    } else {
        Err(ENOMEM)
    }
}

/// Frees the line from `ndriver_request_irq` or `ndriver_request_irq_msix`.
pub(crate) extern "C" fn ndriver_free_irq(inst: *mut abi::Instance) {
    // SAFETY: a callout's caller is the instance's code, which outlives the call.
    let Some(st) = (unsafe { InstanceState::from_handle(inst) }) else {
        return;
    };
    let obj = st.undo.lock().of_kind(Kind::Irq).last().map(|a| a.obj);
    match obj {
        Some(obj) => release(inst, Kind::Irq, obj, "ndriver_free_irq"),
        None => pr_warn!("{}: ndriver_free_irq without an IRQ\n", st.impl_name),
    }
}

/// The `Irq` action `a` moves from its instance's undo list into the device's kept set
/// (warm restart): its handler stops reaching the instance, which is about to be freed,
/// and holds the function's INTx masked while no instance serves, as for a quiesced one.
/// Returns once no handler runs with the instance any more. Process context.
///
/// # Safety
///
/// `a` is a live `Irq` action taken out of the undo list of an instance that no longer
/// runs and is not freed before this returns.
pub(crate) unsafe fn keep_irq(a: &Action) {
    // SAFETY: `obj` of a live `Irq` action is its `IrqAction`, freed only by its undo.
    let r = unsafe { &*(a.obj as *const IrqAction) };
    // INVARIANT: the action leaves the instance's list for the kept set; a handler that
    // loaded the old pointer is waited for below, before the instance may go.
    r.st.store(core::ptr::null_mut(), Ordering::Release);
    // SAFETY: `irq` is the line this action requested and still holds; may sleep
    // (process context, per the contract).
    unsafe { bindings::synchronize_irq(r.irq) };
}

/// The kept `Irq` action `a`, taken out for an adopter that could not record it, goes
/// back to the kept set: its handler stops reaching the adopter. Does not wait for a
/// handler that loaded the adopter (any context): the adoption then fails, and the kept
/// set, this action included, is undone (`free_irq` waits for it) before the adopter
/// is freed.
///
/// # Safety
///
/// `a` is a live `Irq` action whose handler points at an adopter that is not freed
/// before the kept set is undone.
pub(crate) unsafe fn detach_irq(a: &Action) {
    // SAFETY: `obj` of a live `Irq` action is its `IrqAction`, freed only by its undo.
    let r = unsafe { &*(a.obj as *const IrqAction) };
    // INVARIANT: the action is back in the kept set; the adopter outlives the kept
    // set's undo, whose `free_irq` waits for a handler that loaded it.
    r.st.store(core::ptr::null_mut(), Ordering::Release);
}

/// The kept `Irq` action `a` moves into the undo list of `st`, which adopted it: its
/// handler reaches `st` from now on (once `st` serves; until then it masks, as for any
/// starting instance).
///
/// # Safety
///
/// `a` is a live `Irq` action of the kept set of `st`'s device, and the caller records
/// it in `st`'s undo list (or undoes it) before `st` goes.
pub(crate) unsafe fn adopt_irq(a: &Action, st: &InstanceState) {
    // SAFETY: `obj` of a live `Irq` action is its `IrqAction`, freed only by its undo.
    let r = unsafe { &*(a.obj as *const IrqAction) };
    // INVARIANT: `st` is of the same device (the caller's contract) and holds the
    // action from now on.
    r.st.store(core::ptr::from_ref(st).cast_mut(), Ordering::Release);
}
