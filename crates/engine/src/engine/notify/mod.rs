//! Change notifications, all in this module: the 202-first listener (optional) and
//! the validation handshake, the intake whose checks hosts that run their own HTTP
//! server share, clientState secrets, the subscription manager thread, and the sink
//! that turns verified notifications into scheduler, discovery and manager messages.
//!
//! TLS: Graph requires https. The listener serves it itself with
//! `webhook.tls_cert_file` / `tls_key_file`, or speaks plain HTTP behind a reverse
//! proxy that terminates TLS (point `webhook.public_url` at the proxy).

pub mod intake;
pub mod listener;
pub mod registry;
pub mod secret;
pub mod stats;
pub mod subscriptions;

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::Sender;
use log::warn;

pub use intake::{Intake, Signal, SignalSink};
pub use listener::{Listener, ListenerOptions, TlsIdentity};
pub use registry::{KnownSubscription, Registry};
pub use secret::ClientState;
pub use stats::{IntakeCounters, NotificationStats, Rejection};

use crate::config::WebhookConfig;
use crate::engine::messages::{ManagerMsg, SchedulerMsg, Wake};
use crate::error::{Error, Result};
use subscriptions::{ManagerContext, Watched};

/// What [`Engine::handle_notification`](crate::Engine::handle_notification) found in a body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NotificationReceipt {
    /// Notifications accepted (their drives will run delta).
    pub accepted: usize,
    /// Notifications rejected (unknown subscription or wrong clientState); counted in status.
    pub rejected: usize,
}

/// Turns verified signals into scheduler, discovery and manager messages; never blocks.
struct EngineSink {
    scheduler: Sender<SchedulerMsg>,
    manager: Sender<ManagerMsg>,
    discovery: Option<Sender<Wake>>,
}

impl SignalSink for EngineSink {
    fn deliver(&self, signals: Vec<Signal>) {
        for signal in signals {
            let sent = match signal {
                Signal::Changed { drive_id } => match Watched::from_key(&drive_id) {
                    Watched::Drive(_) => self.scheduler.send(SchedulerMsg::Dirty(drive_id)).is_ok(),
                    Watched::Sites => self.wake(Wake::Sites),
                    Watched::Groups => self.wake(Wake::Groups),
                },
                Signal::Lifecycle {
                    subscription_id,
                    drive_id,
                    event,
                } => self
                    .manager
                    .send(ManagerMsg::Lifecycle {
                        subscription_id,
                        drive_id,
                        event,
                    })
                    .is_ok(),
            };
            if !sent {
                warn!("notification arrived while the engine stops: ignored");
            }
        }
    }
}

impl EngineSink {
    fn wake(&self, wake: Wake) -> bool {
        self.discovery
            .as_ref()
            .is_some_and(|tx| tx.send(wake).is_ok())
    }
}

/// The running notification machinery of an engine.
pub(crate) struct Notifications {
    intake: Arc<Intake>,
    listener: Option<Listener>,
    manager_tx: Sender<ManagerMsg>,
    manager: Option<JoinHandle<()>>,
    delete_on_shutdown: bool,
    notification_url: String,
}

impl Notifications {
    /// Starts the listener (when `webhook.listen` is set), then the manager thread,
    /// which subscribes each drive once the listener can answer the handshake.
    /// `manager` carries everything but the notification URL, which is decided here.
    pub(crate) fn start(
        config: &WebhookConfig,
        intake_parts: (Arc<Registry>, Arc<IntakeCounters>),
        mut manager: ManagerContext,
    ) -> Result<Notifications> {
        let (manager_tx, manager_rx) = crossbeam_channel::unbounded();
        let sink = Arc::new(EngineSink {
            scheduler: manager.scheduler.clone(),
            manager: manager_tx.clone(),
            discovery: manager.discovery.clone(),
        });
        let intake = Arc::new(Intake::new(intake_parts.0, intake_parts.1, sink));
        let listener = match &config.listen {
            Some(listen) => Some(Listener::start(
                listen,
                ListenerOptions {
                    path: config.path.clone(),
                    max_body_bytes: config.max_body_bytes,
                    read_timeout: std::time::Duration::from_millis(config.read_timeout_ms),
                    threads: config.threads,
                    tls: tls_identity(config)?,
                },
                intake.clone(),
            )?),
            None => None,
        };
        let url = notification_url(config, listener.as_ref().map(Listener::local_addr))?;
        manager.notification_url = url.clone();
        let handle = std::thread::Builder::new()
            .name("m365sync-subscriptions".into())
            .spawn(move || subscriptions::run(manager, manager_rx))
            .map_err(Error::Io)?;
        Ok(Notifications {
            intake,
            listener,
            manager_tx,
            manager: Some(handle),
            delete_on_shutdown: config.delete_on_shutdown,
            notification_url: url,
        })
    }

