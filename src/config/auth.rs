//! Authentication: how the service account or app signs in (the mode the
//! flags select, the credentials read for it, the account's name forms).

use super::*;
pub use crate::auth::ntlm::NtlmIdentity;
pub use crate::auth::Credentials;

/// How the service account authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMode {
    Basic,
    Ntlm,
    Token,
    App,
    RefreshToken,
    PasswordGrant,
    None,
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Basic => "basic",
            AuthMode::Ntlm => "ntlm",
            AuthMode::Token => "token",
            AuthMode::App => "app",
            AuthMode::RefreshToken => "refresh-token",
            AuthMode::PasswordGrant => "password-grant",
            AuthMode::None => "none",
        }
    }

    /// Modes that call EWS or Graph with an OAuth token.
    pub fn is_oauth(self) -> bool {
        matches!(
            self,
            AuthMode::App | AuthMode::Token | AuthMode::RefreshToken | AuthMode::PasswordGrant
        )
    }
}

/// How the check authenticates, holding exactly what each mode needs: a
/// mode without its credentials cannot be built.
#[derive(Debug, Clone)]
pub enum Auth {
    /// Discovery only: no credential is sent anywhere.
    None,
    /// The service account's password, sent as Basic.
    Basic { username: String, password: Secret },
    /// The service account's password, proven by NTLM (never sent).
    Ntlm { identity: NtlmIdentity, password: Secret },
    /// An access token given by the user, sent as Bearer.
    Token { token: Secret },
    /// App-only OAuth: client credentials.
    App(AppCredentials),
    /// Delegated OAuth: a refresh token or the service account's password (ROPC).
    Delegated(DelegatedCredentials),
}

impl Auth {
    pub fn mode(&self) -> AuthMode {
        match self {
            Auth::None => AuthMode::None,
            Auth::Basic { .. } => AuthMode::Basic,
            Auth::Ntlm { .. } => AuthMode::Ntlm,
            Auth::Token { .. } => AuthMode::Token,
            Auth::App(_) => AuthMode::App,
            Auth::Delegated(d) => match d.grant {
                DelegatedGrant::RefreshToken(_) => AuthMode::RefreshToken,
                DelegatedGrant::Password { .. } => AuthMode::PasswordGrant,
            },
        }
    }

    pub fn is_oauth(&self) -> bool {
        self.mode().is_oauth()
    }

    /// What autodiscover and EWS are called with directly (Basic, or the
    /// given token); OAuth grants get theirs from the token endpoint.
    pub fn credentials(&self) -> Option<Credentials> {
        match self {
            Auth::Basic { username, password } => Some(Credentials::Basic {
                username: username.clone(),
                password: password.clone(),
            }),
            Auth::Token { token } => Some(Credentials::Bearer { token: token.clone() }),
            Auth::Ntlm { identity, password } => Some(Credentials::Ntlm {
                identity: identity.clone(),
                password: password.clone(),
            }),
            Auth::None | Auth::App(_) | Auth::Delegated(_) => None,
        }
    }

    pub fn app(&self) -> Option<&AppCredentials> {
        match self {
            Auth::App(a) => Some(a),
            _ => None,
        }
    }

    pub fn delegated(&self) -> Option<&DelegatedCredentials> {
        match self {
            Auth::Delegated(d) => Some(d),
            _ => None,
        }
    }

    /// Whether the run holds any credential (password, token, app secret).
    pub fn holds_secret(&self) -> bool {
        !matches!(self, Auth::None)
    }

    /// The tenant named for an OAuth grant.
    pub fn tenant(&self) -> Option<&str> {
        match self {
            Auth::App(a) => Some(&a.tenant),
            Auth::Delegated(d) => Some(&d.tenant),
            _ => None,
        }
    }
}

/// OAuth client credentials (`--auth app`).
#[derive(Debug, Clone)]
pub struct AppCredentials {
    pub tenant: String,
    pub client_id: String,
    pub credential: AppCredential,
}

