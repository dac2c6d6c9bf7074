// SPDX-License-Identifier: GPL-2.0
/*
 * C shims for the guard runtime (guard.rs).
 *
 * Only things Rust cannot reach directly live here: static inline
 * accessors (preempt count, irq regs, irq flags), registration macros
 * (register_nmi_handler) and the die_args unpacking. No policy lives here;
 * every decision is taken by the Rust callbacks.
 */

#include <linux/delay.h>
#include <linux/hardirq.h>
#include <linux/kallsyms.h>
#include <linux/kstrtox.h>
#include <linux/irqflags.h>
#include <linux/kdebug.h>
#include <linux/notifier.h>
#include <linux/preempt.h>
#include <linux/rcupdate.h>
#include <linux/printk.h>
#if __has_include(<linux/printk_recursion.h>)
#include <linux/printk_recursion.h>
#endif
#include <linux/sched.h>
#include <linux/smp.h>
#include <asm/apic.h>
#include <asm/cpufeature.h>
#include <asm/irq_regs.h>
#include <asm/irq_vectors.h>
#include <asm/nmi.h>
#include <asm/special_insns.h>
#include <asm/trapnr.h>
#include <asm/traps.h>
#include <linux/io.h>
#include <linux/string.h>

#include "guard_helpers.h"

/* Bits of preempt_count() that tell which context (task/softirq/hardirq/NMI) runs. */
const unsigned int ndg_level_mask = NMI_MASK | HARDIRQ_MASK | SOFTIRQ_OFFSET;
/* What the NMI and hardirq entry code add to preempt_count(). */
const unsigned int ndg_nmi_offset = NMI_OFFSET + HARDIRQ_OFFSET;
const unsigned int ndg_hardirq_offset = HARDIRQ_OFFSET;
/* The hardirq nesting count's bits of preempt_count() (an NMI sets them too). */
const unsigned int ndg_hardirq_mask = HARDIRQ_MASK;
const unsigned int ndg_nmi_mask = NMI_MASK;
/* enum die_val values the guard reacts to. */
const unsigned long ndg_die_oops = DIE_OOPS;
const unsigned long ndg_die_trap = DIE_TRAP;
const unsigned long ndg_die_gpf = DIE_GPF;
const unsigned long ndg_die_page_fault = DIE_PAGE_FAULT;
const unsigned long ndg_die_debug = DIE_DEBUG;

/*
 * Whether a kernel stack overflow reaches the die notifiers in time: the kernel has
 * guard pages below its stacks (CONFIG_VMAP_STACK) and tells the notifiers about a hit
 * one before it panics (scripts/kernel/patches/0003, which defines the string).
 */
/*
 * Whether this CPU's local APIC has an interrupt in service. A double fault from a
 * context with interrupts on may be an interrupt whose delivery hit the guard page:
 * the APIC took the vector (in service until an EOI) and its handler never ran.
 */
bool ndg_apic_in_service(void)
{
#ifdef CONFIG_X86_LOCAL_APIC
	unsigned int i;
	bool x2apic;
	u64 base;

	if (!boot_cpu_has(X86_FEATURE_APIC))
		return false;
	rdmsrq(MSR_IA32_APICBASE, base);
	if (!(base & MSR_IA32_APICBASE_ENABLE))
		return false;
	x2apic = base & X2APIC_ENABLE;
	for (i = 0; i < APIC_ISR_NR; i++) {
		u32 reg = APIC_ISR + i * 0x10;
		u32 v;

#ifdef CONFIG_X86_X2APIC
		if (x2apic)
			v = native_apic_msr_read(reg);
		else
#endif
			v = native_apic_mem_read(reg);
		if (v)
			return true;
	}
#endif
	return false;
}

#if defined(CONFIG_VMAP_STACK) && defined(X86_STACK_GUARD_DIE_STR)
const bool ndg_stack_guard_known = true;

bool ndg_is_stack_guard_die(const char *str)
{
	return str && !strcmp(str, X86_STACK_GUARD_DIE_STR);
}
#else
const bool ndg_stack_guard_known = false;

bool ndg_is_stack_guard_die(const char *str)
{
	return false;
}
#endif

/*
 * Whether a wild access into a stack guard page (the stack pointer well above it: no
 * overflow) reaches the die notifiers as a page fault instead of ending in
 * handle_stack_overflow() (scripts/kernel/patches/0004, which defines the margin).
 */
