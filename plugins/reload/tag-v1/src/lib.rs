//! Reload test plugin, version 1 of two: tags records `"plugin_version": "v1"`.

const VERSION: &str = "v1";

fn check_config(_config: &weir_sdk::Config) -> Result<(), String> {
    Ok(())
}

include!("../../tag.rs");
