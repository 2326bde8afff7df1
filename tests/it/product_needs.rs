//! What the checked product needs decides severity (issue 10, item 3):
//! `--graph-calls` (a failed call the product does not need is a warning)
//! and `--connecting-sid` (an alias breaks products that impersonate by
//! PrimarySmtpAddress).

use crate::common::*;
use exprobe::lab::Scenario;
use exprobe::report::{Report, Severity};

/// A built-in scenario's text, to be varied by a test.
fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/fixtures/scenarios/{name}.toml", env!("CARGO_MANIFEST_DIR"))).expect("scenario")
}

/// The ConnectingSID form of each impersonated request the lab received, in order.
fn forms_sent(lab: &Running, anchor: Option<&str>) -> Vec<String> {
    lab.lab
        .requests()
        .iter()
        .filter(|r| anchor.is_none() || r.header("x-anchormailbox") == anchor)
        .filter_map(|r| {
            ["PrimarySmtpAddress", "SmtpAddress"]
                .into_iter()
                .find(|f| r.body.contains(&format!("<t:{f}>")))
                .map(str::to_string)
        })
        .collect()
}

/// The first finding with this code.
fn finding<'r>(report: &'r Report, code: &str) -> &'r exprobe::report::Finding {
    report
        .findings
        .iter()
        .find(|f| f.code == code)
        .unwrap_or_else(|| panic!("no {code} finding in {:?}", codes(report)))
}

