//! What makes a configuration unusable: the tool cannot run with these
//! arguments or inputs (exit code 3).

/// The tool cannot run with these arguments or inputs (exit code 3).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no mailbox given: use --mailbox ADDR or --mailboxes FILE")]
    NoMailbox,
    #[error("cannot read {what} from {path}: {source}")]
    Read {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    /// A file that should hold a secret: its path is never repeated (it may
    /// be the secret itself, pasted in the wrong place).
    #[error("cannot read the {what} file named by --{flag} (the path is not repeated: it might be the {what} itself): {source}")]
    ReadSecretFile {
        what: &'static str,
        flag: &'static str,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}