#if defined(CONFIG_VMAP_STACK) && defined(X86_STACK_GUARD_WILD_MARGIN)
const bool ndg_stack_guard_wild_known = true;
#else
const bool ndg_stack_guard_wild_known = false;
#endif

/* What the notifier chain and nmi_handle() add to preempt_count(): their RCU read lock. */
unsigned int ndg_rcu_preempt_delta;

/*
 * Whether an abandoned call's printk() recursion depth can be given back
 * (scripts/kernel/patches/0005): else a fault inside printk(), contained, leaves
 * the depth raised, and past printk's limit of 3 the CPU's messages are dropped.
 */
#ifdef PRINTK_RECURSION_RESTORE
const bool ndg_printk_restorable = true;
#else
const bool ndg_printk_restorable = false;
#endif

/* The task's plug and page-fault-disable depth: state abandoned kernel code could hold. */
static void ndg_task_marks(struct ndg_marks *m)
{
	m->pagefault = current->pagefault_disabled;
#ifdef CONFIG_BLOCK
	m->plug = (unsigned long)current->plug;
#else
	m->plug = 0;
#endif
	m->printk_depth = 0;
}

/* Gives this CPU's printk() recursion depth back to @depth (a call was abandoned). */
void ndg_printk_depth_set(unsigned int depth)
{
#ifdef PRINTK_RECURSION_RESTORE
	printk_recursion_restore(depth);
#endif
}

void *ndg_context(unsigned int *pc, unsigned int *cpu, struct ndg_marks *m)
{
	*pc = preempt_count();
	*cpu = raw_smp_processor_id();
#ifdef CONFIG_LOCKDEP
	m->lockdep_depth = current->lockdep_depth;
#else
	m->lockdep_depth = 0;
#endif
	ndg_task_marks(m);
#ifdef PRINTK_RECURSION_RESTORE
	/*
	 * This CPU's printk() recursion depth (NMIs have a count of their own), given
	 * back if the call is abandoned. printk() counts a level only with interrupts
	 * off (between printk_enter_irqsave() and printk_exit_irqrestore()), so with
	 * them on no code on this CPU is inside it: the depth is 0, and is not read (a
	 * call and a preemption round trip on every guarded call). With them off the
	 * task cannot move to another CPU while it is read.
	 */
	if (irqs_disabled())
		m->printk_depth = printk_recursion_depth();
#endif
	return current;
}

/*
 * The preempt count and the marks of the context a die notifier runs for: without
 * the RCU read lock atomic_notifier_call_chain() holds around the notifiers.
 */
void ndg_chain_context(unsigned int *pc, struct ndg_marks *m)
{
	*pc = preempt_count() - ndg_rcu_preempt_delta;
#ifdef CONFIG_LOCKDEP
	m->lockdep_depth = current->lockdep_depth;
	/* In NMI context (a double fault) lockdep is off: the chain's lock is not listed. */
	if (!in_nmi() && m->lockdep_depth &&
	    current->held_locks[m->lockdep_depth - 1].instance == &rcu_lock_map)
		m->lockdep_depth--;
#else
	m->lockdep_depth = 0;
#endif
	ndg_task_marks(m);
}

/*
 * Whether preempt count @pc holds more than @entry_pc did: deeper disabled
 * preemption (a spinlock; an RCU read section on non-preemptible RCU), more disabled
 * bottom halves, more disabled hard interrupts. The context level bits are not
 * compared.
 */
bool ndg_holds_more(unsigned int pc, unsigned int entry_pc)
{
#define NDG_MORE(mask) ((pc & (mask)) > (entry_pc & (mask)))
	return NDG_MORE(PREEMPT_MASK) || NDG_MORE(SOFTIRQ_MASK & ~SOFTIRQ_OFFSET)
#ifdef HARDIRQ_DISABLE_MASK
		|| NDG_MORE(HARDIRQ_DISABLE_MASK)
#endif
		;
#undef NDG_MORE
}

/*
 * Makes lockdep forget the locks the current task took after it held @depth: those of an
 * abandoned guarded call, which never releases them (they live in the dead instance's
 * memory). Without this lockdep reports them as held at return to user space.
 */
void ndg_lockdep_unwind(unsigned int depth)
{
#ifdef CONFIG_LOCKDEP
	struct task_struct *curr = current;

	if (curr->lockdep_depth > depth) {
		curr->curr_chain_key = curr->held_locks[depth].prev_chain_key;
		curr->lockdep_depth = depth;
	}
#endif
}

unsigned int ndg_preempt_count(void)
{
	return preempt_count();
}

