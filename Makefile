# SPDX-License-Identifier: GPL-2.0
# User entry points. The kernel build system reads `Kbuild`, not this file, when it
# builds the modules (`make -C $KDIR M=$PWD`).
#
#   make run     set up, build, boot the guest, load ndriver, show its status
#   make check   set up, build, run every test; prints "N passed, N failed"
#   make         build the modules (KDIR=, KERNEL_TARBALL=, DEBUG_KERNEL=1 honoured)

export KDIR KERNEL_TARBALL DEBUG_KERNEL NDRIVER_CACHE

.PHONY: all modules setup kernel run check clean

all: modules

modules:
	@scripts/build-modules.sh >/dev/null

setup:
	@scripts/setup.sh

kernel:
	@scripts/build-kernel.sh

run:
	@scripts/run.sh

check:
	@scripts/check.sh

clean:
	@scripts/build-modules.sh clean >/dev/null
	@rm -rf results .build-modules.log selftests/host/target
