# SPDX-License-Identifier: GPL-2.0
# User entry points. The kernel build system reads `Kbuild`, not this file, when it
# builds the modules (`make -C $KDIR M=$PWD`).
#
#   make run     the demo: set up, build, boot, NIC and disk under ndriver with
#                traffic, faults of every class, a live status line, a summary
#   make check   set up, build, run every test; prints "N passed, N failed"
#   make check-debug  make check on the KASAN/lockdep/kmemleak kernel (DEBUG_KERNEL=1),
#                one injection per fault class and entry point (NIC configuration entry
#                points: one each, classes in turn), no corruption classes at
#                random sites (their out-of-bounds writes are KASAN reports, which
#                turn lockdep off), time limits scaled for KASAN under TCG; ends
#                with the sanitizer reports the guest saw
#   make check-full  the same with 100 injections per fault class and entry point
#                (10 per NIC data-path entry point, 34 rounds on the block device),
#                1000 random driver instructions (100 per corruption class)
#   make bench   guard cost, recovery time by phase, NIC and block: C vs Rust
#                unguarded vs guarded, with plots
#   make campaign  the fault-injection campaign (>= 1000 injections at entry points, 30
#                instructions per device and implementation drawn among those a trace
#                of the workload saw run), with a report
#   make campaign-full  the >= 10 000-injection campaign of issue 14 (2 per class, entry
#                point and implementation, 100 sites per device and implementation,
#                4600 on testdev0; a guest lost up to 10 times resumes): some 2 h of guest
#   make         build the modules (KDIR=, KERNEL_TARBALL=, DEBUG_KERNEL=1 honoured)
#
# TESTS="11-faults 18-blk" makes check, check-debug and check-full run only those
# guest tests (after 00-load, which loads ndriver): check-full in parts.

export KDIR KERNEL_TARBALL DEBUG_KERNEL NDRIVER_CACHE

# The guest tests to run: all, or 00-load and those TESTS names.
GUEST_TESTS = $(if $(strip $(TESTS)),00-load $(filter-out 00-load,$(TESTS)))

.PHONY: all modules setup kernel run check check-debug check-full bench campaign \
	campaign-full clean

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
	@scripts/check.sh $(GUEST_TESTS)

# KASAN makes the guest 3-6 times slower under TCG: each test may take 3 h, the
# guest 4 h; one injection per class and entry point (NDRIVER_REPS=1). Most of the
# run is 17-nic-faults' configuration part (about a minute per fault under KASAN).
check-debug:
	@DEBUG_KERNEL=1 NDRIVER_REPS=$${NDRIVER_REPS:-1} NDRIVER_LEAK_ROUNDS=$${NDRIVER_LEAK_ROUNDS:-50} \
		NDRIVER_SITE_CORRUPTIONS=$${NDRIVER_SITE_CORRUPTIONS:-0} \
		NDRIVER_NIC_REPS=$${NDRIVER_NIC_REPS:-1} NDRIVER_NIC_CONFIG=$${NDRIVER_NIC_CONFIG:-rotate} \
		NDRIVER_TEST_TIMEOUT=$${NDRIVER_TEST_TIMEOUT:-10800} \
		NDRIVER_GUEST_TIMEOUT=$${NDRIVER_GUEST_TIMEOUT:-14400} scripts/check.sh $(GUEST_TESTS)

check-full:
	@NDRIVER_REPS=100 NDRIVER_NIC_REPS=10 NDRIVER_LEAK_ROUNDS=1000 NDRIVER_TEST_TIMEOUT=14000 \
		NDRIVER_SITES=1000 NDRIVER_SITE_CORRUPTIONS=100 NDRIVER_TRACED_SITES=400 \
		NDRIVER_GUEST_TIMEOUT=14400 scripts/check.sh $(GUEST_TESTS)

bench:
	@scripts/bench.sh

campaign:
	@scripts/campaign.sh

campaign-full:
	@NDRIVER_CAMPAIGN_REPS=2 NDRIVER_CAMPAIGN_DEV_REPS=2 NDRIVER_CAMPAIGN_SITES=100 \
		NDRIVER_CAMPAIGN_TESTDEV_SITES=4600 NDRIVER_CAMPAIGN_MAX_LOST=10 scripts/campaign.sh

clean:
	@scripts/build-modules.sh clean >/dev/null
	@rm -rf results .build-modules.log selftests/host/target
