mod cli;
mod delta;
mod generator;
mod http;
mod paths;
mod subscriptions;
