//! Every built-in scenario through the real CLI against the lab, over real
//! TLS and DNS; the JSON output decoded back into the typed model.

use crate::common::{codes, start};
use exprobe::lab::Scenario;
use exprobe::report::OverallStatus;

/// Hosts that may ever receive credentials in the built-in scenarios: the
/// mailbox and service-account domains and their subdomains.
fn allowed(scenario: &Scenario, host: &str) -> bool {
    let mut domains: Vec<String> = scenario
        .check
        .mailboxes
        .iter()
        .chain(scenario.check.service_account.iter())
        .filter_map(|a| a.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()))
        .collect();
    domains.dedup();
    // Allowed too (README, "Security: which hosts receive credentials"): the EWS host of a
    // validated autodiscover answer, and in OAuth modes the authority and Graph hosts.
    let ews_host = scenario
        .exchange
        .ews_url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok())
        .and_then(|u| u.host_str().map(str::to_string));
    let oauth = scenario.check.auth.as_deref() == Some("app");
    // The authority and Graph of the cloud the check names.
    let (authority, graph) = match scenario.check.cloud.as_deref() {
        Some("usgov-gcchigh") => ("login.microsoftonline.us", "graph.microsoft.us"),
        Some(other) => panic!("cloud {other} not covered here"),
        None => ("login.microsoftonline.com", "graph.microsoft.com"),
    };
    domains.iter().any(|d| host == d || host.ends_with(&format!(".{d}")))
        || ews_host.as_deref() == Some(host)
        || (oauth && (host == graph || host == authority))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_builtin_scenario_reports_exactly_its_expected_codes() {
    let mut failures = vec![];
    let mut authenticated_requests = 0;
    let mut impersonated_requests = 0;
    for scenario in Scenario::all_builtin().expect("built-ins") {
        let name = scenario.name.clone();
        // The lab and the CLI both read the clock: the phase of Exchange Online's EWS is today's.
        let day = scenario.pinned_today();
        let expect = scenario.expected(exprobe::ews_timeline::Phase::on(
            day.unwrap_or_else(exprobe::ews_timeline::today),
        ));
        let running = start(scenario).await;
        // A scenario set on another day: the lab issues its tokens on the
        // clock, so a CLI on that day would see them as not yet valid; the
        // phase test below runs it in-process, as `demo` does.
        if day.is_some() {
            continue;
        }
        let (report, out) = running.check_json(&[]).await;
        if codes(&report) != expect {
            failures.push(format!("{name}: expected {expect:?}, got {:?}", codes(&report)));
        }
        assert_eq!(
            out.status.code(),
            Some(report.status.exit_code()),
            "{name}: exit code follows status"
        );
        assert_eq!(
            report.mailboxes.len(),
            running.lab.scenario().check.mailboxes.len(),
            "{name}: one result per mailbox"
        );
        assert_eq!(report.schema_version, 1, "{name}");
        for r in running.lab.requests() {
            if let Some(start) = r.body.find("<t:SmtpAddress>") {
                impersonated_requests += 1;
                let rest = &r.body[start + "<t:SmtpAddress>".len()..];
                let target = &rest[..rest.find('<').unwrap_or(0)];
                assert_eq!(
                    r.header("x-anchormailbox"),
                    Some(target),
                    "{name}: X-AnchorMailbox with every impersonated request"
                );
            }
            if r.body.contains("client_secret=") {
                // The authority of the cloud the check names.
                let authority = match running.lab.scenario().check.cloud.as_deref() {
                    Some("usgov-gcchigh") => "login.microsoftonline.us",
                    _ => "login.microsoftonline.com",
                };
                assert!(
                    r.scheme == "https" && r.host == authority && r.path.ends_with("/oauth2/v2.0/token"),
                    "{name}: a client secret went to {}://{}{}",
                    r.scheme,
                    r.host,
                    r.path
                );
            }
            if let Some(auth) = r.header("authorization") {
                authenticated_requests += 1;
                assert_eq!(
                    r.scheme, "https",
                    "{name}: credentials sent over {} to {}{}: {auth}",
                    r.scheme, r.host, r.path
                );
                assert!(
                    allowed(running.lab.scenario(), &r.host),
                    "{name}: credentials sent to {}",
                    r.host
                );
            }
        }
        if expect.is_empty() {
            assert_eq!(report.status, OverallStatus::Pass, "{name}");
            let ews = report.mailboxes[0].facts.get("ews_url");
            assert!(
                ews.is_some_and(|u| u.starts_with("https://")),
                "{name}: EWS URL found: {ews:?}"
            );
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // The security assertions above are not vacuous: credentials really were used.
    assert!(authenticated_requests > 0, "no scenario sent credentials at all");
    assert!(impersonated_requests > 0, "no scenario impersonated at all");
}

async fn observations(name: &str) -> serde_json::Value {
    let running = start(Scenario::builtin(name).expect("scenario")).await;
    let (report, _) = running.check_json(&[]).await;
    report
        .steps
        .iter()
        .find(|s| s.probe == "autodiscover")
        .map(|s| s.observations.clone())
        .expect("autodiscover step")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_addr_chain_reaches_the_primary_address_and_is_reported() {
    let o = observations("autodiscover-redirect-addr").await;
    let hops: Vec<(&str, &str)> = o["redirects"]
        .as_array()
        .expect("redirects")
        .iter()
        .map(|h| (h["from"].as_str().unwrap_or(""), h["to"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        hops,
        [
            ("pat@fabrikam.com", "pat@contoso.com"),
            ("pat@contoso.com", "patricia.lee@contoso.com")
        ]
    );
    assert_eq!(o["primary_smtp_address"], "patricia.lee@contoso.com");
    assert_eq!(o["resolved_address"], "patricia.lee@contoso.com");
    assert_eq!(o["redirects"][0]["cross_domain"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srv_uses_only_the_port_443_record() {
    let o = observations("autodiscover-srv").await;
    assert_eq!(o["candidate"], "srv");
    // The SRV target serves SOAP and POX, as Exchange Server does; SOAP is asked first.
    assert_eq!(o["found_at"], "https://mail.contoso.com/autodiscover/autodiscover.svc");
    let skipped = o["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .any(|a| a["result"] == "skipped" && a["url"] == "legacy.contoso.com:8443");
    assert!(skipped, "the priority-0 record on port 8443 is skipped: {o:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_is_used_for_exchange_online() {
    let o = observations("autodiscover-v2-online").await;
    assert_eq!(o["method"], "v2");
    assert_eq!(o["ews_url"], "https://outlook.office365.com/EWS/Exchange.asmx");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_redirect_host_is_asked_without_credentials() {
    let running = start(Scenario::builtin("autodiscover-http-redirect").expect("scenario")).await;
    let (report, _) = running.check_json(&[]).await;
    assert!(codes(&report).is_empty());
    let requests = running.lab.requests();
    let plain: Vec<_> = requests.iter().filter(|r| r.scheme == "http").collect();
    assert!(!plain.is_empty(), "the plain-HTTP redirect host was asked");
    assert!(plain
        .iter()
        .all(|r| r.method == "GET" && r.header("authorization").is_none()));
    assert!(requests
        .iter()
        .any(|r| r.host == "mail.contoso.com" && r.header("authorization").is_some_and(|a| a.starts_with("Basic "))));
}

/// The domain root accepts TCP and never answers; the run must not wait for
/// the request timeout (10 s here) once autodiscover.<domain> has answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_first_candidate_does_not_cost_a_timeout() {
    let running = start(Scenario::builtin("autodiscover-unreachable-first").expect("scenario")).await;
    let began = std::time::Instant::now();
    let (report, _) = running.check_json(&["--timeout=10"]).await;
    let wall = began.elapsed();
    assert!(codes(&report).is_empty());
    assert!(
        wall < std::time::Duration::from_secs(6),
        "took {wall:?}: the silent candidate cost its timeout"
    );
    let o = &report
        .steps
        .iter()
        .find(|s| s.probe == "autodiscover")
        .expect("step")
        .observations;
    assert_eq!(o["candidate"], "autodiscover-host");
    assert!(o["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .any(|a| a["candidate"] == "domain" && a["result"] == "abandoned"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_busy_back_off_is_honoured_and_visible() {
    let running = start(Scenario::builtin("ews-throttled-recovers").expect("scenario")).await;
    let (report, _) = running.check_json(&[]).await;
    assert!(codes(&report).is_empty());
    let step = report
        .steps
        .iter()
        .find(|s| s.probe == "ews.impersonation")
        .expect("step");
    let back_offs = step.observations["back_offs"].as_array().expect("back_offs");
    assert_eq!(back_offs.len(), 2);
    assert!(back_offs
        .iter()
        .all(|b| b["code"] == "ErrorServerBusy" && b["back_off_ms"] == 300));
    assert_eq!(step.evidence.len(), 3, "two busy answers and the success are evidence");
    assert!(step.evidence[0]
        .response
        .as_ref()
        .is_some_and(|r| r.status == 500 && r.body_excerpt.contains("BackOffMilliseconds")));
    // The second attempt came after the back-off.
    assert!(step.evidence[1].started_ms >= step.evidence[0].started_ms + 300);
    assert!(step.duration_ms >= 600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoped_role_denies_only_the_mailbox_outside_the_scope() {
    let running = start(Scenario::builtin("ews-impersonation-scope-excludes").expect("scenario")).await;
    let (report, out) = running.check_json(&[]).await;
    assert_eq!(out.status.code(), Some(2));
    let by_mailbox: std::collections::BTreeMap<&str, &Vec<String>> = report
        .mailboxes
        .iter()
        .map(|m| (m.address.as_str(), &m.findings))
        .collect();
    assert!(by_mailbox["alice@contoso.com"].is_empty());
    assert_eq!(
        *by_mailbox["bob@contoso.com"],
        ["impersonation.denied", "permissions.recently_changed"]
    );
    // Root cause first: the denial before the propagation advice.
    assert_eq!(report.findings[0].code, "impersonation.denied");
    assert_eq!(
        report.findings.last().map(|f| f.code.as_str()),
        Some("permissions.recently_changed")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sign_in_skips_impersonation_with_the_reason() {
    let running = start(Scenario::builtin("ews-credentials-rejected").expect("scenario")).await;
    let (report, _) = running.check_json(&[]).await;
    assert_eq!(codes(&report), ["ews.credentials_rejected"]);
    let skipped: Vec<_> = report.steps.iter().filter(|s| s.probe == "ews.impersonation").collect();
    assert_eq!(skipped.len(), 2);
    assert!(skipped.iter().all(|s| s.skipped_because.as_deref() == Some("ews.auth")));
}

/// A service account given as a logon name: Basic sends `DOMAIN\user` (or the
/// bare name) as it was given; identity checks use `--service-account-smtp`,
/// and without it the domain check is not made (no false mismatch).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logon_names_sign_in_as_given_and_identity_uses_the_smtp_address() {
    use base64::Engine as _;
    let running = start(Scenario::builtin("ews-onprem-logon-name").expect("scenario")).await;
    let (report, out) = running.check_json(&[]).await;
    assert_eq!(out.status.code(), Some(0), "{:?}", codes(&report));
    let users: Vec<String> = running
        .lab
        .requests()
        .iter()
        .filter_map(|r| {
            r.header("authorization")
                .and_then(|a| a.strip_prefix("Basic "))
                .map(str::to_string)
        })
        .filter_map(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .filter_map(|b| String::from_utf8(b).ok())
        .filter_map(|t| t.split_once(':').map(|(u, _)| u.to_string()))
        .collect();
    assert!(!users.is_empty(), "Basic was sent");
    assert!(users.iter().all(|u| u == "CONTOSO\\svc-sync"), "{users:?}");
    let identity = report
        .steps
        .iter()
        .find(|s| s.id.starts_with("identity"))
        .expect("identity step");
    assert!(
        identity
            .detail
            .contains("service account in the same domain (contoso.com)"),
        "{}",
        identity.detail
    );

    // The bare name, without the SMTP address: still signs in; no domain check.
    let args: Vec<String> = running
        .check_args(&["--format=json"])
        .into_iter()
        .filter(|a| !a.starts_with("--service-account"))
        .chain(["--service-account=svc-sync".to_string()])
        .collect();
    let out = running.run_cli(args).await;
    let report: exprobe::report::Report = serde_json::from_slice(&out.stdout).expect("report");
    assert_eq!(report.status, OverallStatus::Pass, "{:?}", codes(&report));
    assert!(!codes(&report).contains(&"account.domain_mismatch".to_string()));
}

/// Exchange Online as DNS really points at it: the CNAME'd autodiscover name
/// gets Microsoft's certificate (which does not name the customer's domain),
/// its plain-HTTP answer is a 302 to autodiscover-s.outlook.com keeping the
/// path, and exprobe still reports only what is wrong (nothing but EWS's retirement).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_cname_presents_microsofts_certificate_and_redirects_http_to_autodiscover_s() {
    let running = start(Scenario::builtin("autodiscover-online-cname").expect("scenario")).await;
    let lab = &running.lab;
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&running.ca).expect("ca")).expect("pem");
    let client = reqwest::Client::builder()
        .no_proxy()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .redirect(reqwest::redirect::Policy::none())
        .resolve("autodiscover.contoso.com", lab.https_addr)
        .resolve("autodiscover.outlook.com", lab.https_addr)
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .expect("client");
    let by_alias = client
        .get("https://autodiscover.contoso.com/autodiscover/autodiscover.xml")
        .send()
        .await;
    let err = by_alias.expect_err("the alias must not get a certificate naming it");
    let chain = format!("{:?}", std::error::Error::source(&err));
    assert!(
        chain.contains("NotValidForName") || chain.contains("certificate"),
        "{chain}"
    );
    // The same server by its own name: a valid certificate (whatever it answers).
    client
        .get("https://autodiscover.outlook.com/autodiscover/autodiscover.xml")
        .send()
        .await
        .expect("Microsoft's own name has a valid certificate");
    // Plain HTTP by the alias: the 302 that clients without Autodiscover v2 follow.
    let plain = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .resolve("autodiscover.contoso.com", lab.http_addr)
        .build()
        .expect("client");
    for path in ["/autodiscover/autodiscover.xml", "/autodiscover/autodiscover.svc"] {
        let r = plain
            .get(format!("http://autodiscover.contoso.com{path}"))
            .send()
            .await
            .expect("http");
        assert_eq!(r.status().as_u16(), 302);
        assert_eq!(
            r.headers().get("location").and_then(|l| l.to_str().ok()),
            Some(format!("https://autodiscover-s.outlook.com{path}").as_str())
        );
    }
    let (report, out) = running.check_json(&[]).await;
    assert_eq!(
        codes(&report),
        vec!["exchange_online.ews_retirement"],
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Nothing with credentials went over plain HTTP, and the token went only to Microsoft's hosts.
    for r in lab.requests() {
        if r.scheme == "http" {
            assert!(r.header("authorization").is_none(), "{r:?}");
        }
        if r.header("authorization").is_some() {
            assert!(
                r.host.ends_with(".outlook.com")
                    || r.host.ends_with("office365.com")
                    || r.host == "login.microsoftonline.com"
                    // The Graph readiness check's token, to the Graph endpoint.
                    || r.host == "graph.microsoft.com",
                "credentials to {}",
                r.host
            );
        }
    }
}

/// Every scenario on a day of each phase of Exchange Online's EWS (the lab
/// and the check pinned to it): the phase's expected codes, no more, no less,
/// and advice only for the platform the run saw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_builtin_scenario_in_each_phase_of_exchange_online_ews() {
    use exprobe::ews_timeline::Phase;
    use time::macros::date;
    let days = [
        (date!(2026 - 09 - 15), Phase::Permissive),
        (date!(2026 - 12 - 03), Phase::Enforcement),
        (date!(2027 - 04 - 15), Phase::ShutDown),
    ];
    let mut failures = vec![];
    for scenario in Scenario::all_builtin().expect("built-ins") {
        let name = scenario.name.clone();
        for (day, phase) in days {
            let (report, expect) = exprobe::app::run_scenario_on(scenario.clone(), Some(day))
                .await
                .expect("run");
            if scenario.pinned_today().is_none() {
                assert_eq!(expect, scenario.expected(phase), "{name}");
            }
            if codes(&report) != expect {
                failures.push(format!(
                    "{name} on {day} ({phase:?}): expected {expect:?}, got {:?}",
                    codes(&report)
                ));
            }
            // Advice for the platform the run saw: no Exchange Server cmdlet in an
            // Exchange Online run, and the reverse.
            for wrong in wrong_platform_steps(&report, scenario.exchange.online) {
                failures.push(format!("{name} on {day}: {wrong}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Cmdlets and places that exist on one platform only.
const SERVER_ONLY: &[&str] = &[
    "New-ThrottlingPolicy",
    "Set-ThrottlingPolicyAssociation",
    "WebServicesVirtualDirectory",
    "AutodiscoverVirtualDirectory",
    "Set-ClientAccessService",
    "iisreset",
    "Exchange Management Shell",
    "-Role ApplicationImpersonation",
    "-Role \"ApplicationImpersonation\"",
    "Exchange Server:",
];
const ONLINE_ONLY: &[&str] = &[
    "EwsAllowedAppIDs",
    "RetrieveEwsOperationAccessPolicy",
    "New-ServicePrincipal",
    "Test-ServicePrincipalAuthorization",
    "New-ApplicationAccessPolicy",
    "Test-ApplicationAccessPolicy",
    "Exchange Online PowerShell",
    "Entra admin center",
    "New-ManagementRoleAssignment -App",
    "Exchange Online:",
];

/// What a report tells the admin to do that its platform does not have.
fn wrong_platform_steps(report: &exprobe::report::Report, online: bool) -> Vec<String> {
    let foreign = if online { SERVER_ONLY } else { ONLINE_ONLY };
    let mut out = vec![];
    for f in &report.findings {
        for step in &f.remediation {
            for word in foreign.iter().filter(|w| step.contains(*w)) {
                out.push(format!("{}: {word:?} in {step:?}", f.code));
            }
        }
    }
    out
}
