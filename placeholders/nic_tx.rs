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

    /// Whether `token` names an skb lent to the instance of generation `gen` now.
    pub(crate) fn lent_to(&self, token: u64, gen: u64) -> bool {
        token >= SLOTS as u64 && self.holds(token, gen)
    }

    /// Skbs lent to the instance of generation `gen` now (a snapshot).
    pub(crate) fn held_by(&self, gen: u64) -> usize {
        self.slots
            .iter()
            .filter(|s| {
                s.token.load(Ordering::Acquire) != 0 && s.gen.load(Ordering::Relaxed) == gen
            })
            .count()
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

#[kunit_tests(ndriver_nic_tx)]
mod tests {
    use super::*;
    use crate::wrappers::net::spare_skb;

    /// Lends a new skb to generation `gen`: its token and the skb's address.
    fn lend_new(t: &TxLent, gen: u64) -> Result<(u64, *mut c_void)> {
        let p = spare_skb()?.into_raw();
        // SAFETY: `p` is the new skb whose handle `into_raw` just ended: ours alone.
        let skb = unsafe { Skb::from_raw(p) }.ok_or(ENOMEM)?;
        let token = t.lend(skb, gen).map_err(|_| EBUSY)?;
        Ok((token, p))
    }

    /// Takes back `token` of generation `gen`: the skb's address, the skb freed.
    fn take_addr(t: &TxLent, token: u64, gen: u64) -> Result<*mut c_void, BadToken> {
        let p = t.take(token, gen)?.into_raw();
        // SAFETY: `p` is the skb whose handle `into_raw` just ended: ours alone.
        drop(unsafe { Skb::from_raw(p) });
        Ok(p)
    }

    #[test]
    fn lend_and_take_back_once() -> Result {
        let t = TxLent::new()?;
        let (token, p) = lend_new(&t, 1)?;
        assert!(token >= SLOTS as u64);
        assert_eq!(t.held(), 1);
        assert_eq!(take_addr(&t, token, 1), Ok(p));
        assert_eq!(t.held(), 0);
        // Reported twice: refused, nothing touched.
        assert_eq!(take_addr(&t, token, 1), Err(BadToken::Unknown));
        Ok(())
    }

    #[test]
    fn other_instance_refused() -> Result {
        let t = TxLent::new()?;
        let (token, p) = lend_new(&t, 2)?;
        assert_eq!(take_addr(&t, token, 3), Err(BadToken::OtherInstance));
        assert_eq!(take_addr(&t, token, 1), Err(BadToken::OtherInstance));
        // Still lent to its own instance.
        assert_eq!(t.held(), 1);
        assert_eq!(take_addr(&t, token, 2), Ok(p));
        Ok(())
    }

    #[test]
    fn forged_tokens_refused() -> Result {
        let t = TxLent::new()?;
        let (token, p) = lend_new(&t, 1)?;
        let slots = SLOTS as u64;
        for forged in [
            0,
            1,
            slots - 1,
            token + 1,
            token + slots,
            token - slots,
            u64::MAX,
        ] {
            assert_eq!(take_addr(&t, forged, 1), Err(BadToken::Unknown));
        }
        assert_eq!(t.held(), 1);
        assert_eq!(take_addr(&t, token, 1), Ok(p));
        Ok(())
    }

    #[test]
    fn tokens_never_reused() -> Result {
        let t = TxLent::new()?;
        let mut last = 0;
        // Round the table more than once: every slot is used again, never a token.
        for _ in 0..SLOTS + 3 {
            let (token, _) = lend_new(&t, 1)?;
            assert!(token > last);
            last = token;
            assert!(take_addr(&t, token, 1).is_ok());
        }
        Ok(())
    }

    #[test]
    fn full_table_gives_the_skb_back() -> Result {
        let t = TxLent::new()?;
        for _ in 0..SLOTS {
            lend_new(&t, 1)?;
        }
        assert_eq!(t.held(), SLOTS);
        let skb = spare_skb()?;
        // The skb comes back to the caller (and is freed here).
        assert!(t.lend(skb, 1).is_err());
        let mut n = 0;
        t.reclaim(2, |_| n += 1);
        assert_eq!(n, SLOTS);
        assert_eq!(t.held(), 0);
        Ok(())
    }

    #[test]
    fn reclaim_older_generations_oldest_first() -> Result {
        let t = TxLent::new()?;
        let (a, pa) = lend_new(&t, 1)?;
        let (b, pb) = lend_new(&t, 2)?;
        let (c, pc) = lend_new(&t, 1)?;
        let mut got = [core::ptr::null_mut(); 3];
        let mut n = 0;
        t.reclaim(2, |skb| {
            if let Some(g) = got.get_mut(n) {
                *g = skb.into_raw();
            }
            n += 1;
        });
        assert_eq!(n, 2);
        assert_eq!(got[0], pa);
        assert_eq!(got[1], pc);
        for p in &got[..2] {
            // SAFETY: `reclaim` handed these skbs over, and `into_raw` ended their handles.
            drop(unsafe { Skb::from_raw(*p) });
        }
        // The reclaimed tokens are gone; the serving generation's skb is not.
        assert_eq!(take_addr(&t, a, 1), Err(BadToken::Unknown));
        assert_eq!(take_addr(&t, c, 1), Err(BadToken::Unknown));
        assert_eq!(take_addr(&t, b, 2), Ok(pb));
        Ok(())
    }

    #[test]
    fn stall_needs_the_same_oldest_for_the_limit() -> Result {
        let t = TxLent::new()?;
        let (a, _) = lend_new(&t, 1)?;
        // First look: starts the wait.
        assert!(!t.stalled(1, 1000, 100));
        assert!(!t.stalled(1, 1050, 100));
        assert!(!t.stalled(1, 1100, 100));
        assert!(t.stalled(1, 1150, 100));
        // After a pause longer than the limit (a link down) the wait starts again.
        assert!(!t.stalled(1, 2000, 100));
        assert!(!t.stalled(1, 2050, 100));
        assert!(t.stalled(1, 2101, 100));
        // Taken back: nothing can be late.
        assert!(take_addr(&t, a, 1).is_ok());
        assert!(!t.stalled(1, 2150, 100));
        assert!(!t.stalled(1, 5000, 100));
        Ok(())
    }
}
