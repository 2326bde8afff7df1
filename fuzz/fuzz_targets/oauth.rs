//! Entra ID and Graph answers: token bodies, JWTs, openid-configuration,
//! getuserrealm, Graph errors and users.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let status = data.first().map(|b| 200 + u16::from(*b) % 400).unwrap_or(200);
    let _ = exprobe::protocol::oauth::parse_token_response(status, data);
    let _ = exprobe::protocol::oauth::aadsts_in(&String::from_utf8_lossy(data));
    let _ = exprobe::protocol::jwt::decode(&String::from_utf8_lossy(data));
    let _ = exprobe::protocol::entra::parse_openid_configuration(data);
    let _ = exprobe::protocol::entra::parse_user_realm(data);
    let _ = exprobe::protocol::entra::tenant_of_issuer(&String::from_utf8_lossy(data));
    let _ = exprobe::protocol::graph::parse_error(status, data);
    let _ = exprobe::protocol::graph::parse_user(data);
});
