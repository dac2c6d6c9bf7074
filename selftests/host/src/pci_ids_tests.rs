// SPDX-License-Identifier: GPL-2.0

use crate::pci_ids::{FuncId, IdTable, PciId, TableError, MAX_IDS, PCI_ANY};

const E1000: FuncId = FuncId {
    vendor: 0x8086,
    device: 0x100e,
    subvendor: 0x8086,
    subdevice: 0x001e,
};
const VBLK: FuncId = FuncId {
    vendor: 0x1af4,
    device: 0x1001,
    subvendor: 0x1af4,
    subdevice: 0x0002,
};

#[test]
fn vendor_and_device_match_any_subsystem() {
    let id = PciId::new(0x8086, 0x100e);
    assert!(id.matches(&E1000));
    assert!(!id.matches(&VBLK));
    assert!(!PciId::new(0x8086, 0x100f).matches(&E1000));
    assert!(!PciId::new(0x1af4, 0x100e).matches(&E1000));
}

#[test]
fn wildcards_and_subsystems() {
    assert!(PciId::new(0x8086, PCI_ANY).matches(&E1000));
    assert!(!PciId::new(0x8086, PCI_ANY).matches(&VBLK));
    assert!(PciId::new(0x1af4, 0x1001)
        .subsystem(0x1af4, 2)
        .matches(&VBLK));
    assert!(!PciId::new(0x1af4, 0x1001)
        .subsystem(0x1af4, 3)
        .matches(&VBLK));
    assert!(PciId::new(0x1af4, 0x1001)
        .subsystem(0x1af4, PCI_ANY)
        .matches(&VBLK));
    assert!(!PciId::new(0x1af4, 0x1001)
        .subsystem(0x8086, PCI_ANY)
        .matches(&VBLK));
}

#[test]
fn table_drives_listed_functions_only() {
    let t = IdTable::copy_of(&[PciId::new(0x8086, 0x100e), PciId::new(0x8086, 0x100f)]).unwrap();
    assert_eq!(t.ids().len(), 2);
    assert!(t.drives(Some(&E1000)));
    assert!(!t.drives(Some(&VBLK)));
    // Without a function every implementation may serve.
    assert!(t.drives(None));
}

#[test]
fn empty_table_drives_no_function() {
    let t = IdTable::copy_of(&[]).unwrap();
    assert!(t.ids().is_empty());
    assert!(!t.drives(Some(&E1000)));
    assert!(t.drives(None));
    assert_eq!(IdTable::EMPTY.to_string(), "none");
}

#[test]
fn bad_tables_are_refused() {
    let long = [PciId::new(0x8086, 0x100e); MAX_IDS + 1];
    assert_eq!(
        IdTable::copy_of(&long).unwrap_err(),
        TableError::TooLong(MAX_IDS + 1)
    );
    assert!(IdTable::copy_of(&long[..MAX_IDS]).is_ok());
    // A wildcard or zero vendor would claim functions of every vendor.
    let any = [PciId::new(0x8086, 0x100e), PciId::new(PCI_ANY, PCI_ANY)];
    assert_eq!(IdTable::copy_of(&any).unwrap_err(), TableError::Invalid(1));
    assert_eq!(
        IdTable::copy_of(&[PciId::new(0, 0x100e)]).unwrap_err(),
        TableError::Invalid(0)
    );
}

#[test]
fn display() {
    assert_eq!(E1000.to_string(), "8086:100e");
    assert_eq!(PciId::new(0x8086, 0x100e).to_string(), "8086:100e");
    assert_eq!(PciId::new(0x8086, PCI_ANY).to_string(), "8086:*");
    assert_eq!(
        PciId::new(0x1af4, 0x1001)
            .subsystem(0x1af4, PCI_ANY)
            .to_string(),
        "1af4:1001 subsystem 1af4:*"
    );
    let t = IdTable::copy_of(&[PciId::new(0x8086, 0x100e), PciId::new(0x8086, 0x100f)]).unwrap();
    assert_eq!(t.to_string(), "8086:100e, 8086:100f");
    assert_eq!(
        TableError::TooLong(65).to_string(),
        "65 PCI IDs, at most 64 allowed"
    );
}

#[test]
fn layout_is_four_u16() {
    // Part of the ABI (abi.rs): a change here needs an ABI_VERSION bump.
    assert_eq!(core::mem::size_of::<PciId>(), 8);
    assert_eq!(core::mem::align_of::<PciId>(), 2);
}