fn severity_of(report: &Report, code: &str) -> Vec<Severity> {
    report
        .findings
        .iter()
        .filter(|f| f.code == code)
        .map(|f| f.severity)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_calls_the_product_does_not_need_are_warnings() {
    // Mail.Read consented, User.Read.All not: the inbox reads, the user lookup is denied.
    let lab = start(Scenario::builtin("graph-insufficient-privileges").expect("scenario")).await;

    let (report, out) = lab.check_json(&[]).await;
    assert_eq!(
        severity_of(&report, "graph.insufficient_privileges"),
        [Severity::Warning, Severity::Warning]
    );
    assert_eq!(out.status.code(), Some(1), "mail sync works: warnings only");
    let step = report
        .steps
        .iter()
        .find(|s| s.id == "graph.mailbox:alice@contoso.com")
        .expect("graph step");
    assert!(step.detail.contains("inbox: readable"), "{}", step.detail);
    assert!(step.detail.contains("(not needed by the product)"), "{}", step.detail);

    let (report, out) = lab.check_json(&["--graph-calls=inbox,user"]).await;
    assert_eq!(
        severity_of(&report, "graph.insufficient_privileges"),
        [Severity::Critical, Severity::Critical]
    );
    assert_eq!(out.status.code(), Some(2), "the product needs the user lookup");

    // A calendar product: the app has no Calendars.Read.
    let (report, out) = lab.check_json(&["--graph-calls=inbox,calendar"]).await;
    assert_eq!(
        severity_of(&report, "graph.access_denied"),
        [Severity::Critical, Severity::Critical]
    );
    assert_eq!(out.status.code(), Some(2));
    let calendar_calls = lab
        .lab
        .requests()
        .iter()
        .filter(|r| r.path.contains("/calendar"))
        .count();
    assert_eq!(
        calendar_calls, 2,
        "the calendar is read only when named, once per mailbox"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_app_reads_the_calendar_when_it_may() {
    let text = fixture("online-app-healthy").replace(
        "\"Mail.Read\", \"User.Read.All\"",
        "\"Mail.Read\", \"User.Read.All\", \"Calendars.Read\"",
    );
    let lab = start(scenario_from_text(&text)).await;
    let (report, out) = lab.check_json(&["--graph-calls=inbox,calendar,user"]).await;
    assert_eq!(out.status.code(), Some(1), "{:?}", codes(&report));
    assert_eq!(codes(&report), ["exchange_online.ews_retirement"]);
    let step = report
        .steps
        .iter()
        .find(|s| s.id == "graph.mailbox:bob@contoso.com")
        .expect("graph step");
    assert!(step.detail.contains("calendar: readable"), "{}", step.detail);
}

/// An alias: Exchange resolves it under SmtpAddress but not under
/// PrimarySmtpAddress. `both` (default) tries both and says which works;
/// `primary` makes it critical; `smtp` sends only SmtpAddress.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_sid_forms_decide_what_an_alias_breaks() {
    let lab = start(Scenario::builtin("ews-alias-address").expect("scenario")).await;
    let (report, out) = lab.check_json(&[]).await;
    assert_eq!(out.status.code(), Some(1), "{:?}", codes(&report));
    let alias = finding(&report, "mailbox.alias_not_primary");
    assert_eq!(alias.severity, Severity::Warning);
    assert!(
        alias.detail.contains(
            "works with ConnectingSID SmtpAddress, fails with PrimarySmtpAddress (ErrorNonPrimarySmtpAddress)"
        ),
        "{}",
        alias.detail
    );
    let step = report
        .steps
        .iter()
        .find(|s| s.id == "ews.impersonation:a.smith@contoso.com")
        .expect("step");
    assert_eq!(step.status, exprobe::report::StepStatus::Warn, "{}", step.detail);
    assert_eq!(forms_sent(&lab, None), ["SmtpAddress", "PrimarySmtpAddress"]);

    let before = lab.lab.requests().len();
    let (report, out) = lab.check_json(&["--connecting-sid=primary"]).await;
    assert_eq!(out.status.code(), Some(2), "{:?}", codes(&report));
    let alias = finding(&report, "mailbox.alias_not_primary");
    assert_eq!(alias.severity, Severity::Critical);
    let sent: Vec<String> = forms_sent(&lab, None)[2..].to_vec();
    assert_eq!(sent, ["PrimarySmtpAddress"], "{}", lab.lab.requests().len() - before);

    let (report, out) = lab.check_json(&["--connecting-sid=smtp"]).await;
    assert_eq!(out.status.code(), Some(1), "{:?}", codes(&report));
    assert_eq!(forms_sent(&lab, None)[3..], ["SmtpAddress"]);
}

/// The primary address itself: `both` sends one request (both forms resolve
/// it alike), so a bulk run keeps two round trips per mailbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_address_is_impersonated_once() {
    let lab = start(Scenario::builtin("ews-onprem-healthy").expect("scenario")).await;
    let (report, out) = lab.check_json(&[]).await;
    assert_eq!(out.status.code(), Some(0), "{:?}", codes(&report));
    let impersonated = lab
        .lab
        .requests()
        .iter()
        .filter(|r| r.body.contains("ExchangeImpersonation"))
        .count();
    assert_eq!(impersonated, 2, "one per mailbox");
}

/// Autodiscover v2 does not tell the primary address: `both` asks
/// PrimarySmtpAddress first (one request for a primary address) and
/// SmtpAddress only when Exchange answers that the address is an alias.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_primary_asks_primary_first_then_smtp_for_an_alias() {
    let text = fixture("online-app-healthy")
        .replace(
            "mailboxes = [\"alice@contoso.com\", \"bob@contoso.com\"]",
            "mailboxes = [\"alice@contoso.com\", \"b.jones@contoso.com\"]",
        )
        .replace(
            "address = \"bob@contoso.com\"",
            "address = \"bob@contoso.com\"\naliases = [\"b.jones@contoso.com\"]",
        )
        .replace("api = \"both\"", "api = \"ews\"");
    let lab = start(scenario_from_text(&text)).await;
    let (report, _) = lab.check_json(&[]).await;
    assert_eq!(forms_sent(&lab, Some("alice@contoso.com")), ["PrimarySmtpAddress"]);
    assert_eq!(
        forms_sent(&lab, Some("b.jones@contoso.com")),
        ["PrimarySmtpAddress", "SmtpAddress"]
    );
    let alias = finding(&report, "mailbox.alias_not_primary");
    assert!(
        alias
            .detail
            .contains("primary SMTP address is bob@contoso.com (from ews)"),
        "{}",
        alias.detail
    );
    assert!(
        alias
            .detail
            .contains("works with ConnectingSID SmtpAddress, fails with PrimarySmtpAddress"),
        "{}",
        alias.detail
    );
    assert_eq!(alias.severity, Severity::Warning);
}

