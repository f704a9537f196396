//! The dispatcher thread: hands journal events to the host's handler in `seq`
//! order and records each ack, so delivery is at-least-once across restarts.

use std::sync::Arc;
use std::time::Duration;

use log::{error, warn};
use parking_lot::Mutex;

use crate::engine::journal::JournalSignal;
use crate::event::Event;
use crate::store::Store;

/// The consumer name under which the handler's and pull-style acks are stored.
pub const DEFAULT_CONSUMER: &str = "default";

/// Events read from the journal per round.
const BATCH: usize = 256;
/// How long the dispatcher sleeps when no handler is set or nothing is new; it is
/// woken earlier by the journal signal.
pub(crate) const IDLE_WAIT: Duration = Duration::from_millis(250);
/// First and last wait before redelivering an event the handler did not ack.
pub(crate) const RETRY_MIN: Duration = Duration::from_millis(50);
pub(crate) const RETRY_MAX: Duration = Duration::from_secs(5);

/// The host's answer to one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    /// Processed: never deliver it again.
    Ok,
    /// Not processed: deliver it again later (delivery pauses until then).
    Retry,
}

/// A host callback receiving events in order.
pub type EventHandler = Box<dyn FnMut(&Event) -> Ack + Send>;

/// The slot holding the current handler; the dispatcher takes it out while calling
/// it, so a handler may replace itself or stop the engine from inside the call.
pub type HandlerSlot = Arc<Mutex<Option<EventHandler>>>;

/// Runs until the journal signal stops.
pub fn run(mut store: Store, handler: HandlerSlot, journal: Arc<JournalSignal>) {
    let mut acked = match store.acked_seq(DEFAULT_CONSUMER) {
        Ok(seq) => seq,
        Err(e) => {
            error!("event dispatcher cannot read its position: {e}");
            return;
        }
    };
    let mut retry_wait = RETRY_MIN;
    while !journal.is_stopping() {
        let Some(mut callback) = handler.lock().take() else {
            journal.wait_beyond(i64::MAX, IDLE_WAIT);
            continue;
        };
        // Another thread (pull-style ack) may have moved the position forward.
        if let Ok(seq) = store.acked_seq(DEFAULT_CONSUMER) {
            acked = acked.max(seq);
        }
        let outcome = deliver_batch(&mut store, &mut callback, &mut acked, &journal);
        {
            let mut slot = handler.lock();
            if slot.is_none() {
                *slot = Some(callback);
            }
        }
        match outcome {
            Delivery::Idle => {
                retry_wait = RETRY_MIN;
                journal.wait_beyond(acked, IDLE_WAIT);
            }
            Delivery::Progress => retry_wait = RETRY_MIN,
            Delivery::Refused => {
                journal.wait_beyond(i64::MAX, retry_wait);
                retry_wait = (retry_wait * 2).min(RETRY_MAX);
            }
        }
    }
}

/// What one round of delivery achieved.
pub(crate) enum Delivery {
    /// Nothing new to deliver.
    Idle,
    /// Events were delivered and acked.
    Progress,
    /// The handler refused an event (or the store failed): wait before trying again.
    Refused,
}

/// Delivers the events after `acked` (one batch) to `callback`, recording each ack.
pub(crate) fn deliver_batch(
    store: &mut Store,
    callback: &mut impl FnMut(&Event) -> Ack,
    acked: &mut i64,
    journal: &JournalSignal,
) -> Delivery {
    let events = match store.events_after(*acked, BATCH) {
        Ok(events) => events,
        Err(e) => {
            error!("event dispatcher cannot read the journal: {e}");
            return Delivery::Refused;
        }
    };
    if events.is_empty() {
        return Delivery::Idle;
    }
    for event in &events {
        if journal.is_stopping() {
            break;
        }
        match callback(event) {
            Ack::Ok => {
                if let Err(e) = store.ack(DEFAULT_CONSUMER, event.seq) {
                    error!("cannot record ack of event {}: {e}", event.seq);
                    return Delivery::Refused;
                }
                *acked = event.seq;
            }
            Ack::Retry => {
                warn!(
                    "handler refused event {}; it will be delivered again",
                    event.seq
                );
                return Delivery::Refused;
            }
        }
    }
    Delivery::Progress
}
