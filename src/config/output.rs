//! Output: the format, where it goes, colour and the nagios thresholds.

use super::*;

#[derive(Debug, Clone)]
pub struct OutputConfig {
    pub format: Format,
    pub output: Option<PathBuf>,
    pub color: bool,
    pub show_http: bool,
    /// `-v`: every mailbox's steps in a bulk human report.
    pub verbose: bool,
    /// `--warning` / `--critical` for `--format nagios`.
    pub thresholds: crate::report::format::Thresholds,
    /// `--baseline`: the earlier run to compare with.
    pub baseline: Option<PathBuf>,
}

/// `NO_COLOR` present and not empty (no-color.org).
pub fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

pub(super) fn output(args: &CheckArgs) -> OutputConfig {
    OutputConfig {
        format: args.output.format,
        output: args.output.output.clone(),
        color: !args.output.no_color && !crate::config::no_color_env(),
        show_http: args.output.show_http,
        verbose: false,
        thresholds: crate::report::format::Thresholds {
            warning: args.output.warning.map_or(1, |n| n as usize),
            critical: args.output.critical.map_or(1, |n| n as usize),
        },
        baseline: args.baseline.clone(),
    }
}

/// `--warning` / `--critical` belong to `--format nagios`, warning at most critical.
pub(super) fn thresholds(args: &CheckArgs) -> Result<(), ConfigError> {
    let o = &args.output;
    if (o.warning.is_some() || o.critical.is_some()) && o.format != Format::Nagios {
        return Err(ConfigError::Invalid(
            "--warning and --critical are thresholds of --format nagios".into(),
        ));
    }
    if let (Some(w), Some(c)) = (o.warning, o.critical) {
        if w > c {
            return Err(ConfigError::Invalid(format!(
                "--warning {w} is above --critical {c}: a run would be critical before it warns"
            )));
        }
    }
    Ok(())
}
