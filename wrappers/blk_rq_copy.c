// SPDX-License-Identifier: GPL-2.0
/*
 * rq_for_each_segment() is a macro over static inline bvec iterators, and
 * memcpy_{to,from}_bvec() are static inlines: this gives the block callouts
 * (wrappers/callouts_blk.rs) one function that copies between a request's
 * pages and a flat driver buffer.
 */
#include <linux/blk-mq.h>
#include <linux/bvec.h>

int ndriver_rq_copy(struct request *rq, void *buf, unsigned int len, bool to_rq);

int ndriver_rq_copy(struct request *rq, void *buf, unsigned int len, bool to_rq)
{
	struct req_iterator iter;
	struct bio_vec bv;
	unsigned int done = 0;

	if (len != blk_rq_bytes(rq))
		return -EINVAL;
	rq_for_each_segment(bv, rq, iter) {
		if (bv.bv_len > len - done)
			return -EINVAL;
		if (to_rq)
			memcpy_to_bvec(&bv, buf + done);
		else
			memcpy_from_bvec(buf + done, &bv);
		done += bv.bv_len;
	}
	return done == len ? 0 : -EINVAL;
}
