// SPDX-License-Identifier: GPL-2.0
/*
 * Exports of the callout API (wrappers/callouts*.rs, each symbol the thunk
 * of wrappers/callout_thunks.rs that calls it) and of the registry
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
void ndriver_fault_raising(struct ndriver_instance *inst, u32 class, unsigned long at);
void ndriver_step(struct ndriver_instance *inst, const u8 *name, size_t len);
void ndriver_lock_wait(void);
void ndriver_lock_held(int delta);

u32 ndriver_pci_present(struct ndriver_instance *inst);
int ndriver_pci_enable(struct ndriver_instance *inst);
int ndriver_pci_enable_quiet(struct ndriver_instance *inst);
void ndriver_pci_set_master(struct ndriver_instance *inst);
void ndriver_pci_clear_master(struct ndriver_instance *inst);
void ndriver_pci_disable(struct ndriver_instance *inst);
u64 ndriver_pci_bar_len(struct ndriver_instance *inst, u32 bar, u32 mem_only);
int ndriver_pci_config_read(struct ndriver_instance *inst, u32 offset, u32 width, u32 *out);
void *ndriver_pci_iomap(struct ndriver_instance *inst, u32 bar);
void ndriver_pci_iounmap(struct ndriver_instance *inst, void *addr);
int ndriver_request_irq(struct ndriver_instance *inst);
int ndriver_request_irq_msix(struct ndriver_instance *inst);
void ndriver_free_irq(struct ndriver_instance *inst);
struct ndriver_adopted;
int ndriver_keep(struct ndriver_instance *inst, u32 kind, const void *obj, u32 role);
struct ndriver_adopted ndriver_adopt(struct ndriver_instance *inst, u32 kind, u32 role);

void ndriver_net_tx_done(struct ndriver_instance *inst, void *skb, u32 sent);
int ndriver_net_rx(struct ndriver_instance *inst, const u8 *data, u32 len, u32 napi);
u32 ndriver_net_napi_schedule(struct ndriver_instance *inst);
u32 ndriver_net_napi_complete(struct ndriver_instance *inst, s32 work);
void ndriver_net_carrier(struct ndriver_instance *inst, u32 on);
void ndriver_net_stop_queue(struct ndriver_instance *inst);
void ndriver_net_wake_queue(struct ndriver_instance *inst);
u64 ndriver_net_mac(struct ndriver_instance *inst);
u32 ndriver_net_mtu(struct ndriver_instance *inst);
u32 ndriver_net_rx_filter(struct ndriver_instance *inst, u64 *mc, u32 max, u32 *count);
void ndriver_net_rx_ring(struct ndriver_instance *inst, const void *base, u32 count,
			 u32 stride, u32 status_off, u32 done_mask);
void ndriver_net_tx_ring(struct ndriver_instance *inst, const void *base, u32 count,
			 u32 stride, u32 status_off, u32 done_mask, const void *tokens,
			 u32 token_stride);
void *ndriver_dma_alloc(struct ndriver_instance *inst, size_t size, u64 *dma);
void ndriver_dma_free(struct ndriver_instance *inst, void *cpu);
int ndriver_dma_map(struct ndriver_instance *inst, void *ptr, size_t size, u32 dir, u64 *dma);
void ndriver_dma_unmap(struct ndriver_instance *inst, u64 dma);

void *ndriver_timer_setup(struct ndriver_instance *inst, u64 cookie);
void ndriver_timer_arm(struct ndriver_instance *inst, void *timer, u64 delay_ns);
void ndriver_timer_cancel(struct ndriver_instance *inst, void *timer);
void *ndriver_work_setup(struct ndriver_instance *inst, u64 cookie);
void ndriver_work_queue(struct ndriver_instance *inst, void *work);
void ndriver_work_cancel(struct ndriver_instance *inst, void *work);

int ndriver_io_reset_on_undo(struct ndriver_instance *inst, void *io, u32 offset, u32 value, u32 width);
void ndriver_io_reset_cancel(struct ndriver_instance *inst, void *io, u32 offset);
int ndriver_blk_set_capacity(struct ndriver_instance *inst, u64 sectors);
int ndriver_blk_copy(struct ndriver_instance *inst, void *rq, void *buf, u32 len, u32 to_rq);
int ndriver_blk_done(struct ndriver_instance *inst, u32 tag);
int ndriver_blk_map(struct ndriver_instance *inst, void *rq, void *segs, u32 max);
int ndriver_blk_lent(struct ndriver_instance *inst, u32 tag, void *info, void *segs, u32 max);

EXPORT_SYMBOL_GPL(ndriver_register_impl);
EXPORT_SYMBOL_GPL(ndriver_unregister_impl);
EXPORT_SYMBOL_GPL(ndriver_alloc);
EXPORT_SYMBOL_GPL(ndriver_free);
EXPORT_SYMBOL_GPL(ndriver_set_priv);
EXPORT_SYMBOL_GPL(ndriver_get_priv);
EXPORT_SYMBOL_GPL(ndriver_generation);
EXPORT_SYMBOL_GPL(ndriver_fault_point);
EXPORT_SYMBOL_GPL(ndriver_fault_raising);
EXPORT_SYMBOL_GPL(ndriver_step);
EXPORT_SYMBOL_GPL(ndriver_lock_wait);
EXPORT_SYMBOL_GPL(ndriver_lock_held);

EXPORT_SYMBOL_GPL(ndriver_pci_present);
EXPORT_SYMBOL_GPL(ndriver_pci_enable);
EXPORT_SYMBOL_GPL(ndriver_pci_enable_quiet);
EXPORT_SYMBOL_GPL(ndriver_pci_set_master);
EXPORT_SYMBOL_GPL(ndriver_pci_clear_master);
EXPORT_SYMBOL_GPL(ndriver_pci_disable);
EXPORT_SYMBOL_GPL(ndriver_pci_bar_len);
EXPORT_SYMBOL_GPL(ndriver_pci_config_read);
EXPORT_SYMBOL_GPL(ndriver_pci_iomap);
EXPORT_SYMBOL_GPL(ndriver_pci_iounmap);
EXPORT_SYMBOL_GPL(ndriver_request_irq);
EXPORT_SYMBOL_GPL(ndriver_request_irq_msix);
EXPORT_SYMBOL_GPL(ndriver_keep);
EXPORT_SYMBOL_GPL(ndriver_adopt);
EXPORT_SYMBOL_GPL(ndriver_free_irq);
EXPORT_SYMBOL_GPL(ndriver_dma_alloc);
EXPORT_SYMBOL_GPL(ndriver_dma_free);
EXPORT_SYMBOL_GPL(ndriver_dma_map);
EXPORT_SYMBOL_GPL(ndriver_dma_unmap);

EXPORT_SYMBOL_GPL(ndriver_timer_setup);
EXPORT_SYMBOL_GPL(ndriver_timer_arm);
EXPORT_SYMBOL_GPL(ndriver_timer_cancel);
EXPORT_SYMBOL_GPL(ndriver_work_setup);
EXPORT_SYMBOL_GPL(ndriver_work_queue);
EXPORT_SYMBOL_GPL(ndriver_work_cancel);

EXPORT_SYMBOL_GPL(ndriver_net_tx_done);
EXPORT_SYMBOL_GPL(ndriver_net_rx);
EXPORT_SYMBOL_GPL(ndriver_net_napi_schedule);
EXPORT_SYMBOL_GPL(ndriver_net_napi_complete);
EXPORT_SYMBOL_GPL(ndriver_net_carrier);
EXPORT_SYMBOL_GPL(ndriver_net_stop_queue);
EXPORT_SYMBOL_GPL(ndriver_net_wake_queue);
EXPORT_SYMBOL_GPL(ndriver_net_mac);
EXPORT_SYMBOL_GPL(ndriver_net_mtu);
EXPORT_SYMBOL_GPL(ndriver_net_rx_filter);
EXPORT_SYMBOL_GPL(ndriver_net_rx_ring);
EXPORT_SYMBOL_GPL(ndriver_net_tx_ring);

EXPORT_SYMBOL_GPL(ndriver_io_reset_on_undo);
EXPORT_SYMBOL_GPL(ndriver_io_reset_cancel);
EXPORT_SYMBOL_GPL(ndriver_blk_set_capacity);
EXPORT_SYMBOL_GPL(ndriver_blk_copy);
EXPORT_SYMBOL_GPL(ndriver_blk_done);
EXPORT_SYMBOL_GPL(ndriver_blk_map);
EXPORT_SYMBOL_GPL(ndriver_blk_lent);
