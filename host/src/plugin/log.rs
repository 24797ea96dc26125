//! A plugin's voice: `host.log` calls and whatever it writes to stdout or stderr. Each line goes
//! to the host's `tracing` log tagged with the stage, and the last lines are kept for display
//! (`weir plugin test`) and tests.
//!
//! What a plugin can make the host do here is bounded: lines are cut to `max_log_line` and their
//! control characters escaped, at most [`LINES_PER_CALL`] lines per call reach the log (the rest
//! are counted, and the count is logged once the call ends), and a stdout/stderr write may not
//! pass the [`WRITE_PERMIT`] its `check-write` advertises.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

use super::bindings::Level;

/// Lines kept in memory per stage.
const RECENT_LINES: usize = 64;

/// Lines of one call that reach the host's log; later ones are only counted.
pub const LINES_PER_CALL: usize = 1_000;

/// The most bytes one stdout/stderr `write` may carry: what `check-write` answers.
pub const WRITE_PERMIT: usize = 64 * 1024;

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
    /// Lines written since the current call began.
    this_call: AtomicUsize,
}

impl PluginLog {
    pub fn new(stage: impl Into<String>, max_line: usize) -> Arc<Self> {
        Arc::new(PluginLog {
            stage: stage.into(),
            max_line,
            recent: Mutex::new(VecDeque::new()),
            this_call: AtomicUsize::new(0),
        })
    }

    /// A call begins: its lines are counted from zero.
    /// The stage its lines are logged as (`pipeline/stage`).
    pub fn stage(&self) -> &str {
        &self.stage
    }

    /// A log of the same stage with counters of its own (a parallel worker's instance).
    pub fn sibling(&self) -> Arc<Self> {
        PluginLog::new(self.stage.clone(), self.max_line)
    }

    pub(crate) fn begin_call(&self) {
        self.this_call.store(0, Ordering::Relaxed);
    }

    /// A call ended: says how many of its lines were not shown, if any.
    pub(crate) fn end_call(&self) {
        let lines = self.this_call.swap(0, Ordering::Relaxed);
        if lines > LINES_PER_CALL {
            let stage = self.stage.as_str();
            let dropped = lines - LINES_PER_CALL;
            tracing::warn!(target: "weir::plugin", stage, "{dropped} more lines of this call not shown (at most {LINES_PER_CALL} per call)");
        }
    }

    /// Counts one line of the current call; false once the call has used its share.
    fn admit(&self) -> bool {
        self.this_call.fetch_add(1, Ordering::Relaxed) < LINES_PER_CALL
    }

    /// Records one line and forwards it to the host log (unless the call has written too many).
    pub fn line(&self, source: LogSource, text: &str) {
        if self.admit() {
            self.show(source, text);
        }
    }

    /// Forwards one admitted line to the host log and keeps it among the recent ones.
    fn show(&self, source: LogSource, text: &str) {
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
                if self.log.admit() {
                    self.log.show(self.source, &String::from_utf8_lossy(line));
                }
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
        if bytes.len() > WRITE_PERMIT {
            return Err(StreamError::trap(&format!(
                "a write of {} bytes to {:?} is larger than the {WRITE_PERMIT} its check-write allows",
                bytes.len(),
                self.source
            )));
        }
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
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
        for i in 0..LINES_PER_CALL {
            bytes.extend_from_slice(format!("{i}\n").as_bytes());
        }
        bytes.extend_from_slice(b"tail");
        pipe.push(&bytes);
        let texts: Vec<String> = log.recent().into_iter().map(|l| l.text).collect();
        assert_eq!(texts.len(), RECENT_LINES);
        assert_eq!(texts.last().cloned(), Some((LINES_PER_CALL - 1).to_string()));
        log.begin_call();
        pipe.push(b"\n");
        assert_eq!(log.recent().last().map(|l| l.text.as_str()), Some("tail"));
    }

    #[test]
    fn a_call_shows_at_most_its_share_of_lines_and_counts_the_rest() {
        let log = PluginLog::new("s", 16);
        let pipe = LogPipe::new(log.clone(), LogSource::Stdout);
        log.begin_call();
        let newlines = vec![b'\n'; 2 << 20];
        let started = std::time::Instant::now();
        for chunk in newlines.chunks(WRITE_PERMIT) {
            pipe.clone().write(bytes::Bytes::copy_from_slice(chunk)).unwrap();
        }
        assert_eq!(log.this_call.load(Ordering::Relaxed), 2 << 20);
        log.end_call();
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        log.line(LogSource::Stdout, "next call");
        assert_eq!(log.recent().last().map(|l| l.text.as_str()), Some("next call"));
    }

    #[test]
    fn a_write_past_its_permit_is_refused() {
        let log = PluginLog::new("s", 16);
        let mut pipe = LogPipe::new(log, LogSource::Stdout);
        assert_eq!(pipe.check_write().unwrap(), WRITE_PERMIT);
        assert!(pipe.write(bytes::Bytes::from(vec![b'x'; WRITE_PERMIT + 1])).is_err());
        assert!(pipe.write(bytes::Bytes::from(vec![b'x'; WRITE_PERMIT])).is_ok());
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
