//! Scenario files: the organization model the lab serves, what `check` is
//! run with, and the diagnosis codes a correct check must report (`expect`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("unknown scenario {0:?} (see `exprobe lab list`)")]
    Unknown(String),
    #[error("cannot read scenario {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("scenario {name}: {message}")]
    Invalid { name: String, message: String },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertState {
    #[default]
    Valid,
    Expired,
    WrongName,
    Untrusted,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostBehavior {
    /// Answer requests.
    #[default]
    Serve,
    /// Accept the connection, read the TLS ClientHello, never answer.
    Hang,
    /// Accept the connection and close it at once.
    Reset,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    Pox,
    Soap,
    V2,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutodiscoverAuth {
    /// Answer without credentials.
    #[default]
    None,
    /// 401 (Negotiate, NTLM, Basic) until a service account's Basic credentials come.
    Basic,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    pub mailboxes: Vec<String>,
    pub service_account: Option<String>,
    pub ews_url: Option<String>,
    pub autodiscover_url: Option<String>,
    /// Per-request timeout for this scenario's check (seconds).
    pub timeout: Option<f64>,
    /// The password the check sends, when it is not the service account's (a wrong one).
    pub password: Option<String>,
    /// `app` for OAuth client credentials (default: Basic with a service account, else none).
    pub auth: Option<String>,
    pub tenant: Option<String>,
    pub client_id: Option<String>,
    /// The client secret the check sends (default: the app's first unexpired secret).
    pub client_secret: Option<String>,
    /// `ews`, `graph` or `both`.
    pub api: Option<String>,
    /// `auth = "token"`: the lab mints this token at start and the check is given it.
    pub token: Option<GivenTokenSpec>,
    /// `auth = "app"` with this certificate key set instead of a secret (`app-client`, `other-client`).
    pub certificate: Option<String>,
    /// `rs256` (default) or `ps256`.
    pub assertion_alg: Option<String>,
    /// `--app-home-tenant`: the app is a vendor's, registered in this tenant.
    pub app_home_tenant: Option<String>,
    /// `--service-account-smtp` (with a logon name as `service_account`).
    pub service_account_smtp: Option<String>,
    /// `--cloud` (`global` when absent).
    pub cloud: Option<String>,
    /// What the checked product needs: `--folders`, `--write-test`, `--graph-calls`, `--connecting-sid`.
    #[serde(default)]
    pub folders: Vec<String>,
    #[serde(default)]
    pub write_test: bool,
    #[serde(default)]
    pub graph_calls: Vec<String>,
    pub connecting_sid: Option<String>,
}

/// A token the lab mints for a `token`-mode check.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GivenTokenSpec {
    pub client_id: String,
    /// `https://outlook.office365.com` or `https://graph.microsoft.com`.
    pub audience: String,
    #[serde(default)]
    pub expired: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpRedirectSpec {
    #[serde(default = "default_redirect_status")]
    pub status: u16,
    pub location: String,
    /// `post_redirect` only: answer the redirect only to a request whose
    /// credentials the lab accepted (a 401 first when autodiscover asks for them).
    #[serde(default)]
    pub after_auth: bool,
    /// `http_redirect` only: `location` is a base; the request's path is
    /// appended (as Microsoft's redirector for autodiscover.outlook.com does).
    #[serde(default)]
    pub keep_path: bool,
}

fn default_redirect_status() -> u16 {
    302
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    pub name: String,
    /// Autodiscover endpoints served on this host.
    #[serde(default)]
    pub autodiscover: Vec<Endpoint>,
    #[serde(default)]
    pub behavior: HostBehavior,
    /// Overrides the scenario's certificate state for this host.
    pub certificate: Option<CertState>,
    /// Port 80: `GET /autodiscover/autodiscover.xml` answers this redirect.
    pub http_redirect: Option<HttpRedirectSpec>,
    /// The schemes this host's 401 offers and accepts, when not the
    /// organization's `exchange.auth_schemes` (e.g. Windows authentication
    /// on the internal name only).
    pub auth_schemes: Option<Vec<AuthScheme>>,
    /// HTTPS: autodiscover POSTs answer this redirect instead of a body.
    pub post_redirect: Option<HttpRedirectSpec>,
    /// Delay before every answer on this host, in milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
    /// Serves EWS at /EWS/Exchange.asmx.
    #[serde(default)]
    pub ews: bool,
    /// Serves Entra ID (login.microsoftonline.com): discovery, realm, token endpoint, keys.
    #[serde(default)]
    pub entra: bool,
    /// Serves Microsoft Graph's two mailbox calls.
    #[serde(default)]
    pub graph: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    pub address: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub display_name: Option<String>,
    #[serde(default = "yes")]
    pub mailbox: bool,
    /// Autodiscover answers redirectAddr / RedirectAddress to this address.
    pub redirect_addr: Option<String>,
    /// Autodiscover answers redirectUrl / RedirectUrl to this URL.
    pub redirect_url: Option<String>,
    /// This user's EWS URL, when not the organization's.
    pub ews_url: Option<String>,
    /// Groups the user is a member of (impersonation scopes).
    #[serde(default)]
    pub groups: Vec<String>,
    /// Distinguished folders GetFolder, FindItem and the other folder
    /// operations answer ErrorAccessDenied for.
    #[serde(default)]
    pub denied_folders: Vec<String>,
    /// The user principal name ConnectingSID `PrincipalName` names; the
    /// primary address when not given (as most Exchange Online tenants).
    pub upn: Option<String>,
    /// The security identifier ConnectingSID `SID` names; derived from the
    /// address when not given.
    pub sid: Option<String>,
    /// The mailbox's `EwsEnabled` (Get-CASMailbox); absent is `$null`.
    pub ews_enabled: Option<bool>,
    /// Recipient properties management scopes filter on (`Department`,
    /// `CustomAttribute1`, `Office`, …); `PrimarySmtpAddress`,
    /// `EmailAddresses`, `MemberOfGroup` and `RecipientTypeDetails` come from
    /// the fields above.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

impl UserSpec {
    /// The UPN ConnectingSID `PrincipalName` names.
    pub fn upn(&self) -> &str {
        self.upn.as_deref().unwrap_or(&self.address)
    }

    /// The SID ConnectingSID `SID` names: the given one, or one derived from
    /// the address (a domain part per mail domain, a relative id per user).
    pub fn sid(&self) -> String {
        if let Some(sid) = &self.sid {
            return sid.clone();
        }
        let hash = |text: &str| {
            text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(0x0100_0000_01b3)
            })
        };
        let domain = hash(self.address.rsplit_once('@').map_or("", |(_, d)| d));
        let rid = 1000 + hash(&self.address) % 1_000_000;
        format!(
            "S-1-5-21-{}-{}-{}-{rid}",
            domain % 4_000_000_000,
            (domain >> 20) % 4_000_000_000,
            (domain >> 40) % 4_000_000_000
        )
    }
}

/// An Entra ID tenant and its verified domains.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSpec {
    pub id: String,
    pub name: String,
    pub domains: Vec<String>,
    /// Federated domains (getuserrealm NameSpaceType Federated); else Managed.
    #[serde(default)]
    pub federated: bool,
    /// The Microsoft cloud the tenant lives in (`global`, `usgov-gcchigh`, `usgov-dod`, `china`).
    #[serde(default)]
    pub cloud: crate::cloud::Cloud,
    /// This tenant's own `EwsEnabled`, where a scenario holds several
    /// organizations (a vendor's fleet); with `ews_allowed_app_ids` it
    /// replaces `exchange`'s for callers of this tenant.
    pub ews_enabled: Option<bool>,
    /// This tenant's own `EwsAllowedAppIDs` (see `ews_enabled`).
    pub ews_allowed_app_ids: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSecretSpec {
    pub value: String,
    #[serde(default)]
    pub expired: bool,
}

/// An app registration and its service principals.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSpec {
    pub client_id: String,
    /// Home tenant id.
    pub tenant: String,
    pub display_name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub secrets: Vec<AppSecretSpec>,
    /// Application permissions with admin consent (full_access_as_app, Mail.Read, User.Read.All, ...).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Other tenants where the app has a service principal (multi-tenant apps).
    #[serde(default)]
    pub consented_in: Vec<String>,
    /// Lifetime of the tokens issued to it, in seconds (negative: already expired).
    #[serde(default = "default_token_lifetime")]
    pub token_lifetime_secs: i64,
    /// An application access policy: Graph mail access only to members of this group.
    pub access_policy_group: Option<String>,
    /// The policy's denial says `[RAOP] : Blocked by tenant configured AppOnly AccessPolicy
    /// settings.` (false: only "Access to OData is disabled.", as in Microsoft's Graph docs).
    #[serde(default = "yes")]
    pub access_policy_raop: bool,
    /// false: Graph cannot find the app's service principal (Authorization_IdentityNotFound).
    #[serde(default = "yes")]
    pub graph_identity: bool,
    /// A public client: delegated grants without a client secret.
    #[serde(default)]
    pub public_client: bool,
    /// Certificate credentials registered on the app (key set names).
    #[serde(default)]
    pub certificates: Vec<String>,
    /// Graph answers the first N calls with 429 and `Retry-After: 1`.
    #[serde(default)]
    pub graph_throttle_first: u32,
}

