mod cli;
mod content;
mod delta;
mod generator;
mod http;
mod paths;
mod permissions;
mod subscriptions;
