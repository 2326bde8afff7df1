//! A vendor's fleet (issue 19, item 5): `check --tenants FILE` checks one
//! app in many customer tenants of one lab and streams one jsonl record per
//! row: consent, the EWS allow list, Graph readiness, days left.

use crate::common::{scenario_from_text, start};

pub const APP: &str = "7a1e2b3c-4d5e-4f60-8a9b-0c1d2e3f4a5b";
pub const VENDOR: &str = "0a0a0a0a-0000-4000-8000-00000000000a";

/// The tenant id of customer `i`.
pub fn tenant_id(i: usize) -> String {
    format!("{:08x}-1111-4222-8333-{:012x}", i + 1, i + 1)
}

/// What a customer tenant has done about the vendor's app.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Customer {
    /// Consented, EWS on, the app on EwsAllowedAppIDs.
    Ready,
    /// Consented, EwsEnabled True, another app listed.
    NotListed,
    /// Never consented to the app.
    NoConsent,
    /// Consented, EwsEnabled False (Microsoft's October 2026 rollout).
    EwsOff,
}

/// A lab of `customers` tenants beside the vendor's, all on Exchange Online.
pub fn fleet_scenario(customers: &[Customer]) -> String {
    let head = format!(
        "name = \"fleet\"\ndescription = \"A vendor's app in {} customer tenants\"\n\n",
        customers.len()
    );
    let mut t = format!(
        r#"[check]
mailboxes = ["alice@t0.example"]
auth = "app"
tenant = "{}"
client_id = "{APP}"
api = "ews"

[exchange]
online = true
ews_url = "https://outlook.office365.com/EWS/Exchange.asmx"
auth_schemes = ["bearer"]

[[hosts]]
name = "autodiscover.outlook.com"
autodiscover = ["soap", "pox"]

[[hosts]]
name = "outlook.office365.com"
autodiscover = ["v2"]
ews = true

[[hosts]]
name = "login.microsoftonline.com"
entra = true

[[hosts]]
name = "graph.microsoft.com"
graph = true

[[tenants]]
id = "{VENDOR}"
name = "Vendor"
domains = ["vendor.example"]
"#,
        tenant_id(0)
    );
    let mut dns = String::from("[dns]\nmx = [");
    let mut cname = String::from("cname = [");
    let mut consented = vec![];
    for (i, c) in customers.iter().enumerate() {
        let domain = format!("t{i}.example");
        dns.push_str(&format!(
            "{{ name = \"{domain}\", exchange = \"t{i}-example.mail.protection.outlook.com\" }}, "
        ));
        cname.push_str(&format!(
            "{{ name = \"autodiscover.{domain}\", target = \"autodiscover.outlook.com\" }}, "
        ));
        let (enabled, listed) = match c {
            Customer::Ready => ("true", APP.to_string()),
            Customer::NotListed => ("true", "00000002-0000-0ff1-ce00-000000000000".to_string()),
            Customer::NoConsent => ("true", APP.to_string()),
            Customer::EwsOff => ("false", APP.to_string()),
        };
        if *c != Customer::NoConsent {
            consented.push(format!("\"{}\"", tenant_id(i)));
        }
        t.push_str(&format!(
            "\n[[tenants]]\nid = \"{}\"\nname = \"Customer {i}\"\ndomains = [\"{domain}\"]\news_enabled = {enabled}\news_allowed_app_ids = [\"{listed}\"]\n\n[[users]]\naddress = \"alice@{domain}\"\n",
            tenant_id(i)
        ));
    }
    dns.push_str("]\n");
    cname.push_str("]\n");
    t.push_str(&format!(
        "\n[[apps]]\nclient_id = \"{APP}\"\ntenant = \"{VENDOR}\"\ndisplay_name = \"Vendor Sync\"\nroles = [\"full_access_as_app\", \"Mail.Read\"]\nsecrets = [{{ value = \"Vendor~Secret.Value_42\", expired = false }}]\nconsented_in = [{}]\n",
        consented.join(", ")
    ));
    // TOML: the root keys first, then [dns] before the arrays of tables.
    format!("{head}{dns}{cname}\n{t}")
}

