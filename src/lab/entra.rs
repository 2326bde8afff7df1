//! The lab's Entra ID: instance and tenant discovery, getuserrealm, JWKS and
//! the v2.0 token endpoint for client credentials. Tokens are real RS256 JWTs
//! in the v1 shape Exchange and Graph tokens have; errors carry Microsoft's
//! JSON shape, status codes and AADSTS numbers.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Response};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{json, Value};

use super::response::respond;
use super::scenario::{AppSpec, Scenario, TenantSpec};

const SIGNING_KEY: &[u8] = include_bytes!("../../fixtures/keys/lab-token-signing.key.pem");
const PUBLIC_KEY: &[u8] = include_bytes!("../../fixtures/keys/lab-token-signing.pub.pem");
const JWKS: &str = include_str!("../../fixtures/keys/lab-token-signing.jwks.json");
const KEY_ID: &str = "XvtzEbqQNNAN3nK2YzjE6Ses-AY";

pub const EWS_APP_ID: &str = "00000002-0000-0ff1-ce00-000000000000";
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// Signs the tokens the lab issues and checks the ones it receives.
pub struct TokenIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenIssuer")
    }
}

/// Why the lab rejects a bearer token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRejection {
    Malformed,
    BadSignature,
    Expired,
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl TokenIssuer {
    pub fn load() -> Self {
        TokenIssuer {
            encoding: EncodingKey::from_rsa_pem(SIGNING_KEY).expect("the lab's signing key parses"),
            decoding: DecodingKey::from_rsa_pem(PUBLIC_KEY).expect("the lab's public key parses"),
        }
    }

    pub fn issue(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some("JWT".into());
        header.x5t = Some(KEY_ID.into());
        header.kid = Some(KEY_ID.into());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("RS256 signing with the lab key")
    }

    /// The claims of a token this lab issued (signature and lifetime checked; audience left to the caller).
    pub fn verify(&self, token: &str) -> Result<Value, TokenRejection> {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_aud = false;
        validation.leeway = 0;
        validation.required_spec_claims.clear();
        match jsonwebtoken::decode::<Value>(token, &self.decoding, &validation) {
            Ok(data) => Ok(data.claims),
            Err(e) => Err(match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenRejection::Expired,
                jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenRejection::BadSignature,
                _ => TokenRejection::Malformed,
            }),
        }
    }
}

pub fn json_response(status: u16, body: Value) -> Response<Full<Bytes>> {
    respond(
        status,
        &[
            ("Content-Type", "application/json; charset=utf-8".into()),
            ("Cache-Control", "no-store, no-cache".into()),
        ],
        Bytes::from(body.to_string()),
    )
}

pub fn uuid_like(seed: &str) -> String {
    // Stable per input, shaped like a GUID: evidence stays readable across runs.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in seed.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
    }
    let h2 = h.rotate_left(29) ^ 0x9e3779b97f4a7c15;
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        h >> 32,
        (h >> 16) & 0xffff,
        h & 0xfff,
        h2 & 0xfff,
        h2 >> 16 & 0xffff_ffff_ffff
    )
}

/// Microsoft's token error JSON.
pub fn aadsts(status: u16, error: &str, code: u32, text: &str) -> Response<Full<Bytes>> {
    let trace = uuid_like(&format!("trace{code}{text}"));
    let correlation = uuid_like(&format!("corr{code}{text}"));
    let ts = time::OffsetDateTime::now_utc();
    let timestamp = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
        ts.year(),
        u8::from(ts.month()),
        ts.day(),
        ts.hour(),
        ts.minute(),
        ts.second()
    );
    json_response(
        status,
        json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {correlation} Timestamp: {timestamp}"),
            "error_codes": [code],
            "timestamp": timestamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
        }),
    )
}

fn tenant_not_found(tenant: &str) -> Response<Full<Bytes>> {
    aadsts(
        400,
        "invalid_tenant",
        90002,
        &format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."),
    )
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.into_owned())
}

