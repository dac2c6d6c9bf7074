// SPDX-License-Identifier: GPL-2.0

use crate::names::{check_name, NameError, NAME_MAX};

#[test]
fn accepts_ordinary_names() {
    for n in ["hello", "e1000-napi", "virtio_blk_qd1", "a", "x9"] {
        assert_eq!(check_name(n.as_bytes()), Ok(()), "{n}");
    }
}

#[test]
fn rejects_empty() {
    assert_eq!(check_name(b""), Err(NameError::Empty));
}

#[test]
fn length_limit_is_inclusive() {
    let ok = vec![b'a'; NAME_MAX];
    let long = vec![b'a'; NAME_MAX + 1];
    assert_eq!(check_name(&ok), Ok(()));
    assert_eq!(check_name(&long), Err(NameError::TooLong));
}

#[test]
fn rejects_path_and_shell_characters() {
    for n in ["a/b", "..", "A", "x y", "-lead", "tab\t", "nul\0"] {
        assert_eq!(check_name(n.as_bytes()), Err(NameError::BadChar), "{n:?}");
    }
}
