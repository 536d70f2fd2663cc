#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| genrescope_fuzz::queue(data));
