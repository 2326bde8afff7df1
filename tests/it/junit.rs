//! `--format junit`: JUnit XML that CI systems read, validated against
//! Jenkins' `junit-10.xsd` (the schema pytest validates its own JUnit
//! output with; `.ci/run` takes it from pytest's source distribution and
//! sets `EXPROBE_JUNIT_XSD`) by Python's `xmlschema`, and read back: one
//! test case per mailbox and step, a failure per failed step, the exit code
//! of the JSON report.
//!
//! `.ci/run` sets `EXPROBE_REQUIRE_JUNIT_SCHEMA=1`: there a missing schema
//! or validator fails the test; elsewhere the validation is skipped with a
//! printed reason (the other checks run).

use crate::common::*;
use exprobe::lab::Scenario;
use exprobe::report::StepStatus;

/// Validates `file` against the schema; None when no validator is at hand.
fn validate(file: &std::path::Path) -> Option<Result<(), String>> {
    let xsd = std::env::var_os("EXPROBE_JUNIT_XSD").filter(|p| std::path::Path::new(p).is_file());
    let python = std::env::var_os("EXPROBE_PYTHON");
    let (Some(xsd), Some(python)) = (xsd, python) else {
        assert!(
            std::env::var_os("EXPROBE_REQUIRE_JUNIT_SCHEMA").is_none(),
            "EXPROBE_REQUIRE_JUNIT_SCHEMA is set but EXPROBE_JUNIT_XSD or EXPROBE_PYTHON is missing"
        );
        eprintln!("junit: no schema (EXPROBE_JUNIT_XSD) or Python (EXPROBE_PYTHON): schema validation skipped");
        return None;
    };
    let out = std::process::Command::new(python)
        .args([
            "-c",
            "import sys, xmlschema; xmlschema.XMLSchema(sys.argv[1]).validate(sys.argv[2]); print('valid')",
        ])
        .arg(&xsd)
        .arg(file)
        .output()
        .expect("run python");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    if stderr.contains("No module named 'xmlschema'") {
        assert!(
            std::env::var_os("EXPROBE_REQUIRE_JUNIT_SCHEMA").is_none(),
            "EXPROBE_REQUIRE_JUNIT_SCHEMA is set but Python has no xmlschema"
        );
        eprintln!("junit: Python has no xmlschema: schema validation skipped");
        return None;
    }
    Some(if out.status.success() { Ok(()) } else { Err(stderr) })
}

/// Attribute `name` of the first `<tag ...>` in `xml` after `from`.
fn attribute(xml: &str, tag: &str, name: &str) -> Option<String> {
    let start = xml.find(&format!("<{tag} "))?;
    let rest = &xml[start..];
    let end = rest.find('>')?;
    let open = &rest[..end];
    let at = open.find(&format!(" {name}=\""))? + name.len() + 3;
    Some(open[at..].split('"').next()?.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junit_report_follows_the_schema_ci_systems_read() {
    let mut validated = 0;
    for name in [
        "ews-impersonation-scope-excludes",
        "oauth-consent-missing",
        "tls-expired",
        "ews-onprem-healthy",
        "autodiscover-redirect-addr",
    ] {
        let lab = start(Scenario::builtin(name).expect("scenario")).await;
        let (report, _) = lab.check_json(&[]).await;
        let file = lab.dir.path().join(format!("{name}.xml"));
        let out = lab
            .run_cli(lab.check_args(&["--format=junit", &format!("--output={}", file.display())]))
            .await;
        assert_eq!(
            out.status.code(),
            Some(report.status.exit_code()),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let xml = std::fs::read_to_string(&file).expect("the junit file");
        match validate(&file) {
            Some(Ok(())) => validated += 1,
            Some(Err(e)) => panic!("{name}: not valid under junit-10.xsd:\n{e}\n{xml}"),
            None => {}
        }
        // One test case per step (and per mailbox without steps), a failure per failed step.
        let cases = xml.matches("<testcase ").count();
        let steps = report.steps.len();
        let stepless = report
            .mailboxes
            .iter()
            .filter(|m| !report.steps.iter().any(|s| s.mailbox.as_deref() == Some(&m.address)))
            .count();
        let unplaced = report
            .findings
            .iter()
            .filter(|f| {
                !f.evidence_steps
                    .iter()
                    .any(|id| report.steps.iter().any(|s| &s.id == id))
            })
            .count();
        assert_eq!(cases, steps + stepless + unplaced, "{name}: test cases\n{xml}");
        assert_eq!(
            attribute(&xml, "testsuites", "tests").as_deref(),
            Some(cases.to_string().as_str()),
            "{name}"
        );
        let failed_steps = report.steps.iter().filter(|s| s.status == StepStatus::Fail).count();
        let failures: usize = attribute(&xml, "testsuites", "failures")
            .and_then(|n| n.parse().ok())
            .expect("failures");
        assert!(
            failures >= failed_steps,
            "{name}: {failures} failures for {failed_steps} failed steps"
        );
        assert_eq!(xml.matches("<failure ").count(), failures, "{name}");
        if report.status == exprobe::report::OverallStatus::Pass {
            assert_eq!(failures, 0, "{name}: a passing run has no failure\n{xml}");
        }
        if report.status == exprobe::report::OverallStatus::Fail {
            assert!(failures > 0, "{name}: a failing run shows a failure\n{xml}");
        }
        // Every finding is named, critical ones in a failure.
        for f in &report.findings {
            assert!(xml.contains(&f.code), "{name}: {} missing", f.code);
        }
        for m in &report.mailboxes {
            assert!(
                xml.contains(&format!("<testsuite name=\"{}\"", m.address)),
                "{name}: {}",
                m.address
            );
        }
        // No secret, whatever the mode.
        if let Some(p) = lab.lab.password() {
            assert!(!xml.contains(p.expose()), "{name}: the password in the junit report");
        }
        for r in lab.lab.requests() {
            if let Some(token) = r.header("authorization").and_then(|a| a.strip_prefix("Bearer ")) {
                assert!(
                    !xml.contains(token.trim()),
                    "{name}: a bearer token in the junit report"
                );
            }
        }
    }
    if std::env::var_os("EXPROBE_REQUIRE_JUNIT_SCHEMA").is_some() {
        assert_eq!(validated, 5, "every report validated");
    }
}
