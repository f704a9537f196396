mod engine;
mod sim;
