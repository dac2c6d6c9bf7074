// SPDX-License-Identifier: GPL-2.0

//! The placeholder's `net_device_ops` and NAPI poll (the tables are in
//! `wrappers/netdevice.c`): each admits the serving instance and calls its entry point
//! under the guard. Part of `nic.rs`.

use super::*;

/// `ndo_open`: NAPI on, then `open` (logged as `up`), then the queue.
///
/// # Safety
///
/// `nd` is a placeholder of a live `NicDev` (made by [`NetDevBox::alloc`] in `create`), as the
/// kernel passes it to the operations `wrappers/netdevice.c` registers.
#[unsafe(no_mangle)]
unsafe extern "C" fn ndriver_nic_ndo_open(nd: *mut bindings::net_device) -> c_int {
    // SAFETY: `nd` is our live placeholder (this function's contract).
    let (dev, nd) = unsafe { dev_of(nd) };
    if dev.pci_dev().is_null() {
        return ENODEV.to_errno();
    }
    let this = dev.arc();
    let napi = nd.napi();
    // The kernel opens only a device that is down, whose context is disabled:
    // `netif_napi_add` left it so, and whatever `ndo_open` enabled was disabled again, below
    // on failure or by the `ndo_stop` that brought the device down.
    // SAFETY: under the RTNL lock (no instance lock), the context disabled (above); only
    // `ndo_open` and `ndo_stop` enable or disable it, both under the RTNL lock.
    unsafe { napi.enable() };
    dev.class.up.store(true, Ordering::Release);
    if let Err(e) = this.configure(NIC_KEY_UP, 1) {
        dev.class.up.store(false, Ordering::Release);
        // SAFETY: enabled just above, and still under the RTNL lock, in process context
        // without the instance lock.
        unsafe { napi.disable() };
        return e.to_errno();
    }
    dev.class.snapshot_filter(nd);
    nd.wake_queue();
    0
}

/// `ndo_stop`: queue and NAPI off (so no poll runs while the driver gives its rings
/// back), `stop` (logged as down), carrier off.
///
/// # Safety
///
/// `nd` is a placeholder of a live `NicDev` (made by [`NetDevBox::alloc`] in `create`), as the
/// kernel passes it to the operations `wrappers/netdevice.c` registers.
#[unsafe(no_mangle)]
unsafe extern "C" fn ndriver_nic_ndo_stop(nd: *mut bindings::net_device) -> c_int {
    // SAFETY: `nd` is our live placeholder (this function's contract).
    let (dev, nd) = unsafe { dev_of(nd) };
    nd.stop_queue();
    dev.class.up.store(false, Ordering::Release);
    // The kernel stops only a device a successful `ndo_open` brought up, which enabled it.
    // SAFETY: under the RTNL lock (no instance lock), the context enabled (above); only
    // `ndo_open` and `ndo_stop` enable or disable it, both under the RTNL lock.
    unsafe { nd.napi().disable() };
    let this = dev.arc();
    if this.configure(NIC_KEY_UP, 0).is_err() {
        // No instance could stop: log it down anyway, undo takes the rest.
        let _ = dev.log_config(NIC_KEY_UP, 0);
    }
    // When unregistering closes the device itself, it does so before it marks the device
    // unregistering.
    // SAFETY: `ndo_stop` runs only on a registered device, under the RTNL lock, which
    // unregistering takes too: the placeholder stays registered until this returns.
    unsafe { nd.set_carrier(false) };
    0
}

