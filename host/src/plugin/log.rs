//! A plugin's voice: `host.log` calls and whatever it writes to stdout or stderr. Each line goes
//! to the host's `tracing` log tagged with the stage, and the last lines are kept for display
//! (`weir plugin test`) and tests.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use super::bindings::Level;

/// Lines kept in memory per stage.
const RECENT_LINES: usize = 64;

/// Where a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogSource {
    Host(Level),
    Stdout,
    Stderr,
}

/// One line a plugin wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub source: LogSource,
    pub text: String,
}

/// The log of one stage, shared by its instances and their stdout/stderr pipes.
#[derive(Debug)]
pub struct PluginLog {
    stage: String,
    max_line: usize,
    recent: Mutex<VecDeque<LogLine>>,
}

impl PluginLog {
    pub fn new(stage: impl Into<String>, max_line: usize) -> Arc<Self> {
        Arc::new(PluginLog {
            stage: stage.into(),
            max_line,
            recent: Mutex::new(VecDeque::new()),
        })
    }

    /// Records one line and forwards it to the host log.
    pub fn line(&self, source: LogSource, text: &str) {
        let mut text = escape_controls(text.trim_end_matches(['\r', '\n']));
        if text.len() > self.max_line {
            let mut cut = self.max_line;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push('…');
        }
        let stage = self.stage.as_str();
        match source {
            LogSource::Host(Level::Trace) => tracing::trace!(target: "weir::plugin", stage, "{text}"),
            LogSource::Host(Level::Debug) => tracing::debug!(target: "weir::plugin", stage, "{text}"),
            LogSource::Host(Level::Info) => tracing::info!(target: "weir::plugin", stage, "{text}"),
            LogSource::Host(Level::Warn) | LogSource::Stderr => {
                tracing::warn!(target: "weir::plugin", stage, "{text}")
            }
            LogSource::Host(Level::Error) => tracing::error!(target: "weir::plugin", stage, "{text}"),
            LogSource::Stdout => tracing::info!(target: "weir::plugin", stage, "{text}"),
        }
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        if recent.len() == RECENT_LINES {
            recent.pop_front();
        }
        recent.push_back(LogLine { source, text });
    }

    /// The most recent lines, oldest first.
    pub fn recent(&self) -> Vec<LogLine> {
        self.recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }
}

/// `text` with every control character but tab written as an escape (`\n`, `\r`, `\u{1b}`),
/// so a plugin's line can never end early or pass for one of the host's own (or colour it).
fn escape_controls(text: &str) -> String {
    if !text.chars().any(|c| c.is_control() && c != '\t') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() && c != '\t' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// A plugin's stdout or stderr: bytes are split into lines and sent to the [`PluginLog`].
#[derive(Debug, Clone)]
pub struct LogPipe {
    log: Arc<PluginLog>,
    source: LogSource,
    partial: Arc<Mutex<Vec<u8>>>,
}

impl LogPipe {
    pub fn new(log: Arc<PluginLog>, source: LogSource) -> Self {
        LogPipe {
            log,
            source,
            partial: Arc::default(),
        }
    }

    fn push(&self, bytes: &[u8]) {
        let mut partial = self.partial.lock().unwrap_or_else(PoisonError::into_inner);
        partial.extend_from_slice(bytes);
        // Every complete line at once, in one pass (not one drain of the buffer per line, which
        // is quadratic in a write of many short lines).
        if let Some(last) = partial.iter().rposition(|&b| b == b'\n') {
            let rest = partial.split_off(last + 1);
            let complete = std::mem::replace(&mut *partial, rest);
            for line in complete[..last].split(|&b| b == b'\n') {
                self.log.line(self.source, &String::from_utf8_lossy(line));
            }
        }
        // A line that never ends must not grow without bound.
        if partial.len() > self.log.max_line {
            let line = std::mem::take(&mut *partial);
            self.log.line(self.source, &String::from_utf8_lossy(&line));
        }
    }
}

impl IsTerminal for LogPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogPipe {
    async fn ready(&mut self) {}
}

impl OutputStream for LogPipe {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for LogPipe {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_so_no_line_passes_for_the_hosts() {
        let log = PluginLog::new("s", 200);
        log.line(
            LogSource::Host(Level::Info),
            "ok\n2026-12-01T00:00:00Z ERROR weir::pipeline: forged\r\u{1b}[31mred\tx",
        );
        let text = &log.recent()[0].text;
        assert_eq!(
            text,
            "ok\\n2026-12-01T00:00:00Z ERROR weir::pipeline: forged\\r\\u{1b}[31mred\tx"
        );
        assert!(!text.contains('\n') && !text.contains('\r') && !text.contains('\u{1b}'));
    }

    #[test]
    fn one_write_of_many_lines_gives_each_line_once() {
        let log = PluginLog::new("s", 16);
        let pipe = LogPipe::new(log.clone(), LogSource::Stdout);
        let mut bytes = Vec::new();
        for i in 0..100_000 {
            bytes.extend_from_slice(format!("{i}\n").as_bytes());
        }
        bytes.extend_from_slice(b"tail");
        pipe.push(&bytes);
        let texts: Vec<String> = log.recent().into_iter().map(|l| l.text).collect();
        assert_eq!(texts.len(), RECENT_LINES);
        assert_eq!(texts.last().map(String::as_str), Some("99999"));
        pipe.push(b"\n");
        assert_eq!(log.recent().last().map(|l| l.text.as_str()), Some("tail"));
    }

    #[test]
    fn pipe_splits_lines_and_keeps_partial_ones() {
        let log = PluginLog::new("s", 16);
        let pipe = LogPipe::new(log.clone(), LogSource::Stdout);
        pipe.push(b"one\ntw");
        pipe.push(b"o\nthree");
        let texts: Vec<String> = log.recent().into_iter().map(|l| l.text).collect();
        assert_eq!(texts, ["one", "two"]);
        pipe.push(b"-and-a-very-long-tail");
        assert_eq!(log.recent().len(), 3, "an unterminated long line is flushed");
        assert!(log.recent()[2].text.ends_with('…'));
    }
}
