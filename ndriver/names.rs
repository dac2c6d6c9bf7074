// SPDX-License-Identifier: GPL-2.0

//! Validation of device class and implementation names.
//!
//! Names become debugfs directory names and appear in commands typed by operators, so
//! they are kept to a small, unambiguous alphabet. Free of kernel types: the host unit
//! tests compile this file too.

/// Longest accepted name, in bytes.
pub(crate) const NAME_MAX: usize = 31;

/// Why a name was refused.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub(crate) enum NameError {
    /// The name is empty.
    Empty,
    /// The name is longer than [`NAME_MAX`].
    TooLong,
    /// The name holds a byte outside `[a-z0-9_-]` or starts with `-`.
    BadChar,
}

/// Checks that `name` is a usable class or implementation name.
pub(crate) fn check_name(name: &[u8]) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > NAME_MAX {
        return Err(NameError::TooLong);
    }
    if name[0] == b'-' {
        return Err(NameError::BadChar);
    }
    let ok = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-';
    if !name.iter().all(ok) {
        return Err(NameError::BadChar);
    }
    Ok(())
}
