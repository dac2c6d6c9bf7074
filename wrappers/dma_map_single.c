// SPDX-License-Identifier: GPL-2.0
/*
 * dma_map_single() and dma_mapping_error() are a macro and a static inline:
 * these wrappers give the Rust callouts (wrappers/callouts_dma.rs) a symbol.
 */
#include <linux/dma-mapping.h>

int ndriver_dma_map_single(struct device *dev, void *ptr, size_t size,
			   enum dma_data_direction dir, dma_addr_t *out);
void ndriver_dma_unmap_single(struct device *dev, dma_addr_t addr, size_t size,
			      enum dma_data_direction dir);

int ndriver_dma_map_single(struct device *dev, void *ptr, size_t size,
			   enum dma_data_direction dir, dma_addr_t *out)
{
	dma_addr_t addr = dma_map_single(dev, ptr, size, dir);

	if (dma_mapping_error(dev, addr))
		return -ENOMEM;
	*out = addr;
	return 0;
}

void ndriver_dma_unmap_single(struct device *dev, dma_addr_t addr, size_t size,
			      enum dma_data_direction dir)
{
	dma_unmap_single(dev, addr, size, dir);
}
