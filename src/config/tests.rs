//! The configuration's unit tests (flags, files and secrets read as a run reads them).

use super::*;

#[test]
fn connect_to_table() {
    type Want<'a> = Option<(&'a str, Option<u16>, &'a str, Option<u16>)>;
    let cases: &[(&str, Want)] = &[
        (":443::8443", Some(("", Some(443), "", Some(8443)))),
        (
            "a.com:443:127.0.0.1:9",
            Some(("a.com", Some(443), "127.0.0.1", Some(9))),
        ),
        ("::[::1]:80", Some(("", None, "::1", Some(80)))),
        ("a:b:c:d", None),
        ("a:1:b", None),
        (":99999::1", None),
    ];
    for (input, want) in cases {
        let got = parse_connect_to(input).ok();
        let want = want.map(|(h, p, th, tp)| ConnectTo {
            host: h.into(),
            port: p,
            to_host: th.into(),
            to_port: tp,
        });
        assert_eq!(got, want, "{input}");
    }
}

#[test]
fn dns_server_forms() {
    assert_eq!(parse_dns_server("127.0.0.1").ok(), "127.0.0.1:53".parse().ok());
    assert_eq!(parse_dns_server("127.0.0.1:5353").ok(), "127.0.0.1:5353".parse().ok());
    assert_eq!(parse_dns_server("[::1]:53").ok(), "[::1]:53".parse().ok());
    assert!(parse_dns_server("dns.google").is_err());
}

