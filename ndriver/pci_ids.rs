// SPDX-License-Identifier: GPL-2.0

//! PCI ID tables: the functions an implementation drives, as `pci::Driver`'s
//! `ID_TABLE` says it for a kernel driver.
//!
//! [`PciId`] is the `#[repr(C)]` entry an implementation's table holds (part of the
//! ABI: `abi.rs` includes this file, so a layout change bumps `ABI_VERSION`).
//! [`IdTable`] is the core's checked copy of a table, taken at registration, and
//! [`FuncId`] the IDs of a PCI function as the core reads them from its `pci_dev`.
//! Kernel-free, so the host tests cover it.

use core::fmt;

/// A [`PciId`] field that matches any value (as `PCI_ANY_ID`). `0xffff` is no valid
/// vendor or subsystem vendor, and is what reads of an absent function return.
pub(crate) const PCI_ANY: u16 = 0xffff;

/// Most entries in one implementation's table: more is taken as a corrupt descriptor.
pub(crate) const MAX_IDS: usize = 64;

/// One entry of an implementation's ID table: the functions with this vendor and
/// device (and subsystem) IDs. Every field but `vendor` may be [`PCI_ANY`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PciId {
    /// Vendor ID; never [`PCI_ANY`].
    pub(crate) vendor: u16,
    /// Device ID.
    pub(crate) device: u16,
    /// Subsystem vendor ID.
    pub(crate) subvendor: u16,
    /// Subsystem device ID.
    pub(crate) subdevice: u16,
}

impl PciId {
    /// Functions `vendor:device`, any subsystem.
    pub(crate) const fn new(vendor: u16, device: u16) -> Self {
        Self {
            vendor,
            device,
            subvendor: PCI_ANY,
            subdevice: PCI_ANY,
        }
    }

    /// The same, only with subsystem `subvendor:subdevice`.
    pub(crate) const fn subsystem(self, subvendor: u16, subdevice: u16) -> Self {
        Self {
            subvendor,
            subdevice,
            ..self
        }
    }

    /// Whether the entry can describe real functions: a table entry matching every
    /// vendor would let an implementation claim any function, and vendor 0 is none.
    pub(crate) fn valid(&self) -> bool {
        self.vendor != PCI_ANY && self.vendor != 0
    }

    /// Whether function `f` is one of this entry's.
    pub(crate) fn matches(&self, f: &FuncId) -> bool {
        let field = |want: u16, have: u16| want == PCI_ANY || want == have;
        self.vendor == f.vendor
            && field(self.device, f.device)
            && field(self.subvendor, f.subvendor)
            && field(self.subdevice, f.subdevice)
    }
}

/// Writes `1af4:1001`; a wildcard as `*`, a subsystem only when given.
impl fmt::Display for PciId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = |f: &mut fmt::Formatter<'_>, v: u16| {
            if v == PCI_ANY {
                write!(f, "*")
            } else {
                write!(f, "{:04x}", v)
            }
        };
        write!(f, "{:04x}:", self.vendor)?;
        field(f, self.device)?;
        if self.subvendor != PCI_ANY || self.subdevice != PCI_ANY {
            write!(f, " subsystem ")?;
            field(f, self.subvendor)?;
            write!(f, ":")?;
            field(f, self.subdevice)?;
        }
        Ok(())
    }
}

/// The IDs of a PCI function (from its configuration space, as `pci_dev` caches them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FuncId {
    pub(crate) vendor: u16,
    pub(crate) device: u16,
    pub(crate) subvendor: u16,
    pub(crate) subdevice: u16,
}

/// Writes `vendor:device`, as `lspci -n` does.
impl fmt::Display for FuncId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04x}:{:04x}", self.vendor, self.device)
    }
}

/// Why a table was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TableError {
    /// More than [`MAX_IDS`] entries.
    TooLong(usize),
    /// Entry `i` is not [`PciId::valid`].
    Invalid(usize),
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong(n) => write!(f, "{} PCI IDs, at most {} allowed", n, MAX_IDS),
            Self::Invalid(i) => write!(f, "PCI ID entry {} has no valid vendor", i),
        }
    }
}

/// A checked copy of an implementation's ID table. Empty: the implementation drives
/// no PCI function (it may serve a device only while none is attached).
#[derive(Clone, Copy, Debug)]
pub(crate) struct IdTable {
    ids: [PciId; MAX_IDS],
    len: usize,
}

impl IdTable {
    /// No entries.
    pub(crate) const EMPTY: Self = Self {
        ids: [PciId::new(0, 0); MAX_IDS],
        len: 0,
    };

    /// Copies `ids` after checking every entry.
    pub(crate) fn copy_of(ids: &[PciId]) -> Result<Self, TableError> {
        if ids.len() > MAX_IDS {
            return Err(TableError::TooLong(ids.len()));
        }
        if let Some(i) = ids.iter().position(|id| !id.valid()) {
            return Err(TableError::Invalid(i));
        }
        let mut t = Self::EMPTY;
        // Element by element: `copy_from_slice` has a length-mismatch panic path.
        for (dst, src) in t.ids.iter_mut().zip(ids) {
            *dst = *src;
        }
        t.len = ids.len();
        Ok(t)
    }

    /// The entries.
    pub(crate) fn ids(&self) -> &[PciId] {
        &self.ids[..self.len]
    }

    /// Whether function `f` is driven: with no function (`None`) every table is.
    pub(crate) fn drives(&self, f: Option<&FuncId>) -> bool {
        f.is_none_or(|f| self.ids().iter().any(|id| id.matches(f)))
    }
}

/// Writes the entries separated by `, `, or `none`.
impl fmt::Display for IdTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.len == 0 {
            return write!(f, "none");
        }
        for (i, id) in self.ids().iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{}", id)?;
        }
        Ok(())
    }
}
