//! The exit code table, one place for every command (the README shows it too).
//!
//! | code | meaning |
//! |------|---------|
//! | 0    | every check passed (`diff`: nothing got worse; `nagios`: OK) |
//! | 1    | a warning (`diff`: something got worse; `nagios`: WARNING) |
//! | 2    | a failure (`nagios`: CRITICAL) |
//! | 3    | exprobe itself could not work: usage, configuration, output |
//! | 130  | interrupted (Ctrl-C or SIGTERM), as shells report SIGINT |
//!
//! A run's code follows its worst finding; `--format nagios` applies its
//! thresholds instead (see [`crate::report::format::Format::exit_rule`]).

pub const PASS: i32 = 0;
pub const WARN: i32 = 1;
pub const FAIL: i32 = 2;
pub const TOOL_ERROR: i32 = 3;
pub const INTERRUPTED: i32 = 130;
