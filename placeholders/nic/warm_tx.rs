// SPDX-License-Identifier: GPL-2.0

//! The transmits of a dead instance across a warm restart. Part of `nic.rs`.
//!
//! A cold restart stops the device first, so what the dead instance's registered
//! transmit ring shows done is final, and the rest is sent again. A warm one leaves the
//! device running: a descriptor not done when the instance is discarded may still be
//! sent. So the discard only notes which ring descriptor holds which skb lent to the
//! dead instance ([`Nic::note_warm_tx`]; the tokens live in the instance's memory,
//! which goes back now) and leaves the skbs lent (their streaming mappings are kept by
//! the device). Once the adopter has checked that the device has nothing of them
//! pending, or once the device is stopped by a cold restart, the ring's done bits are
//! final: a done skb is completed, every other one sent again, never both
//! ([`Nic::settle_warm_tx`]).

use super::{ring_span, Nic, NicDev, TxRing};
use crate::instance::InstanceState;
use crate::placeholders::nic_tx::SLOTS;
use crate::undo::action_list::Kind;
use kernel::prelude::*;

/// A dead instance's transmits left to settle.
pub(super) struct WarmTx {
    /// The dead instance's generation (its skbs stay lent under it).
    generation: u64,
    /// Its registered transmit ring (in a kept coherent buffer), if it had one the
    /// discard could read.
    ring: Option<TxRing>,
    /// `(descriptor, token)` of each skb lent to it that its ring names.
    slots: KVec<(u32, u64)>,
}

impl Nic {
    /// A warm restart is allowed with a transmit ring of `count` descriptors: reserves
    /// room to note them ([`Nic::note_warm_tx`]). `false` if there is no memory for it
    /// (the restart must then be cold). Process context.
    pub(super) fn reserve_warm_tx(&self, count: usize) -> bool {
        let n = SLOTS.min(count);
        if self.warm_tx_room.lock().capacity() >= n {
            return true;
        }
        let mut room = KVec::new();
        if room.reserve(n, GFP_KERNEL).is_err() {
            return false;
        }
        // The old room is freed after the lock is dropped (at the end of the statement).
        let _old = core::mem::replace(&mut *self.warm_tx_room.lock(), room);
        true
    }

    /// Dead instance `st` is discarded warm (its undo list not run yet; the ring it
    /// kept is in the device's kept set by now): notes which descriptor of its
    /// registered transmit ring holds which skb lent to it, in the room reserved when
    /// the warm restart was allowed; the skbs stay lent until [`Nic::settle_warm_tx`].
    pub(super) fn note_warm_tx(&self, dev: &NicDev, st: &InstanceState) {
        let ring = self.tx_ring.lock().take();
        let held = |r: &TxRing| r.held_with(st, |base, len| dev.kept_covers(base, len));
        // No ring to read (`warm_ok` refused a warm restart with lent skbs and no ring):
        // every skb lent to it is sent again.
        let ring = ring.filter(|r| r.generation == st.generation && held(r));
        let mut slots = core::mem::take(&mut *self.warm_tx_room.lock());
        slots.clear();
        if let Some(r) = &ring {
            for i in 0..r.count {
                let word = (r.tokens + i as usize * r.token_stride as usize) as *const u64;
                // SAFETY: inside memory `st` still holds or the kept set holds, 8-byte
                // aligned (checked by `held_with`); whatever it holds is only looked
                // up, never trusted.
                let token = unsafe { core::ptr::read_volatile(word) };
                if self.tx.lent_to(token, st.generation)
                    && slots.push_within_capacity((i, token)).is_err()
                {
                    // Room for `SLOTS.min(count)` was reserved, and at most `SLOTS`
                    // skbs are lent: unreachable.
                    pr_warn!("ndriver: a transmit of a warm restart is not noted\n");
                    break;
                }
            }
        }
        // Any earlier one is settled by now (at its adoption or its adopter's discard);
        // freed after the lock is dropped (at the end of the statement).
        let _old = self.warm_tx.lock().replace(WarmTx {
            generation: st.generation,
            ring,
            slots,
        });
    }

    /// Settles the transmits of the warm-discarded instance, if any: its ring's done
    /// bits are final now (the adopter `st` found the device with nothing of them
    /// pending, or DMA is stopped). A done skb is completed; every other skb lent to it
    /// is taken back, to be sent again once an instance serves. The ring is read only if
    /// it lies in a coherent buffer `st` (the adopter) or the kept set holds; then the
    /// done bit of every descriptor is cleared: the adopter owns none of them yet, and
    /// one it fills later must not show done before the device sent it (a discard
    /// reading the ring before the driver rewrote the descriptor would complete an skb
    /// never sent).
    pub(super) fn settle_warm_tx(&self, dev: &NicDev, st: Option<&InstanceState>) {
        let Some(w) = self.warm_tx.lock().take() else {
            return;
        };
        if let Some(r) = &w.ring {
            let held = ring_span(r.count, r.stride, r.status_off).is_some_and(|l| {
                st.is_some_and(|st| st.undo.lock().covers(Kind::DmaCoherent, r.base, l))
                    || dev.kept_covers(r.base, l)
            });
            if held {
                self.settle_ring(&w, r);
            }
        }
        if let Some(nd) = self.netdev() {
            let q = nd.resend();
            self.tx.reclaim(w.generation + 1, |skb| q.push(skb));
        }
    }

    /// Completes the skbs of `w` whose descriptor in `r` shows done, then clears every
    /// descriptor's done bit. `r` lies in a coherent buffer held by the adopter or the
    /// kept set, and the device no longer writes it (idle or DMA stopped).
    fn settle_ring(&self, w: &WarmTx, r: &TxRing) {
        let status = |i: u32| {
            let off = i as usize * r.stride as usize + r.status_off as usize;
            (r.base + off) as *mut u8
        };
        for &(i, token) in w.slots.iter() {
            // SAFETY: inside the ring (`i < count`), in a coherent buffer held by the
            // adopter or the kept set (the caller's check); a volatile byte read.
            if unsafe { core::ptr::read_volatile(status(i)) } & r.done_mask == 0 {
                continue;
            }
            self.complete_dead(token, w.generation);
        }
        for i in 0..r.count {
            let p = status(i);
            // SAFETY: as above; the device writes the ring no more, and no instance owns
            // a descriptor of it yet: a volatile byte read and write.
            unsafe {
                let v = core::ptr::read_volatile(p);
                if v & r.done_mask != 0 {
                    core::ptr::write_volatile(p, v & !r.done_mask);
                }
            }
        }
    }
}
