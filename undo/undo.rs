// SPDX-License-Identifier: GPL-2.0

//! `crate::undo`: giving back what a dead instance held.
//!
//! - `action_list.rs`: the undo action list every callout records into;
//! - `locked_list.rs`: an instance's list behind its lock, its change count readable
//!   without it.

#[path = "action_list.rs"]
pub(crate) mod action_list;
#[path = "locked_list.rs"]
pub(crate) mod locked_list;