    /// The URL subscriptions send notifications to.
    pub(crate) fn notification_url(&self) -> &str {
        &self.notification_url
    }

    /// The checks shared with hosts that serve notifications themselves.
    pub(crate) fn intake(&self) -> &Arc<Intake> {
        &self.intake
    }

    /// A sender to the subscription manager (discovery reports drives through it).
    pub(crate) fn manager(&self) -> Sender<ManagerMsg> {
        self.manager_tx.clone()
    }

    /// Whether stopping waits for Graph requests (deleting the subscriptions).
    pub(crate) fn deletes_on_shutdown(&self) -> bool {
        self.delete_on_shutdown
    }

    /// Stops the listener, then the manager (which may delete the subscriptions).
    pub(crate) fn stop(&mut self) {
        if let Some(mut listener) = self.listener.take() {
            listener.stop();
        }
        let _ = self.manager_tx.send(ManagerMsg::Stop);
        if let Some(handle) = self.manager.take() {
            if handle.join().is_err() {
                log::error!("the subscription manager panicked");
            }
        }
    }
}

/// The listener's certificate and key, read from `tls_cert_file` / `tls_key_file`.
fn tls_identity(config: &WebhookConfig) -> Result<Option<TlsIdentity>> {
    let (Some(cert), Some(key)) = (&config.tls_cert_file, &config.tls_key_file) else {
        return Ok(None);
    };
    // Parsed (and refused with the field's name) when the listener starts.
    let read = |field: &str, path: &std::path::Path| {
        std::fs::read(path).map_err(|e| {
            Error::Config(format!(
                "field `webhook.{field}`: cannot read {}: {e}",
                path.display()
            ))
        })
    };
    Ok(Some(TlsIdentity {
        certificate: read("tls_cert_file", cert)?,
        private_key: read("tls_key_file", key)?,
    }))
}

/// `webhook.public_url`, or, when absent, `{scheme}://{bound address}{path}` (https
/// with TLS) with an unspecified bind address (0.0.0.0) replaced by loopback.
pub fn notification_url(config: &WebhookConfig, bound: Option<SocketAddr>) -> Result<String> {
    if let Some(url) = &config.public_url {
        return Ok(url.clone());
    }
    let Some(mut addr) = bound else {
        return Err(Error::Config(
            "field `webhook.public_url`: required without webhook.listen".into(),
        ));
    };
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let scheme = if config.tls_cert_file.is_some() {
        "https"
    } else {
        "http"
    };
    Ok(format!("{scheme}://{addr}{}", config.path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_url_wins_and_is_otherwise_derived_from_the_bound_address() {
        let mut config = WebhookConfig {
            listen: Some("0.0.0.0:0".into()),
            ..WebhookConfig::default()
        };
        let bound: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert_eq!(
            notification_url(&config, Some(bound)).unwrap(),
            "http://127.0.0.1:8080/m365sync/notifications"
        );
        let v6: SocketAddr = "[::]:9".parse().unwrap();
        assert_eq!(
            notification_url(&config, Some(v6)).unwrap(),
            "http://[::1]:9/m365sync/notifications"
        );
        config.public_url = Some("https://hooks.example.com/x".into());
        assert_eq!(
            notification_url(&config, Some(bound)).unwrap(),
            "https://hooks.example.com/x"
        );
        config.public_url = None;
        assert!(notification_url(&config, None).is_err());
    }
}
