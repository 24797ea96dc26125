//! Reload test plugin, version 2 of two: tags records `"plugin_version": "v2"`.

const VERSION: &str = "v2";

fn check_config(_config: &weir_sdk::Config) -> Result<(), String> {
    Ok(())
}

include!("../../tag.rs");