/// `ndo_start_xmit`: the skb is put in a form the serving implementation takes (cut
/// into segments here if it is a GSO skb the implementation cannot segment), lent under
/// a token, then the driver gets the token and the frame's pieces.
///
/// # Safety
///
/// `nd` is a placeholder of a live `NicDev` (made by [`NetDevBox::alloc`] in `create`), as the
/// kernel passes it to the operations `wrappers/netdevice.c` registers.
/// `skb` is a live skb the stack hands over for transmission.
#[unsafe(no_mangle)]
unsafe extern "C" fn ndriver_nic_ndo_start_xmit(
    skb: *mut c_void,
    nd: *mut bindings::net_device,
) -> c_int {
    // SAFETY: `nd` is our live placeholder (this function's contract).
    let (dev, nd) = unsafe { dev_of(nd) };
    // SAFETY: the stack hands us a live skb on no list; ours unless we return
    // `NETDEV_TX_BUSY` (then `give_back`).
    let Some(mut skb) = (unsafe { Skb::from_raw(skb) }) else {
        return NETDEV_TX_OK;
    };
    // Whether the stack left segmentation to the device (its headers pulled), which no
    // instance changes.
    let tso = skb.tso();
    if matches!(tso, Ok(Some(_))) {
        crate::race::point(crate::race::NIC_XMIT_GSO, dev.owner_tag());
    }
    let Some(a) = dev.admit() else {
        // Between instances: hold the queue until the new one serves (`redirected`
        // wakes it). Re-check after stopping, in case it started serving meanwhile.
        nd.stop_queue();
        if dev.admit().is_some() {
            nd.wake_queue();
        }
        dev.class.net.tx_busy.fetch_add(1, Ordering::Relaxed);
        skb.give_back();
        return NETDEV_TX_BUSY;
    };
    let t = a.ops();
    let n = &dev.class.net;
    // A queue stopped meanwhile (a race: the stack does not call a stopped queue) gets
    // nothing more until it wakes: then this skb is the last, as C drivers take it.
    // SAFETY: this is `ndo_start_xmit`, called by the stack with bottom halves off.
    let more = unsafe { xmit_more() } && !nd.xmit_stopped();
    let gso = match tso {
        Ok(None) => None,
        Ok(Some(g)) if takes_tso(t, &skb) => Some(g),
        // A GSO skb the instance cannot segment (checked by the stack against an
        // earlier instance, or of a kind no device segments): cut here.
        Ok(Some(_)) => return xmit_segments(dev, nd, a, skb, more),
        Err(e) if e == EPROTONOSUPPORT => return xmit_segments(dev, nd, a, skb, more),
        Err(_) => {
            // No memory to pull its headers: dropped (freed here).
            n.tx_unfit.fetch_add(1, Ordering::Relaxed);
            return NETDEV_TX_OK;
        }
    };
    match xmit_one(dev, nd, a, skb, more, gso) {
        Xmitted::Done(_) | Xmitted::Failed => NETDEV_TX_OK,
        Xmitted::Busy(skb) => {
            n.tx_busy.fetch_add(1, Ordering::Relaxed);
            skb.give_back();
            NETDEV_TX_BUSY
        }
    }
}

/// Whether the instance with operation table `t` segments `skb`, a TCP over IPv4 GSO
/// skb, itself: it has TSO and scatter-gather, and its device reaches the checksum.
fn takes_tso(t: &NicOps, skb: &Skb) -> bool {
    t.features & NIC_F_TSO != 0
        && t.features & NIC_F_SG != 0
        && skb.csum_at().is_some_and(|(_, at)| reaches(t, at))
}

/// The farthest a checksum's place can be passed (`Skb::csum_at` gives 0xffff for one
/// beyond).
const CSUM_AT_MAX: u32 = 0xfffe;

/// Whether the device of the implementation with operation table `t` stores a checksum
/// at frame offset `at` (a reach of 0: no checksum offload at all).
fn reaches(t: &NicOps, at: u16) -> bool {
    reach_covers(t.csum_reach, at)
}

/// Whether a device of checksum reach `reach` stores a checksum at frame offset `at`.
fn reach_covers(reach: u32, at: u16) -> bool {
    reach != 0 && u32::from(at) <= reach.min(CSUM_AT_MAX)
}

/// What became of a frame handed to the serving instance.
enum Xmitted<'a> {
    /// Queued, or gone for good (dropped, or reported done): the admission, for a
    /// frame that follows.
    Done(Admitted<'a, Nic>),
    /// Not taken (ring or transmit slots full; the queue is stopped): the skb, to give
    /// back to the stack.
    Busy(Skb),
    /// The instance failed or stalled, and is being replaced: the skb stays lent to it
    /// (sent again on the next instance), unless it was reported done.
    Failed,
}

