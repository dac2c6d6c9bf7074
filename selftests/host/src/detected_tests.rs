// SPDX-License-Identifier: GPL-2.0

//! `detected.rs`: the one failure type of the guard, the statistics and the reports.

use crate::detected::{Detected, NR_DETECTED};

#[test]
fn raw_values_round_trip_and_index_the_counters() {
    for d in Detected::ALL {
        assert_eq!(Detected::from_raw(d as u32), d);
        // Index 0 stays free: a guard frame stores 0 for "no fault".
        assert!((d as usize) > 0 && (d as usize) < NR_DETECTED);
    }
}

#[test]
fn unknown_raw_values_are_other_traps() {
    assert_eq!(Detected::from_raw(0), Detected::OtherTrap);
    assert_eq!(Detected::from_raw(NR_DETECTED as u32), Detected::OtherTrap);
    assert_eq!(Detected::from_raw(u32::MAX), Detected::OtherTrap);
}

#[test]
fn names_are_distinct() {
    for (i, a) in Detected::ALL.iter().enumerate() {
        for b in &Detected::ALL[i + 1..] {
            assert_ne!(a.name(), b.name());
        }
    }
    // The guard's counters keep their own names for the traps and hangs it ends.
    assert_eq!(Detected::Gpf.guard_name(), "general-protection");
    assert_eq!(Detected::Hang.guard_name(), "hang");
}
