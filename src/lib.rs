//! minirt: a small single-threaded async runtime, built to be read.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]
pub mod io;
