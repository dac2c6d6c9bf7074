// SPDX-License-Identifier: GPL-2.0

//! The transmits a `nic` instance holds: every skb lent to a driver's `start_xmit`,
//! under a token the framework made, until the driver reports it done.
//!
//! The driver never sees the skb pointer: it gets a token (a sequence number, never
//! zero, never reused) and hands it back through `ndriver_net_tx_done`. A token the
//! table does not hold for that instance (reported twice, stale, forged, another
//! instance's) is refused without touching any skb, and fails the instance; the
//! framework never frees or unlinks on the driver's word alone.
//!
//! When an instance dies, [`TxLent::reclaim`] takes back what it still held, oldest
//! first, before the next instance is admitted, so an skb lent to the new instance
//! can never be taken for one of the dead instance's and sent twice.

use crate::net::Skb;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use kernel::ffi::c_void;
use kernel::prelude::*;

/// Slots in the table: more than any driver's transmit ring.
pub(crate) const SLOTS: usize = 1024;

/// One lent skb.
///
/// # Invariants
///
/// While `token` is non-zero, `skb` is an skb the framework owns, lent to the instance
/// of generation `gen` under `token`, and `token % SLOTS` is this slot's index.
struct Slot {
    token: AtomicU64,
    skb: AtomicPtr<c_void>,
    gen: AtomicU64,
}

/// Why a reported token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BadToken {
    /// Not a token the table holds (reported twice, stale, or forged).
    Unknown,
    /// Lent to another instance.
    OtherInstance,
}

/// A counter on a cache line of its own: `lend` writes it on the transmitting CPU,
/// which must not evict what `take` reads on the completing one.
#[repr(align(64))]
struct OwnLine(AtomicU64);

/// The table (see the module documentation).
pub(crate) struct TxLent {
    slots: KVec<Slot>,
    /// The next token to try; only `lend` (serialised by the transmit queue lock)
    /// advances it.
    next: OwnLine,
}

impl TxLent {
    /// An empty table.
    pub(crate) fn new() -> Result<Self> {
        let mut slots = KVec::with_capacity(SLOTS, GFP_KERNEL)?;
        for _ in 0..SLOTS {
            slots.push(
                Slot {
                    token: AtomicU64::new(0),
                    skb: AtomicPtr::new(core::ptr::null_mut()),
                    gen: AtomicU64::new(0),
                },
                GFP_KERNEL,
            )?;
        }
        Ok(Self {
            slots,
            // Tokens start at `SLOTS`, so that no small number is ever one.
            next: OwnLine(AtomicU64::new(SLOTS as u64)),
        })
    }

    fn slot(&self, token: u64) -> &Slot {
        &self.slots[(token % SLOTS as u64) as usize]
    }

    /// Lends `skb` to the instance of generation `gen`: its token, or `None` if every
    /// slot is taken. Called with the transmit queue lock held.
    pub(crate) fn lend(&self, skb: Skb, gen: u64) -> Option<u64> {
        let start = self.next.0.load(Ordering::Relaxed);
        for token in start..start + SLOTS as u64 {
            let s = self.slot(token);
            if s.token.load(Ordering::Acquire) != 0 {
                // Still held (a transmit the driver sits on): try the next slot.
                continue;
            }
            s.skb.store(skb.as_ptr(), Ordering::Relaxed);
            s.gen.store(gen, Ordering::Relaxed);
            // INVARIANT: `skb` and `gen` are stored before the token publishes them.
            s.token.store(token, Ordering::Release);
            self.next.0.store(token + 1, Ordering::Relaxed);
            return Some(token);
        }
        None
    }

    /// Takes back the skb lent under `token` to the instance of generation `gen`.
    pub(crate) fn take(&self, token: u64, gen: u64) -> Result<Skb, BadToken> {
        if token < SLOTS as u64 {
            return Err(BadToken::Unknown);
        }
        let s = self.slot(token);
        if s.token.load(Ordering::Acquire) != token {
            return Err(BadToken::Unknown);
        }
        let skb = s.skb.load(Ordering::Relaxed);
        if s.gen.load(Ordering::Relaxed) != gen {
            return Err(BadToken::OtherInstance);
        }
        // Whoever clears the token owns the skb: a second report of the same token,
        // even a concurrent one, finds it gone.
        s.token
            .compare_exchange(token, 0, Ordering::AcqRel, Ordering::Relaxed)
            .map_err(|_| BadToken::Unknown)?;
        // SAFETY: the token was still set, so (type invariant) `skb` is an skb the
        // framework owns; clearing the token took it back from the instance.
        Ok(unsafe { Skb::from_raw(skb) })
    }

    /// Takes back every skb lent to instances older than `gen`, oldest first, and
    /// hands each to `f`. No instance may be admitted meanwhile.
    pub(crate) fn reclaim(&self, gen: u64, mut f: impl FnMut(Skb)) {
        let next = self.next.0.load(Ordering::Relaxed);
        let window = next.saturating_sub(SLOTS as u64).max(SLOTS as u64);
        // Slots `lend` passed over still hold tokens older than the window: those
        // first, then the window in order.
        for s in self.slots.iter() {
            let token = s.token.load(Ordering::Acquire);
            if token != 0 && token < window {
                Self::claim(s, token, gen, &mut f);
            }
        }
        for token in window..next {
            Self::claim(self.slot(token), token, gen, &mut f);
        }
    }

    /// Takes the skb of slot `s` back if it still holds `token` for an instance older
    /// than `gen`, and hands it to `f`.
    fn claim(s: &Slot, token: u64, gen: u64, f: &mut impl FnMut(Skb)) {
        if s.token.load(Ordering::Acquire) != token || s.gen.load(Ordering::Relaxed) >= gen {
            return;
        }
        let skb = s.skb.load(Ordering::Relaxed);
        if s.token
            .compare_exchange(token, 0, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            // SAFETY: as in `take`: the token was set, and clearing it took the skb
            // back.
            f(unsafe { Skb::from_raw(skb) });
        }
    }

    /// Skbs lent now (a snapshot).
    pub(crate) fn held(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.token.load(Ordering::Relaxed) != 0)
            .count()
    }
}

impl Drop for TxLent {
    fn drop(&mut self) {
        // Nothing is lent any more (the device is gone): free what is left.
        self.reclaim(u64::MAX, |skb| skb.drop_it());
    }
}
