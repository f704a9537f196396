//! The engine under test: `m365sync run --print-events` as a child process whose
//! printed events are collected into the event log, killed with SIGKILL and restarted.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::events::EventLog;

/// A running engine process; killed when dropped.
pub struct EngineChild {
    child: Child,
    reader: Option<JoinHandle<()>>,
}

/// How to start the engine.
pub struct EngineCommand {
    /// The `m365sync` executable.
    pub exe: PathBuf,
    /// Its configuration file.
    pub config: PathBuf,
    /// Where its log (stderr) is appended, across restarts.
    pub log: PathBuf,
}

impl EngineCommand {
    /// Starts run number `run`; every event it prints goes to `log` under that number.
    pub fn spawn(&self, run: usize, events: &Arc<EventLog>) -> Result<EngineChild, String> {
        let stderr = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("cannot open {}: {e}", self.log.display()))?;
        let mut child = Command::new(&self.exe)
            .args(["run", "--print-events", "--config"])
            .arg(&self.config)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or("warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot start the engine: {e}"))?;
        let stdout = child.stdout.take().ok_or("the engine has no stdout")?;
        let events = events.clone();
        let reader = std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout);
            let mut line = String::new();
            // A line without its newline was cut by the kill: its event was not acked.
            while lines.read_line(&mut line).is_ok_and(|n| n > 0) && line.ends_with('\n') {
                events.record(run, line.trim_end());
                line.clear();
            }
        });
        Ok(EngineChild {
            child,
            reader: Some(reader),
        })
    }
}

impl EngineChild {
    /// The exit status if the process ended (on its own: chaos never stops it gently).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGKILL, then waits until every line it printed is in the log.
    pub fn kill(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

impl Drop for EngineChild {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The last lines of the engine's log, for a failure report.
pub fn log_tail(log: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
