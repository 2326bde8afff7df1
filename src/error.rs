//! The tool's own failures: what makes exprobe exit with
//! [`crate::exit::TOOL_ERROR`] rather than report a finding.

/// The tool itself could not work (exit code 3).
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    NetSetup(#[from] crate::net::http::NetSetupError),
    /// The lab (the demo's and the tests' simulated organization) could not start or load.
    #[error(transparent)]
    Lab(Box<dyn std::error::Error + Send + Sync>),
    #[error("cannot write output: {0}")]
    Output(std::io::Error),
    #[error("{0}")]
    Usage(String),
}
