// SPDX-License-Identifier: GPL-2.0

use crate::fault_class::{FaultClass, NR_CLASSES};
use crate::inject_spec::{parse, Armed, SpecError};

const ENTRIES: &[&str] = &["probe", "op", "tick", "irq"];

#[test]
fn parses_full_request_in_any_order() {
    let s = parse(
        "times=3 entry=tick class=div0 probability=50 after=7",
        ENTRIES,
    )
    .unwrap();
    assert_eq!(s.class, FaultClass::Div0);
    assert_eq!(s.entry, 2);
    assert_eq!((s.after, s.times, s.probability), (7, 3, 50));
}

#[test]
fn defaults_fire_once_at_next_call() {
    let s = parse("class=null entry=op\n", ENTRIES).unwrap();
    assert_eq!((s.after, s.times, s.probability), (0, 1, 100));
}

#[test]
fn rejects_malformed_requests() {
    let cases: &[(&str, SpecError)] = &[
        ("", SpecError::Missing),
        ("class=null", SpecError::Missing),
        ("garbage", SpecError::Syntax),
        ("class=null entry=op colour=red", SpecError::UnknownKey),
        ("class=meltdown entry=op", SpecError::UnknownClass),
        ("class=null entry=xmit", SpecError::UnknownEntry),
        ("class=null entry=op times=0", SpecError::BadNumber),
        ("class=null entry=op times=-2", SpecError::BadNumber),
        ("class=null entry=op probability=101", SpecError::BadNumber),
        ("class=null entry=op probability=0", SpecError::BadNumber),
        ("class=null entry=op after=-1", SpecError::BadNumber),
        (
            "class=null entry=op after=99999999999",
            SpecError::BadNumber,
        ),
    ];
    for (text, err) in cases {
        assert_eq!(parse(text, ENTRIES), Err(*err), "{text:?}");
    }
}

#[test]
fn after_and_times_are_honoured() {
    let s = parse("class=panic entry=op after=2 times=2", ENTRIES).unwrap();
    let mut a = Armed::new(s, 1);
    let got: Vec<bool> = (0..6).map(|_| a.on_call(1).is_some()).collect();
    assert_eq!(got, [false, false, true, true, false, false]);
    assert!(a.spent());
}

#[test]
fn other_entries_do_not_count() {
    let s = parse("class=panic entry=irq", ENTRIES).unwrap();
    let mut a = Armed::new(s, 1);
    assert_eq!(a.on_call(1), None);
    assert_eq!(a.calls, 0);
    assert_eq!(a.on_call(3), Some(FaultClass::Panic));
}

#[test]
fn unlimited_times() {
    let s = parse("class=error entry=op times=-1", ENTRIES).unwrap();
    let mut a = Armed::new(s, 1);
    assert!((0..1000).all(|_| a.on_call(1).is_some()));
    assert!(!a.spent());
}

#[test]
fn probability_is_roughly_honoured() {
    let s = parse("class=error entry=op times=-1 probability=30", ENTRIES).unwrap();
    let mut a = Armed::new(s, 12345);
    let n = (0..10_000).filter(|_| a.on_call(1).is_some()).count();
    assert!((2500..3500).contains(&n), "{n}");
}

#[test]
fn class_names_round_trip() {
    assert_eq!(FaultClass::ALL.len(), NR_CLASSES - 1);
    for c in FaultClass::ALL {
        assert_eq!(FaultClass::from_name(c.name()), Some(c));
    }
    assert_eq!(FaultClass::from_name("none"), None);
}
