mod cli;
mod engine;
mod fallback;
mod scope;
mod sim;
