// SPDX-License-Identifier: GPL-2.0

//! `crate::undo`: giving back what a dead instance held.
//!
//! - `action_list.rs`: the undo action list every callout records into.

#[path = "action_list.rs"]
pub(crate) mod action_list;
