// SPDX-License-Identifier: GPL-2.0

use crate::warm_spec::{parse, Corrupt};

#[test]
fn parses_swaps_and_registers() {
    assert_eq!(
        parse("swap 0 0 16"),
        Ok(Some(Corrupt::Swap {
            role: 0,
            a: 0,
            b: 16
        }))
    );
    assert_eq!(
        parse("reg 0 0x2818 0x8000"),
        Ok(Some(Corrupt::Reg {
            role: 0,
            off: 0x2818,
            mask: 0x8000
        }))
    );
    assert_eq!(parse("off"), Ok(None));
    assert_eq!(
        parse("  swap  48 0x10 0x20 "),
        Ok(Some(Corrupt::Swap {
            role: 48,
            a: 16,
            b: 32
        }))
    );
}

#[test]
fn refuses_what_would_leave_the_kept_set() {
    // Misaligned words and registers, a swap of a word with itself, a mask that
    // changes nothing, missing or extra words, other kinds, numbers out of range.
    for bad in [
        "",
        "swap 0 4 16",
        "swap 0 16 16",
        "reg 0 0x2819 1",
        "reg 0 0x2818 0",
        "swap 0 0",
        "swap 0 0 8 16",
        "off now",
        "write 0 0 0",
        "reg 0x100000000 0 1",
        "reg 0 0 0x100000000",
        "swap -1 0 8",
    ] {
        assert_eq!(parse(bad), Err(()), "{bad:?}");
    }
}

#[test]
fn shows_what_it_parsed() {
    let c = Corrupt::Reg {
        role: 0,
        off: 0x2818,
        mask: 0x8000,
    };
    assert_eq!(c.to_string(), "reg 0 0x2818 0x8000");
    assert_eq!(parse(&c.to_string()), Ok(Some(c)));
}
