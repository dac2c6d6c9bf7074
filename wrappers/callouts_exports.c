// SPDX-License-Identifier: GPL-2.0
/*
 * Exports of the callout API (wrappers/callouts.rs) and of the registry
 * (ndriver/registry.rs). The functions are Rust; only the export lines need C.
 */
#include <linux/export.h>
#include <linux/types.h>

struct ndriver_impl_desc;
struct ndriver_instance;

struct module;

int ndriver_register_impl(const struct ndriver_impl_desc *desc, struct module *owner);
void ndriver_unregister_impl(const struct ndriver_impl_desc *desc);
void *ndriver_alloc(struct ndriver_instance *inst, size_t size, u32 atomic);
void ndriver_free(struct ndriver_instance *inst, void *ptr);
void ndriver_set_priv(struct ndriver_instance *inst, void *data);
void *ndriver_get_priv(struct ndriver_instance *inst);
u64 ndriver_generation(struct ndriver_instance *inst);
u32 ndriver_fault_point(struct ndriver_instance *inst, u32 entry);

EXPORT_SYMBOL_GPL(ndriver_register_impl);
EXPORT_SYMBOL_GPL(ndriver_unregister_impl);
EXPORT_SYMBOL_GPL(ndriver_alloc);
EXPORT_SYMBOL_GPL(ndriver_free);
EXPORT_SYMBOL_GPL(ndriver_set_priv);
EXPORT_SYMBOL_GPL(ndriver_get_priv);
EXPORT_SYMBOL_GPL(ndriver_generation);
EXPORT_SYMBOL_GPL(ndriver_fault_point);
