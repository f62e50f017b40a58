//! Arbitrary bytes into the GGUF header reader: it must return Ok or Err, never panic,
//! hang or allocate without bound. Run: `cargo +nightly fuzz run gguf_header`.
#![no_main]

use canirun_io::gguf::{read_header, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Default limits: the ones real users get.
    if let Ok(h) = read_header(data, &Limits::default()) {
        // Exercise the accessors on whatever parsed.
        let _ = h.architecture();
        let _ = h.file_type();
        let _ = h.tensor_bytes_total();
        let _ = h.data_status(data.len() as u64);
        for t in &h.tensors {
            let _ = t.n_elements();
            let _ = t.type_name();
        }
    }
    // Tight limits: the skip-large-arrays path and the budget checks.
    let tight = Limits {
        retain_array_len: 2,
        max_metadata_bytes: 4096,
        max_array_depth: 2,
        ..Limits::default()
    };
    let _ = read_header(data, &tight);
});
