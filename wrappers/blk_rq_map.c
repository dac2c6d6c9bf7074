// SPDX-License-Identifier: GPL-2.0
/*
 * blk_rq_map_sg() is a static inline, and sg_dma_address()/sg_dma_len() are
 * macros: this gives the block mapping (placeholders/blk/map.rs) one function
 * that maps a request's data for a device's DMA and reports the mapped pieces.
 */
#include <linux/blk-mq.h>
#include <linux/dma-mapping.h>
#include <linux/scatterlist.h>

/* The layout of abi_blk.rs's BlkSeg (asserted there: 16 bytes). */
struct ndriver_blk_seg {
	u64 addr;
	u32 len;
	u32 reserved;
};

int ndriver_rq_dma_map(struct device *dev, struct request *rq,
		       struct scatterlist *sg, unsigned int nsg,
		       enum dma_data_direction dir,
		       struct ndriver_blk_seg *out, unsigned int max,
		       unsigned int *nents);

/*
 * Maps @rq's data (at most @nsg pieces, @sg holding as many entries) for @dev
 * in direction @dir and writes the mapped pieces, in order, to @out (room for
 * @max). Returns how many, with the count to unmap with in *@nents; or a
 * negative errno, and nothing is left mapped.
 */
int ndriver_rq_dma_map(struct device *dev, struct request *rq,
		       struct scatterlist *sg, unsigned int nsg,
		       enum dma_data_direction dir,
		       struct ndriver_blk_seg *out, unsigned int max,
		       unsigned int *nents)
{
	unsigned int segs = blk_rq_nr_phys_segments(rq);
	struct scatterlist *s;
	int n, mapped, i;

	if (segs == 0 || segs > nsg)
		return -EINVAL;
	sg_init_table(sg, segs);
	n = blk_rq_map_sg(rq, sg);
	if (n <= 0)
		return -EINVAL;
	mapped = dma_map_sg(dev, sg, n, dir);
	if (mapped <= 0)
		return -ENOMEM;
	if (mapped > max) {
		dma_unmap_sg(dev, sg, n, dir);
		return -E2BIG;
	}
	for_each_sg(sg, s, mapped, i) {
		out[i].addr = sg_dma_address(s);
		out[i].len = sg_dma_len(s);
		out[i].reserved = 0;
	}
	*nents = n;
	return mapped;
}