/// The tenants file for `customers`: by domain, and by id for every other row.
pub fn tenants_file(customers: usize) -> String {
    let mut text = String::from("tenant,mailbox\n# one row per customer\n");
    for i in 0..customers {
        let tenant = if i % 2 == 0 {
            format!("t{i}.example")
        } else {
            tenant_id(i)
        };
        text.push_str(&format!("{tenant},alice@t{i}.example\n"));
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_record_per_tenant_with_consent_allow_list_graph_and_days_left() {
    use Customer::*;
    let customers = [Ready, NotListed, NoConsent, EwsOff, Ready];
    let text = fleet_scenario(&customers);
    let running = start(scenario_from_text(&text)).await;
    let dir = running.dir.path();
    let mut rows = tenants_file(customers.len());
    rows.push_str("unknown.example,bob@unknown.example\nnot-a-row\n");
    let file = dir.join("tenants.csv");
    std::fs::write(&file, &rows).expect("tenants");
    let args: Vec<String> = running
        .check_args(&[])
        .into_iter()
        .filter(|a| !a.starts_with("--mailbox=") && !a.starts_with("--tenant="))
        .chain([format!("--tenants={}", file.display())])
        .collect();
    let out = running.run_cli(args).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(
        lines.first().map(|l| l["type"].clone()),
        Some("begin".into()),
        "{stdout}"
    );
    let records: Vec<&serde_json::Value> = lines.iter().filter(|l| l["type"] == "tenant").collect();
    // Every row one record: five customers, an unknown tenant, a bad row.
    assert_eq!(records.len(), 7, "{stdout}");
    let by = |i: usize| {
        *records
            .iter()
            .find(|r| r["index"] == i)
            .unwrap_or_else(|| panic!("row {i}: {stdout}"))
    };
    let expect = [
        (0, "granted", "allowed", Some(true)),
        (1, "granted", "not_allowed", Some(true)),
        (2, "missing", "not_reached", Some(false)),
        (3, "granted", "disabled", Some(true)),
        (4, "granted", "allowed", Some(true)),
        (5, "tenant_not_found", "not_reached", Some(false)),
    ];
    for (i, consent, ews, ready) in expect {
        let r = by(i);
        assert_eq!(r["consent"], consent, "row {i}: {r}");
        assert_eq!(r["ews"], ews, "row {i}: {r}");
        assert_eq!(r["graph_ready"].as_bool(), ready, "row {i}: {r}");
        assert!(r["days_left"].as_i64().is_some(), "row {i}: {r}");
    }
    assert_eq!(by(0)["status"], "warn");
    assert_eq!(by(1)["status"], "fail");
    assert_eq!(by(6)["status"], "invalid");
    assert!(
        by(6)["error"].as_str().is_some_and(|e| e.contains("no mailbox")),
        "{}",
        by(6)
    );
    let summary = lines.last().expect("summary");
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["checked"], 7);
    assert_eq!(summary["tenants"], 7);
    assert_eq!(summary["graph_ready"], 4);
    assert_eq!(summary["interrupted"], false);
    assert_eq!(out.status.code(), Some(2), "the worst tenant failed");
    // The app's secret went only to the authority, over https.
    for r in running.lab.requests() {
        if r.body.contains("client_secret=") {
            assert!(r.scheme == "https" && r.host == "login.microsoftonline.com", "{r:?}");
        }
    }
    assert!(!stdout.contains("Vendor~Secret"), "the secret is in the output");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_needs_a_row_to_check_and_no_mailbox_flags() {
    let running = start(scenario_from_text(&fleet_scenario(&[Customer::Ready]))).await;
    let dir = running.dir.path();
    let empty = dir.join("empty.csv");
    std::fs::write(&empty, "# nothing\n").expect("file");
    let base: Vec<String> = running
        .check_args(&[])
        .into_iter()
        .filter(|a| !a.starts_with("--mailbox=") && !a.starts_with("--tenant="))
        .collect();
    let out = running
        .run_cli(
            base.iter()
                .cloned()
                .chain([format!("--tenants={}", empty.display())])
                .collect(),
        )
        .await;
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no row"), "{out:?}");
    // A format for one report is refused.
    let file = dir.join("t.csv");
    std::fs::write(&file, tenants_file(1)).expect("file");
    let out = running
        .run_cli(
            base.iter()
                .cloned()
                .chain([format!("--tenants={}", file.display()), "--format=html".into()])
                .collect(),
        )
        .await;
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("jsonl"), "{out:?}");
    // With --mailbox as well: clap refuses the mix.
    let out = running
        .run_cli(
            base.iter()
                .cloned()
                .chain([format!("--tenants={}", file.display()), "--mailbox=a@b.c".into()])
                .collect(),
        )
        .await;
    assert_ne!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot be used with"),
        "{out:?}"
    );
}

/// Ctrl-C during a fleet: no further tenant starts, those under way finish,
/// every record written is whole, the summary says interrupted, exit 130.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_ends_a_fleet_with_whole_records_and_the_summary() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let customers = vec![Customer::Ready; 30];
    let mut scenario = scenario_from_text(&fleet_scenario(&customers));
    for h in &mut scenario.hosts {
        h.latency_ms = 300;
    }
    let running = start(scenario).await;
    let file = running.dir.path().join("tenants.csv");
    std::fs::write(&file, tenants_file(customers.len())).expect("tenants");
    let args: Vec<String> = running
        .check_args(&["--concurrency=2"])
        .into_iter()
        .filter(|a| !a.starts_with("--mailbox=") && !a.starts_with("--tenant="))
        .chain([format!("--tenants={}", file.display())])
        .collect();
    let secret = running.lab.password().expect("secret").expose().to_string();
    let (code, stdout) = tokio::task::spawn_blocking(move || {
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_exprobe"))
            .args(&args)
            .env_remove("EXPROBE_PASSWORD")
            .env(crate::common::PASSWORD_ENV, secret)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        std::thread::sleep(std::time::Duration::from_millis(2500));
        kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).expect("SIGINT");
        let out = child.wait_with_output().expect("wait");
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    })
    .await
    .expect("thread");
    assert_eq!(code, Some(130), "{stdout}");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let records = lines.iter().filter(|l| l["type"] == "tenant").count();
    let summary = lines.last().expect("summary");
    assert_eq!(summary["type"], "summary", "{stdout}");
    assert_eq!(summary["interrupted"], true);
    assert_eq!(summary["checked"].as_u64(), Some(records as u64));
    assert!(records > 0 && records < customers.len(), "{records} records");
}
