mod audit;
mod secrets;
mod storage;
