// SPDX-License-Identifier: GPL-2.0

//! The smallest implementation module: registers one implementation of the `hello`
//! class with `ndriver.ko` and withdraws it on unload. It proves the cross-module path
//! (exported symbols, shared ABI file, module dependency) the real drivers use. It
//! registers by hand, without a class glue, on purpose: its two `unsafe` calls are the
//! raw registration that the glue's `implementation_module!` hides from real drivers.

use kernel::prelude::*;

#[path = "../ndriver/abi.rs"]
mod abi;
#[path = "../wrappers/callouts_api.rs"]
mod callouts_api;

module! {
    type: Hello,
    name: "ndriver_hello",
    authors: ["ndriver developers"],
    description: "ndriver sample implementation module",
    license: "GPL",
}

static DESC: abi::ImplDesc = abi::ImplDesc {
    abi_version: abi::ABI_VERSION,
    class: c"hello".as_ptr().cast(),
    name: c"hello-a".as_ptr().cast(),
    ops: core::ptr::null(),
    // No device: it drives no PCI function.
    pci_ids: core::ptr::null(),
    pci_ids_len: 0,
};

struct Hello;

impl kernel::Module for Hello {
    fn init(module: &'static ThisModule) -> Result<Self> {
        // SAFETY: `DESC` is a static that outlives the registration, which `drop` ends.
        kernel::error::to_result(unsafe {
            callouts_api::ndriver_register_impl(&DESC, module.as_ptr().cast())
        })?;
        Ok(Hello)
    }
}

impl Drop for Hello {
    fn drop(&mut self) {
        // SAFETY: `DESC` was registered by `init`.
        unsafe { callouts_api::ndriver_unregister_impl(&DESC) };
    }
}
