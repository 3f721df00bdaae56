//! Any bytes as an environment file beside a `_base` layer: load, check, render, judge, print.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kgen::fuzz::environment_file(data);
});
