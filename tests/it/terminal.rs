//! The human side of the CLI: output fitted to 80 columns (or `COLUMNS`)
//! with codes never broken, `explain` forgiving case and typos, `-v`/`-vv`
//! logs without colour when redirected, `--help` examples and man pages.

use crate::common::*;
use exprobe::lab::Scenario;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every line fits `width`, unless it is one word that cannot be broken
/// (a URL, an address) after its indentation.
fn assert_fits(out: &str, width: usize, what: &str) {
    for line in out.lines() {
        let w = line.chars().count();
        if w > width {
            assert!(
                !line.trim().contains(' '),
                "{what}: a line of {w} columns wider than {width} that could have been wrapped:\n{line}"
            );
        }
    }
}

/// Every code of the report appears, and none is broken: a code split over
/// two lines (or table rows) leaves a strict prefix of it on one line and
/// the rest as a token of the next.
fn assert_codes_whole(out: &str, codes: &[String], what: &str) {
    let all: Vec<&str> = exprobe::diagnose::catalogue::all().map(|e| e.code).collect();
    for code in codes {
        assert!(
            out.contains(code.as_str()),
            "{what}: the code {code} is missing in:\n{out}"
        );
    }
    let tokens = |line: &str| -> Vec<String> {
        line.split(|c: char| c.is_whitespace() || "│┆─═╞╪╡┌┐└┘├┤┬┴┼".contains(c))
            .map(|t| t.trim_matches(|c: char| ",;:()".contains(c)).to_string())
            .filter(|t| !t.is_empty())
            .collect()
    };
    let lines: Vec<Vec<String>> = out.lines().map(tokens).collect();
    for pair in lines.windows(2) {
        for token in &pair[0] {
            for code in all
                .iter()
                .filter(|c| c.len() > token.len() && c.starts_with(token.as_str()))
            {
                let rest = &code[token.len()..];
                assert!(
                    !pair[1].iter().any(|t| t == rest),
                    "{what}: {code} broken into {token:?} and {rest:?} in:\n{out}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn human_reports_fit_80_columns_and_keep_codes_whole() {
    for name in [
        "ews-impersonation-scope-excludes",
        "ews-basic-on-online",
        "oauth-consent-missing",
        "online-delegated-impersonation-denied",
        "autodiscover-redirect-addr",
        "tls-expired",
        "ews-service-account-no-mailbox",
        "ews-onprem-healthy",
    ] {
        let lab = start(Scenario::builtin(name).expect("scenario")).await;
        let (report, _) = lab.check_json(&[]).await;
        let codes = codes(&report);
        assert_eq!(
            codes.is_empty(),
            name.ends_with("-healthy"),
            "{name}: findings unless healthy"
        );
        // Not a terminal: 80 columns.
        let out = lab.run_cli(lab.check_args(&[])).await;
        let human = text(&out.stdout);
        assert_fits(&human, 80, name);
        assert_codes_whole(&human, &codes, name);
        // COLUMNS narrows (or widens) it, as for ls.
        for width in [60usize, 132] {
            let w = width.to_string();
            let out = lab.run_cli_env(lab.check_args(&[]), &[("COLUMNS", w.as_str())]).await;
            let human = text(&out.stdout);
            assert_fits(&human, width, name);
            assert_codes_whole(&human, &codes, name);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warnings_have_what_to_do() {
    for (name, code) in [
        ("ews-service-account-no-mailbox", "service_account.no_mailbox"),
        ("ews-alias-address", "mailbox.alias_not_primary"),
        ("ews-domain-mismatch", "account.domain_mismatch"),
    ] {
        let lab = start(Scenario::builtin(name).expect("scenario")).await;
        let out = lab.run_cli(lab.check_args(&[])).await;
        let human = text(&out.stdout);
        let (_, after) = human
            .split_once("What to do")
            .unwrap_or_else(|| panic!("{name}: no What to do section:\n{human}"));
        assert!(after.contains(code), "{name}: {code} has no remediation:\n{human}");
        assert!(after.contains("1) "), "{name}: numbered steps:\n{human}");
    }
}

#[test]
fn explain_ignores_case_suggests_near_misses_and_wraps() {
    let ok = run_exprobe(&["explain".into(), "  Impersonation.DENIED ".into()], None);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    let out = text(&ok.stdout);
    assert!(out.starts_with("impersonation.denied (critical)"), "{out}");
    assert_fits(&out, 80, "explain");

    let typo = run_exprobe(&["explain".into(), "impersonation.denid".into()], None);
    assert_eq!(typo.status.code(), Some(3));
    let err = text(&typo.stderr);
    assert!(err.contains("did you mean impersonation.denied"), "{err}");

    let part = run_exprobe(&["explain".into(), "credentials_rejected".into()], None);
    assert!(
        text(&part.stderr).contains("ews.credentials_rejected"),
        "{}",
        text(&part.stderr)
    );

    let none = run_exprobe(&["explain".into(), "qqqq.zzzz".into()], None);
    assert_eq!(none.status.code(), Some(3));
    assert!(!text(&none.stderr).contains("did you mean"), "{}", text(&none.stderr));

    let list = run_exprobe(&["explain".into()], None);
    assert_fits(&text(&list.stdout), 80, "explain list");
    for e in exprobe::diagnose::catalogue::all() {
        assert!(text(&list.stdout).contains(e.code), "{} listed whole", e.code);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verbose_logs_say_something_and_never_colour_a_redirect() {
    let lab = start(Scenario::builtin("ews-onprem-healthy").expect("scenario")).await;
    let mut args = vec!["-v".to_string()];
    args.extend(lab.check_args(&["--format=json"]));
    let out = lab.run_cli(args).await;
    let log = text(&out.stderr);
    assert!(log.contains("check started"), "-v logs the run:\n{log}");
    assert!(log.contains("ews.impersonation"), "-v logs each step:\n{log}");
    assert!(!log.contains("sending"), "-v is not -vv:\n{log}");

    let mut args = vec!["-vv".to_string()];
    args.extend(lab.check_args(&["--format=json"]));
    // NO_COLOR is removed: only the redirect keeps colour out.
    let out = lab.run_cli_env(args, &[("NO_COLOR", "")]).await;
    let log = text(&out.stderr);
    assert!(log.contains("sending"), "-vv logs requests:\n{log}");
    assert!(!log.contains('\u{1b}'), "no colour codes in a redirected log:\n{log}");
    // Secrets stay out of logs at every level.
    let password = lab.lab.password().expect("a password");
    assert!(!log.contains(password.expose()), "the password is not logged");
}

#[test]
fn help_has_examples_and_man_pages_are_written() {
    let help = run_exprobe(&["check".into(), "--help".into()], None);
    assert_eq!(help.status.code(), Some(0));
    let h = text(&help.stdout);
    assert!(h.contains("Examples:") && h.contains("exprobe check --mailbox"), "{h}");

    let page = run_exprobe(&["man".into()], None);
    assert_eq!(page.status.code(), Some(0));
    let p = text(&page.stdout);
    assert!(
        p.starts_with(".ie") || p.contains(".TH exprobe"),
        "{}",
        &p[..p.len().min(200)]
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let out = run_exprobe(&["man".into(), format!("--dir={}", dir.path().display())], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for page in ["exprobe.1", "exprobe-check.1", "exprobe-explain.1"] {
        let body = std::fs::read_to_string(dir.path().join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(body.contains(".TH"), "{page} is a man page");
    }
}

/// Every family of terminal control a hostile server can send: CSI (clear
/// the screen), OSC (window title, OSC 8 link), CR and backspaces over a
/// fake pass, an 8-bit CSI (C1), the right-to-left override and an isolate,
/// DEL and NUL.
const HOSTILE_TOML: &str = r"\u001b[2J\u001b]0;pwned\u0007\u001b]8;;https://evil.example/\u001b\\click\u001b]8;;\u001b\\\r✓ pass\b\b\u009b31m\u202egnp.exe\u2066x\u007f\u0000";
/// The same in a header value (an HTTP header carries no C0 byte; C1 and bidi are UTF-8 there).
const HOSTILE_HEADER: &str = r"2000008;reason=\u009b2J\u202etoken\u2066\u0085x";

/// `text` holds no character a terminal would obey (newlines end lines).
fn assert_terminal_safe(text: &str, what: &str) {
    for (n, line) in text.lines().enumerate() {
        if let Some(c) = line.chars().find(|&c| exprobe::terminal::is_unsafe(c)) {
            panic!(
                "{what}: line {} carries U+{:04X} raw:\n{}",
                n + 1,
                c as u32,
                line.escape_debug()
            );
        }
    }
}

fn hostile_scenario(base: &str, rules: &str) -> Scenario {
    let text = std::fs::read_to_string(format!("{}/fixtures/scenarios/{base}.toml", env!("CARGO_MANIFEST_DIR")))
        .expect("scenario file");
    Scenario::parse(&format!("{text}\n{rules}"), None).unwrap_or_else(|e| panic!("{e}\n{rules}"))
}

/// A server puts control sequences into every string exprobe shows: the
/// POX display name, the SOAP faultstring, ResponseCode and MessageText,
/// `x-ms-diagnostics`, and (app mode) the AADSTS `error_description`. The
/// human report, `--show-http` and the `-vv` log carry none of them raw;
/// JSON keeps the exact text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_server_strings_never_reach_the_terminal_raw() {
    let fault = format!(
        r#"<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">a:ErrorImpersonateUserDenied</faultcode><faultstring xml:lang="en-US">{h}</faultstring><detail><e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">ErrorImpersonateUserDenied</e:ResponseCode><e:Message xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">{h}</e:Message></detail></s:Fault></s:Body></s:Envelope>"#,
        h = HOSTILE_TOML
    );
    let ews_rules = format!(
        "[[responses]]\nhost = \"mail.contoso.com\"\npath = \"/EWS/Exchange.asmx\"\nmethod = \"POST\"\nbody_contains = \"ExchangeImpersonation\"\nstatus = 500\nheaders = {{ \"Content-Type\" = \"text/xml; charset=utf-8\", \"X-FEServer\" = \"{hh}\" }}\nbody = \"\"\"{fault}\"\"\"\n",
        hh = HOSTILE_HEADER,
        fault = fault.replace('"', "\\\"")
    );
    let token_error = format!(
        r#"{{"error":"invalid_client","error_description":"AADSTS7000215: {h}","error_codes":[7000215],"timestamp":"2026-12-03 10:00:00Z","trace_id":"{h}","correlation_id":"c"}}"#,
        h = HOSTILE_TOML
    );
    let token_rules = format!(
        "[[responses]]\nhost = \"login.microsoftonline.com\"\npath = \"/6f3c3f2a-9d41-4c1e-9a57-1b2f3c4d5e6f/oauth2/v2.0/token\"\nmethod = \"POST\"\nstatus = 401\nheaders = {{ \"Content-Type\" = \"application/json; charset=utf-8\", \"x-ms-diagnostics\" = \"{HOSTILE_HEADER}\" }}\nbody = '''{token_error}'''\n\n[[responses]]\nhost = \"login.microsoftonline.com\"\npath = \"/contoso.com/oauth2/v2.0/token\"\nmethod = \"POST\"\nstatus = 401\nheaders = {{ \"Content-Type\" = \"application/json; charset=utf-8\" }}\nbody = '''{token_error}'''\n"
    );
    for (base, rules, code) in [
        ("ews-onprem-healthy", ews_rules, "impersonation.denied"),
        ("online-app-healthy", token_rules, "oauth.invalid_client_secret"),
    ] {
        let lab = crate::common::start(hostile_scenario(base, &rules)).await;
        let out = lab
            .run_cli_env(lab.check_args(&["--show-http", "-vv"]), &[("COLUMNS", "100")])
            .await;
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(2), "{base}: {stdout}\n{stderr}");
        assert!(stdout.contains(code), "{base}: {stdout}");
        assert_terminal_safe(&stdout, &format!("{base}: human report with --show-http"));
        assert_terminal_safe(&stderr, &format!("{base}: -vv log"));
        // The hostile text was shown, escaped.
        assert!(
            stdout.contains("\\x1b[2J") || stdout.contains("\\u{9b}"),
            "{base}: {stdout}"
        );
        // JSON keeps the exact text.
        let (report, _) = lab.check_json(&[]).await;
        let json = serde_json::to_string(&report).expect("json");
        assert!(
            json.contains("\\u001b[2J") || json.contains('\u{9b}'),
            "{base}: JSON lost the server's exact text: {json}"
        );
    }
}

/// Mailbox lists as Windows writes them (UTF-16 with a BOM) are read; other
/// invalid bytes are refused with their line; a line holding control
/// sequences is shown escaped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailbox_lists_decode_utf16_refuse_bad_bytes_and_show_control_characters_escaped() {
    let lab = crate::common::start(Scenario::builtin("ews-onprem-healthy").expect("scenario")).await;
    let mailboxes = lab.lab.scenario().check.mailboxes.clone();
    // UTF-16LE with a BOM, as PowerShell 5's `>` writes it.
    let utf16 = lab.dir.path().join("users-utf16.txt");
    let mut bytes = vec![0xff, 0xfe];
    bytes.extend(
        format!("{}\r\n", mailboxes.join("\r\n"))
            .encode_utf16()
            .flat_map(u16::to_le_bytes),
    );
    std::fs::write(&utf16, bytes).expect("write");
    let mut args = lab.check_args_with_list(&utf16, &[]);
    args.push("--format=json".into());
    let out = lab.run_cli(args).await;
    let report: exprobe::report::Report =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stderr)));
    assert_eq!(report.target.mailboxes, mailboxes);
    assert_eq!(out.status.code(), Some(0));
    // Latin-1 bytes: refused, with the line.
    let latin1 = lab.dir.path().join("users-latin1.txt");
    std::fs::write(&latin1, [mailboxes[0].as_bytes(), b"\nbj\xf6rn@contoso.com\n"].concat()).expect("write");
    let out = lab.run_cli(lab.check_args_with_list(&latin1, &[])).await;
    assert_eq!(out.status.code(), Some(3));
    let err = text(&out.stderr);
    assert!(err.contains("line 2 is not valid UTF-8 (byte 0xf6"), "{err}");
    // A line with control sequences: an invalid address, shown escaped.
    let hostile = lab.dir.path().join("users-hostile.txt");
    std::fs::write(&hostile, format!("{}\nx\u{1b}[2J\u{202e}@contoso.com\n", mailboxes[0])).expect("write");
    let out = lab.run_cli(lab.check_args_with_list(&hostile, &["-v"])).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains("input.invalid_address"), "{stdout}");
    assert!(stdout.contains("x\\x1b[2J\\u{202e}@contoso.com"), "{stdout}");
    assert_terminal_safe(&stdout, "human report of a hostile list");
    assert_terminal_safe(&stderr, "-v log of a hostile list");
}
