mod bench_throttle;
mod chaos;