/// What proves the app's identity.
#[derive(Debug, Clone)]
pub enum AppCredential {
    Secret(Secret),
    /// A certificate (DER) and its private key (PEM): a signed client assertion.
    Certificate {
        certificate_der: Vec<u8>,
        private_key_pem: Secret,
        /// PS256 with `x5t#S256` instead of RS256 with `x5t`.
        pss: bool,
    },
}

/// How a delegated token is obtained for the service account.
#[derive(Debug, Clone)]
pub enum DelegatedGrant {
    RefreshToken(Secret),
    Password { username: String, password: Secret },
}

/// Delegated OAuth (`--auth refresh-token`, `--auth password-grant`).
#[derive(Debug, Clone)]
pub struct DelegatedCredentials {
    pub tenant: String,
    pub client_id: String,
    /// For confidential clients; public clients send none.
    pub client_secret: Option<Secret>,
    pub grant: DelegatedGrant,
}

/// Which secrets a command line supplies, for the mode inference.
#[derive(Debug, Clone, Copy, Default)]
pub struct Supplied {
    pub password: bool,
    pub token: bool,
    /// The token was named with `--access-token-env`/`--access-token-file`.
    pub explicit_token: bool,
    pub client_secret: bool,
    pub certificate: bool,
    pub client_id: bool,
}

/// The auth mode: `--auth`, else inferred from what was supplied. The one
/// place the mode is decided (the lab's configurations come through here too).
pub fn auth_mode(given: Option<AuthArg>, supplied: Supplied) -> AuthMode {
    match given {
        Some(AuthArg::Basic) => AuthMode::Basic,
        Some(AuthArg::Ntlm) => AuthMode::Ntlm,
        Some(AuthArg::Token) => AuthMode::Token,
        Some(AuthArg::App) => AuthMode::App,
        Some(AuthArg::RefreshToken) => AuthMode::RefreshToken,
        Some(AuthArg::PasswordGrant) => AuthMode::PasswordGrant,
        Some(AuthArg::None) => AuthMode::None,
        None if (supplied.client_secret || supplied.certificate) && supplied.client_id => AuthMode::App,
        None if supplied.token && supplied.explicit_token => AuthMode::Token,
        None if supplied.password => AuthMode::Basic,
        None if supplied.token => AuthMode::Token,
        None => AuthMode::None,
    }
}

/// The forms of a Windows logon name exprobe accepts for a service account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogonName<'a> {
    /// `user@domain`: a UPN, usually also the SMTP address.
    Upn(&'a str),
    /// `DOMAIN\user` (down-level logon name).
    DownLevel { domain: &'a str, user: &'a str },
    /// `user` alone: the server's default domain applies.
    Bare(&'a str),
}

/// Characters Active Directory refuses in a sAMAccountName.
pub(super) const NOT_IN_LOGON: &[char] = &[
    '"', '/', '\\', '[', ']', ':', ';', '|', '=', ',', '+', '*', '?', '<', '>', '@',
];

/// Parses `--service-account` as one of the [`LogonName`] forms.
pub fn logon_name(s: &str) -> Result<LogonName<'_>, String> {
    let user_ok = |u: &str| {
        !u.is_empty()
            && u.len() <= 104
            && !u.chars().any(|c| c.is_control() || NOT_IN_LOGON.contains(&c))
            && u.trim() == u
    };
    if s.contains('@') {
        return Ok(LogonName::Upn(s));
    }
    if let Some((domain, user)) = s.split_once('\\') {
        let domain_ok = !domain.is_empty()
            && domain.len() <= 15
            && domain.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !domain_ok {
            return Err(format!(
                "{s:?}: the domain part of DOMAIN\\user must be a NetBIOS name (1-15 letters, digits, - _ .)"
            ));
        }
        if !user_ok(user) {
            return Err(format!(
                "{s:?}: the user part of DOMAIN\\user is not a valid logon name"
            ));
        }
        return Ok(LogonName::DownLevel { domain, user });
    }
    if user_ok(s) {
        Ok(LogonName::Bare(s))
    } else {
        Err(format!("{s:?} is neither user@domain, DOMAIN\\user nor a logon name"))
    }
}