fn default_token_lifetime() -> i64 {
    3599
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountSpec {
    pub address: String,
    /// The down-level logon name (`CONTOSO\svc-sync`): Basic accepts it, and
    /// its user part alone (the server's default domain), besides the UPN.
    pub logon: Option<String>,
    pub password: String,
    #[serde(default = "yes")]
    pub mailbox: bool,
    /// Holds the ApplicationImpersonation role (ms-Exch-EPI-May-Impersonate).
    #[serde(default)]
    pub application_impersonation: bool,
    /// The role's scope: members of this group only (none: the whole organization).
    pub impersonation_scope_group: Option<String>,
    /// ms-Exch-EPI-Impersonation on the Client Access server (missing: ErrorImpersonationDenied).
    #[serde(default = "yes")]
    pub server_impersonation: bool,
    /// The account's OAuth refresh token (lab data).
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub refresh_token_expired: bool,
    /// The password grant needs MFA for this account (AADSTS50076).
    #[serde(default)]
    pub mfa_required: bool,
    /// CreateItem as this account (impersonating) answers ErrorAccessDenied.
    #[serde(default)]
    pub write_denied: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeSpec {
    /// The organization's EWS URL, returned by autodiscover.
    pub ews_url: Option<String>,
    /// The internal EWS URL (POX `EXCH`, SOAP `InternalEwsUrl`), when not the same.
    pub internal_ews_url: Option<String>,
    #[serde(default)]
    pub autodiscover_auth: AutodiscoverAuth,
    /// Exchange Online (what autodiscover says in MicrosoftOnline).
    #[serde(default)]
    pub online: bool,
    /// Schemes offered in `WWW-Authenticate` on a 401, in order.
    #[serde(default = "default_schemes")]
    pub auth_schemes: Vec<AuthScheme>,
    /// The organization's `EwsEnabled` (Get-OrganizationConfig): absent is
    /// `$null`. On premises `false` turns EWS off unless the mailbox says
    /// `true`; in Exchange Online (since April 2025) `false` at either level
    /// blocks, and from 1 October 2026 `$null` counts as `false`.
    pub ews_enabled: Option<bool>,
    /// `EwsAllowedAppIDs`: with `ews_enabled = true` in Exchange Online, only
    /// these apps (client ids) may use EWS; without effect otherwise.
    #[serde(default)]
    pub ews_allowed_app_ids: Vec<String>,
    /// `EwsApplicationAccessPolicy` with `EwsAllowList` / `EwsBlockList`
    /// (User-Agent patterns, `*` wildcards).
    pub ews_application_access_policy: Option<EwsAccessPolicy>,
    #[serde(default)]
    pub ews_allow_list: Vec<String>,
    #[serde(default)]
    pub ews_block_list: Vec<String>,
    /// The first N impersonated requests get ErrorServerBusy.
    #[serde(default)]
    pub busy_first_impersonations: u32,
    /// More than this many EWS requests at once get ErrorServerBusy.
    pub concurrency_limit: Option<u32>,
    /// BackOffMilliseconds sent with ErrorServerBusy.
    #[serde(default = "default_back_off")]
    pub busy_back_off_ms: u64,
    /// Negotiate takes Kerberos only (NTLM restricted by policy): an NTLM
    /// token, bare or inside Negotiate, gets the plain challenge again.
    #[serde(default)]
    pub kerberos_only: bool,
    /// Extended Protection for Authentication: an NTLM AUTHENTICATE message
    /// must carry this TLS connection's `tls-server-end-point` binding when it
    /// carries one (a binding of another certificate fails).
    #[serde(default)]
    pub extended_protection: bool,
    /// Extended Protection "Require" (IIS): an AUTHENTICATE without a channel
    /// binding is refused too (`extended_protection` alone is "Accept": checked when sent).
    #[serde(default)]
    pub extended_protection_required: bool,
    /// The status of EWS's answer to a token without the permission (x-ms-diagnostics
    /// 2000008): 403, or 401 with a Bearer challenge as Exchange Online also answers.
    #[serde(default = "default_missing_permission_status")]
    pub missing_permission_status: u16,
}

fn default_missing_permission_status() -> u16 {
    403
}

fn default_back_off() -> u64 {
    250
}

/// `EwsApplicationAccessPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EwsAccessPolicy {
    /// Only User-Agents on `EwsAllowList` may use EWS.
    EnforceAllowList,
    /// User-Agents on `EwsBlockList` may not.
    EnforceBlockList,
}

/// An Exchange service principal (`New-ServicePrincipal`): the pointer to an
/// Entra app that Exchange's role assignments name.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicePrincipalSpec {
    pub app_id: String,
    pub object_id: String,
    pub display_name: String,
}

