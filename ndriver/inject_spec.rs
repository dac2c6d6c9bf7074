// SPDX-License-Identifier: GPL-2.0

//! Parsing and firing of fault-injection requests (the `inject` debugfs file).
//!
//! Modelled on the kernel's fault-injection attributes: a request names a fault class
//! and an entry point, skips the first `after` calls of that entry point, then fires
//! with `probability` percent on each call until it has fired `times` times
//! (`times=-1`: without end). Free of kernel types: the host tests compile it.

use crate::fault_class::FaultClass;

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SpecError {
    /// A word is not `key=value`.
    Syntax,
    /// A key that is not known.
    UnknownKey,
    /// `class=` names no fault class.
    UnknownClass,
    /// `entry=` names no entry point of this device.
    UnknownEntry,
    /// A number is malformed or out of range.
    BadNumber,
    /// `class=` or `entry=` is missing.
    Missing,
}

/// A parsed request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InjectSpec {
    /// What to raise.
    pub(crate) class: FaultClass,
    /// Index of the entry point in the device's entry table.
    pub(crate) entry: usize,
    /// Calls of the entry point to let pass first.
    pub(crate) after: u32,
    /// Faults to raise; negative: no limit.
    pub(crate) times: i32,
    /// Percent chance per eligible call, 1..=100.
    pub(crate) probability: u32,
}

fn number<T: core::str::FromStr>(v: &str) -> Result<T, SpecError> {
    v.parse::<T>().map_err(|_| SpecError::BadNumber)
}

/// Parses `class=C entry=E [after=N] [times=N] [probability=P]`, the keys in any
/// order, against the device's entry point names.
pub(crate) fn parse(text: &str, entries: &[&str]) -> Result<InjectSpec, SpecError> {
    let mut class = None;
    let mut entry = None;
    let mut after = 0u32;
    let mut times = 1i32;
    let mut probability = 100u32;
    for word in text.split_ascii_whitespace() {
        let (k, v) = word.split_once('=').ok_or(SpecError::Syntax)?;
        match k {
            "class" => class = Some(FaultClass::from_name(v).ok_or(SpecError::UnknownClass)?),
            "entry" => {
                entry = Some(
                    entries
                        .iter()
                        .position(|e| *e == v)
                        .ok_or(SpecError::UnknownEntry)?,
                )
            }
            "after" => after = number(v)?,
            "times" => {
                times = number(v)?;
                if times == 0 || times < -1 {
                    return Err(SpecError::BadNumber);
                }
            }
            "probability" => {
                probability = number(v)?;
                if probability == 0 || probability > 100 {
                    return Err(SpecError::BadNumber);
                }
            }
            _ => return Err(SpecError::UnknownKey),
        }
    }
    Ok(InjectSpec {
        class: class.ok_or(SpecError::Missing)?,
        entry: entry.ok_or(SpecError::Missing)?,
        after,
        times,
        probability,
    })
}

/// A request being carried out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Armed {
    /// The request.
    pub(crate) spec: InjectSpec,
    /// Calls of the entry point seen since arming.
    pub(crate) calls: u32,
    /// Faults raised so far.
    pub(crate) fired: u32,
    /// State of the pseudo-random generator for `probability`.
    pub(crate) rng: u32,
}

impl Armed {
    /// Arms `spec`; `seed` feeds the probability draw (any value but 0 is fine).
    pub(crate) fn new(spec: InjectSpec, seed: u32) -> Self {
        Self {
            spec,
            calls: 0,
            fired: 0,
            rng: seed | 1,
        }
    }

    /// Whether the request has raised all the faults it asked for.
    pub(crate) fn spent(&self) -> bool {
        self.spec.times >= 0 && self.fired >= self.spec.times as u32
    }

    /// Called on each call of entry point `entry`: the class to raise now, if any.
    pub(crate) fn on_call(&mut self, entry: usize) -> Option<FaultClass> {
        if entry != self.spec.entry || self.spent() {
            return None;
        }
        self.calls = self.calls.saturating_add(1);
        if self.calls <= self.spec.after {
            return None;
        }
        if self.spec.probability < 100 {
            // xorshift32: cheap, and good enough to spread faults over calls.
            let mut x = self.rng;
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            self.rng = x;
            if x % 100 >= self.spec.probability {
                return None;
            }
        }
        self.fired += 1;
        Some(self.spec.class)
    }
}
