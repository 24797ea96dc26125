//! Which world a component claims, read from its top-level import and export sections before
//! anything is compiled: a file of the wrong world, or one that imports what the host does not
//! offer, is refused in the time it takes to read its section headers (nested modules, where
//! the code is, are skipped unread).

use wasmparser::{Chunk, ComponentTypeRef, Parser, Payload};

use super::PluginKind;
use super::error::PluginError;

/// The exports each world requires.
const TRANSFORM_EXPORTS: &[&str] = &["init", "process"];
const AGGREGATE_EXPORTS: &[&str] = &["init", "keys", "accumulate", "merge", "finish"];

/// The kind of plugin `bytes` (a component) is, or why it is none.
pub fn check_world(name: &str, bytes: &[u8]) -> Result<PluginKind, PluginError> {
    let (imports, exports) = top_level_names(bytes).map_err(|reason| PluginError::Invalid {
        name: name.to_string(),
        reason,
    })?;
    if let Some(import) = imports.iter().find(|import| !allowed_import(import)) {
        return Err(PluginError::UnsupportedImport {
            name: name.to_string(),
            import: import.clone(),
        });
    }
    let has_all = |required: &[&str]| required.iter().all(|r| exports.iter().any(|e| e == r));
    if has_all(TRANSFORM_EXPORTS) {
        Ok(PluginKind::Transform)
    } else if has_all(AGGREGATE_EXPORTS) {
        Ok(PluginKind::Aggregate)
    } else {
        Err(PluginError::NotAPlugin {
            name: name.to_string(),
            exports: exports.join(", "),
        })
    }
}

/// What the host links: WASI (deny-all, see `sandbox`) and the Weir interfaces.
fn allowed_import(import: &str) -> bool {
    import.starts_with("wasi:")
        || import.starts_with("weir:plugin/host@0.1.")
        || import.starts_with("weir:plugin/types@0.1.")
}

/// The names of the component's own imports and exports.
fn top_level_names(bytes: &[u8]) -> Result<(Vec<String>, Vec<String>), String> {
    let mut parser = Parser::new(0);
    let mut at = 0;
    let (mut imports, mut exports) = (Vec::new(), Vec::new());
    loop {
        let rest = bytes.get(at..).ok_or("truncated component")?;
        let (consumed, payload) = match parser.parse(rest, true).map_err(|e| e.to_string())? {
            Chunk::Parsed { consumed, payload } => (consumed, payload),
            Chunk::NeedMoreData(_) => return Err("truncated component".into()),
        };
        at += consumed;
        match payload {
            Payload::ComponentImportSection(reader) => {
                for import in reader {
                    let import = import.map_err(|e| e.to_string())?;
                    // A world's `use` imports its types by name: those are not capabilities.
                    if !matches!(import.ty, ComponentTypeRef::Type(_)) {
                        imports.push(import.name.name.to_string());
                    }
                }
            }
            Payload::ComponentExportSection(reader) => {
                for export in reader {
                    exports.push(export.map_err(|e| e.to_string())?.name.name.to_string());
                }
            }
            // Nested modules and components: the parser has stepped over them; so do we.
            Payload::ModuleSection { unchecked_range, .. } | Payload::ComponentSection { unchecked_range, .. } => {
                at = unchecked_range.end;
            }
            Payload::End(_) => return Ok((imports, exports)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_component_is_no_plugin() {
        let empty = b"\0asm\x0d\0\x01\0";
        assert!(matches!(
            check_world("empty", empty),
            Err(PluginError::NotAPlugin { exports, .. }) if exports.is_empty()
        ));
        assert!(matches!(
            check_world("cut", &empty[..6]),
            Err(PluginError::Invalid { .. })
        ));
    }
}
