mod cli;
mod engine;
mod scope;
mod sim;