/// `--folders`: the folders the product syncs are opened in the same
/// impersonated GetFolder (one request); a folder that does not open is critical.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folders_the_product_syncs_are_opened_in_one_request() {
    let text = fixture("ews-onprem-healthy").replace(
        "address = \"bob@contoso.com\"",
        "address = \"bob@contoso.com\"\ndenied_folders = [\"calendar\"]",
    );
    let lab = start(scenario_from_text(&text)).await;
    let (report, out) = lab.check_json(&["--folders=inbox,calendar,contacts,tasks"]).await;
    assert_eq!(out.status.code(), Some(2), "{:?}", codes(&report));
    let denied = finding(&report, "ews.access_denied");
    assert_eq!(denied.mailbox.as_deref(), Some("bob@contoso.com"));
    assert!(
        denied.detail.contains("the calendar folder: ErrorAccessDenied"),
        "{}",
        denied.detail
    );
    let alice = report
        .steps
        .iter()
        .find(|s| s.id == "ews.impersonation:alice@contoso.com")
        .expect("step");
    assert!(
        alice.detail.contains("folders inbox, calendar, contacts, tasks open"),
        "{}",
        alice.detail
    );
    let requests = lab.lab.requests();
    let asked: Vec<_> = requests
        .iter()
        .filter(|r| r.body.contains("ExchangeImpersonation"))
        .collect();
    assert_eq!(asked.len(), 2, "one GetFolder per mailbox");
    assert!(asked
        .iter()
        .all(|r| r.body.matches("DistinguishedFolderId").count() == 4));
}

/// `--write-test`: a draft saved and deleted per mailbox; a service account
/// that may not write is critical (the product was said to need it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_write_test_saves_and_deletes_a_draft() {
    let lab = start(Scenario::builtin("ews-onprem-healthy").expect("scenario")).await;
    let (report, out) = lab.check_json(&["--write-test"]).await;
    assert_eq!(out.status.code(), Some(0), "{:?}", codes(&report));
    let step = report
        .steps
        .iter()
        .find(|s| s.id == "ews.write:alice@contoso.com")
        .expect("write step");
    assert!(
        step.detail
            .contains("saved in Drafts (CreateItem) and deleted (DeleteItem)"),
        "{}",
        step.detail
    );
    let requests = lab.lab.requests();
    let creates: Vec<_> = requests.iter().filter(|r| r.body.contains("<m:CreateItem ")).collect();
    let deletes: Vec<_> = requests.iter().filter(|r| r.body.contains("<m:DeleteItem ")).collect();
    assert_eq!((creates.len(), deletes.len()), (2, 2));
    assert!(
        creates
            .iter()
            .all(|r| r.body.contains("MessageDisposition=\"SaveOnly\"")),
        "never sent"
    );
    assert!(deletes.iter().all(|r| r.body.contains("DeleteType=\"HardDelete\"")));
    // Without the flag nothing is written.
    let before = lab.lab.requests().len();
    let (_, _) = lab.check_json(&[]).await;
    assert!(lab.lab.requests()[before..]
        .iter()
        .all(|r| !r.body.contains("CreateItem")));

    let text = fixture("ews-onprem-healthy").replace(
        "application_impersonation = true",
        "application_impersonation = true\nwrite_denied = true",
    );
    let lab = start(scenario_from_text(&text)).await;
    let (report, out) = lab.check_json(&["--write-test"]).await;
    assert_eq!(out.status.code(), Some(2), "{:?}", codes(&report));
    let denied = finding(&report, "ews.access_denied");
    assert_eq!(denied.severity, Severity::Critical);
    assert!(
        denied.detail.contains("can be read but not written"),
        "{}",
        denied.detail
    );
}

/// The denied folder asked first: Exchange's first response message is an
/// error, the mailbox was still impersonated (the other folder opened).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_first_folder_does_not_fail_the_impersonation() {
    let text = fixture("ews-onprem-healthy").replace(
        "address = \"bob@contoso.com\"",
        "address = \"bob@contoso.com\"\ndenied_folders = [\"calendar\"]",
    );
    let lab = start(scenario_from_text(&text)).await;
    let (report, out) = lab.check_json(&["--folders=calendar,inbox", "--write-test"]).await;
    assert_eq!(out.status.code(), Some(2), "{:?}", codes(&report));
    let denied = finding(&report, "ews.access_denied");
    assert!(
        denied
            .detail
            .starts_with("impersonation works, but the calendar folder"),
        "{}",
        denied.detail
    );
    assert!(
        report.steps.iter().any(|s| s.id == "ews.write:bob@contoso.com"),
        "the write test still runs for a mailbox that was impersonated"
    );
}