/// Hands `skb` to the instance `a` admits: put in a form it takes, lent under a token,
/// then its `start_xmit`, with `more` ([`XMIT_MORE`]) and, for a GSO skb it segments
/// itself, `gso` ([`XMIT_TSO`]'s argument).
fn xmit_one<'a>(
    dev: &'a NicDev,
    nd: &NetDev,
    a: Admitted<'a, Nic>,
    mut skb: Skb,
    more: bool,
    gso: Option<u32>,
) -> Xmitted<'a> {
    let t = a.ops();
    let mut pieces = [TxPiece {
        data: core::ptr::null(),
        len: 0,
        _pad: 0,
    }; TX_PIECES_MAX];
    let Some((count, csum)) = fit_for(dev, &mut skb, t, &mut pieces) else {
        // No memory to put it in a form the instance takes: dropped (freed here).
        dev.class.net.tx_unfit.fetch_add(1, Ordering::Relaxed);
        return Xmitted::Done(a);
    };
    if gso.is_some() && csum.is_none() {
        // Segmentation needs the checksum's place (`takes_tso` checked it is in reach):
        // never expected, and never sent as one oversized frame. Dropped.
        dev.class.net.tx_unfit.fetch_add(1, Ordering::Relaxed);
        return Xmitted::Done(a);
    }
    // The frame stays readable for the whole call, even if the driver reports it done
    // (and so frees the skb) before it returns.
    let hold = skb.hold();
    let gen = a.inst.generation;
    let token = match dev.class.tx.lend(skb, gen) {
        Ok(token) => token,
        Err(skb) => {
            // Every slot lent: the driver sits on more transmits than any ring holds.
            nd.stop_queue();
            return Xmitted::Busy(skb);
        }
    };
    let h = a.handle();
    let f = t.start_xmit;
    // The driver sees the token, never the skb.
    let tp = token as usize as *mut c_void;
    let flags = if more { XMIT_MORE } else { 0 }
        | if csum.is_some() { XMIT_CSUM } else { 0 }
        | if gso.is_some() { XMIT_TSO } else { 0 };
    let at = csum.map_or(0, |(start, at)| u32::from(start) | (u32::from(at) << 16));
    let g = gso.unwrap_or(0);
    let pp = pieces.as_ptr();
    // SAFETY: `h` is the live instance `f` belongs to; the `count` pieces at `pp` stay
    // readable until the call returns (`hold`), whatever the driver reports meanwhile,
    // and `pieces` outlives the call.
    let r = dev.guarded_entry(START_XMIT, || unsafe { f(h, tp, pp, count, flags, at, g) }
        as i64);
    drop(hold);
    match r {
        Ok(0) => {
            // Counted once taken (a frame turned back is handed over again).
            let n = &dev.class.net;
            if count > 1 {
                n.tx_pieced.fetch_add(1, Ordering::Relaxed);
            }
            if csum.is_some() {
                n.tx_csum_offloaded.fetch_add(1, Ordering::Relaxed);
            }
            if gso.is_some() {
                n.tx_tso.fetch_add(1, Ordering::Relaxed);
            }
            // After the driver's call, which may have reaped what the device sent.
            if dev.class.tx.stalled(gen, now_ns(), TX_STALL_NS) {
                // The device sends nothing: this skb stays lent with the others and goes
                // out again on the next instance.
                dev.class.net.tx_stalls.fetch_add(1, Ordering::Relaxed);
                pr_warn!(
                    "{}: transmit stalled: oldest frame waits over {} ms: recovering the device\n",
                    dev.name,
                    TX_STALL_NS / 1_000_000
                );
                nd.stop_queue();
                tx_hung(dev, a);
                return Xmitted::Failed;
            }
            Xmitted::Done(a)
        }
        Ok(_) => {
            // Ring full: the driver did not take it. Unless it reported it done all
            // the same: then it is gone, and the stack must not get it back.
            match dev.class.tx.take(token, gen) {
                Ok(skb) => Xmitted::Busy(skb),
                Err(_) => Xmitted::Done(a),
            }
        }
        Err(fail) => {
            // The skb stays unfinished and goes out again on the next instance, unless
            // the driver reported it done (then it was dropped, and is gone).
            nd.stop_queue();
            dev.fail_async(a, START_XMIT, fail);
            Xmitted::Failed
        }
    }
}

