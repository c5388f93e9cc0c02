//! The command line's own modules: its arguments ([`args`]).

pub mod args;
