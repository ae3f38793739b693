#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| bootstrap_fuzz::checks::kubeconfig_many(data));
