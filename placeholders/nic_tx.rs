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
//!
//! The table also tells when transmit stopped making progress ([`TxLent::stalled`]):
//! the oldest skb still lent has stayed the oldest for longer than a limit while
//! new ones kept coming. A driver that queues frames its device never sends (a
//! transmitter it forgot to enable, a wedged ring) is then failed like a hang. The
//! kernel's own watchdog sees only a queue that stopped, which a ring of hundreds of
//! slots reaches late or never at the pace of a retransmitting connection.

use crate::wrappers::net::Skb;
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

/// What only the transmitting side writes (serialised by the transmit queue lock),
/// on a cache line of its own: the transmitting CPU must not evict what `take` reads
/// on the completing one.
#[repr(align(64))]
struct TxSide {
    /// The next token to try.
    next: AtomicU64,
    /// No token below this one is still lent to the serving instance, as far as
    /// `stalled` has looked.
    oldest: AtomicU64,
    /// The token `stalled` last found to be the oldest lent (0: none) ...
    watched: AtomicU64,
    /// ... and when it first found it (`ktime_get`, ns) ...
    since: AtomicU64,
    /// ... and when it last looked.
    looked: AtomicU64,
}

/// The table (see the module documentation).
pub(crate) struct TxLent {
    slots: KVec<Slot>,
    /// The transmitting side's cursors.
    tx: TxSide,
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
            tx: TxSide {
                next: AtomicU64::new(SLOTS as u64),
                oldest: AtomicU64::new(SLOTS as u64),
                watched: AtomicU64::new(0),
                since: AtomicU64::new(0),
                looked: AtomicU64::new(0),
            },
        })
    }

    fn slot(&self, token: u64) -> &Slot {
        &self.slots[(token % SLOTS as u64) as usize]
    }

    /// Lends `skb` to the instance of generation `gen`: its token, or the skb back if
    /// every slot is taken. Called with the transmit queue lock held.
    pub(crate) fn lend(&self, skb: Skb, gen: u64) -> Result<u64, Skb> {
        let start = self.tx.next.load(Ordering::Relaxed);
        for token in start..start + SLOTS as u64 {
            let s = self.slot(token);
            if s.token.load(Ordering::Acquire) != 0 {
                // Still held (a transmit the driver sits on): try the next slot.
                continue;
            }
            s.skb.store(skb.into_raw(), Ordering::Relaxed);
            s.gen.store(gen, Ordering::Relaxed);
            // INVARIANT: the slot owns the skb whose handle `into_raw` ended; `skb` and
            // `gen` are stored before the token publishes them.
            s.token.store(token, Ordering::Release);
            self.tx.next.store(token + 1, Ordering::Relaxed);
            return Ok(token);
        }
        Err(skb)
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
        // SAFETY: the token was still set, so (type invariant) `skb` is a live skb the
        // slot owned; clearing the token made this call its only owner.
        unsafe { Skb::from_raw(skb) }.ok_or(BadToken::Unknown)
    }

    /// Takes back every skb lent to instances older than `gen`, oldest first, and
    /// hands each to `f`. No instance may be admitted meanwhile.
    pub(crate) fn reclaim(&self, gen: u64, mut f: impl FnMut(Skb)) {
        let next = self.tx.next.load(Ordering::Relaxed);
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
            // SAFETY: the token was still set, so (type invariant) `skb` is a live skb the
            // slot owned; clearing the token made this call its only owner.
            if let Some(skb) = unsafe { Skb::from_raw(skb) } {
                f(skb);
            }
        }
    }

    /// Whether transmit to the instance of generation `gen` has stalled: the oldest
    /// skb still lent to it has been the oldest for more than `limit_ns` (`now_ns`
    /// being the time now), and transmits kept coming meanwhile (after a longer pause,
    /// such as a link down, the wait starts again). Called after each transmit the
    /// driver queued, with the transmit queue lock held. The cursor only moves forward:
    /// constant work per call on average.
    pub(crate) fn stalled(&self, gen: u64, now_ns: u64, limit_ns: u64) -> bool {
        let next = self.tx.next.load(Ordering::Relaxed);
        let floor = next.saturating_sub(SLOTS as u64);
        let mut t = self.tx.oldest.load(Ordering::Relaxed);
        if t < floor && !self.holds(t, gen) {
            // A token held across `SLOTS` later lends sits in a slot `lend` passes over,
            // below the window: the oldest of those, if any, else the window's start.
            t = self
                .slots
                .iter()
                .map(|s| s.token.load(Ordering::Acquire))
                .filter(|&tok| tok != 0 && tok < floor && self.holds(tok, gen))
                .min()
                .unwrap_or(floor);
        }
        while t < next && !self.holds(t, gen) {
            t += 1;
        }
        self.tx.oldest.store(t, Ordering::Relaxed);
        let looked = self.tx.looked.swap(now_ns, Ordering::Relaxed);
        if t == next {
            // Nothing lent: nothing can be late.
            self.tx.watched.store(0, Ordering::Relaxed);
            return false;
        }
        if self.tx.watched.load(Ordering::Relaxed) != t || now_ns.saturating_sub(looked) > limit_ns
        {
            self.tx.watched.store(t, Ordering::Relaxed);
            self.tx.since.store(now_ns, Ordering::Relaxed);
            return false;
        }
        now_ns.saturating_sub(self.tx.since.load(Ordering::Relaxed)) > limit_ns
    }

    /// Whether `token` is lent now, to the instance of generation `gen`.
    fn holds(&self, token: u64, gen: u64) -> bool {
        let s = self.slot(token);
        s.token.load(Ordering::Acquire) == token && s.gen.load(Ordering::Relaxed) == gen
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
        self.reclaim(u64::MAX, drop);
    }
}
