//! Helpers of the reliability tests: a process-wide logger that keeps every message.

use std::sync::OnceLock;

use parking_lot::Mutex;

/// Every log line of the process, at every level, as `LEVEL target: message`.
pub struct CapturedLog {
    text: Mutex<String>,
}

impl log::Log for CapturedLog {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let line = format!(
            "{} {}: {}\n",
            record.level(),
            record.target(),
            record.args()
        );
        self.text.lock().push_str(&line);
    }

    fn flush(&self) {}
}

impl CapturedLog {
    /// All text logged so far.
    pub fn text(&self) -> String {
        self.text.lock().clone()
    }

    /// Whether some line logged so far contains `needle`.
    pub fn contains(&self, needle: &str) -> bool {
        self.text.lock().contains(needle)
    }
}

/// Installs the capturing logger at trace level (once per process: callers run in
/// their own, see [`crate::support::in_own_process`]) and returns it.
pub fn captured_log() -> &'static CapturedLog {
    static LOG: OnceLock<&'static CapturedLog> = OnceLock::new();
    LOG.get_or_init(|| {
        let log: &'static CapturedLog = Box::leak(Box::new(CapturedLog {
            text: Mutex::new(String::new()),
        }));
        log::set_logger(log).expect("no other logger in this process");
        log::set_max_level(log::LevelFilter::Trace);
        log
    })
}