#[allow(clippy::too_many_arguments)]
pub fn answer(
    scenario: &Scenario,
    issuer: &TokenIssuer,
    flows: &super::device::DeviceFlows,
    host: &str,
    method: &Method,
    path: &str,
    query: Option<&str>,
    body: &[u8],
) -> Response<Full<Bytes>> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let authority = format!("https://{host}");
    match (method, segments.as_slice()) {
        (&Method::GET, ["common", "discovery", "instance"]) => json_response(
            200,
            json!({
                "tenant_discovery_endpoint": format!("{authority}/common/v2.0/.well-known/openid-configuration"),
                "api-version": "1.1",
                "metadata": [{
                    "preferred_network": host,
                    "preferred_cache": host,
                    "aliases": [host]
                }]
            }),
        ),
        // MSAL's user realm discovery before a password grant (api-version 1.0).
        (&Method::GET, ["common", "userrealm", login]) => {
            let login = super::response::percent_decode(login);
            let domain = login.rsplit_once('@').map(|(_, d)| d.to_string()).unwrap_or_default();
            let cloud = "microsoftonline.com";
            match scenario.tenant(&domain) {
                Some(t) if t.federated => json_response(
                    200,
                    json!({
                        "ver": "1.0", "account_type": "Federated", "domain_name": domain,
                        "federation_protocol": "WSTrust",
                        "federation_metadata_url": format!("https://sts.{domain}/adfs/services/trust/mex"),
                        "federation_active_auth_url": format!("https://sts.{domain}/adfs/services/trust/2005/usernamemixed"),
                        "cloud_instance_name": cloud, "cloud_audience_urn": "urn:federation:MicrosoftOnline"
                    }),
                ),
                Some(_) => json_response(
                    200,
                    json!({
                        "ver": "1.0", "account_type": "Managed", "domain_name": domain,
                        "cloud_instance_name": cloud, "cloud_audience_urn": "urn:federation:MicrosoftOnline"
                    }),
                ),
                None => json_response(
                    200,
                    json!({"ver": "1.0", "account_type": "Unknown", "cloud_instance_name": cloud}),
                ),
            }
        }
        (&Method::GET, ["getuserrealm.srf"]) => {
            let login = query_param(query, "login").unwrap_or_default();
            let domain = login.rsplit_once('@').map(|(_, d)| d.to_string()).unwrap_or_default();
            match scenario.tenant(&domain) {
                Some(t) => {
                    let mut v = json!({
                        "State": 4, "UserState": 1, "Login": login,
                        "NameSpaceType": if t.federated { "Federated" } else { "Managed" },
                        "DomainName": domain, "FederationBrandName": t.name,
                        "CloudInstanceName": "microsoftonline.com"
                    });
                    if t.federated {
                        v["AuthURL"] = json!(format!("https://sts.{domain}/adfs/ls/?username={login}&wa=wsignin1.0"));
                    }
                    json_response(200, v)
                }
                None => json_response(
                    200,
                    json!({"State": 4, "UserState": 1, "Login": login, "NameSpaceType": "Unknown"}),
                ),
            }
        }
        (&Method::GET, [tenant, "v2.0", ".well-known", "openid-configuration"]) => match scenario.tenant(tenant) {
            // Asked of any cloud's authority, the document describes the
            // tenant's own cloud (as captured for a 21Vianet tenant asked at
            // the global authority).
            Some(t) if t.cloud != crate::cloud::Cloud::Global => {
                let home = t.cloud.authority();
                let mut doc = json!({
                    "token_endpoint": format!("{home}/{}/oauth2/v2.0/token", t.id),
                    "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
                    "jwks_uri": format!("{home}/{}/discovery/v2.0/keys", t.id),
                    "response_modes_supported": ["query", "fragment", "form_post"],
                    "subject_types_supported": ["pairwise"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                    "scopes_supported": ["openid", "profile", "email", "offline_access"],
                    "issuer": format!("{home}/{}/v2.0", t.id),
                    "request_uri_parameter_supported": false,
                    "authorization_endpoint": format!("{home}/{}/oauth2/v2.0/authorize", t.id),
                    "http_logout_supported": true,
                    "frontchannel_logout_supported": true,
                    "end_session_endpoint": format!("{home}/{}/oauth2/v2.0/logout", t.id),
                    "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "tid", "ver", "oid", "preferred_username", "name"],
                    "cloud_instance_name": t.cloud.instance_name(),
                    "msgraph_host": t.cloud.graph().trim_start_matches("https://"),
                });
                match t.cloud {
                    crate::cloud::Cloud::UsgovGcchigh => {
                        doc["tenant_region_scope"] = json!("USGov");
                        doc["tenant_region_sub_scope"] = json!("DODCON");
                    }
                    crate::cloud::Cloud::UsgovDod => {
                        doc["tenant_region_scope"] = json!("USGov");
                        doc["tenant_region_sub_scope"] = json!("DOD");
                    }
                    _ => {}
                }
                json_response(200, doc)
            }
            Some(t) => json_response(
                200,
                json!({
                    "token_endpoint": format!("{authority}/{}/oauth2/v2.0/token", t.id),
                    "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
                    "jwks_uri": format!("{authority}/{}/discovery/v2.0/keys", t.id),
                    "response_modes_supported": ["query", "fragment", "form_post"],
                    "subject_types_supported": ["pairwise"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                    "scopes_supported": ["openid", "profile", "email", "offline_access"],
                    "issuer": format!("https://login.microsoftonline.com/{}/v2.0", t.id),
                    "request_uri_parameter_supported": false,
                    "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
                    "authorization_endpoint": format!("{authority}/{}/oauth2/v2.0/authorize", t.id),
                    "device_authorization_endpoint": format!("{authority}/{}/oauth2/v2.0/devicecode", t.id),
                    "http_logout_supported": true,
                    "frontchannel_logout_supported": true,
                    "end_session_endpoint": format!("{authority}/{}/oauth2/v2.0/logout", t.id),
                    "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "tid", "ver", "oid", "preferred_username", "name"],
                    "kerberos_endpoint": format!("{authority}/{}/kerberos", t.id),
                    "tenant_region_scope": "NA",
                    "cloud_instance_name": "microsoftonline.com",
                    "cloud_graph_host_name": "graph.windows.net",
                    "msgraph_host": "graph.microsoft.com",
                    "rbac_url": "https://pas.windows.net"
                }),
            ),
            None => tenant_not_found(tenant),
        },
        (&Method::GET, [_, "discovery", "v2.0", "keys"]) | (&Method::GET, ["common", "discovery", "keys"]) => respond(
            200,
            &[("Content-Type", "application/json; charset=utf-8".into())],
            Bytes::from_static(JWKS.as_bytes()),
        ),
        (&Method::POST, [tenant, "oauth2", "v2.0", "token"]) => {
            let token_url = format!("{authority}/{tenant}/oauth2/v2.0/token");
            if let Some(refused) = cross_cloud(scenario, host, tenant, body) {
                return refused;
            }
            token(scenario, issuer, flows, tenant, &token_url, body)
        }
        (&Method::POST, [tenant, "oauth2", "v2.0", "devicecode"]) => match scenario.tenant(tenant) {
            Some(t) => {
                let form = Form(url::form_urlencoded::parse(body).into_owned().collect());
                super::device::start(scenario, flows, t, &form)
            }
            None => tenant_not_found(tenant),
        },
        _ => json_response(404, json!({"error": "not_found"})),
    }
}

/// A token request to another cloud's authority than the tenant's, answered
/// as Entra ID does (captures: AADSTS900382 for client credentials,
/// AADSTS90002 for a 21Vianet tenant, AADSTS90038 redirection otherwise).
fn cross_cloud(scenario: &Scenario, host: &str, tenant: &str, body: &[u8]) -> Option<Response<Full<Bytes>>> {
    let t = scenario.tenant(tenant)?;
    if crate::cloud::Cloud::of_authority_host(host).contains(&t.cloud) {
        return None;
    }
    if t.cloud == crate::cloud::Cloud::China {
        return Some(tenant_not_found(tenant));
    }
    let form = Form(url::form_urlencoded::parse(body).into_owned().collect());
    Some(if form.get("grant_type") == Some("client_credentials") {
        aadsts(
            400,
            "invalid_request",
            900382,
            "Confidential Client is not supported in Cross Cloud request.",
        )
    } else {
        aadsts(
            400,
            "invalid_request",
            90038,
            &format!(
                "Tenant '{}' request is being redirected to the National Cloud '{}'.",
                t.id,
                t.cloud.instance_name()
            ),
        )
    })
}

fn token(
    scenario: &Scenario,
    issuer: &TokenIssuer,
    flows: &super::device::DeviceFlows,
    tenant_in_path: &str,
    token_url: &str,
    body: &[u8],
) -> Response<Full<Bytes>> {
    let form = Form(url::form_urlencoded::parse(body).into_owned().collect());
    let get = |k: &str| form.get(k);
    let Some(tenant) = scenario.tenant(tenant_in_path) else {
        return tenant_not_found(tenant_in_path);
    };
    match get("grant_type") {
        Some("client_credentials") => client_credentials(scenario, issuer, tenant, token_url, &form),
        Some("refresh_token") | Some("password") => delegated(scenario, issuer, tenant, &form),
        Some("urn:ietf:params:oauth:grant-type:device_code") => {
            super::device::poll(scenario, issuer, flows, tenant, &form)
        }
        Some(other) => aadsts(
            400,
            "unsupported_grant_type",
            70003,
            &format!("The app requested an unsupported grant type '{other}'."),
        ),
        None => aadsts(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'grant_type'.",
        ),
    }
}

/// A parsed form body.
#[derive(Debug)]
pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Check a client assertion against the app's registered certificates.
fn check_assertion(app: &AppSpec, assertion: &str, token_url: &str) -> Result<(), Box<Response<Full<Bytes>>>> {
    let header = jsonwebtoken::decode_header(assertion).ok();
    let alg = header
        .as_ref()
        .map(|h| h.alg)
        .filter(|a| matches!(a, Algorithm::RS256 | Algorithm::PS256));
    // RS256 names the key by its SHA-1 thumbprint, PS256 by its SHA-256 one.
    let (thumbprint, by_sha256) = match header.as_ref() {
        Some(h) if h.alg == Algorithm::PS256 => (h.x5t_s256.clone().unwrap_or_default(), true),
        Some(h) => (h.x5t.clone().unwrap_or_default(), false),
        None => (String::new(), false),
    };
    let registered = app
        .certificates
        .iter()
        .filter_map(|n| super::keys::client(n))
        .find(|k| {
            rustls_pemfile::certs(&mut k.certificate.as_bytes())
                .next()
                .and_then(Result::ok)
                .is_some_and(|der| {
                    let t = if by_sha256 {
                        crate::protocol::oauth::x5t_s256(&der)
                    } else {
                        crate::protocol::oauth::x5t(&der)
                    };
                    // Entra reads the thumbprint base64url with or without `=` padding
                    // (MSAL for Python sends it padded).
                    t.trim_end_matches('=') == thumbprint.trim_end_matches('=')
                })
        });
    let rejected = |reason: &str| {
        Box::new(aadsts(
            401,
            "invalid_client",
            700027,
            &format!("Client assertion contains an invalid signature. [Reason - {reason}, Thumbprint of key used by client: '{thumbprint}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{}'.]", app.client_id),
        ))
    };
    let Some(keys) = registered else {
        return Err(rejected("The key was not found."));
    };
    let key = DecodingKey::from_rsa_pem(keys.public_key.as_bytes()).map_err(|_| rejected("The key was not found."))?;
    let Some(alg) = alg else {
        return Err(rejected("The signature algorithm is not supported."));
    };
    let mut validation = Validation::new(alg);
    validation.set_audience(&[token_url]);
    validation.leeway = 300;
    match jsonwebtoken::decode::<Value>(assertion, &key, &validation) {
        Ok(_) => Ok(()),
        Err(e) => Err(match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature | jsonwebtoken::errors::ErrorKind::ImmatureSignature => {
                Box::new(aadsts(
                    400,
                    "invalid_client",
                    700024,
                    "Client assertion is not within its valid time range.",
                ))
            }
            jsonwebtoken::errors::ErrorKind::InvalidAudience => Box::new(aadsts(
                400,
                "invalid_client",
                700021,
                "Client assertion audience claim does not match Realm issuer.",
            )),
            _ => rejected("The provided signature value did not match the expected signature value."),
        }),
    }
}

