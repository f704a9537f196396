//! `m365sync_set_log_callback`: the library's `log` records, forwarded to the host.

use std::cell::Cell;
use std::ffi::{c_char, c_void};

use parking_lot::{Mutex, RwLock};

use crate::error::Error;
use crate::ffi::event::UserData;
use m365sync_ffi_support::strings::to_cstring;
use m365sync_ffi_support::{FfiError, invalid_argument, m365sync_result};

/// Severity of a log message; a higher number is more verbose.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum m365sync_log_level {
    /// No messages (only as a maximum level).
    Off = 0,
    /// Failures that need attention.
    Error = 1,
    /// Problems m365sync works around (retries, throttling).
    Warn = 2,
    /// Milestones (engine started, crawl finished).
    Info = 3,
    /// Details for debugging.
    Debug = 4,
    /// Very verbose details.
    Trace = 5,
}

impl From<log::Level> for m365sync_log_level {
    fn from(level: log::Level) -> Self {
        match level {
            log::Level::Error => m365sync_log_level::Error,
            log::Level::Warn => m365sync_log_level::Warn,
            log::Level::Info => m365sync_log_level::Info,
            log::Level::Debug => m365sync_log_level::Debug,
            log::Level::Trace => m365sync_log_level::Trace,
        }
    }
}

/// Receives one log message. `target` is the Rust module that logged it (e.g.
/// `m365sync::engine`); both strings are borrowed for the call only.
pub type m365sync_log_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        level: m365sync_log_level,
        target: *const c_char,
        message: *const c_char,
    ),
>;

type LogFn = unsafe extern "C" fn(*mut c_void, m365sync_log_level, *const c_char, *const c_char);

/// The process-wide logger that forwards to the host's callback.
struct HostLogger {
    sink: RwLock<Option<(LogFn, UserData)>>,
}

static LOGGER: HostLogger = HostLogger {
    sink: RwLock::new(None),
};

/// Whether [`LOGGER`] is the process's logger.
static INSTALLED: Mutex<bool> = Mutex::new(false);

thread_local! {
    /// Set while this thread runs the host's log callback: messages logged from
    /// inside it are dropped instead of recursing.
    static IN_CALLBACK: Cell<bool> = const { Cell::new(false) };
}

impl log::Log for HostLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) || IN_CALLBACK.with(Cell::get) {
            return;
        }
        let sink = self.sink.read();
        let Some((callback, userdata)) = *sink else {
            return;
        };
        let target = to_cstring(record.target());
        let message = to_cstring(&record.args().to_string());
        IN_CALLBACK.with(|c| c.set(true));
        // SAFETY: the host registered a valid function; the strings live until it returns.
        unsafe {
            callback(
                userdata.0,
                record.level().into(),
                target.as_ptr(),
                message.as_ptr(),
            )
        };
        IN_CALLBACK.with(|c| c.set(false));
    }

    fn flush(&self) {}
}

/// Makes [`LOGGER`] the process's logger, once.
fn install() -> Result<(), Error> {
    let mut installed = INSTALLED.lock();
    if !*installed {
        log::set_logger(&LOGGER).map_err(|_| {
            Error::State(
                "another logger is already installed in this process (e.g. env_logger); \
                 m365sync logs go there"
                    .into(),
            )
        })?;
        *installed = true;
    }
    Ok(())
}

/// Forwards the library's log messages up to `max_level` (an `m365sync_log_level`)
/// to `callback`, replacing any previous callback; a NULL callback (or
/// `M365SYNC_LOG_LEVEL_OFF`) turns forwarding off. There is one log callback per
/// process. It may be called from any m365sync thread, concurrently, so it and
/// `userdata` must be thread-safe; a replacement waits for calls in progress.
/// Messages logged while the callback runs on the same thread are dropped, and
/// calling this function from inside the callback gives `M365SYNC_RESULT_STATE`.
/// When a Rust host has installed another `log` logger (e.g. env_logger), the
/// messages go there and this returns `M365SYNC_RESULT_STATE`.
///
/// # Safety
/// `callback` is NULL or a valid function that stays valid until it is replaced.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn m365sync_set_log_callback(
    max_level: u32,
    callback: m365sync_log_callback,
    userdata: *mut c_void,
) -> m365sync_result {
    ffi_panic_boundary! {
        let level = match max_level {
            0 => log::LevelFilter::Off,
            1 => log::LevelFilter::Error,
            2 => log::LevelFilter::Warn,
            3 => log::LevelFilter::Info,
            4 => log::LevelFilter::Debug,
            5 => log::LevelFilter::Trace,
            _ => return invalid_argument(&format!(
                "argument `max_level` must be an m365sync_log_level (0 to 5), got {max_level}"
            )),
        };
        if IN_CALLBACK.with(Cell::get) {
            return m365sync_ffi_support::failed(FfiError::new(
                m365sync_result::State,
                "the log callback cannot be changed from inside the log callback",
            ));
        }
        if callback.is_none() && !*INSTALLED.lock() {
            return m365sync_result::Ok;
        }
        try_rust!(install());
        *LOGGER.sink.write() = callback.map(|f| (f, UserData(userdata)));
        log::set_max_level(if callback.is_some() { level } else { log::LevelFilter::Off });
        m365sync_result::Ok
    }
}
