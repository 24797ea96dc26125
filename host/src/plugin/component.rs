//! Loading a plugin: read the `.wasm`, hash it, refuse what is not a component of a Weir world
//! with an error that says why, compile it (through the cache) and pre-link it once.

use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::PluginKind;
use super::bindings::aggregate::AggregatePre;
use super::bindings::transform::TransformPre;
use super::engine::PluginEngine;
use super::error::PluginError;
use super::sandbox::HostState;
use super::world::check_world;

/// A compiled, checked and pre-linked plugin, ready to instantiate many times.
pub struct Plugin {
    engine: wasmtime::Engine,
    /// The engine's: cancelled when the host stops.
    stopping: CancellationToken,
    name: String,
    sha256: String,
    pre: PluginPre,
}

pub(crate) enum PluginPre {
    Transform(TransformPre<HostState>),
    Aggregate(AggregatePre<HostState>),
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .field("sha256", &self.sha256)
            .field("kind", &self.kind())
            .finish()
    }
}

impl Plugin {
    /// Loads a plugin from a `.wasm` file.
    pub fn load_file(engine: &PluginEngine, path: &Path) -> Result<Arc<Plugin>, PluginError> {
        let bytes = std::fs::read(path).map_err(|error| PluginError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        Plugin::load_bytes(engine, &path.display().to_string(), &bytes)
    }

    /// Loads a plugin from its bytes; `name` is used in messages.
    pub fn load_bytes(engine: &PluginEngine, name: &str, bytes: &[u8]) -> Result<Arc<Plugin>, PluginError> {
        let name = name.to_string();
        check_header(&name, bytes)?;
        // Refused before compiling, which takes seconds per megabyte of code.
        let kind = check_world(&name, bytes)?;
        let sha256 = hex::encode(Sha256::digest(bytes));
        let component = engine
            .cache()
            .get_or_compile(engine.engine(), &sha256, bytes)
            .map_err(|e| PluginError::Invalid {
                name: name.clone(),
                reason: format!("{e:#}"),
            })?;
        let pre = engine
            .linker()
            .instantiate_pre(&component)
            .map_err(|e| PluginError::Mismatch {
                name: name.clone(),
                kind,
                reason: format!("{e:#}"),
            })?;
        let mismatch = |e: wasmtime::Error| PluginError::Mismatch {
            name: name.clone(),
            kind,
            reason: format!("{e:#}"),
        };
        let pre = match kind {
            PluginKind::Transform => PluginPre::Transform(TransformPre::new(pre).map_err(mismatch)?),
            PluginKind::Aggregate => PluginPre::Aggregate(AggregatePre::new(pre).map_err(mismatch)?),
        };
        Ok(Arc::new(Plugin {
            engine: engine.engine().clone(),
            stopping: engine.interrupt(),
            name,
            sha256,
            pre,
        }))
    }

    /// Where the plugin came from, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The sha256 of the `.wasm` bytes, hex: the plugin's identity in lineage and quarantine.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    pub fn kind(&self) -> PluginKind {
        match self.pre {
            PluginPre::Transform(_) => PluginKind::Transform,
            PluginPre::Aggregate(_) => PluginKind::Aggregate,
        }
    }

    pub(crate) fn engine(&self) -> &wasmtime::Engine {
        &self.engine
    }

    /// A new interrupt for an instance of this plugin: cancelled when the host stops.
    pub(crate) fn interrupt(&self) -> CancellationToken {
        self.stopping.child_token()
    }

    pub(crate) fn pre(&self) -> &PluginPre {
        &self.pre
    }

    /// Fails unless the plugin is of the `expected` kind.
    pub fn expect_kind(&self, expected: PluginKind) -> Result<(), PluginError> {
        if self.kind() == expected {
            Ok(())
        } else {
            Err(PluginError::WrongKind {
                name: self.name.clone(),
                expected,
                found: self.kind(),
            })
        }
    }
}

/// Tells a non-wasm file and a core module apart from a component before compiling.
fn check_header(name: &str, bytes: &[u8]) -> Result<(), PluginError> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(PluginError::NotWasm { name: name.to_string() });
    }
    // Bytes 4..8: version and layer. Core modules are version 1, layer 0.
    if bytes[4..8] == [1, 0, 0, 0] {
        return Err(PluginError::CoreModule { name: name.to_string() });
    }
    Ok(())
}

/// The first 12 hex digits of a content hash, for logs and messages.
pub fn short_sha(sha256: &str) -> &str {
    sha256.get(..12).unwrap_or(sha256)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_check_names_the_problem() {
        assert!(matches!(
            check_header("x", b"hello world"),
            Err(PluginError::NotWasm { .. })
        ));
        assert!(matches!(
            check_header("x", b"\0asm\x01\0\0\0"),
            Err(PluginError::CoreModule { .. })
        ));
        assert!(check_header("x", b"\0asm\x0d\0\x01\0").is_ok());
    }
}