/// The service account's SMTP address: `--service-account-smtp`, or the UPN
/// given as `--service-account`. A logon name is checked here; the address
/// itself by the `input` probe (a finding, not an error).
pub(super) fn service_account_smtp(args: &CheckArgs, mode: AuthMode) -> Result<Option<String>, ConfigError> {
    let smtp = args.service_account_smtp.as_deref().map(|s| s.trim().to_string());
    let Some(account) = args.service_account.as_deref().map(str::trim) else {
        if smtp.is_some() {
            return Err(ConfigError::Invalid(
                "--service-account-smtp describes --service-account, which is missing".into(),
            ));
        }
        return Ok(None);
    };
    match logon_name(account).map_err(|e| ConfigError::Invalid(format!("--service-account {e}")))? {
        LogonName::Upn(upn) => Ok(smtp.or_else(|| Some(upn.to_string()))),
        LogonName::DownLevel { .. } | LogonName::Bare(_) => {
            if mode.is_oauth() {
                return Err(ConfigError::Invalid(format!(
                    "--auth {} signs in to Entra ID, which needs the service account as user@domain (its UPN), not {account:?}",
                    mode.as_str()
                )));
            }
            Ok(smtp)
        }
    }
}

/// `--app-home-tenant`: only for modes that name an app (a client id).
pub(super) fn app_home_tenant(args: &CheckArgs, mode: AuthMode) -> Result<Option<String>, ConfigError> {
    let Some(t) = &args.app_home_tenant else {
        return Ok(None);
    };
    if !matches!(mode, AuthMode::App | AuthMode::RefreshToken | AuthMode::PasswordGrant) {
        return Err(ConfigError::Invalid(format!(
            "--app-home-tenant needs an OAuth mode with an app (--auth app, refresh-token or password-grant), not --auth {}",
            mode.as_str()
        )));
    }
    let t = t.trim().to_ascii_lowercase();
    if t.is_empty() || t.contains(char::is_whitespace) || t.contains('/') {
        return Err(ConfigError::Invalid(
            "--app-home-tenant: give a tenant id (GUID) or one of the tenant's domains".into(),
        ));
    }
    Ok(Some(t))
}