fn client_credentials(
    scenario: &Scenario,
    issuer: &TokenIssuer,
    tenant: &TenantSpec,
    token_url: &str,
    form: &Form,
) -> Response<Full<Bytes>> {
    let get = |k: &str| form.get(k);
    let app = match registered_app(scenario, tenant, form) {
        Ok(a) => a,
        Err(e) => return *e,
    };
    if !app.enabled {
        return aadsts(
            400,
            "unauthorized_client",
            7000112,
            &format!("Application '{}'({}) is disabled.", app.client_id, app.display_name),
        );
    }
    if let Some(assertion) = get("client_assertion") {
        if get("client_assertion_type") != Some(crate::protocol::oauth::CLIENT_ASSERTION_TYPE) {
            return aadsts(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'client_assertion_type'.",
            );
        }
        if let Err(e) = check_assertion(app, assertion, token_url) {
            return *e;
        }
    } else {
        match get("client_secret") {
        Some(secret) => match app.secrets.iter().find(|s| s.value == secret) {
            Some(s) if s.expired => {
                return aadsts(
                    401,
                    "invalid_client",
                    7000222,
                    &format!("The provided client secret keys for app '{}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.", app.client_id),
                )
            }
            Some(_) => {}
            None => {
                return aadsts(
                    401,
                    "invalid_client",
                    7000215,
                    &format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.", app.client_id),
                )
            }
        },
        None => {
            return aadsts(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            )
        }
    }
    }
    let scope = get("scope").unwrap_or("");
    let Some(resource) = scope.strip_suffix("/.default") else {
        return aadsts(
            400,
            "invalid_scope",
            1002012,
            &format!("The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."),
        );
    };
    let audience = match audience_of(resource, tenant) {
        Ok(a) => a,
        Err(e) => return *e,
    };
    let access_token = issuer.issue(&app_token_claims(app, tenant, &audience));
    json_response(
        200,
        json!({"token_type": "Bearer", "expires_in": app.token_lifetime_secs.max(0), "ext_expires_in": app.token_lifetime_secs.max(0), "access_token": access_token}),
    )
}

