// SPDX-License-Identifier: GPL-2.0

//! The placeholder's ethtool operations (`wrappers/netdevice.c` holds the table):
//! driver information and the device's counters for `ethtool -S`. Part of `nic.rs`.

use super::*;

/// ethtool `get_drvinfo`: the implementation serving now and the PCI function.
///
/// # Safety
///
/// `nd` is a placeholder of a live `NicDev` (made by [`NetDevBox::alloc`] in `create`), as the
/// kernel passes it to the operations `wrappers/netdevice.c` registers.
/// `imp` is writable for `imp_len` bytes and `bus` for `bus_len` bytes.
#[unsafe(no_mangle)]
unsafe extern "C" fn ndriver_nic_drvinfo(
    nd: *mut bindings::net_device,
    imp: *mut c_char,
    imp_len: usize,
    bus: *mut c_char,
    bus_len: usize,
) {
    // SAFETY: `nd` is our live placeholder (this function's contract).
    let (dev, _nd) = unsafe { dev_of(nd) };
    let name = dev.impl_name();
    // SAFETY: `imp` is writable for `imp_len` bytes (this function's contract).
    unsafe { copy_cstr(imp, imp_len, name) };
    let mut buf = [0u8; 16];
    let s = dev.pci_text(&mut buf);
    // SAFETY: `bus` is writable for `bus_len` bytes (this function's contract).
    unsafe { copy_cstr(bus, bus_len, s) };
}

/// The NIC's own counters `ethtool -S` shows after the device's (`stats::exported_name`).
const NIC_EXPORTED: [&str; 3] = ["tx_timeouts", "tx_stalls", "carrier_kept"];

/// ethtool `get_sset_count(ETH_SS_STATS)`: how many counters `ethtool -S` shows.
#[unsafe(no_mangle)]
extern "C" fn ndriver_nic_ethtool_count() -> c_int {
    (NR_EXPORTED + NIC_EXPORTED.len()) as c_int
}

/// ethtool `get_strings(ETH_SS_STATS)`: the name of counter `i` into `out` (`len`
/// bytes, NUL-terminated; empty for an index out of range).
///
/// # Safety
///
/// `out` is writable for `len` bytes.
#[unsafe(no_mangle)]
unsafe extern "C" fn ndriver_nic_ethtool_name(i: c_uint, out: *mut c_char, len: usize) {
    let i = i as usize;
    let (prefix, rest) = if i < NR_EXPORTED {
        exported_name(i).unwrap_or(("", ""))
    } else {
        ("", NIC_EXPORTED.get(i - NR_EXPORTED).copied().unwrap_or(""))
    };
    // The prefix, then the rest after it (truncated together to `len`).
    let p = prefix.len().min(len.saturating_sub(1));
    // SAFETY: `out` is writable for `len` bytes (this function's contract); the rest goes
    // to the `len - p` bytes after the `p` bytes of prefix.
    unsafe {
        copy_cstr(out, len, prefix);
        copy_cstr(out.add(p), len - p, rest);
    }
}

/// ethtool `get_ethtool_stats`: the values, in `ndriver_nic_ethtool_name`'s order, into
/// `out` (`n` of them).
///
/// # Safety
///
/// `nd` is a placeholder of a live `NicDev` (made by [`NetDevBox::alloc`] in `create`), as the
/// kernel passes it to the operations `wrappers/netdevice.c` registers.
/// `out` is writable for `n` `u64`.
#[unsafe(no_mangle)]
unsafe extern "C" fn ndriver_nic_ethtool_values(
    nd: *mut bindings::net_device,
    out: *mut u64,
    n: usize,
) {
    // SAFETY: `nd` is our live placeholder (this function's contract).
    let (dev, _nd) = unsafe { dev_of(nd) };
    let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let net = &dev.class.net;
    let nic = [l(&net.tx_timeouts), l(&net.tx_stalls), l(&net.carrier_kept)];
    for i in 0..n {
        let v = if i < NR_EXPORTED {
            dev.counters.exported_value(i).unwrap_or(0)
        } else {
            nic.get(i - NR_EXPORTED).copied().unwrap_or(0)
        };
        // SAFETY: `out` is writable for `n` `u64` (this function's contract), and `i < n`.
        unsafe { *out.add(i) = v };
    }
}
