// SPDX-License-Identifier: GPL-2.0

use crate::pci_addr::parse;

#[test]
fn full_and_short_forms() {
    assert_eq!(parse("0000:00:03.0"), Some(3 << 3));
    assert_eq!(parse("00:03.0"), Some(3 << 3));
    assert_eq!(
        parse("0001:1a:1f.7"),
        Some(1 << 16 | 0x1a << 8 | 0x1f << 3 | 7)
    );
    assert_eq!(parse("ffff:ff:00.1"), Some(0xffff << 16 | 0xff << 8 | 1));
}

#[test]
fn malformed_is_refused() {
    for bad in [
        "",
        "none",
        "0000:00:03",
        "00:03",
        "0000:00:20.0",
        "0000:00:03.8",
        "0000:100:03.0",
        "00000:00:03.0",
        "0000:00:03.00",
        "0000:00:0g.0",
        "0:0:0:0.0",
        "0000:00:03.-1",
        ":00:03.0",
        "0000::03.0",
        "0000:00:03.",
    ] {
        assert_eq!(parse(bad), None, "{bad:?}");
    }
}