pub(super) fn auth(args: &CheckArgs, secrets: &dyn SecretSource) -> Result<Auth, ConfigError> {
    if let Some(id) = args.client_id.as_deref().filter(|id| !is_guid(id)) {
        return Err(ConfigError::Invalid(format!(
            "--client-id {id:?}: expected the app's Application (client) ID, a GUID such as 2b7e1c9d-4a5f-4e3b-8c6d-0a1b2c3d4e5f"
        )));
    }
    let password = read_password(args, secrets)?;
    let token = read_token(args, secrets)?;
    let client_secret = read_client_secret(args, secrets)?;
    let mode = auth_mode(
        args.auth,
        Supplied {
            password: password.is_some(),
            token: token.is_some(),
            explicit_token: args.secrets.access_token_env.is_some() || args.secrets.access_token_file.is_some(),
            client_secret: client_secret.is_some(),
            certificate: args.secrets.certificate.is_some(),
            client_id: args.client_id.is_some(),
        },
    );
    let need = |what: &str| ConfigError::Invalid(format!("--auth {} needs {what}", mode.as_str()));
    Ok(match mode {
        // A service account without its password is a forgotten secret, not
        // a discovery-only run: only an explicit --auth none runs without one.
        AuthMode::None if args.auth.is_none() && args.service_account.is_some() => {
            return Err(ConfigError::Invalid(format!(
                "--service-account {} has no password: set {DEFAULT_PASSWORD_ENV}, or give --password-env VAR, --password-file FILE or --password-stdin (--auth none checks discovery only, without credentials)",
                args.service_account.as_deref().unwrap_or("")
            )));
        }
        AuthMode::None => Auth::None,
        AuthMode::Basic => Auth::Basic {
            username: args.service_account.clone().ok_or_else(|| need("--service-account ADDR"))?,
            password: password.ok_or_else(|| {
                need(&format!(
                    "a password: --password-env VAR, --password-file FILE, --password-stdin, or {DEFAULT_PASSWORD_ENV}"
                ))
            })?,
        },
        AuthMode::Ntlm => {
            let account = args.service_account.clone().ok_or_else(|| need("--service-account DOMAIN\\USER|ADDR"))?;
            let identity = NtlmIdentity::parse(&account, args.ntlm_domain.as_deref().map(str::trim))
                .map_err(|e| ConfigError::Invalid(format!("--service-account for NTLM: {e}")))?;
            Auth::Ntlm {
                identity,
                password: password.ok_or_else(|| {
                    need(&format!(
                        "a password: --password-env VAR, --password-file FILE, --password-stdin, or {DEFAULT_PASSWORD_ENV}"
                    ))
                })?,
            }
        }
        AuthMode::Token => Auth::Token {
            token: token.ok_or_else(|| {
                need(&format!(
                    "an access token: --access-token-env VAR, --access-token-file FILE, or {DEFAULT_ACCESS_TOKEN_ENV}"
                ))
            })?,
        },
        AuthMode::App => Auth::App(AppCredentials {
            tenant: args.tenant.clone().ok_or_else(|| need("--tenant ID|DOMAIN"))?,
            client_id: args.client_id.clone().ok_or_else(|| need("--client-id GUID"))?,
            credential: match (&args.secrets.certificate, &args.secrets.private_key) {
                (Some(cert), Some(key)) => {
                    read_certificate(cert, key, args.secrets.assertion_alg == crate::cli::AssertionAlg::Ps256)?
                }
                _ => AppCredential::Secret(client_secret.ok_or_else(|| {
                    need(&format!(
                        "a client secret (--client-secret-env VAR, --client-secret-file FILE, or {DEFAULT_CLIENT_SECRET_ENV}) or --certificate and --private-key"
                    ))
                })?),
            },
        }),
        AuthMode::RefreshToken | AuthMode::PasswordGrant => {
            let tenant = args.tenant.clone().ok_or_else(|| need("--tenant ID|DOMAIN"))?;
            let client_id = args.client_id.clone().ok_or_else(|| need("--client-id GUID"))?;
            let grant = if mode == AuthMode::RefreshToken {
                DelegatedGrant::RefreshToken(read_refresh_token(args, secrets)?.ok_or_else(|| {
                    need("a refresh token: --refresh-token-env VAR, --refresh-token-file FILE, or EXPROBE_REFRESH_TOKEN")
                })?)
            } else {
                DelegatedGrant::Password {
                    username: args.service_account.clone().ok_or_else(|| need("--service-account ADDR"))?,
                    password: password.ok_or_else(|| {
                        need("a password: --password-env VAR, --password-file FILE, --password-stdin or EXPROBE_PASSWORD")
                    })?,
                }
            };
            Auth::Delegated(DelegatedCredentials {
                tenant,
                client_id,
                client_secret,
                grant,
            })
        }
    })
}

pub(super) fn read_certificate(cert: &Path, key: &Path, pss: bool) -> Result<AppCredential, ConfigError> {
    let pem = std::fs::read(cert).map_err(|source| ConfigError::Read {
        what: "certificate",
        path: cert.display().to_string(),
        source,
    })?;
    let certificate_der = rustls_pemfile::certs(&mut &pem[..])
        .next()
        .and_then(Result::ok)
        .map(|c| c.to_vec())
        .ok_or_else(|| ConfigError::Invalid(format!("--certificate {}: no PEM certificate in it", cert.display())))?;
    let key_pem = std::fs::read_to_string(key).map_err(|source| ConfigError::ReadSecretFile {
        what: "private key",
        flag: "private-key",
        source,
    })?;
    if jsonwebtoken::EncodingKey::from_rsa_pem(key_pem.as_bytes()).is_err() {
        return Err(ConfigError::Invalid(format!(
            "--private-key {}: not an RSA private key in PEM",
            key.display()
        )));
    }
    Ok(AppCredential::Certificate {
        certificate_der,
        private_key_pem: Secret::new(key_pem),
        pss,
    })
}

/// 8-4-4-4-12 hexadecimal digits.
pub(super) fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}