/// Secrets from a fixed environment; stdin gives one line.
struct Env(&'static [(&'static str, &'static str)]);

impl SecretSource for Env {
    fn env(&self, name: &str) -> Option<String> {
        self.0.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }
    fn stdin_line(&self) -> std::io::Result<String> {
        Ok("from-stdin\n".into())
    }
}

enum Want {
    /// auth mode, api, mailbox count
    Ok(&'static str, &'static str, usize),
    /// a part of the error message
    Err(&'static str),
}

/// One command line per case, through every validator of `check_config`.
/// `--cloud` sets the authority, Graph and Exchange Online hosts; an
/// explicit endpoint option still wins.
#[test]
fn clouds_set_the_endpoints() {
    use clap::Parser;
    let endpoints = |line: &str| {
        let args: Vec<&str> = line.split_whitespace().collect();
        let cli =
            crate::cli::Cli::try_parse_from(["exprobe", "check", "--mailbox", "a@contoso.com"].iter().chain(&args))
                .expect("clap");
        let crate::cli::Command::Check(check) = cli.command else {
            panic!("check")
        };
        check_config(&check, &Env(&[])).expect("valid").0.endpoints
    };
    let e = endpoints("");
    assert_eq!(
        (
            e.cloud,
            e.authority.as_str(),
            e.graph_url.as_str(),
            e.autodiscover_v2_host.as_str()
        ),
        (
            Cloud::Global,
            "https://login.microsoftonline.com/",
            "https://graph.microsoft.com/",
            "outlook.office365.com"
        )
    );
    for (line, authority, graph, host) in [
        (
            "--cloud usgov-gcchigh",
            "https://login.microsoftonline.us/",
            "https://graph.microsoft.us/",
            "outlook.office365.us",
        ),
        (
            "--cloud usgov-dod",
            "https://login.microsoftonline.us/",
            "https://dod-graph.microsoft.us/",
            "outlook-dod.office365.us",
        ),
        (
            "--cloud china",
            "https://login.partner.microsoftonline.cn/",
            "https://microsoftgraph.chinacloudapi.cn/",
            "partner.outlook.cn",
        ),
        (
            "--cloud usgov-gcchigh --authority https://login.usgovcloudapi.net",
            "https://login.usgovcloudapi.net/",
            "https://graph.microsoft.us/",
            "outlook.office365.us",
        ),
    ] {
        let e = endpoints(line);
        assert_eq!(
            (
                e.authority.as_str(),
                e.graph_url.as_str(),
                e.autodiscover_v2_host.as_str()
            ),
            (authority, graph, host),
            "{line}"
        );
    }
    assert_eq!(
        MailApi::Ews.resource(Cloud::UsgovGcchigh),
        "https://outlook.office365.us"
    );
    assert_eq!(
        MailApi::Graph.resource(Cloud::China),
        "https://microsoftgraph.chinacloudapi.cn"
    );
}

#[test]
fn check_config_table() {
    const PW: &[(&str, &str)] = &[(DEFAULT_PASSWORD_ENV, "pw")];
    type Vars = &'static [(&'static str, &'static str)];
    let cases: &[(&str, Vars, Want)] = &[
        ("--mailbox a@contoso.com", &[], Want::Ok("none", "ews", 1)),
        // The default variable alone does not turn a discovery run into an error.
        ("--mailbox a@contoso.com", PW, Want::Ok("none", "ews", 1)),
        ("--mailbox a@contoso.com --service-account svc@contoso.com", PW, Want::Ok("basic", "ews", 1)),
        // A forgotten password is an error, not a discovery-only run.
        (
            "--mailbox a@contoso.com --service-account svc@contoso.com",
            &[],
            Want::Err("--service-account svc@contoso.com has no password: set EXPROBE_PASSWORD"),
        ),
        // A value that is not a variable name may be the secret itself: never echoed.
        (
            "--mailbox a@contoso.com --service-account svc@contoso.com --password-env S3cr3t!",
            &[],
            Want::Err("is not a variable name; it is not shown"),
        ),
        (
            "--mailboxes - --service-account svc@contoso.com --password-stdin",
            &[],
            Want::Err("--password-stdin and --mailboxes - both read stdin"),
        ),
        (
            "--mailbox a@contoso.com --tenant contoso.com --client-id my-app --client-secret-env CS",
            &[("CS", "s")],
            Want::Err("--client-id \"my-app\": expected the app's Application (client) ID"),
        ),
        (
            "--mailbox a@contoso.com --service-account svc@contoso.com --password-stdin",
            &[],
            Want::Ok("basic", "ews", 1),
        ),
        (
            "--mailbox a@contoso.com --service-account svc@contoso.com --auth none",
            PW,
            Want::Ok("none", "ews", 1),
        ),
        (
            "--mailbox a@contoso.com --auth basic --service-account svc@contoso.com",
            &[],
            Want::Err("--auth basic needs a password"),
        ),
        ("--mailbox a@contoso.com --auth basic", PW, Want::Err("--auth basic needs --service-account")),
        ("--mailbox a@contoso.com --password-stdin", &[], Want::Err("needs --service-account")),
        (
            "--mailbox a@contoso.com --service-account svc@contoso.com --password-env OTHER",
            PW,
            Want::Err("--password-env OTHER: the variable is not set"),
        ),
        // Logon names: DOMAIN\user and bare names for Basic; Entra needs the UPN.
        ("--mailbox a@contoso.com --service-account CONTOSO\\svc-sync", PW, Want::Ok("basic", "ews", 1)),
        (
            "--mailbox a@contoso.com --service-account svc-sync --service-account-smtp svc-sync@contoso.com",
            PW,
            Want::Ok("basic", "ews", 1),
        ),
        (
            "--mailbox a@contoso.com --service-account CON/TOSO\\svc",
            PW,
            Want::Err("must be a NetBIOS name"),
        ),
        ("--mailbox a@contoso.com --service-account CONTOSO\\", PW, Want::Err("user part of DOMAIN\\user")),
        ("--mailbox a@contoso.com --service-account svc*sync", PW, Want::Err("is neither user@domain")),
        (
            "--mailbox a@contoso.com --auth password-grant --tenant contoso.com --client-id 2b7e1c9d-4a5f-4e3b-8c6d-0a1b2c3d4e5f --service-account CONTOSO\\svc",
            PW,
            Want::Err("needs the service account as user@domain"),
        ),
        (
            "--mailbox a@contoso.com --service-account-smtp svc@contoso.com",
            &[],
            Want::Err("--service-account-smtp describes --service-account"),
        ),
        (
            "--mailbox a@contoso.com --service-account svc@contoso.com --app-home-tenant vendor.example",
            PW,
            Want::Err("--app-home-tenant needs an OAuth mode with an app"),
        ),
        ("--mailbox a@contoso.com --access-token-env TOK", &[("TOK", "t")], Want::Ok("token", "ews", 1)),
        // A token named explicitly wins over a password in the default variable.
        (
            "--mailbox a@contoso.com --service-account svc@contoso.com --access-token-env TOK",
            &[("TOK", "t"), (DEFAULT_PASSWORD_ENV, "pw")],
            Want::Ok("token", "ews", 1),
        ),
        ("--mailbox a@contoso.com --auth token", &[], Want::Err("--auth token needs an access token")),
        (
            "--mailbox a@contoso.com --access-token-env TOK --api graph",
            &[("TOK", "t")],
            Want::Ok("token", "graph", 1),
        ),
        (
            "--mailbox a@contoso.com --tenant contoso.com --client-id 2b7e1c9d-4a5f-4e3b-8c6d-0a1b2c3d4e5f --client-secret-env CS",
            &[("CS", "s")],
            Want::Ok("app", "both", 1),
        ),
        (
            "--mailbox a@contoso.com --auth app --client-id 2b7e1c9d-4a5f-4e3b-8c6d-0a1b2c3d4e5f --client-secret-env CS",
            &[("CS", "s")],
            Want::Err("--auth app needs --tenant"),
        ),
        (
            "--mailbox a@contoso.com --auth app --tenant contoso.com --client-id 2b7e1c9d-4a5f-4e3b-8c6d-0a1b2c3d4e5f",
            &[],
            Want::Err("--auth app needs a client secret"),
        ),
        (
            "--mailbox a@contoso.com --auth refresh-token --tenant contoso.com --client-id 2b7e1c9d-4a5f-4e3b-8c6d-0a1b2c3d4e5f --refresh-token-env R",
            &[("R", "r")],
            Want::Ok("refresh-token", "both", 1),
        ),
        (
            "--mailbox a@contoso.com --auth refresh-token --tenant contoso.com --client-id 2b7e1c9d-4a5f-4e3b-8c6d-0a1b2c3d4e5f",
            &[],
            Want::Err("--auth refresh-token needs a refresh token"),
        ),
        (
            "--mailbox a@contoso.com --auth password-grant --tenant contoso.com --client-id 2b7e1c9d-4a5f-4e3b-8c6d-0a1b2c3d4e5f --password-env P",
            &[("P", "p")],
            Want::Err("--auth password-grant needs --service-account"),
        ),
        (
            "--mailbox a@contoso.com --auth password-grant --tenant contoso.com --client-id 2b7e1c9d-4a5f-4e3b-8c6d-0a1b2c3d4e5f \
             --service-account svc@contoso.com --password-env P",
            &[("P", "p")],
            Want::Ok("password-grant", "both", 1),
        ),
        (
            "--mailbox a@contoso.com --service-account svc@contoso.com --api graph",
            PW,
            Want::Err("--api graph needs an OAuth mode"),
        ),
        (
            "--mailbox a@contoso.com --ews-url http://mail.contoso.com/EWS/Exchange.asmx",
            &[],
            Want::Err("--ews-url \"http://mail.contoso.com/EWS/Exchange.asmx\": must be https"),
        ),
        ("--mailbox a@contoso.com --trust-domain com", &[], Want::Err("--trust-domain \"com\"")),
        ("--mailbox a@contoso.com --trust-domain co.uk", &[], Want::Err("public suffix")),
        ("--mailbox A@contoso.com --mailbox a@contoso.com --mailbox b@contoso.com", &[], Want::Ok("none", "ews", 2)),
        ("--service-account svc@contoso.com", PW, Want::Err("no mailbox given")),
    ];
    for (line, env, want) in cases {
        let args: Vec<&str> = line.split_whitespace().collect();
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from(["exprobe", "check"].iter().chain(&args)).expect("clap");
        let crate::cli::Command::Check(check) = cli.command else {
            panic!("check")
        };
        let got = check_config(&check, &Env(env)).map(|(c, _)| c);
        match (want, got) {
            (Want::Ok(auth, api, n), Ok(c)) => {
                assert_eq!(
                    (c.auth.mode().as_str(), c.api.as_str(), c.mailboxes.len()),
                    (*auth, *api, *n),
                    "{line}"
                );
                assert_eq!(
                    c.auth.credentials().is_some(),
                    matches!(*auth, "basic" | "token"),
                    "{line}"
                );
            }
            (Want::Err(part), Err(e)) => {
                assert!(e.to_string().contains(part), "{line}: {e}");
                assert!(!e.to_string().contains("S3cr3t"), "{line}: a secret echoed: {e}");
            }
            (Want::Ok(..), Err(e)) => panic!("{line}: unexpected error {e}"),
            (Want::Err(part), Ok(c)) => panic!("{line}: expected an error with {part:?}, got {:?}", c.auth.mode()),
        }
    }
}

/// Every combination of supplied secrets infers one mode, the same one the CLI table shows.
#[test]
fn mode_inference_is_one_function() {
    let s = |password, token, explicit_token, client_secret, client_id| Supplied {
        password,
        token,
        explicit_token,
        client_secret,
        certificate: false,
        client_id,
    };
    assert_eq!(auth_mode(None, s(false, false, false, false, false)), AuthMode::None);
    assert_eq!(auth_mode(None, s(true, false, false, false, false)), AuthMode::Basic);
    assert_eq!(auth_mode(None, s(true, true, false, false, false)), AuthMode::Basic);
    assert_eq!(auth_mode(None, s(true, true, true, false, false)), AuthMode::Token);
    assert_eq!(auth_mode(None, s(false, true, false, false, false)), AuthMode::Token);
    assert_eq!(auth_mode(None, s(true, true, true, true, true)), AuthMode::App);
    assert_eq!(auth_mode(None, s(false, false, false, true, false)), AuthMode::None);
    assert_eq!(
        auth_mode(Some(AuthArg::None), s(true, true, true, true, true)),
        AuthMode::None
    );
}

#[test]
fn mailbox_lists() {
    let plain = "# users\nalice@contoso.com\n\n bob@contoso.com \n";
    assert_eq!(
        parse_mailbox_list(plain).ok(),
        Some(vec!["alice@contoso.com".to_string(), "bob@contoso.com".to_string()])
    );
    let csv = "name,Mailbox\nAlice,\"alice@contoso.com\"\nBob,bob@contoso.com\n";
    assert_eq!(
        parse_mailbox_list(csv).ok(),
        Some(vec!["alice@contoso.com".to_string(), "bob@contoso.com".to_string()])
    );
    assert!(parse_mailbox_list("name,phone\nA,555\n").is_err());
}

/// What admins export: PowerShell's Export-Csv (BOM, #TYPE line, quotes,
/// CRLF), Excel's semicolons, Entra's UserPrincipalName, single columns.
#[test]
fn real_world_mailbox_lists() {
    let want = vec!["alice@contoso.com".to_string(), "bob@contoso.com".to_string()];
    let cases: &[(&str, &str)] = &[
        (
            "Windows PowerShell 5.1 Export-Csv",
            "\u{feff}#TYPE Selected.Microsoft.Exchange.Data.Directory.Management.Mailbox\r\n\"DisplayName\",\"PrimarySmtpAddress\"\r\n\"Alice, A.\",\"alice@contoso.com\"\r\n\"Bob\",\"bob@contoso.com\"\r\n",
        ),
        (
            "PowerShell 7 single column",
            "\"PrimarySmtpAddress\"\n\"alice@contoso.com\"\n\"bob@contoso.com\"\n",
        ),
        (
            "Excel, semicolons",
            "Name;EmailAddress;Department\r\n\"Alice; A.\";alice@contoso.com;Sales\r\nBob;bob@contoso.com;IT\r\n",
        ),
        (
            "Entra users export",
            "id,displayName,userPrincipalName,mail\n1,Alice,alice@contoso.com,alice@contoso.com\n2,Bob,bob@contoso.com,\n",
        ),
        ("tab separated", "Name\tWindowsEmailAddress\nAlice\talice@contoso.com\nBob\tbob@contoso.com\n"),
        ("quoted plain list", "\"alice@contoso.com\"\r\n\"bob@contoso.com\"\r\n"),
    ];
    for (what, text) in cases {
        let got = parse_mailbox_list(text);
        // The Entra export prefers `mail` over the UPN, which is empty for Bob.
        let want = if *what == "Entra users export" {
            vec!["alice@contoso.com".to_string()]
        } else {
            want.clone()
        };
        assert_eq!(got.ok(), Some(want), "{what}");
    }
    let err = parse_mailbox_list("Name,Phone\nAlice,555\n").expect_err("no address column");
    assert!(err.to_string().contains("\"name\", \"phone\""), "{err}");
}