void ndg_preempt_count_set(unsigned int pc)
{
	preempt_count_set(pc);
}

unsigned int ndg_cpu(void)
{
	return raw_smp_processor_id();
}

void *ndg_current(void)
{
	return current;
}

/* The preempt count, CPU and task of the caller, in one call (own_frame()). */
unsigned int ndg_here(unsigned int *cpu, void **task)
{
	*cpu = raw_smp_processor_id();
	*task = current;
	return preempt_count();
}

struct pt_regs *ndg_irq_regs(void)
{
	return get_irq_regs();
}

void ndg_irq_disable(void)
{
	local_irq_disable();
}

void ndg_irq_restore(unsigned long flags)
{
	local_irq_restore(flags);
}

void ndg_send_nmi(unsigned int cpu)
{
	apic->send_IPI(cpu, NMI_VECTOR);
}

/* Whether @cpu is online: an offline CPU's watchdog does not tick and needs no kick. */
bool ndg_cpu_online(unsigned int cpu)
{
	return cpu_online(cpu);
}

void ndg_on_each_cpu(smp_call_func_t fn, void *info)
{
	on_each_cpu(fn, info, 1);
}

/* Whether the kernel runs under a hypervisor (esb.rs uses the i6300ESB only there). */
bool ndg_in_vm(void)
{
	return boot_cpu_has(X86_FEATURE_HYPERVISOR);
}

/*
 * Extent of the function containing @addr, from "name+off/size" (kallsyms_lookup_size_offset()
 * is not exported). Returns 0 on success.
 */
static int ndg_symbol_extent(unsigned long addr, unsigned long *start,
			     unsigned long *size)
{
	char buf[KSYM_SYMBOL_LEN];
	unsigned long off;
	char *plus, *slash;

	sprint_symbol(buf, addr);
	plus = strrchr(buf, '+');
	slash = strrchr(buf, '/');
	if (!plus || !slash || slash < plus)
		return -ENOENT;
	*slash = '\0';
	if (kstrtoul(plus + 1, 0, &off) || kstrtoul(slash + 1, 0, size))
		return -EINVAL;
	*start = addr - off;
	return 0;
}

/*
 * Kernel functions that only delay: a hung guarded call may be aborted while in them
 * (aborting elsewhere in the kernel could leave kernel state held). Not the spinlock slow
 * path: a waiter there owns part of the lock (pending bit, MCS node), see
 * wrappers/driver_lock.rs. Fills up to @max extents.
 */
unsigned int ndg_spin_functions(unsigned long *start, unsigned long *size,
				unsigned int max)
{
	unsigned long addrs[] = {
		(unsigned long)__udelay,
		(unsigned long)__const_udelay,
	};
	unsigned int i, n = 0;

	for (i = 0; i < ARRAY_SIZE(addrs) && n < max; i++)
		if (!ndg_symbol_extent(addrs[i], &start[n], &size[n]))
			n++;
	return n;
}

/*
 * The Rust panic handler ends every panic, a driver's too, in this BUG(); the I/O
 * accessors Rust drivers call for MMIO (readl()/writel() are static inline in C).
 * ndriver needs them out of line: CONFIG_RUST_INLINE_HELPERS=n.
 */
void rust_helper_BUG(void);
u8 rust_helper_readb(const void __iomem *addr);
u16 rust_helper_readw(const void __iomem *addr);
u32 rust_helper_readl(const void __iomem *addr);
u64 rust_helper_readq(const void __iomem *addr);
void rust_helper_writeb(u8 value, void __iomem *addr);
void rust_helper_writew(u16 value, void __iomem *addr);
void rust_helper_writel(u32 value, void __iomem *addr);
void rust_helper_writeq(u64 value, void __iomem *addr);
int rust_helper_spin_trylock_irq_disable(spinlock_t *lock);
void rust_helper_spin_unlock_irq_enable(spinlock_t *lock);

/*
 * Whether the function at @addr starts, after an optional endbr64, with something
 * other than a push or a stack allocation: then the word at the stack pointer of a
 * fault in its first access is still its return address. (Kernels with frame
 * pointers start every C function with push %rbp.)
 */
static bool ndg_pushes_nothing_first(unsigned long addr)
{
	const u8 *p = (const u8 *)addr;

	if (p[0] == 0xf3 && p[1] == 0x0f && p[2] == 0x1e && p[3] == 0xfa)
		p += 4;
	if (p[0] >= 0x50 && p[0] <= 0x57)		/* push %rax..%rdi */
		return false;
	if (p[0] == 0x41 && p[1] >= 0x50 && p[1] <= 0x57)	/* push %r8..%r15 */
		return false;
	if (p[0] == 0x48 && (p[1] == 0x83 || p[1] == 0x81) && p[2] == 0xec) /* sub $n,%rsp */
		return false;
	return true;
}