/// Cuts `skb`, a GSO skb the instance `a` admits cannot segment, into segments in
/// software and hands them over in order. A segment the instance does not take ends
/// the run: it and the rest are dropped (TCP sends them again), as are all of them if
/// they could not be cut (no memory).
fn xmit_segments(dev: &NicDev, nd: &NetDev, a: Admitted<'_, Nic>, skb: Skb, more: bool) -> c_int {
    let n = &dev.class.net;
    let t = a.ops();
    let segs = match skb.segment(nd, t.features & NIC_F_SG != 0, t.csum_reach != 0) {
        Ok(segs) => segs,
        Err(skb) => {
            drop(skb);
            n.tx_unfit.fetch_add(1, Ordering::Relaxed);
            return NETDEV_TX_OK;
        }
    };
    n.tx_segmented.fetch_add(1, Ordering::Relaxed);
    let mut segs = segs.peekable();
    let mut a = a;
    while let Some(seg) = segs.next() {
        let last = segs.peek().is_none();
        // As for a batch the stack passes: more follow, unless the queue stopped.
        let more = (more || !last) && !nd.xmit_stopped();
        match xmit_one(dev, nd, a, seg, more, None) {
            Xmitted::Done(adm) => a = adm,
            Xmitted::Busy(seg) => {
                drop(seg);
                n.tx_unfit.fetch_add(1, Ordering::Relaxed);
                break;
            }
            Xmitted::Failed => break,
        }
    }
    // What is left is dropped with `segs`.
    let left = segs.count() as u64;
    n.tx_unfit.fetch_add(left, Ordering::Relaxed);
    NETDEV_TX_OK
}

/// Puts `skb` in a form the instance with operation table `t` takes: in one piece for
/// an implementation without scatter-gather, its checksum computed here when the
/// device cannot (the stack's `ndo_features_check` did the same for this skb, unless
/// the instance it checked against was replaced since). Writes the pieces to `pieces`:
/// their count, and where the device computes the checksum, if it does. `None` if the
/// skb could not be changed so (no memory): it is then to be dropped.
fn fit_for(
    dev: &NicDev,
    skb: &mut Skb,
    t: &NicOps,
    pieces: &mut [TxPiece; TX_PIECES_MAX],
) -> Option<(u32, Option<(u16, u16)>)> {
    let n = &dev.class.net;
    let csum = skb.csum_at();
    let csum = match csum {
        Some((_, at)) if !reaches(t, at) => {
            skb.checksum_help().ok()?;
            n.tx_csum_software.fetch_add(1, Ordering::Relaxed);
            None
        }
        c => c,
    };
    let sg = t.features & NIC_F_SG != 0;
    if !sg && !skb.linear() {
        skb.linearize().ok()?;
        n.tx_linearized.fetch_add(1, Ordering::Relaxed);
    }
    let count = match skb.pieces(pieces) {
        Some(c) => c,
        None => {
            // More pieces than the table holds, or pieces not readable by address.
            skb.linearize().ok()?;
            n.tx_linearized.fetch_add(1, Ordering::Relaxed);
            skb.pieces(pieces)?
        }
    };
    // A frame of no bytes has no piece: nothing a device could send.
    if count == 0 {
        return None;
    }
    Some((count as u32, csum))
}

/// [`ndriver_nic_tx_allows`]' answer: the serving implementation sends frames in
/// pieces (`NDRIVER_TX_SG` of `wrappers/net_helpers.h`) ...
const TX_ALLOWS_SG: c_uint = 1;
/// ... segments TCP over IPv4 itself (`NDRIVER_TX_TSO`) ...
const TX_ALLOWS_TSO: c_uint = 2;
/// ... and its device stores a checksum at the offset asked (`NDRIVER_TX_CSUM`).
const TX_ALLOWS_CSUM: c_uint = 4;

