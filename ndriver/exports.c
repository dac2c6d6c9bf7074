// SPDX-License-Identifier: GPL-2.0
/*
 * Symbols ndriver.ko exports to implementation modules. The functions are
 * written in Rust (ndriver/registry.rs); only the export lines need C.
 */
#include <linux/export.h>

struct ndriver_impl_desc;

int ndriver_register_impl(const struct ndriver_impl_desc *desc);
void ndriver_unregister_impl(const struct ndriver_impl_desc *desc);

EXPORT_SYMBOL_GPL(ndriver_register_impl);
EXPORT_SYMBOL_GPL(ndriver_unregister_impl);