/*
 * Adds the extent of the function at @addr to @start/@size (at @n, below @max) and,
 * when the function right after it is named @next (the local memcpy_orig that
 * memcpy jumps to), that one too. Returns the new count.
 */
static unsigned int ndg_add_extent(unsigned long addr, const char *next,
				   unsigned long *start, unsigned long *size,
				   unsigned int n, unsigned int max)
{
	char buf[KSYM_SYMBOL_LEN];

	if (n >= max || ndg_symbol_extent(addr, &start[n], &size[n]) ||
	    !ndg_pushes_nothing_first(start[n]))
		return n;
	n++;
	if (!next || n >= max)
		return n;
	addr = start[n - 1] + size[n - 1];
	sprint_symbol(buf, addr);
	if (!strncmp(buf, next, strlen(next)) && buf[strlen(next)] == '+' &&
	    !ndg_symbol_extent(addr, &start[n], &size[n]) &&
	    ndg_pushes_nothing_first(start[n]))
		n++;
	return n;
}

/*
 * Leaf kernel functions that only move memory or access I/O for their caller and
 * push nothing on the stack before they do: a fault in one of them is its caller's,
 * whose return address is the word at the faulting stack pointer. Fills up to @max
 * extents.
 */
unsigned int ndg_shim_functions(unsigned long *start, unsigned long *size,
				unsigned int max)
{
	const struct {
		unsigned long addr;
		const char *next;
	} fns[] = {
		{ (unsigned long)memcpy, "memcpy_orig" },
		{ (unsigned long)memset, "memset_orig" },
		{ (unsigned long)memmove, NULL },
		{ (unsigned long)rust_helper_readb, NULL },
		{ (unsigned long)rust_helper_readw, NULL },
		{ (unsigned long)rust_helper_readl, NULL },
		{ (unsigned long)rust_helper_readq, NULL },
		{ (unsigned long)rust_helper_writeb, NULL },
		{ (unsigned long)rust_helper_writew, NULL },
		{ (unsigned long)rust_helper_writel, NULL },
		{ (unsigned long)rust_helper_writeq, NULL },
		{ (unsigned long)ioread8, NULL },
		{ (unsigned long)ioread16, NULL },
		{ (unsigned long)ioread32, NULL },
		{ (unsigned long)iowrite8, NULL },
		{ (unsigned long)iowrite16, NULL },
		{ (unsigned long)iowrite32, NULL },
	};
	unsigned int i, n = 0;

	for (i = 0; i < ARRAY_SIZE(fns); i++)
		n = ndg_add_extent(fns[i].addr, fns[i].next, start, size, n, max);
	return n;
}


/*
 * Extent of the code that raises every Rust panic's invalid opcode: a fault there
 * belongs to whoever panicked, not to core kernel code. Returns 0 on success.
 */
int ndg_rust_bug_extent(unsigned long *start, unsigned long *size)
{
	return ndg_symbol_extent((unsigned long)rust_helper_BUG, start, size);
}

/*
 * The report of a fault in core kernel code reached from a guarded call: what the
 * oops would have shown (fault, symbolised RIP, registers, stack), without the oops
 * machinery (which would turn lock debugging off for good).
 */
void ndg_report_kernel_fault(struct pt_regs *regs, const char *what,
			     const char *outcome, unsigned long err,
			     unsigned long trapnr)
{
	pr_emerg("ndriver: %s in kernel code at %pS called from a guarded call (%s)\n",
		 what, (void *)regs->ip, outcome);
	if (trapnr == X86_TRAP_PF)
		pr_emerg("ndriver: CR2: %016lx error_code: 0x%04lx\n", read_cr2(), err);
	else
		pr_emerg("ndriver: error_code: 0x%04lx\n", err);
	pr_emerg("ndriver: CPU: %d PID: %d Comm: %.20s\n", raw_smp_processor_id(),
		 task_pid_nr(current), current->comm);
	pr_emerg("ndriver: RIP: %04x:%pS\n", (unsigned int)(regs->cs & 0xffff), (void *)regs->ip);
	pr_emerg("ndriver: RSP: %04x:%016lx EFLAGS: %08lx\n", (unsigned int)(regs->ss & 0xffff),
		 regs->sp, regs->flags);
	pr_emerg("ndriver: RAX: %016lx RBX: %016lx RCX: %016lx\n", regs->ax,
		 regs->bx, regs->cx);
	pr_emerg("ndriver: RDX: %016lx RSI: %016lx RDI: %016lx\n", regs->dx,
		 regs->si, regs->di);
	pr_emerg("ndriver: RBP: %016lx R08: %016lx R09: %016lx\n", regs->bp,
		 regs->r8, regs->r9);
	pr_emerg("ndriver: R10: %016lx R11: %016lx R12: %016lx\n", regs->r10,
		 regs->r11, regs->r12);
	pr_emerg("ndriver: R13: %016lx R14: %016lx R15: %016lx\n", regs->r13,
		 regs->r14, regs->r15);
	/* The unwinder crosses the exception frame into the faulting context. */
	dump_stack_lvl(KERN_EMERG);
}

