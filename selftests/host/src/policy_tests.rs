// SPDX-License-Identifier: GPL-2.0

use crate::policy::{backoff, parse_switch, Decision, HotCase, Ladder, Policy};

fn p(restarts: u32) -> Policy {
    Policy {
        restarts,
        backoff_ms: 10,
        backoff_max_ms: 100,
        calm_ms: 1000,
        rejuvenate_ms: 0,
        guard: true,
        mem_kb: 1024,
        kernel_bug: false,
        warm: true,
        hot: true,
    }
}

fn index(d: Decision) -> usize {
    match d {
        Decision::Start { index, .. } => index,
        Decision::GiveUp => panic!("gave up"),
    }
}

#[test]
fn restarts_then_moves_on_then_gives_up() {
    let pol = p(2);
    let mut l = Ladder::new();
    let mut cur = 0;
    let mut seen = Vec::new();
    for t in 0..4 {
        cur = index(l.on_failure(&pol, cur, 2, t));
        seen.push(cur);
    }
    assert_eq!(seen, [0, 0, 1, 1]);
    assert_eq!(l.on_failure(&pol, cur, 2, 5), Decision::GiveUp);
}

#[test]
fn single_implementation_gives_up_after_its_restarts() {
    let pol = p(3);
    let mut l = Ladder::new();
    for t in 0..3 {
        assert_eq!(index(l.on_failure(&pol, 0, 1, t)), 0);
    }
    assert_eq!(l.on_failure(&pol, 0, 1, 3), Decision::GiveUp);
}

#[test]
fn calm_period_starts_a_new_burst() {
    let pol = p(1);
    let mut l = Ladder::new();
    for i in 0..50u64 {
        // Failures 2 s apart never escalate.
        assert_eq!(index(l.on_failure(&pol, 0, 2, i * 2000)), 0);
        assert_eq!(l.burst(), 1);
    }
}

#[test]
fn wraps_round_to_first_alternative() {
    let pol = p(1);
    let mut l = Ladder::new();
    assert_eq!(index(l.on_failure(&pol, 2, 3, 0)), 2);
    assert_eq!(index(l.on_failure(&pol, 2, 3, 1)), 0);
    assert_eq!(index(l.on_failure(&pol, 0, 3, 2)), 1);
    assert_eq!(l.on_failure(&pol, 1, 3, 3), Decision::GiveUp);
}

#[test]
fn backoff_doubles_and_is_capped() {
    let pol = p(1);
    let got: Vec<u32> = (1..=7).map(|b| backoff(&pol, b)).collect();
    assert_eq!(got, [0, 10, 20, 40, 80, 100, 100]);
    assert_eq!(backoff(&pol, u32::MAX), 100);
    let zero = Policy {
        backoff_ms: 0,
        ..pol
    };
    assert_eq!(backoff(&zero, 9), 0);
}

#[test]
fn no_implementation_gives_up() {
    let mut l = Ladder::new();
    assert_eq!(l.on_failure(&p(1), 0, 0, 0), Decision::GiveUp);
}

#[test]
fn policy_validation() {
    assert!(Policy::DEFAULT.valid());
    assert!(!Policy {
        restarts: 0,
        ..Policy::DEFAULT
    }
    .valid());
    assert!(!Policy {
        backoff_ms: 5,
        backoff_max_ms: 1,
        ..Policy::DEFAULT
    }
    .valid());
}

#[test]
fn rejuvenation_period_is_off_or_in_range() {
    let with = |ms| Policy {
        rejuvenate_ms: ms,
        ..Policy::DEFAULT
    };
    assert!(with(0).valid());
    assert!(with(Policy::MIN_REJUVENATE_MS).valid());
    assert!(with(Policy::MAX_REJUVENATE_MS).valid());
    assert!(!with(Policy::MIN_REJUVENATE_MS - 1).valid());
    assert!(!with(Policy::MAX_REJUVENATE_MS + 1).valid());
}

#[test]
fn guard_is_on_by_default_and_takes_only_0_or_1() {
    assert!(Policy::DEFAULT.guard);
    assert_eq!(parse_switch("1"), Some(true));
    assert_eq!(parse_switch("0"), Some(false));
    for bad in ["", "2", "-1", "on", "true", "01", " 1"] {
        assert_eq!(parse_switch(bad), None, "{bad:?}");
    }
}

#[test]
fn memory_limit_is_in_range() {
    let with = |kb| Policy {
        mem_kb: kb,
        ..Policy::DEFAULT
    };
    assert!(with(*Policy::MEM_KB.start()).valid());
    assert!(with(*Policy::MEM_KB.end()).valid());
    assert!(!with(0).valid());
    assert!(!with(Policy::MEM_KB.start() - 1).valid());
    assert!(!with(Policy::MEM_KB.end() + 1).valid());
}

#[test]
fn kernel_bugs_are_left_to_the_kernel_by_default() {
    // A BUG() in core kernel code is a kernel invariant: containing it takes an
    // explicit `kernel_bug=1`.
    assert!(!Policy::DEFAULT.kernel_bug);
    assert!(Policy {
        kernel_bug: true,
        ..Policy::DEFAULT
    }
    .valid());
}

#[test]
fn warm_restart_is_on_by_default_and_switchable() {
    // Warm restart falls back to cold whenever the adopted state is not trusted, so
    // it is on by default; `warm=0` makes every recovery cold (for comparison).
    assert!(Policy::DEFAULT.warm);
    assert!(Policy {
        warm: false,
        ..Policy::DEFAULT
    }
    .valid());
    assert_eq!(parse_switch("0"), Some(false));
    assert_eq!(parse_switch("1"), Some(true));
    assert_eq!(parse_switch("on"), None);
}

#[test]
fn hot_retry_only_for_an_unchanged_error_return_once() {
    let p = Policy::DEFAULT;
    assert!(p.hot);
    let ok = HotCase {
        error_return: true,
        unchanged: true,
        retried: false,
    };
    assert!(p.retries_hot(ok));
    // A fault, hang, leak or misuse: the instance's state is unknown.
    assert!(!p.retries_hot(HotCase {
        error_return: false,
        ..ok
    }));
    // The call took or gave back a resource before it failed.
    assert!(!p.retries_hot(HotCase {
        unchanged: false,
        ..ok
    }));
    // The retry failed too: escalate.
    assert!(!p.retries_hot(HotCase {
        retried: true,
        ..ok
    }));
    // `hot=0`: every failure replaces the instance.
    let off = Policy {
        hot: false,
        ..Policy::DEFAULT
    };
    assert!(off.valid());
    assert!(!off.retries_hot(ok));
}
