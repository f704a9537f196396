mod ffi;
mod parsers;
