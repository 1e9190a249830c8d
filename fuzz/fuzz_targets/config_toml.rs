//! `<home>/config.toml` as every command loads it: `Config::from_toml` (TOML, the known
//! sections, every profile merged over the built-ins and typed), then the selected profile.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(config) = nightshift_pipeline::config::Config::from_toml(text)
    {
        let _ = config.selected_profile(None);
    }
});