/// What the serving implementation takes of the skb the stack is about to hand over
/// (`ndo_features_check`), as `TX_ALLOWS_*` bits; `csum_at`: where its checksum goes
/// (0xffff for beyond any reach; ignored for an skb that needs none).
///
/// # Safety
///
/// `nd` is a placeholder of a live `NicDev`, as the kernel passes it to its operations.
#[unsafe(no_mangle)]
unsafe extern "C" fn ndriver_nic_tx_allows(
    nd: *mut bindings::net_device,
    csum_at: c_uint,
) -> c_uint {
    // SAFETY: `nd` is our live placeholder (this function's contract).
    let (dev, _) = unsafe { dev_of(nd) };
    let (f, reach) = dev.class.tx_offloads();
    let csum = u16::try_from(csum_at).is_ok_and(|at| reach_covers(reach, at));
    let sg = f & NIC_F_SG != 0;
    let tso = sg && f & NIC_F_TSO != 0 && reach != 0;
    (if sg { TX_ALLOWS_SG } else { 0 })
        | (if tso { TX_ALLOWS_TSO } else { 0 })
        | (if csum { TX_ALLOWS_CSUM } else { 0 })
}

/// `ndo_set_rx_mode` (atomic, under the address lock): snapshot, then program.
///
/// # Safety
///
/// `nd` is a placeholder of a live `NicDev` (made by [`NetDevBox::alloc`] in `create`), as the
/// kernel passes it to the operations `wrappers/netdevice.c` registers.
#[unsafe(no_mangle)]
unsafe extern "C" fn ndriver_nic_ndo_set_rx_mode(nd: *mut bindings::net_device) {
    // SAFETY: `nd` is our live placeholder (this function's contract).
    let (dev, nd) = unsafe { dev_of(nd) };
    // SAFETY: the kernel calls `ndo_set_rx_mode` under the address lock.
    unsafe { dev.class.snapshot_filter_locked(nd) };
    let Some(a) = dev.admit() else {
        // Replayed when the next instance starts: after its configuration (cold), or
        // once it serves (warm, which replays nothing: `Nic::redirected`).
        dev.class.filter_missed.store(true, Ordering::Release);
        return;
    };
    let h = a.handle();
    let f = a.ops().set_rx_mode;
    // SAFETY: `h` is the live instance `f` belongs to.
    if let Err(fail) = dev.guarded_entry(SET_RX_MODE, || unsafe { f(h) } as i64) {
        dev.fail_async(a, SET_RX_MODE, fail);
    }
}

/// `ndo_set_mac_address` (the address is valid): the placeholder takes it, then
/// `set_mac_address` (logged); a refusal puts the old one back.
///
/// # Safety
///
/// `nd` is a placeholder of a live `NicDev` (made by [`NetDevBox::alloc`] in `create`), as the
/// kernel passes it to the operations `wrappers/netdevice.c` registers.
/// `mac` points to a 6-byte Ethernet address.
#[unsafe(no_mangle)]
unsafe extern "C" fn ndriver_nic_ndo_set_mac(
    nd: *mut bindings::net_device,
    mac: *const u8,
) -> c_int {
    // SAFETY: `nd` is our live placeholder (this function's contract).
    let (dev, nd) = unsafe { dev_of(nd) };
    let mut b = [0u8; 8];
    // SAFETY: `mac` points to a 6-byte Ethernet address (this function's contract).
    unsafe { core::ptr::copy_nonoverlapping(mac, b.as_mut_ptr(), 6) };
    let v = u64::from_le_bytes(b);
    let old = nd.addr();
    // SAFETY: the kernel calls `ndo_set_mac_address` under the RTNL lock.
    unsafe { nd.set_addr(v) };
    let this = dev.arc();
    match this.configure(NIC_KEY_MAC, v) {
        Err(e) if e != ENODEV => {
            // SAFETY: still inside `ndo_set_mac_address`, under the RTNL lock.
            unsafe { nd.set_addr(old) };
            e.to_errno()
        }
        // No instance: the address is logged and programmed by the next one.
        _ => {
            let _ = dev.log_config(NIC_KEY_MAC, v);
            0
        }
    }
}

