//! m365sync's development tools, run as subcommands of the `m365sync` CLI:
//! `bench` (crawl, notify and throttle benchmarks against the simulator), `chaos`
//! (randomized faults and SIGKILLs, then convergence checks) and [`verify`] (the
//! engine's mirror against the simulator's truth, also used by the demo and the tests).
//!
//! The harnesses start the engine as a child process through the running
//! executable (`m365sync run`, `m365sync sim`), so they are only called from the CLI.

pub mod bench;
pub mod chaos;
mod error;
pub mod verify;

pub use error::{Error, Result};

use crossbeam_channel::Receiver;
use m365sync::{Ack, Engine, Event};

/// Forwards every event of `engine` to the returned channel and acks it.
pub fn forward_events(engine: &Engine) -> Receiver<Event> {
    let (tx, events) = crossbeam_channel::unbounded::<Event>();
    engine.set_event_handler(move |event| {
        let _ = tx.send(event.clone());
        Ack::Ok
    });
    events
}
