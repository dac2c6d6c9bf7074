// SPDX-License-Identifier: GPL-2.0

//! `site_insn.rs`: the instructions `skip_insn` must not skip. Encodings from GNU as.

use crate::site_insn::skip_unsafe;

#[test]
fn stack_pointer_changes_are_refused() {
    for (bytes, what) in [
        (&[0x48, 0x83, 0xec, 0x18][..], "sub $0x18,%rsp"),
        (&[0x48, 0x83, 0xc4, 0x18], "add $0x18,%rsp"),
        (&[0x53], "push %rbx"),
        (&[0x41, 0x5f], "pop %r15"),
        (&[0xc3], "ret"),
        (&[0xc9], "leave"),
        (&[0x48, 0x89, 0xec], "mov %rbp,%rsp"),
        (&[0x48, 0x8d, 0x65, 0xf0], "lea -0x10(%rbp),%rsp"),
        (&[0x48, 0x83, 0xe4, 0xf0], "and $-16,%rsp"),
        (&[0x48, 0x94], "xchg %rax,%rsp"),
        (&[0x48, 0xff, 0xc4], "inc %rsp"),
        (&[0x40, 0xb4, 0x01], "mov $0x1,%spl"),
        (&[0x40, 0x00, 0xc4], "add %al,%spl"),
        (&[0x48, 0x0f, 0x45, 0xe0], "cmovne %rax,%rsp"),
        (&[0x48, 0x6b, 0xe0, 0x03], "imul $0x3,%rax,%rsp"),
        (&[0x0f, 0xb6, 0xe0], "movzbl %al,%esp"),
        (&[0x40, 0x0f, 0x94, 0xc4], "sete %spl"),
    ] {
        assert!(skip_unsafe(bytes), "{what} must not be skipped");
    }
}

#[test]
fn jumps_are_refused_calls_are_not() {
    assert!(skip_unsafe(&[0xeb, 0x45]), "jmp rel8");
    assert!(skip_unsafe(&[0xff, 0xe0]), "jmp *%rax");
    assert!(skip_unsafe(&[0x0f, 0x0b]), "ud2");
    assert!(!skip_unsafe(&[0xe8, 0x47, 0, 0, 0]), "call rel32");
}

#[test]
fn other_instructions_may_be_skipped() {
    for (bytes, what) in [
        (
            &[0x48, 0x89, 0xe5][..],
            "mov %rsp,%rbp (frame-pointer setup: site.rs refuses it)",
        ),
        (&[0x4c, 0x89, 0xe3], "mov %r12,%rbx"),
        (&[0x48, 0x8b, 0x04, 0x24], "mov (%rsp),%rax"),
        (&[0x48, 0x89, 0x44, 0x24, 0x08], "mov %rax,0x8(%rsp)"),
        (&[0x48, 0x83, 0xfc, 0x10], "cmp $0x10,%rsp"),
        (&[0x48, 0x85, 0xe4], "test %rsp,%rsp"),
        (&[0x88, 0xe0], "mov %ah,%al"),
        (&[0x49, 0x83, 0xec, 0x18], "sub $0x18,%r12"),
        (&[0x90], "nop"),
    ] {
        assert!(!skip_unsafe(bytes), "{what} may be skipped");
    }
}

#[test]
fn nothing_decoded_is_refused() {
    assert!(skip_unsafe(&[]));
    assert!(skip_unsafe(&[0x66, 0x48]));
}
