// SPDX-License-Identifier: GPL-2.0

//! Parsing and firing of fault-injection requests (the `inject` debugfs file).
//!
//! Modelled on the kernel's fault-injection attributes: a request names a fault class
//! and where to raise it, skips the first `after` eligible calls, then fires with
//! `probability` percent on each until it has fired `times` times (`times=-1`: without
//! end). Where is an entry point (`entry=NAME`: the class glue raises the fault at the
//! top of the entry function, `wrappers/entry_faults.rs`)
//! or an instruction of the serving implementation (`site=random` or
//! `site=SYMBOL+OFFSET`: a kprobe raises it when a guarded call reaches the
//! instruction). Free of kernel types: the host tests compile it.

use core::sync::atomic::{AtomicU32, Ordering};

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
    /// `class=` or `entry=`/`site=` is missing.
    Missing,
    /// Both `entry=` and `site=` are given.
    EntryAndSite,
    /// `site=` is not `random` or `SYMBOL[+OFFSET]`.
    BadSite,
    /// The class cannot be raised at an arbitrary instruction (it needs the driver's
    /// lock, return value or handle).
    NotAtSite,
    /// The class corrupts an instruction's work, so it needs `site=`.
    NotAtEntry,
    /// `seed=` with `entry=` (a seed only feeds the draws of a `site=` request).
    SeedAtEntry,
}

/// Where a `site=` request raises its fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SiteAt<'a> {
    /// An instruction chosen at random in the serving implementation's text; `seed`
    /// makes the choice repeatable.
    Random {
        /// Seed of the draw; `None`: from the clock.
        seed: Option<u32>,
    },
    /// An instruction chosen at random among those the last trace of the serving
    /// implementation saw executed (`<device>/trace`).
    Traced {
        /// Seed of the draw; `None`: from the clock.
        seed: Option<u32>,
    },
    /// `offset` bytes into the function `symbol` (kallsyms name, `module:name` allowed).
    Symbol {
        /// The function.
        symbol: &'a str,
        /// Bytes into it; must be an instruction boundary.
        offset: u32,
        /// Seed of the corruption's draws (the register `corrupt_ptr` picks, the bit
        /// either corruption flips, see [`mix`]); `None`: from the clock.
        seed: Option<u32>,
    },
}

/// A parsed `site=` request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SiteSpec<'a> {
    /// What to raise.
    pub(crate) class: FaultClass,
    /// Where.
    pub(crate) at: SiteAt<'a>,
    /// When: the `after`, `times` and `probability` of the request.
    pub(crate) when: When,
}

/// The `after`, `times` and `probability` of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct When {
    /// Eligible calls to let pass first.
    pub(crate) after: u32,
    /// Faults to raise; negative: no limit.
    pub(crate) times: i32,
    /// Percent chance per eligible call, 1..=100.
    pub(crate) probability: u32,
}

/// A parsed request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Request<'a> {
    /// At the top of an entry point, by the driver.
    Entry(InjectSpec),
    /// At an instruction, by a kprobe.
    Site(SiteSpec<'a>),
}

/// Longest symbol name `site=` takes.
pub(crate) const MAX_SYMBOL: usize = 255;

fn parse_site(v: &str) -> Result<SiteAt<'_>, SpecError> {
    if v == "random" {
        return Ok(SiteAt::Random { seed: None });
    }
    if v == "traced" {
        return Ok(SiteAt::Traced { seed: None });
    }
    let (symbol, offset) = match v.rsplit_once('+') {
        Some((sym, off)) => {
            let off = match off.strip_prefix("0x") {
                Some(hex) => u32::from_str_radix(hex, 16).map_err(|_| SpecError::BadSite)?,
                None => off.parse::<u32>().map_err(|_| SpecError::BadSite)?,
            };
            (sym, off)
        }
        None => (v, 0),
    };
    let ok = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '$' || c == ':';
    if symbol.is_empty() || symbol.len() > MAX_SYMBOL || !symbol.chars().all(ok) {
        return Err(SpecError::BadSite);
    }
    Ok(SiteAt::Symbol {
        symbol,
        offset,
        seed: None,
    })
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

