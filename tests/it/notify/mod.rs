mod discovery;
mod hostile;
mod listener;
mod subscriptions;
mod tls;
mod webhook;