/// `ndo_change_mtu`: `change_mtu`, logged.
///
/// # Safety
///
/// `nd` is a placeholder of a live `NicDev` (made by [`NetDevBox::alloc`] in `create`), as the
/// kernel passes it to the operations `wrappers/netdevice.c` registers.
#[unsafe(no_mangle)]
unsafe extern "C" fn ndriver_nic_ndo_change_mtu(
    nd: *mut bindings::net_device,
    mtu: c_int,
) -> c_int {
    // SAFETY: `nd` is our live placeholder (this function's contract).
    let (dev, nd) = unsafe { dev_of(nd) };
    // The kernel checked `max_mtu`, which a swap may have lowered since (`replay`).
    if mtu < 0 || mtu as u32 > dev.class.max_mtu.load(Ordering::Relaxed) {
        return EINVAL.to_errno();
    }
    let this = dev.arc();
    match this.configure(NIC_KEY_MTU, mtu as u64) {
        Err(e) if e != ENODEV => e.to_errno(),
        _ => {
            let _ = dev.log_config(NIC_KEY_MTU, mtu as u64);
            // SAFETY: the kernel calls `ndo_change_mtu` under the RTNL lock.
            unsafe { nd.set_mtu(mtu as u32) };
            0
        }
    }
}

/// `ndo_tx_timeout`: the device hangs. The driver hears of it, then the instance is
/// replaced as after any failure.
///
/// # Safety
///
/// `nd` is a placeholder of a live `NicDev` (made by [`NetDevBox::alloc`] in `create`), as the
/// kernel passes it to the operations `wrappers/netdevice.c` registers.
#[unsafe(no_mangle)]
unsafe extern "C" fn ndriver_nic_ndo_tx_timeout(nd: *mut bindings::net_device, _txqueue: c_uint) {
    // SAFETY: `nd` is our live placeholder (this function's contract).
    let (dev, _nd) = unsafe { dev_of(nd) };
    dev.class.net.tx_timeouts.fetch_add(1, Ordering::Relaxed);
    if let Some(a) = dev.admit() {
        tx_hung(dev, a);
    }
}

/// Transmit hangs on the admitted instance: the driver hears of it (`tx_timeout`),
/// then the instance is replaced as after any failure.
fn tx_hung(dev: &NicDev, a: Admitted<'_, Nic>) {
    let h = a.handle();
    let f = a.ops().tx_timeout;
    // SAFETY: `h` is the live instance `f` belongs to.
    let fail = match dev.guarded_entry(TX_TIMEOUT, || unsafe { f(h) } as i64) {
        Err(fail) => fail,
        // The driver is fine, its device is not.
        Ok(_) => dev.device_hang(TX_TIMEOUT),
    };
    dev.fail_async(a, TX_TIMEOUT, fail);
}

