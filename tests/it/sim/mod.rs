mod cli;
mod delta;
mod generator;
mod http;
mod subscriptions;
