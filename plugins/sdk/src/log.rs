//! The host log: the one channel out of a plugin. Lines land in Weir's log tagged with the
//! pipeline and stage. Outside a component (native unit tests) they go to stderr.

use std::sync::OnceLock;

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

static SINK: OnceLock<fn(Level, &str)> = OnceLock::new();

#[doc(hidden)]
pub fn set_sink(sink: fn(Level, &str)) {
    // A second init keeps the first sink: it is the same function.
    let _ = SINK.set(sink);
}

/// Writes one line to the host log.
pub fn write(level: Level, message: &str) {
    match SINK.get() {
        Some(sink) => sink(level, message),
        None => eprintln!("[{level:?}] {message}"),
    }
}

pub fn debug(message: &str) {
    write(Level::Debug, message);
}

pub fn info(message: &str) {
    write(Level::Info, message);
}

pub fn warn(message: &str) {
    write(Level::Warn, message);
}

pub fn error(message: &str) {
    write(Level::Error, message);
}
