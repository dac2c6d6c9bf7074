// SPDX-License-Identifier: GPL-2.0

//! Which instructions `skip_insn` (`site.rs`) must not skip, decided from their bytes.
//! Free of kernel types: the host tests compile it.

/// Whether `skip_insn` must leave the instruction `bytes` alone: it changes the stack
/// pointer (a push or pop, a return, `enter`/`leave`, `iret`, a write to `rsp`: `sub
/// $n,%rsp`, `add`, `and`, `inc`, `mov`, `lea`, `imul`, `movzx`, `cmov`, `xchg` into it),
/// or it is an unconditional jump or `ud2`, after which the code that follows need not
/// expect the stack as it is (a tail call after its epilogue, another block).
///
/// Skipped, such an instruction leaves the stack off by the words it would have pushed
/// or popped, every later return goes astray, and the context can leave the guarded
/// call's stack before anything traps, where no guard frame covers it (seen: `sub
/// $0x18,%rsp` in a prologue skipped, a return into the stack, an oops in softirq).
/// That is a corrupted stack pointer, outside the fault model like `rsp` for the other
/// corruptions. A call may be skipped: the callee would have popped its own return
/// address, so `rsp` is where the next instruction expects it.
pub(crate) fn skip_unsafe(bytes: &[u8]) -> bool {
    let at = |i: usize| bytes.get(i).copied();
    let mut i = 0;
    // Legacy prefixes (operand and address size, segments, lock, rep).
    while let Some(0x66 | 0x67 | 0xf2 | 0xf3 | 0x26 | 0x2e | 0x36 | 0x3e | 0x64 | 0x65 | 0xf0) =
        at(i)
    {
        i += 1;
    }
    let rex = match at(i) {
        Some(b @ 0x40..=0x4f) => {
            i += 1;
            b
        }
        _ => 0,
    };
    let (rex_r, rex_b) = (rex & 0x4 != 0, rex & 0x1 != 0);
    let Some(op) = at(i) else {
        // Nothing decoded (a kprobe on an ftrace site has no length): refuse.
        return true;
    };
    let modrm = at(i + 1);
    // `rsp` as the ModRM r/m operand (a register, not memory), or as its reg operand.
    let rm_is_rsp = modrm.is_some_and(|m| m >> 6 == 3 && m & 7 == 4 && !rex_b);
    let reg_is_rsp = modrm.is_some_and(|m| (m >> 3) & 7 == 4 && !rex_r);
    let reg = modrm.map_or(0, |m| (m >> 3) & 7);
    match op {
        // push/pop of a register, push of an immediate, pop to r/m, pushf/popf,
        // enter/leave, returns, iret; jumps (short, near).
        0x50..=0x5f
        | 0x68
        | 0x6a
        | 0x8f
        | 0x9c
        | 0x9d
        | 0xc2
        | 0xc3
        | 0xc8
        | 0xc9
        | 0xca
        | 0xcb
        | 0xcf
        | 0xe9
        | 0xeb => true,
        // inc/dec of rsp, indirect jumps (near, far), push of r/m.
        0xff => matches!(reg, 4..=6) || (reg <= 1 && rm_is_rsp),
        0x0f => match at(i + 1) {
            // push/pop fs, gs; ud2.
            Some(0xa0 | 0xa1 | 0xa8 | 0xa9 | 0x0b) => true,
            // cmov, imul, movzx, movsx into rsp.
            Some(0x40..=0x4f | 0xaf | 0xb6 | 0xb7 | 0xbe | 0xbf) => {
                at(i + 2).is_some_and(|m| (m >> 3) & 7 == 4 && !rex_r)
            }
            // setcc into %spl.
            Some(0x90..=0x9f) => {
                rex != 0 && at(i + 2).is_some_and(|m| m >> 6 == 3 && m & 7 == 4 && !rex_b)
            }
            _ => false,
        },
        // ALU, shifts and mov with the r/m operand as destination.
        0x01 | 0x09 | 0x11 | 0x19 | 0x21 | 0x29 | 0x31 | 0x89 | 0xc7 | 0xd1 | 0xd3 | 0xc1 => {
            rm_is_rsp
        }
        // Immediate ALU to r/m: all but `cmp` write it.
        0x81 | 0x83 => rm_is_rsp && reg != 7,
        // Unary group: `test` does not write.
        0xf7 => rm_is_rsp && reg > 1,
        // ALU, mov, lea, movsxd and imul with the reg operand as destination.
        0x03 | 0x0b | 0x13 | 0x1b | 0x23 | 0x2b | 0x33 | 0x8b | 0x8d | 0x63 | 0x69 | 0x6b => {
            reg_is_rsp
        }
        // xchg writes both; 0x94 is xchg of rax with rsp.
        0x87 => rm_is_rsp || reg_is_rsp,
        0x94 => !rex_b,
        // mov of an immediate to a register (rsp is number 4).
        0xb8..=0xbf => op & 7 == 4 && !rex_b,
        // Byte operations: with a REX prefix register 4 is `%spl`, the low byte of rsp
        // (without one it is `%ah`). r/m as destination: ALU, mov, immediate forms.
        0x00 | 0x08 | 0x10 | 0x18 | 0x20 | 0x28 | 0x30 | 0x88 | 0xc6 | 0xc0 | 0xd0 | 0xd2 => {
            rex != 0 && rm_is_rsp
        }
        0x80 => rex != 0 && rm_is_rsp && reg != 7,
        0xf6 | 0xfe => rex != 0 && rm_is_rsp && reg > 1,
        // reg as destination.
        0x02 | 0x0a | 0x12 | 0x1a | 0x22 | 0x2a | 0x32 | 0x8a => rex != 0 && reg_is_rsp,
        0xb4 => rex != 0 && !rex_b,
        _ => false,
    }
}