/// The token audience for a requested resource (in the tenant's cloud), or AADSTS500011.
pub fn audience_of(resource: &str, tenant: &TenantSpec) -> Result<String, Box<Response<Full<Bytes>>>> {
    match resource.trim_end_matches('/') {
        EWS_APP_ID => Ok(tenant.cloud.ews_resource()),
        GRAPH_APP_ID => Ok(tenant.cloud.graph().to_string()),
        r if r == tenant.cloud.ews_resource() || r == tenant.cloud.graph() => Ok(r.to_string()),
        other => Err(Box::new(aadsts(
            400,
            "invalid_resource",
            500011,
            &format!("The resource principal named {other} was not found in the tenant named {}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", tenant.name),
        ))),
    }
}

/// The app named by `client_id` with a service principal in `tenant`, or Entra ID's error.
fn registered_app<'a>(
    scenario: &'a Scenario,
    tenant: &TenantSpec,
    form: &Form,
) -> Result<&'a AppSpec, Box<Response<Full<Bytes>>>> {
    let Some(client_id) = form.get("client_id") else {
        return Err(Box::new(aadsts(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        )));
    };
    scenario
        .app(client_id)
        .filter(|a| a.tenant.eq_ignore_ascii_case(&tenant.id) || a.consented_in.iter().any(|t| t.eq_ignore_ascii_case(&tenant.id)))
        .ok_or_else(|| {
            Box::new(aadsts(
                400,
                "unauthorized_client",
                700016,
                &format!("Application with identifier '{client_id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", tenant.name),
            ))
        })
}