/* What the kernel does with a fault the guard leaves to it: one line, the oops follows. */
void ndg_note_kernel_fault(struct pt_regs *regs, const char *what,
			   const char *outcome)
{
	pr_emerg("ndriver: %s in kernel code at %pS called from a guarded call (%s)\n",
		 what, (void *)regs->ip, outcome);
}

static ndg_die_fn ndg_die_cb;
static ndg_nmi_fn ndg_nmi_cb;

static int ndg_die_notify(struct notifier_block *nb, unsigned long val,
			  void *data)
{
	struct die_args *args = data;

	return ndg_die_cb(val, args->regs, args->trapnr, args->err, args->str);
}

static struct notifier_block ndg_die_nb = {
	.notifier_call = ndg_die_notify,
	.priority = INT_MAX,
};

static int ndg_nmi_handler(unsigned int type, struct pt_regs *regs)
{
	return ndg_nmi_cb(regs);
}

int ndg_hooks_register(ndg_die_fn die_cb, ndg_nmi_fn nmi_cb)
{
	int ret;

	ndg_die_cb = die_cb;
	ndg_nmi_cb = nmi_cb;

	preempt_disable();
	{
		unsigned int pc = preempt_count();

		rcu_read_lock();
		ndg_rcu_preempt_delta = preempt_count() - pc;
		rcu_read_unlock();
	}
	preempt_enable();

	ret = register_nmi_handler(NMI_LOCAL, ndg_nmi_handler, 0,
				   "ndriver_guard");
	if (ret)
		return ret;

	ret = register_die_notifier(&ndg_die_nb);
	if (ret)
		unregister_nmi_handler(NMI_LOCAL, "ndriver_guard");
	return ret;
}

void ndg_hooks_unregister(void)
{
	unregister_die_notifier(&ndg_die_nb);
	unregister_nmi_handler(NMI_LOCAL, "ndriver_guard");
}

/*
 * The paths of DriverLock (wrappers/driver_lock.rs) into the kernel's lock code.
 *
 * Taking it: the Rust helper disables interrupts (local_interrupt_disable(), one
 * HARDIRQ_DISABLE_OFFSET), then calls the kernel's out-of-line try-lock, which disables
 * preemption (one PREEMPT_OFFSET) and then reads and compare-and-swaps the lock word. A
 * lock address corrupted after the driver checked it faults on that word with these two
 * counts raised and nothing else taken.
 *
 * Releasing it (the guard's drop): the Rust helper only jumps to
 * _raw_spin_unlock_irq_enable, whose first instruction stores to the lock word. A
 * corrupted address faults there with the driver's own lock still held, and with the
 * return address of the driver's call to the helper at the stack pointer.
 *
 * Each path is known only where the access is the function's own and comes first
 * (not inlined, not out of line under CONFIG_DEBUG_SPINLOCK, not preceded by KASAN's
 * check or lockdep's release), the function pushes nothing before it, and the helper is
 * called, not inlined into the driver (CONFIG_RUST_INLINE_HELPERS).
 */

/*
 * Fills @start/@size with the extent of the function that starts at @fn, if it pushes
 * nothing first (the word at the stack pointer of a fault in its first access is its
 * return address). Returns 0 or -EOPNOTSUPP.
 */
static int __maybe_unused ndg_lock_function(unsigned long fn, unsigned long *start,
					    unsigned long *size)
{
	if (ndg_symbol_extent(fn, start, size) || *start != fn || !ndg_pushes_nothing_first(fn))
		return -EOPNOTSUPP;
	return 0;
}

