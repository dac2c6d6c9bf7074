// SPDX-License-Identifier: GPL-2.0

//! [`Runtime`], the owner of the guard: installs the handlers and starts the watchdogs on
//! creation, removes them on drop.

use core::ptr;
use core::sync::atomic::Ordering;

use kernel::{bindings, prelude::*};

use super::call::ACTIVE;
use super::cpu::TSC_KHZ;
use super::frame::{CPUS, LEVEL_MASK};
use super::helpers::{ndg_hooks_register, ndg_hooks_unregister, ndg_level_mask, ndg_on_each_cpu};
use super::lock_paths::{clear_lock_paths, fill_lock_paths};
use super::text::{clear_text_ranges, fill_kernel_text_ranges};
use super::trap::on_die;
use super::watchdog::{on_nmi, start_watchdog_on_this_cpu, watchdog_tick};

/// Owner of the guard runtime: installs the handlers on creation, removes them on drop.
///
/// Only one runtime can exist at a time.
pub(crate) struct Runtime(());

impl Runtime {
    /// Starts the guard runtime.
    pub(crate) fn new() -> Result<Self> {
        if ACTIVE.load(Ordering::Acquire) || CPUS.iter().any(|s| s.started.load(Ordering::Relaxed))
        {
            return Err(EBUSY);
        }
        // SAFETY: Plain reads of values set once at boot / constants of the C helpers.
        let khz = u64::from(unsafe { bindings::tsc_khz });
        if khz == 0 {
            return Err(ENODEV);
        }
        TSC_KHZ.store(khz, Ordering::Relaxed);
        // SAFETY: Reading a constant defined by the C helpers.
        LEVEL_MASK.store(unsafe { ndg_level_mask }, Ordering::Relaxed);

        for state in CPUS.iter() {
            // SAFETY: The timers are not in use (checked above); `hrtimer_setup` initialises them.
            unsafe {
                bindings::hrtimer_setup(
                    state.timer.get(),
                    Some(watchdog_tick),
                    bindings::CLOCK_MONOTONIC as bindings::clockid_t,
                    bindings::hrtimer_mode_HRTIMER_MODE_REL_PINNED_HARD,
                );
            }
        }

        if let Err(e) = fill_kernel_text_ranges() {
            clear_text_ranges();
            return Err(e);
        }
        fill_lock_paths();

        // SAFETY: The callbacks are valid for as long as the hooks are registered; `Drop`
        // unregisters them.
        let ret = unsafe { ndg_hooks_register(on_die, on_nmi) };
        if ret != 0 {
            clear_text_ranges();
            clear_lock_paths();
            return Err(Error::from_errno(ret));
        }
        // SAFETY: `start_watchdog_on_this_cpu` ignores its argument.
        unsafe { ndg_on_each_cpu(start_watchdog_on_this_cpu, ptr::null_mut()) };
        ACTIVE.store(true, Ordering::Release);
        Ok(Self(()))
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        ACTIVE.store(false, Ordering::Release);
        for state in CPUS.iter() {
            if state.started.swap(false, Ordering::AcqRel) {
                // SAFETY: The timer was set up and started in `new()`.
                unsafe { bindings::hrtimer_cancel(state.timer.get()) };
            }
            state.heartbeat.store(0, Ordering::Relaxed);
        }
        // SAFETY: Registered in `new()`. Unregistering waits for running handlers.
        unsafe { ndg_hooks_unregister() };
        clear_text_ranges();
        clear_lock_paths();
    }
}
