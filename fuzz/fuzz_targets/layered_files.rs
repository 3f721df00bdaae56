//! Two layers and an environment (NUL-separated): merge properties, then the checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kgen::fuzz::layered_files(data);
});