/// A management scope (`New-ManagementScope -RecipientRestrictionFilter`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagementScopeSpec {
    pub name: String,
    /// The recipient filter, in OPATH (see [`crate::opath`]).
    pub filter: String,
}

/// An administrative unit (Entra) and its members' addresses.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminUnitSpec {
    pub name: String,
    pub id: String,
    #[serde(default)]
    pub members: Vec<String>,
}

/// An application role assignment (`New-ManagementRoleAssignment -App`):
/// RBAC for Applications, independent of the app's Entra consent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleAssignmentSpec {
    pub name: String,
    /// The app's client id (it must have an Exchange service principal).
    pub app: String,
    /// `Application EWS.AccessAsApp`, `Application Mail.Read`, …
    pub role: String,
    /// `-CustomResourceScope`: a management scope's name.
    pub scope: Option<String>,
    /// `-RecipientAdministrativeUnitScope`: an administrative unit's name.
    pub admin_unit: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthScheme {
    Negotiate,
    Ntlm,
    Basic,
    Bearer,
}

fn default_schemes() -> Vec<AuthScheme> {
    vec![AuthScheme::Negotiate, AuthScheme::Ntlm, AuthScheme::Basic]
}

impl Default for ExchangeSpec {
    fn default() -> Self {
        ExchangeSpec {
            ews_url: None,
            internal_ews_url: None,
            autodiscover_auth: AutodiscoverAuth::None,
            online: false,
            auth_schemes: default_schemes(),
            ews_enabled: None,
            ews_allowed_app_ids: vec![],
            ews_application_access_policy: None,
            ews_allow_list: vec![],
            ews_block_list: vec![],
            busy_first_impersonations: 0,
            concurrency_limit: None,
            busy_back_off_ms: default_back_off(),
            kerberos_only: false,
            extended_protection: false,
            extended_protection_required: false,
            missing_permission_status: default_missing_permission_status(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SrvRecord {
    pub name: String,
    pub priority: u16,
    #[serde(default)]
    pub weight: u16,
    pub port: u16,
    pub target: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MxRecord {
    pub name: String,
    #[serde(default = "default_preference")]
    pub preference: u16,
    pub exchange: String,
}

fn default_preference() -> u16 {
    10
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CnameRecord {
    pub name: String,
    pub target: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsSpec {
    /// Names with an A record to the lab (besides every `[[hosts]]` name).
    #[serde(default)]
    pub a: Vec<String>,
    #[serde(default)]
    pub cname: Vec<CnameRecord>,
    #[serde(default)]
    pub srv: Vec<SrvRecord>,
    #[serde(default)]
    pub mx: Vec<MxRecord>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSpec {
    #[serde(default)]
    pub certificate: CertState,
}

/// A pinned raw answer, to replay a captured real-world response.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawResponse {
    pub host: String,
    pub path: String,
    /// `*` or an HTTP method.
    #[serde(default = "any_method")]
    pub method: String,
    #[serde(default = "ok_status")]
    pub status: u16,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub body: Option<String>,
    /// Relative to the scenario file (built-ins: `fixtures/bodies/`).
    pub body_file: Option<String>,
    /// Only requests whose body contains this (e.g. `ExchangeImpersonation`, `GetFolder`).
    pub body_contains: Option<String>,
    /// Only requests whose body does not contain this.
    pub body_lacks: Option<String>,
    /// Only requests carrying this header (e.g. `Authorization`).
    pub with_header: Option<String>,
    /// Only requests without this header (e.g. the unauthenticated reach probe).
    pub without_header: Option<String>,
    /// Only the n-th matching request (1-based): "sign-in works, then the second call is denied".
    pub nth: Option<u64>,
    /// Only the first n matching requests: "busy once, then fine".
    pub first: Option<u64>,
}

impl RawResponse {
    /// Whether this rule is about `request` (before `nth`/`first`, which count matches).
    pub fn matches(&self, host: &str, path: &str, method: &str, headers: &[(String, String)], body: &[u8]) -> bool {
        let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        let text = String::from_utf8_lossy(body);
        self.host.eq_ignore_ascii_case(host)
            && self.path.eq_ignore_ascii_case(path)
            && (self.method == "*" || self.method.eq_ignore_ascii_case(method))
            && self.body_contains.as_deref().is_none_or(|s| text.contains(s))
            && self.body_lacks.as_deref().is_none_or(|s| !text.contains(s))
            && self.with_header.as_deref().is_none_or(has)
            && self.without_header.as_deref().is_none_or(|h| !has(h))
    }

    /// Whether the `n`-th matching request (1-based) gets this answer.
    pub fn answers(&self, n: u64) -> bool {
        self.nth.is_none_or(|k| n == k) && self.first.is_none_or(|k| n <= k)
    }
}

fn any_method() -> String {
    "*".into()
}

fn ok_status() -> u16 {
    200
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub expect: Vec<String>,
    pub check: CheckSpec,
    #[serde(default)]
    pub exchange: ExchangeSpec,
    #[serde(default)]
    pub tls: TlsSpec,
    #[serde(default)]
    pub dns: DnsSpec,
    #[serde(default)]
    pub hosts: Vec<HostSpec>,
    #[serde(default)]
    pub users: Vec<UserSpec>,
    #[serde(default)]
    pub service_accounts: Vec<ServiceAccountSpec>,
    #[serde(default)]
    pub tenants: Vec<TenantSpec>,
    #[serde(default)]
    pub apps: Vec<AppSpec>,
    #[serde(default)]
    pub responses: Vec<RawResponse>,
    /// RBAC for Applications: Exchange service principals, scopes, assignments.
    #[serde(default)]
    pub service_principals: Vec<ServicePrincipalSpec>,
    #[serde(default)]
    pub management_scopes: Vec<ManagementScopeSpec>,
    #[serde(default)]
    pub admin_units: Vec<AdminUnitSpec>,
    #[serde(default)]
    pub role_assignments: Vec<RoleAssignmentSpec>,
    /// The admin who signs in with the device authorization grant (the admin view).
    pub admin: Option<AdminSpec>,
    /// Expectations for another phase of Exchange Online's EWS than
    /// enforcement (`expect`): `permissive` (before 1 October 2026) and
    /// `shut_down` (from 1 April 2027), where they differ.
    #[serde(default)]
    pub expect_in: ExpectIn,
    /// The day the lab's Exchange Online lives on, for a scenario about a
    /// later phase (absent: the clock's day).
    pub today: Option<toml::value::Datetime>,
    /// Bodies of `responses`, loaded when the scenario is.
    #[serde(skip)]
    pub bodies: BTreeMap<String, Vec<u8>>,
}

/// The person who signs in as the admin, with the device authorization
/// grant (RFC 8628): who, with which public client, and what they do at the
/// browser after the client has polled a while.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSpec {
    /// The public client the admin signs in with (an `[[apps]]` entry with `public_client = true`).
    pub client_id: String,
    /// The admin's user principal name.
    pub account: String,
    /// approve, decline, or let the code expire.
    #[serde(default)]
    pub device_answer: DeviceAnswer,
    /// `authorization_pending` answers before the person at the browser acts.
    #[serde(default = "one")]
    pub pending_polls: u32,
    /// Of the polls, the first N are answered `slow_down` (RFC 8628 §3.5;
    /// Entra ID's page does not list it, MSAL handles it).
    #[serde(default)]
    pub slow_down_polls: u32,
    /// The polling interval the devicecode endpoint announces, in seconds.
    #[serde(default = "one_second")]
    pub interval: u64,
}

fn one() -> u32 {
    1
}

fn one_second() -> u64 {
    1
}

/// What the person at the browser does with the code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceAnswer {
    #[default]
    Approve,
    Decline,
    Expire,
}

/// A scenario's expectations in the other phases (absent: as `expect`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectIn {
    pub permissive: Option<Vec<String>>,
    pub shut_down: Option<Vec<String>>,
}

macro_rules! builtin {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../fixtures/scenarios/", $name, ".toml")))),*]
    };
}

/// Built-in scenarios, in `lab list` order.
pub const BUILTIN: &[(&str, &str)] = builtin![
    "autodiscover-pox-root",
    "autodiscover-soap-host",
    "autodiscover-http-redirect",
    "autodiscover-online-cname",
    "autodiscover-srv",
    "autodiscover-v2-online",
    "autodiscover-redirect-addr",
    "autodiscover-redirect-loop",
    "autodiscover-too-many-redirects",
    "autodiscover-insecure-redirect",
    "autodiscover-user-not-found",
    "autodiscover-bad-namespace",
    "autodiscover-unreachable-first",
    "dns-domain-not-found",
    "tls-expired",
    "tls-wrong-name",
    "tls-untrusted",
    "ews-onprem-healthy",
    "ews-ntlm-healthy",
    "ews-ntlm-internal-only",
    "ews-ntlm-rejected",
    "ews-negotiate-only",
    "ews-app-token-401-no-permissions",
    "graph-access-policy-no-raop",
    "ews-fault-faultcode-only",
    "ews-fault-unprefixed-whitespace",
    "ews-fault-unknown-responsecode",
    "ews-localized-messagetext",
    "autodiscover-pox-error-600",
    "autodiscover-pox-error-501",
    "autodiscover-redirect-self",
    "ews-onprem-logon-name",
    "ews-impersonation-denied",
    "ews-impersonation-scope-excludes",
    "ews-impersonation-server-denied",
    "ews-mailbox-not-found",
    "ews-alias-address",
    "ews-alias-primary-smtp-denied",
    "ews-domain-mismatch",
    "ews-service-account-no-mailbox",
    "ews-credentials-rejected",
    "ews-basic-on-online",
    "ews-disabled",
    "ews-throttled-recovers",
    "ews-url-mismatch",
    "online-app-healthy",
    "oauth-invalid-secret",
    "oauth-secret-expired",
    "oauth-app-not-found",
    "oauth-tenant-not-found",
    "oauth-consent-missing",
    "oauth-vendor-consent-missing",
    "ews-app-token-scope-missing",
    "graph-access-policy-denied",
    "graph-identity-not-found",
    "graph-insufficient-privileges",
    "graph-mailbox-not-found",
    "online-cross-tenant",
    "token-expired",
    "token-wrong-audience",
    "online-delegated-impersonation-denied",
    "oauth-refresh-token-expired",
    "oauth-mfa-required",
    "online-app-certificate-healthy",
    "online-gcchigh-app-healthy",
    "online-gcchigh-wrong-cloud",
    "oauth-certificate-rejected",
    "seed-email-integration-healthy",
    "seed-email-integration-role-missing",
    "seed-crm-exchange-sync-healthy",
    "seed-crm-exchange-sync-user-outside-scope",
    "seed-sales-intelligence-healthy",
    "seed-sales-intelligence-consent-missing",
    "seed-mail-api-platform-healthy",
    "seed-mail-api-platform-alias",
    "seed-sales-sidebar-healthy",
    "seed-sales-sidebar-no-mailbox",
    "exo-ews-app-not-allowed",
    "exo-ews-org-disabled",
    "exo-ews-mailbox-disabled",
    "exo-ews-allow-list-empty",
    "exo-ews-after-shutdown",
    "seed-email-integration-exo-healthy",
    "seed-email-integration-exo-not-allow-listed",
    "seed-crm-exchange-sync-exo-healthy",
    "seed-crm-exchange-sync-exo-user-outside-scope",
    "seed-mail-api-platform-exo-healthy",
    "seed-mail-api-platform-exo-service-account",
    "seed-sales-sidebar-exo-healthy",
    "seed-sales-sidebar-exo-ews-disabled",
    "exo-rbac-scope-excludes",
    "exo-rbac-autodiscover",
    "exo-consent-overrides-scope",
    "exo-graph-ready",
    "exo-graph-not-ready",
];

/// Body files the built-in scenarios refer to.
const BUILTIN_BODIES: &[(&str, &[u8])] = &[(
    "pox-https-namespace.xml",
    include_bytes!("../../fixtures/bodies/pox-https-namespace.xml"),
)];

impl Scenario {
    pub fn parse(text: &str, base: Option<&Path>) -> Result<Scenario, ScenarioError> {
        let mut s: Scenario = toml::from_str(text).map_err(|e| ScenarioError::Invalid {
            name: base
                .map(|b| b.display().to_string())
                .unwrap_or_else(|| "(built-in)".into()),
            message: e.to_string(),
        })?;
        for r in &s.responses {
            let Some(file) = &r.body_file else { continue };
            let body = match base {
                Some(dir) => std::fs::read(dir.join(file)).map_err(|source| ScenarioError::Read {
                    path: dir.join(file).display().to_string(),
                    source,
                })?,
                None => BUILTIN_BODIES
                    .iter()
                    .find(|(n, _)| n == file)
                    .map(|(_, b)| b.to_vec())
                    .ok_or_else(|| ScenarioError::Invalid {
                        name: s.name.clone(),
                        message: format!("no built-in body file {file:?}"),
                    })?,
            };
            s.bodies.insert(file.clone(), body);
        }
        s.validate()?;
        Ok(s)
    }

    pub fn builtin(name: &str) -> Result<Scenario, ScenarioError> {
        let (_, text) = BUILTIN
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| ScenarioError::Unknown(name.to_string()))?;
        Scenario::parse(text, None)
    }

    pub fn all_builtin() -> Result<Vec<Scenario>, ScenarioError> {
        BUILTIN.iter().map(|(n, _)| Scenario::builtin(n)).collect()
    }

    pub fn from_file(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let base: PathBuf = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Scenario::parse(&text, Some(&base))
    }

    fn validate(&self) -> Result<(), ScenarioError> {
        let bad = |message: String| ScenarioError::Invalid {
            name: self.name.clone(),
            message,
        };
        if self.check.mailboxes.is_empty() {
            return Err(bad("check.mailboxes is empty".into()));
        }
        if self.today.is_some() && self.pinned_today().is_none() {
            return Err(bad("today must be a date (2027-04-15)".into()));
        }
        let phases = [self.expect_in.permissive.as_ref(), self.expect_in.shut_down.as_ref()];
        for code in self.expect.iter().chain(phases.into_iter().flatten().flatten()) {
            if crate::catalogue::lookup(code).is_none() {
                return Err(bad(format!("expect lists {code:?}, which is not a catalogue code")));
            }
        }
        for scope in &self.management_scopes {
            crate::opath::Filter::parse(&scope.filter)
                .map_err(|e| bad(format!("management scope {:?}: {e}", scope.name)))?;
        }
        for a in &self.role_assignments {
            if !self
                .service_principals
                .iter()
                .any(|sp| sp.app_id.eq_ignore_ascii_case(&a.app))
            {
                return Err(bad(format!(
                    "role assignment {:?}: app {} has no Exchange service principal (New-ServicePrincipal)",
                    a.name, a.app
                )));
            }
            if let Some(scope) = &a.scope {
                if self.management_scope(scope).is_none() {
                    return Err(bad(format!(
                        "role assignment {:?}: no management scope {scope:?}",
                        a.name
                    )));
                }
            }
            if let Some(unit) = &a.admin_unit {
                if self.admin_unit(unit).is_none() {
                    return Err(bad(format!(
                        "role assignment {:?}: no administrative unit {unit:?}",
                        a.name
                    )));
                }
            }
            if a.scope.is_some() && a.admin_unit.is_some() {
                return Err(bad(format!(
                    "role assignment {:?}: a management scope or an administrative unit, not both",
                    a.name
                )));
            }
        }
        for r in &self.responses {
            if r.body.is_some() && r.body_file.is_some() {
                return Err(bad(format!(
                    "response for {}{} has both body and body_file",
                    r.host, r.path
                )));
            }
            // Requests are counted from 1: `nth = 0` or `first = 0` would never answer.
            if r.nth == Some(0) || r.first == Some(0) {
                return Err(bad(format!(
                    "response for {}{}: nth and first count from 1",
                    r.host, r.path
                )));
            }
        }
        Ok(())
    }

    /// The codes a correct check reports in `phase` of Exchange Online's EWS.
    pub fn expected(&self, phase: crate::ews_timeline::Phase) -> Vec<String> {
        use crate::ews_timeline::Phase;
        let other = match phase {
            Phase::Permissive => self.expect_in.permissive.as_ref(),
            Phase::Enforcement => None,
            Phase::ShutDown => self.expect_in.shut_down.as_ref(),
        };
        let mut codes = other.unwrap_or(&self.expect).clone();
        codes.sort();
        codes.dedup();
        codes
    }

    /// The scenario's pinned day, if it names one.
    pub fn pinned_today(&self) -> Option<time::Date> {
        let d = self.today.as_ref()?.date?;
        let month = time::Month::try_from(d.month).ok()?;
        time::Date::from_calendar_date(i32::from(d.year), month, d.day).ok()
    }

    pub fn management_scope(&self, name: &str) -> Option<&ManagementScopeSpec> {
        self.management_scopes
            .iter()
            .find(|m| m.name.eq_ignore_ascii_case(name))
    }

    pub fn admin_unit(&self, name: &str) -> Option<&AdminUnitSpec> {
        self.admin_units.iter().find(|u| u.name.eq_ignore_ascii_case(name))
    }

    /// The schemes `host` offers: its own `auth_schemes`, else the organization's.
    pub fn auth_schemes_for(&self, host: &str) -> &[AuthScheme] {
        self.host(host)
            .and_then(|h| h.auth_schemes.as_deref())
            .unwrap_or(&self.exchange.auth_schemes)
    }

    pub fn host(&self, name: &str) -> Option<&HostSpec> {
        self.hosts.iter().find(|h| h.name.eq_ignore_ascii_case(name))
    }

    /// The host that serves `name`: the name itself, or for a CNAME alias
    /// that is no host of its own, the lab host the alias leads to. Its
    /// certificate is that host's (as autodiscover.contoso.com →
    /// autodiscover.outlook.com gets Microsoft's certificate, which does not
    /// name the customer's domain).
    pub fn serving_name(&self, name: &str) -> String {
        let mut current = name.to_ascii_lowercase();
        for _ in 0..8 {
            if self.host(&current).is_some() {
                return current;
            }
            match self.dns.cname.iter().find(|c| c.name.eq_ignore_ascii_case(&current)) {
                Some(c) => current = c.target.to_ascii_lowercase(),
                None => break,
            }
        }
        if self.host(&current).is_some() {
            current
        } else {
            name.to_ascii_lowercase()
        }
    }

    /// A user by primary address or alias.
    pub fn user(&self, address: &str) -> Option<&UserSpec> {
        self.users.iter().find(|u| {
            u.address.eq_ignore_ascii_case(address) || u.aliases.iter().any(|a| a.eq_ignore_ascii_case(address))
        })
    }

    /// A tenant by id or by one of its domains.
    pub fn tenant(&self, id_or_domain: &str) -> Option<&TenantSpec> {
        self.tenants.iter().find(|t| {
            t.id.eq_ignore_ascii_case(id_or_domain) || t.domains.iter().any(|d| d.eq_ignore_ascii_case(id_or_domain))
        })
    }

    /// The tenant a mailbox address belongs to, by its domain.
    pub fn tenant_of_address(&self, address: &str) -> Option<&TenantSpec> {
        self.tenant(address.rsplit_once('@')?.1)
    }

    pub fn app(&self, client_id: &str) -> Option<&AppSpec> {
        self.apps.iter().find(|a| a.client_id.eq_ignore_ascii_case(client_id))
    }

    /// The service account signing in as `name`: its UPN, or (when it has a
    /// logon name) `DOMAIN\user` or the bare user name, as IIS accepts them.
    pub fn service_account(&self, name: &str) -> Option<&ServiceAccountSpec> {
        self.service_accounts.iter().find(|s| {
            s.address.eq_ignore_ascii_case(name)
                || s.logon.as_deref().is_some_and(|l| {
                    l.eq_ignore_ascii_case(name)
                        || l.rsplit_once('\\')
                            .is_some_and(|(_, user)| user.eq_ignore_ascii_case(name))
                })
        })
    }

    pub fn certificate_for(&self, host: &str) -> CertState {
        self.host(host)
            .and_then(|h| h.certificate)
            .unwrap_or(self.tls.certificate)
    }

    /// The EWS URL autodiscover gives for this user.
    pub fn ews_url_for(&self, user: &UserSpec) -> String {
        user.ews_url
            .clone()
            .or_else(|| self.exchange.ews_url.clone())
            .unwrap_or_else(|| {
                let domain = user.address.rsplit_once('@').map(|(_, d)| d).unwrap_or("example.com");
                format!("https://mail.{domain}/EWS/Exchange.asmx")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_parses_and_names_match() {
        for (name, _) in BUILTIN {
            let s = Scenario::builtin(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(&s.name, name);
        }
    }

    #[test]
    fn counts_from_zero_are_refused() {
        let text = "name = \"x\"\ndescription = \"x\"\nexpect = []\n[check]\nmailboxes = [\"a@b.c\"]\n[[responses]]\nhost = \"h\"\npath = \"/p\"\nstatus = 200\nnth = 0\n";
        let e = Scenario::parse(text, None).expect_err("nth = 0");
        assert!(e.to_string().contains("count from 1"), "{e}");
        assert!(Scenario::parse(&text.replace("nth = 0", "nth = 1"), None).is_ok());
    }

    #[test]
    fn unknown_fields_are_errors() {
        let text = "name='x'\ndescription='d'\nbogus=1\n[check]\nmailboxes=['a@b.c']\n";
        assert!(Scenario::parse(text, None).is_err());
    }
}
