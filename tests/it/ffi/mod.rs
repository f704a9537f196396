mod abi;
mod engine;
mod fuzz;
mod host_notifications;
mod log;
mod log_conflict;
