// SPDX-License-Identifier: GPL-2.0

use crate::timeout::{deadline_ns, update_average, Bounds};

#[test]
fn first_sample_sets_average() {
    assert_eq!(update_average(0, 1234), 1234);
    assert_eq!(update_average(0, 0), 1, "zero would read as 'no sample'");
}

#[test]
fn average_moves_an_eighth_towards_sample() {
    assert_eq!(update_average(800, 1600), 900);
    assert_eq!(update_average(800, 0), 700);
}

#[test]
fn average_converges() {
    let mut a = 0;
    for _ in 0..200 {
        a = update_average(a, 5000);
    }
    assert_eq!(a, 5000);
    for _ in 0..200 {
        a = update_average(a, 100);
    }
    assert!((100..=108).contains(&a), "{a}");
}

#[test]
fn deadline_is_average_plus_guard_within_bounds() {
    let b = Bounds {
        guard_ns: 1000,
        floor_ns: 5000,
        ceiling_ns: 100_000,
    };
    assert_eq!(deadline_ns(10_000, &b), 11_000);
    assert_eq!(deadline_ns(1, &b), 5000, "floor");
    assert_eq!(deadline_ns(1_000_000, &b), 100_000, "ceiling");
    assert_eq!(deadline_ns(u64::MAX, &b), 100_000, "no overflow");
}

#[test]
fn bounds_validation() {
    assert!(Bounds::DEFAULT.valid());
    let mut b = Bounds::DEFAULT;
    b.floor_ns = b.ceiling_ns + 1;
    assert!(!b.valid());
    b = Bounds::DEFAULT;
    b.guard_ns = 0;
    assert!(!b.valid());
}