/*
 * The taking path: fills @start/@size with _raw_spin_trylock's extent and @helper_ret with
 * the return address of the helper's call to it. Returns 0 or an error.
 */
int ndg_trylock_path(unsigned long *start, unsigned long *size, unsigned long *helper_ret)
{
#if defined(CONFIG_INLINE_SPIN_TRYLOCK) || defined(CONFIG_DEBUG_SPINLOCK) || \
	defined(CONFIG_DEBUG_LOCK_ALLOC) || defined(CONFIG_KASAN) || \
	defined(CONFIG_RUST_INLINE_HELPERS)
	return -EOPNOTSUPP;
#else
	unsigned long target = (unsigned long)_raw_spin_trylock;
	unsigned long hstart, hsize, at;

	if (ndg_lock_function(target, start, size))
		return -EOPNOTSUPP;
	if (ndg_symbol_extent((unsigned long)rust_helper_spin_trylock_irq_disable, &hstart,
			      &hsize))
		return -ENOENT;
	for (at = hstart; at + 5 <= hstart + hsize; at++) {
		const u8 *p = (const u8 *)at;
		s32 rel;

		if (p[0] != 0xe8)	/* call rel32 */
			continue;
		memcpy(&rel, p + 1, sizeof(rel));
		if (at + 5 + (long)rel == target) {
			*helper_ret = at + 5;
			return 0;
		}
	}
	return -ENOENT;
#endif
}

/*
 * The releasing path: fills @start/@size with _raw_spin_unlock_irq_enable's extent and
 * @helper with the address of the Rust helper, which must be nothing but a jump to it
 * (after an optional endbr64). Returns 0 or an error.
 */
int ndg_unlock_path(unsigned long *start, unsigned long *size, unsigned long *helper)
{
#if defined(CONFIG_INLINE_SPIN_UNLOCK_IRQ) || defined(CONFIG_DEBUG_SPINLOCK) || \
	defined(CONFIG_DEBUG_LOCK_ALLOC) || defined(CONFIG_KASAN) || \
	defined(CONFIG_RUST_INLINE_HELPERS)
	return -EOPNOTSUPP;
#else
	unsigned long target = (unsigned long)_raw_spin_unlock_irq_enable;
	unsigned long at = (unsigned long)rust_helper_spin_unlock_irq_enable;
	const u8 *p = (const u8 *)at;
	s32 rel;

	if (ndg_lock_function(target, start, size))
		return -EOPNOTSUPP;
	if (p[0] == 0xf3 && p[1] == 0x0f && p[2] == 0x1e && p[3] == 0xfa)
		p += 4;
	if (p[0] != 0xe9)	/* jmp rel32 */
		return -EOPNOTSUPP;
	memcpy(&rel, p + 1, sizeof(rel));
	if ((unsigned long)p + 5 + (long)rel != target)
		return -EOPNOTSUPP;
	*helper = at;
	return 0;
#endif
}

/*
 * Whether the page fault (@page_fault) or #GP at @regs is an access to the lock word
 * whose address the lock functions above still hold in rdi, their argument: CR2 inside
 * the lock word, or a non-canonical rdi.
 */
bool ndg_lock_word_fault(const struct pt_regs *regs, bool page_fault)
{
	unsigned long lock = regs->di;

	if (page_fault)
		return read_cr2() - lock < sizeof(arch_spinlock_t);
	return !__is_canonical_address(lock, __VIRTUAL_MASK_SHIFT + 1);
}

/*
 * @pc without @n spinlocks' worth of levels taken the interrupt-disabling way (one
 * preemption and one interrupt-disable level each: a DriverLock, wrappers/driver_lock.rs;
 * the taking path above, @n 1, @entry_pc 0), or as it is if it does not hold that many
 * of both kinds above @entry_pc (then it is judged as holding them all).
 */
unsigned int ndg_pc_without_lock_levels(unsigned int pc, unsigned int entry_pc,
					unsigned int n)
{
	if (!n || (pc & PREEMPT_MASK) < (entry_pc & PREEMPT_MASK) + n * PREEMPT_OFFSET)
		return pc;
#ifdef HARDIRQ_DISABLE_MASK
	if ((pc & HARDIRQ_DISABLE_MASK) <
	    (entry_pc & HARDIRQ_DISABLE_MASK) + n * HARDIRQ_DISABLE_OFFSET)
		return pc;
	pc -= n * HARDIRQ_DISABLE_OFFSET;
#endif
	return pc - n * PREEMPT_OFFSET;
}
