//! Secrets: where passwords, client secrets and tokens come from (a
//! variable, a file, stdin), read once and never repeated in an error.

use super::*;

/// Where secrets come from; injectable so tests need not touch the process environment.
pub trait SecretSource {
    fn env(&self, name: &str) -> Option<String>;
    fn stdin_line(&self) -> std::io::Result<String>;
}

/// The real process environment and stdin.
#[derive(Debug)]
pub struct ProcessSecrets;

impl SecretSource for ProcessSecrets {
    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
    fn stdin_line(&self) -> std::io::Result<String> {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        Ok(line)
    }
}

pub const DEFAULT_PASSWORD_ENV: &str = "EXPROBE_PASSWORD";

pub const DEFAULT_ACCESS_TOKEN_ENV: &str = "EXPROBE_ACCESS_TOKEN";

pub const DEFAULT_CLIENT_SECRET_ENV: &str = "EXPROBE_CLIENT_SECRET";

pub const DEFAULT_REFRESH_TOKEN_ENV: &str = "EXPROBE_REFRESH_TOKEN";

/// Where one kind of secret may come from: `--NAME-env`, `--NAME-file`,
/// stdin (passwords only), or a default variable when that counts.
pub(super) struct SecretSources<'a> {
    what: &'static str,
    flag: &'static str,
    env: Option<&'a String>,
    file: Option<&'a PathBuf>,
    stdin: bool,
    default_env: Option<&'static str>,
    /// Tokens lose surrounding whitespace; passwords and secrets only a trailing CR.
    trim: bool,
}

/// `[A-Za-z_][A-Za-z0-9_]*`, at most 255 characters.
pub(super) fn is_variable_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 255
}

pub(super) fn read_secret(src: SecretSources<'_>, secrets: &dyn SecretSource) -> Result<Option<Secret>, ConfigError> {
    let raw = if let Some(var) = src.env {
        if !is_variable_name(var) {
            // Perhaps the secret itself, typed where its variable's name belongs: never repeat it.
            return Err(ConfigError::Invalid(format!(
                "--{}-env takes the name of an environment variable (letters, digits and _), and what was given is not a variable name; it is not shown, in case it is the {} itself",
                src.flag, src.what
            )));
        }
        Some(
            secrets
                .env(var)
                .ok_or_else(|| {
                    // A conventional name (SVC_PW) is repeated; anything else might be
                    // the secret itself typed in the wrong place (`Summer2024`).
                    let conventional = var
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
                    ConfigError::Invalid(if conventional {
                        format!("--{}-env {var}: the variable is not set", src.flag)
                    } else {
                        format!(
                            "--{}-env: the variable named there is not set (the name is not repeated: it is not in capitals, and might be the {} itself)",
                            src.flag, src.what
                        )
                    })
                })?,
        )
    } else if let Some(path) = src.file {
        Some(
            std::fs::read_to_string(path).map_err(|source| ConfigError::ReadSecretFile {
                what: src.what,
                flag: file_flag(src.flag),
                source,
            })?,
        )
    } else if src.stdin {
        Some(secrets.stdin_line().map_err(|source| ConfigError::Read {
            what: src.what,
            path: "stdin".into(),
            source,
        })?)
    } else {
        src.default_env.and_then(|v| secrets.env(v))
    };
    let Some(raw) = raw else { return Ok(None) };
    let first = raw.lines().next().unwrap_or("");
    let value = if src.trim {
        first.trim()
    } else {
        first.trim_end_matches('\r')
    };
    if value.is_empty() {
        return Err(ConfigError::Invalid(format!("the {} given is empty", src.what)));
    }
    Ok(Some(Secret::new(value)))
}

/// A secret named by a variable or a file (`serve`'s HTTP protection): the
/// same rules as the check's secrets, never the value in a message.
pub fn read_named_secret(
    what: &'static str,
    flag: &'static str,
    env: Option<&String>,
    file: Option<&PathBuf>,
    secrets: &dyn SecretSource,
) -> Result<Option<Secret>, ConfigError> {
    read_secret(
        SecretSources {
            what,
            flag,
            env,
            file,
            stdin: false,
            default_env: None,
            trim: true,
        },
        secrets,
    )
}

pub(super) fn read_password(args: &CheckArgs, secrets: &dyn SecretSource) -> Result<Option<Secret>, ConfigError> {
    let s = &args.secrets;
    // The default variable only counts for a run that names a service account:
    // a discovery-only run must not fail because it happens to be set.
    let default_env = args.service_account.is_some().then_some(DEFAULT_PASSWORD_ENV);
    let src = SecretSources {
        what: "password",
        flag: "password",
        env: s.password_env.as_ref(),
        file: s.password_file.as_ref(),
        stdin: s.password_stdin,
        default_env,
        trim: false,
    };
    read_secret(src, secrets)
}

pub(super) fn read_client_secret(args: &CheckArgs, secrets: &dyn SecretSource) -> Result<Option<Secret>, ConfigError> {
    let s = &args.secrets;
    let default_env = args.client_id.is_some().then_some(DEFAULT_CLIENT_SECRET_ENV);
    let src = SecretSources {
        what: "client secret",
        flag: "client-secret",
        env: s.client_secret_env.as_ref(),
        file: s.client_secret_file.as_ref(),
        stdin: false,
        default_env,
        trim: false,
    };
    read_secret(src, secrets)
}

pub(super) fn read_refresh_token(args: &CheckArgs, secrets: &dyn SecretSource) -> Result<Option<Secret>, ConfigError> {
    let s = &args.secrets;
    let src = SecretSources {
        what: "refresh token",
        flag: "refresh-token",
        env: s.refresh_token_env.as_ref(),
        file: s.refresh_token_file.as_ref(),
        stdin: false,
        default_env: Some(DEFAULT_REFRESH_TOKEN_ENV),
        trim: true,
    };
    read_secret(src, secrets)
}

pub(super) fn read_token(args: &CheckArgs, secrets: &dyn SecretSource) -> Result<Option<Secret>, ConfigError> {
    let s = &args.secrets;
    let src = SecretSources {
        what: "access token",
        flag: "access-token",
        env: s.access_token_env.as_ref(),
        file: s.access_token_file.as_ref(),
        stdin: false,
        default_env: Some(DEFAULT_ACCESS_TOKEN_ENV),
        trim: true,
    };
    read_secret(src, secrets)
}

/// The `--…-file` flag of a secret named by its `--…-env` stem.
pub(super) fn file_flag(stem: &'static str) -> &'static str {
    match stem {
        "password" => "password-file",
        "client-secret" => "client-secret-file",
        "refresh-token" => "refresh-token-file",
        "access-token" => "access-token-file",
        "basic-password" => "basic-password-file",
        "bearer-token" => "bearer-token-file",
        other => other,
    }
}