/// Parses `class=C entry=E [after=N] [times=N] [probability=P]` or
/// `class=C site=S [seed=N] [after=N] [times=N] [probability=P]`, the keys in any order,
/// against the device's entry point names.
pub(crate) fn parse_request<'a>(text: &'a str, entries: &[&str]) -> Result<Request<'a>, SpecError> {
    let mut class = None;
    let mut entry = None;
    let mut site = None;
    let mut seed = None;
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
            "site" => site = Some(parse_site(v)?),
            "seed" => seed = Some(number::<u32>(v)?),
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
    let class = class.ok_or(SpecError::Missing)?;
    let when = When {
        after,
        times,
        probability,
    };
    match (entry, site) {
        (Some(_), Some(_)) => Err(SpecError::EntryAndSite),
        (None, None) => Err(SpecError::Missing),
        (Some(entry), None) => {
            if class.corrupts() {
                return Err(SpecError::NotAtEntry);
            }
            if seed.is_some() {
                return Err(SpecError::SeedAtEntry);
            }
            Ok(Request::Entry(InjectSpec {
                class,
                entry,
                after,
                times,
                probability,
            }))
        }
        (None, Some(mut at)) => {
            if !class.at_site() {
                return Err(SpecError::NotAtSite);
            }
            let (SiteAt::Random { seed: s }
            | SiteAt::Traced { seed: s }
            | SiteAt::Symbol { seed: s, .. }) = &mut at;
            *s = seed;
            Ok(Request::Site(SiteSpec { class, at, when }))
        }
    }
}

/// One step of xorshift32: cheap, and good enough to spread faults and pick sites.
pub(crate) fn xorshift32(mut x: u32) -> u32 {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    x
}

/// An odd multiplier with well-mixed bits (2^32 / golden ratio).
const SEED_MIX: u32 = 0x9e37_79b9;

/// The generator state a site starts from for `seed`: non-zero, nearby seeds (1, 2,
/// 3, ...) far apart. A `site=SYMBOL` request draws nothing to be placed, so its first
/// draw is `xorshift32(mix(seed))`: `flip_dest`'s first fault flips that modulo 64
/// (`selftests/guest/tests/30-stack-writes.sh` picks its seeds with the same arithmetic).
pub(crate) fn mix(seed: u32) -> u32 {
    let mut x = seed.wrapping_add(SEED_MIX).wrapping_mul(SEED_MIX);
    for _ in 0..4 {
        x = xorshift32(x ^ (x >> 16));
    }
    if x == 0 {
        SEED_MIX
    } else {
        x
    }
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
            let x = xorshift32(self.rng);
            self.rng = x;
            if x % 100 >= self.spec.probability {
                return None;
            }
        }
        self.fired += 1;
        Some(self.spec.class)
    }
}

/// [`When`] decided without a lock, from any context (a kprobe handler runs with
/// interrupts off, on any CPU, possibly on several at once).
pub(crate) struct Gate {
    when: When,
    calls: AtomicU32,
    fired: AtomicU32,
    rng: AtomicU32,
}

impl Gate {
    /// A gate for `when`; `seed` feeds the probability draw.
    pub(crate) const fn new(when: When, seed: u32) -> Self {
        Self {
            when,
            calls: AtomicU32::new(0),
            fired: AtomicU32::new(0),
            rng: AtomicU32::new(seed | 1),
        }
    }

    /// The request.
    pub(crate) fn when(&self) -> When {
        self.when
    }

    /// Eligible calls seen so far.
    pub(crate) fn calls(&self) -> u32 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Faults fired so far.
    pub(crate) fn fired(&self) -> u32 {
        self.fired.load(Ordering::Relaxed)
    }

    /// Whether the request has fired all it asked for.
    pub(crate) fn spent(&self) -> bool {
        self.when.times >= 0 && self.fired() >= self.when.times as u32
    }

    /// Called on each eligible call: whether to fire now. At most `times` calls get
    /// `true`, however many CPUs ask at once.
    pub(crate) fn on_call(&self) -> bool {
        if self.spent() {
            return false;
        }
        let n = self.calls.fetch_add(1, Ordering::Relaxed).saturating_add(1);
        if n <= self.when.after {
            return false;
        }
        if self.when.probability < 100 {
            let x = xorshift32(self.rng.load(Ordering::Relaxed));
            self.rng.store(x, Ordering::Relaxed);
            if x % 100 >= self.when.probability {
                return false;
            }
        }
        if self.when.times < 0 {
            self.fired.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        let limit = self.when.times as u32;
        self.fired
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |f| {
                (f < limit).then_some(f + 1)
            })
            .is_ok()
    }
}
