//! The log writer: tracing events are formatted on the thread that emits them and written
//! to stderr by one writer thread, many lines per `write`.
//!
//! With a line per request (the `proofless::access` log), writing each line to stderr from
//! the request's own thread cost ~10 % of the server's CPU at 6,000–8,000 requests/s (a
//! `write` system call and the stderr lock per line, measured against `RUST_LOG=warn`). The
//! writer thread wakes every 20 ms, writes everything queued through one buffer and
//! flushes, so a line appears within 20 ms and a busy server's lines are coalesced. Lines are never dropped: when the queue is full, the emitting thread waits.
//! [`flush`] waits until everything queued so far is written (called before the process
//! exits); a crash can lose only lines still queued.

use std::io::Write;
use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, Sender, SyncSender, TryRecvError, sync_channel};
use std::time::Duration;
use tracing_subscriber::fmt::MakeWriter;

/// Lines that may wait for the writer thread before emitters wait.
const QUEUE: usize = 16_384;
/// How often the writer thread writes what is queued: the longest a line waits.
const POLL: Duration = Duration::from_millis(20);

enum Msg {
    Line(Vec<u8>),
    Flush(Sender<()>),
}

/// A `MakeWriter` whose writers queue each formatted event for the writer thread.
#[derive(Clone)]
pub(crate) struct LogSink {
    tx: SyncSender<Msg>,
}

/// The sink of this process's global subscriber, for [`flush`].
static GLOBAL: OnceLock<LogSink> = OnceLock::new();

impl LogSink {
    /// Starts a writer thread that writes to `out`.
    pub(crate) fn new(out: Box<dyn Write + Send>) -> Self {
        let (tx, rx) = sync_channel(QUEUE);
        // If the thread cannot start, emitters' sends fail and their lines are lost;
        // logging must never stop the process.
        let _ = std::thread::Builder::new()
            .name("proofless-log".into())
            .spawn(move || write_all(&rx, out));
        Self { tx }
    }

    /// The stderr sink, installed once per process as the global one.
    pub(crate) fn stderr() -> Self {
        GLOBAL
            .get_or_init(|| Self::new(Box::new(std::io::stderr())))
            .clone()
    }

    /// Waits (at most `timeout`) until every line queued before the call is written.
    pub(crate) fn flush(&self, timeout: Duration) {
        let (ack, done) = std::sync::mpsc::channel();
        if self.tx.send(Msg::Flush(ack)).is_ok() {
            let _ = done.recv_timeout(timeout);
        }
    }
}

/// Flushes the global sink, if there is one (before the process exits).
pub(crate) fn flush() {
    if let Some(sink) = GLOBAL.get() {
        sink.flush(Duration::from_secs(5));
    }
}

fn write_all(rx: &Receiver<Msg>, out: Box<dyn Write + Send>) {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, out);
    let mut acks = Vec::new();
    loop {
        // The thread polls instead of blocking in `recv`: an emitter then never has to
        // wake it, which under load cost more than the writes saved.
        std::thread::sleep(POLL);
        loop {
            match rx.try_recv() {
                Ok(Msg::Line(l)) => {
                    let _ = out.write_all(&l);
                }
                Ok(Msg::Flush(ack)) => acks.push(ack),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    let _ = out.flush();
                    return;
                }
            }
        }
        let _ = out.flush();
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
    }
}

/// One event's bytes, queued as one line when the event is done.
pub(crate) struct LineWriter {
    buf: Vec<u8>,
    tx: SyncSender<Msg>,
}

impl Write for LineWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if !self.buf.is_empty() {
            let _ = self.tx.send(Msg::Line(std::mem::take(&mut self.buf)));
        }
    }
}

impl<'a> MakeWriter<'a> for LogSink {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        LineWriter {
            buf: Vec::with_capacity(256),
            tx: self.tx.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Lines from many threads arrive whole, each once, in each thread's order, and all
    /// of them are written by the time `flush` returns.
    #[test]
    fn lines_from_many_threads_are_written_whole_and_flushed() {
        let out = Captured::default();
        let sink = LogSink::new(Box::new(out.clone()));
        std::thread::scope(|s| {
            for t in 0..4 {
                let sink = &sink;
                s.spawn(move || {
                    for i in 0..2_000 {
                        let mut w = sink.make_writer();
                        // An event may be written in pieces; it is queued as one line.
                        write!(w, "thread {t} ").unwrap();
                        writeln!(w, "line {i}").unwrap();
                    }
                });
            }
        });
        sink.flush(Duration::from_secs(30));
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 8_000);
        for t in 0..4 {
            let mine: Vec<usize> = lines
                .iter()
                .filter_map(|l| l.strip_prefix(&format!("thread {t} line ")))
                .map(|n| n.parse().unwrap())
                .collect();
            assert_eq!(mine, (0..2_000).collect::<Vec<_>>());
        }
    }
}