/// `ndo_get_stats64`: the placeholder's counters plus the driver's hardware counters.
///
/// # Safety
///
/// `nd` is a placeholder of a live `NicDev` (made by [`NetDevBox::alloc`] in `create`), as the
/// kernel passes it to the operations `wrappers/netdevice.c` registers.
/// `v` is writable for 8 `u64`.
#[unsafe(no_mangle)]
unsafe extern "C" fn ndriver_nic_ndo_get_stats64(nd: *mut bindings::net_device, v: *mut u64) {
    // SAFETY: `nd` is our live placeholder (this function's contract).
    let (dev, _nd) = unsafe { dev_of(nd) };
    let n = &dev.class.net;
    if let Some(a) = dev.admit() {
        let mut hw = NicHwStats::default();
        let hp = &raw mut hw;
        let h = a.handle();
        let f = a.ops().get_stats64;
        // SAFETY: `h` is the live instance `f` belongs to; `hp` is a local the call
        // fills (an abandoned call leaves it as it was).
        match dev.guarded_entry(GET_STATS, || unsafe { f(h, hp) } as i64) {
            Ok(_) => {
                n.rx_missed.fetch_add(hw.rx_missed, Ordering::Relaxed);
                n.rx_errors.fetch_add(hw.rx_errors, Ordering::Relaxed);
                n.tx_errors.fetch_add(hw.tx_errors, Ordering::Relaxed);
            }
            Err(fail) => dev.fail_async(a, GET_STATS, fail),
        }
    }
    let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let vals = [
        l(&n.rx_packets),
        l(&n.rx_bytes),
        l(&n.tx_packets),
        l(&n.tx_bytes),
        l(&n.rx_missed),
        l(&n.rx_errors),
        l(&n.tx_errors),
        l(&n.rx_dropped) + l(&n.rx_lost),
    ];
    for (i, x) in vals.iter().enumerate() {
        // SAFETY: `v` is writable for 8 `u64` (this function's contract), and `i < 8`.
        unsafe { *v.add(i) = *x };
    }
}

/// The NAPI poll: the driver's `poll` under the guard. A poll that cannot reach an
/// instance, or whose instance failed, completes NAPI itself.
///
/// # Safety
///
/// `napi` is the NAPI context of a placeholder of a live `NicDev`, as the kernel passes
/// it to the poll function `wrappers/netdevice.c` registered.
#[unsafe(no_mangle)]
unsafe extern "C" fn ndriver_nic_napi_poll(
    napi: *mut bindings::napi_struct,
    budget: c_int,
) -> c_int {
    // SAFETY: `napi` is the NAPI context of a placeholder of a live `NicDev` (this function's
    // contract), which frees it only when it is freed itself.
    let n = unsafe { Napi::from_raw(napi) };
    // SAFETY: the owner of our placeholder is the `NicDev` given to `NetDevBox::alloc` in
    // `create`, live (this function's contract).
    let dev = unsafe { &*n.owner().cast::<NicDev>() };
    let Some(a) = dev.admit() else {
        // SAFETY: this context's poll, in its own context, completing once and returning 0.
        unsafe { n.complete(0) };
        return 0;
    };
    dev.class.napi_done.store(false, Ordering::Relaxed);
    let h = a.handle();
    let f = a.ops().poll;
    // The NAPI callouts are the driver's `poll`'s alone (`in_poll`).
    dev.class.poll_owner.store(poll_mark(), Ordering::Relaxed);
    let inst = a.inst;
    let r = dev.guarded_entry_checked(
        POLL,
        // SAFETY: `h` is the live instance `f` belongs to.
        || unsafe { f(h, budget) },
        |work| {
            // More frames than the budget allowed: the driver's count is not to be
            // trusted, and NAPI's accounting would be off.
            if work > i64::from(budget) {
                inst.misuse(format_args!(
                    "poll reported {} frames of a budget of {}",
                    work, budget
                ));
            }
        },
    );
    dev.class.poll_owner.store(0, Ordering::Relaxed);
    // Whether the driver completed (`napi_complete`): then the context is not ours.
    let done = dev.class.napi_done.load(Ordering::Relaxed);
    match r {
        Ok(work) => {
            // Checked against the budget in the call (else a misuse, an `Err`).
            let work = (work as c_int).min(budget);
            if done {
                // Less than the budget: the kernel takes a poll that used all of it for one
                // that still owns the context.
                return if budget > 0 {
                    work.min(budget - 1)
                } else {
                    work
                };
            }
            if work < budget {
                // SAFETY: this context's poll, in its own context, not completed by the
                // driver (`done`), completing once and returning `work`, less than its
                // budget.
                unsafe { n.complete(work) };
            }
            work
        }
        Err(fail) => {
            if !done {
                // SAFETY: this context's poll, in its own context, not completed by the
                // driver (`done`), completing once and returning 0.
                unsafe { n.complete(0) };
            }
            dev.fail_async(a, POLL, fail);
            0
        }
    }
}
