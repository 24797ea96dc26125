//! Reload test plugin: a version 3 whose `init` demands `{"strict": true}`, which the test
//! pipeline does not give it. Swapping it in must fail at `init` and leave the running version.

const VERSION: &str = "v3";

fn check_config(config: &weir_sdk::Config) -> Result<(), String> {
    match config.json().get("strict") {
        Some(weir_sdk::Json::Bool(true)) => Ok(()),
        _ => Err("this version needs `strict = true` in the stage config".into()),
    }
}

include!("../../tag.rs");