/// The app for a delegated grant, or the error Entra ID gives.
fn delegated_app<'a>(
    scenario: &'a Scenario,
    tenant: &TenantSpec,
    form: &Form,
) -> Result<&'a AppSpec, Box<Response<Full<Bytes>>>> {
    let app = registered_app(scenario, tenant, form)?;
    match form.get("client_secret") {
        Some(secret) if !app.secrets.iter().any(|s| s.value == secret && !s.expired) => Err(Box::new(aadsts(
            401,
            "invalid_client",
            7000215,
            &format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.", app.client_id),
        ))),
        None if !app.public_client => Err(Box::new(aadsts(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        ))),
        _ => Ok(app),
    }
}

/// Refresh-token and password grants for a service account.
fn delegated(scenario: &Scenario, issuer: &TokenIssuer, tenant: &TenantSpec, form: &Form) -> Response<Full<Bytes>> {
    let app = match delegated_app(scenario, tenant, form) {
        Ok(a) => a,
        Err(e) => return *e,
    };
    let account = if form.get("grant_type") == Some("refresh_token") {
        let presented = form.get("refresh_token").unwrap_or("");
        match scenario.service_accounts.iter().find(|s| s.refresh_token.as_deref() == Some(presented)) {
            Some(sa) if sa.refresh_token_expired => {
                return aadsts(400, "invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.")
            }
            Some(sa) => sa,
            None => return aadsts(400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid."),
        }
    } else {
        let username = form.get("username").unwrap_or("");
        let Some(sa) = scenario.service_account(username) else {
            return aadsts(400, "invalid_grant", 50034, &format!("The user account {username} does not exist in the {} directory. To sign into this application, the account must be added to the directory.", tenant.id));
        };
        if form.get("password") != Some(sa.password.as_str()) {
            return aadsts(
                400,
                "invalid_grant",
                50126,
                "Error validating credentials due to invalid username or password.",
            );
        }
        if sa.mfa_required {
            return aadsts(400, "invalid_grant", 50076, "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '00000002-0000-0ff1-ce00-000000000000'.");
        }
        sa
    };
    let scope = form.get("scope").unwrap_or("");
    let first = scope
        .split_whitespace()
        .find(|s| *s != "offline_access" && *s != "openid" && *s != "profile")
        .unwrap_or("");
    let (resource, permission) = first.rsplit_once('/').unwrap_or(("", ""));
    let audience = match audience_of(resource, tenant) {
        Ok(a) => a,
        Err(e) => return *e,
    };
    let iat = now();
    let oid = uuid_like(&format!("user{}", account.address));
    let claims = json!({
        "aud": audience,
        "iss": format!("https://sts.windows.net/{}/", tenant.id),
        "iat": iat, "nbf": iat, "exp": iat + app.token_lifetime_secs,
        "acr": "1", "amr": ["pwd"],
        "app_displayname": app.display_name,
        "appid": app.client_id,
        "appidacr": if app.public_client { "0" } else { "1" },
        "idtyp": "user",
        "ipaddr": "127.0.0.1",
        "name": account.address,
        "oid": oid,
        "scp": permission,
        "sub": uuid_like(&format!("sub{}", account.address)),
        "tid": tenant.id,
        "unique_name": account.address,
        "upn": account.address,
        "ver": "1.0"
    });
    let access_token = issuer.issue(&claims);
    // The refresh token rotates as Entra ID's does; the lab keeps accepting the model's value.
    json_response(
        200,
        json!({
            "token_type": "Bearer",
            "scope": format!("{first} offline_access"),
            "expires_in": app.token_lifetime_secs.max(0),
            "ext_expires_in": app.token_lifetime_secs.max(0),
            "access_token": access_token,
            "refresh_token": account.refresh_token.clone().unwrap_or_else(|| uuid_like(&account.address)),
        }),
    )
}

/// Which consented roles belong to which resource.
pub fn roles_for(app: &AppSpec, audience: &str) -> Vec<String> {
    app.roles
        .iter()
        .filter(|r| {
            let ews = r.as_str() == "full_access_as_app" || r.starts_with("EWS.");
            if crate::cloud::Cloud::is_ews_resource(audience) {
                ews
            } else {
                !ews
            }
        })
        .cloned()
        .collect()
}

/// A token for `app` in its home tenant, as the token endpoint would issue it.
pub fn mint(
    scenario: &Scenario,
    issuer: &TokenIssuer,
    client_id: &str,
    audience: &str,
    expired: bool,
) -> Option<String> {
    let app = scenario.app(client_id)?;
    let tenant = scenario.tenant(&app.tenant)?;
    let mut app = app.clone();
    if expired {
        app.token_lifetime_secs = -600;
    }
    Some(issuer.issue(&app_token_claims(&app, tenant, audience)))
}

fn app_token_claims(app: &AppSpec, tenant: &TenantSpec, audience: &str) -> Value {
    let iat = now();
    let mut claims = json!({
        "aud": audience,
        "iss": format!("https://sts.windows.net/{}/", tenant.id),
        "iat": iat,
        "nbf": iat,
        "exp": iat + app.token_lifetime_secs,
        "aio": "E2RgYJjAmLm3+yFMqsWtb8Y4+tKIAQ==",
        "app_displayname": app.display_name,
        "appid": app.client_id,
        "appidacr": "1",
        "idp": format!("https://sts.windows.net/{}/", tenant.id),
        "idtyp": "app",
        "oid": uuid_like(&format!("sp{}{}", app.client_id, tenant.id)),
        "sub": uuid_like(&format!("sp{}{}", app.client_id, tenant.id)),
        "tid": tenant.id,
        "ver": "1.0"
    });
    let roles = roles_for(app, audience);
    // Client credentials succeed without admin consent: the token then simply has no roles claim.
    if !roles.is_empty() {
        claims["roles"] = json!(roles);
    }
    claims
}
