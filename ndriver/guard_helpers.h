/* SPDX-License-Identifier: GPL-2.0 */
/* Prototypes of the C shims used by guard.rs (see guard_helpers.c). */
#ifndef NDRIVER_GUARD_HELPERS_H
#define NDRIVER_GUARD_HELPERS_H

#include <linux/smp.h>

struct pt_regs;

typedef int (*ndg_die_fn)(unsigned long val, struct pt_regs *regs,
			  unsigned long trapnr, unsigned long err,
			  const char *str);
typedef int (*ndg_nmi_fn)(struct pt_regs *regs);

extern const unsigned int ndg_level_mask;
extern const unsigned int ndg_nmi_offset;
extern const unsigned int ndg_hardirq_offset;
extern const unsigned int ndg_hardirq_mask;
extern const unsigned int ndg_nmi_mask;
extern const unsigned long ndg_die_oops;
extern const unsigned long ndg_die_trap;
extern const unsigned long ndg_die_gpf;
extern const unsigned long ndg_die_page_fault;
extern const bool ndg_stack_guard_known;
extern const bool ndg_stack_guard_wild_known;

bool ndg_is_stack_guard_die(const char *str);
bool ndg_apic_in_service(void);

/* Task state a guarded call must give back as it found it (see guard.rs `Marks`). */
struct ndg_marks {
	unsigned int lockdep_depth;
	unsigned int pagefault;
	unsigned long plug;
	unsigned int printk_depth;
};

extern unsigned int ndg_rcu_preempt_delta;

void *ndg_context(unsigned int *pc, unsigned int *cpu, struct ndg_marks *m);
void ndg_chain_context(unsigned int *pc, struct ndg_marks *m);
bool ndg_holds_more(unsigned int pc, unsigned int entry_pc);
void ndg_lockdep_unwind(unsigned int depth);
void ndg_printk_depth_set(unsigned int depth);
extern const bool ndg_printk_restorable;
unsigned int ndg_preempt_count(void);
void ndg_preempt_count_set(unsigned int pc);
unsigned int ndg_cpu(void);
void *ndg_current(void);
unsigned int ndg_here(unsigned int *cpu, void **task);
struct pt_regs *ndg_irq_regs(void);
void ndg_irq_disable(void);
void ndg_irq_restore(unsigned long flags);
void ndg_send_nmi(unsigned int cpu);
bool ndg_cpu_online(unsigned int cpu);
void ndg_on_each_cpu(smp_call_func_t fn, void *info);
bool ndg_in_vm(void);
unsigned int ndg_spin_functions(unsigned long *start, unsigned long *size,
				unsigned int max);
int ndg_rust_bug_extent(unsigned long *start, unsigned long *size);
void ndg_report_kernel_fault(struct pt_regs *regs, const char *what,
			     const char *outcome, unsigned long err,
			     unsigned long trapnr);
void ndg_note_kernel_fault(struct pt_regs *regs, const char *what,
			   const char *outcome);
unsigned int ndg_shim_functions(unsigned long *start, unsigned long *size,
				unsigned int max);
int ndg_trylock_path(unsigned long *start, unsigned long *size, unsigned long *helper_ret);
int ndg_unlock_path(unsigned long *start, unsigned long *size, unsigned long *helper);
bool ndg_lock_word_fault(const struct pt_regs *regs, bool page_fault);
unsigned int ndg_pc_without_lock_levels(unsigned int pc, unsigned int entry_pc,
					unsigned int n);

int ndg_hooks_register(ndg_die_fn die_cb, ndg_nmi_fn nmi_cb);
void ndg_hooks_unregister(void);

#endif /* NDRIVER_GUARD_HELPERS_H */
