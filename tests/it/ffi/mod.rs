mod abi;
mod engine;
mod host_notifications;
mod log;
mod log_conflict;
