//! insta snapshots of the human and JSON reports (timings, timestamps and
//! evidence redacted: they change from run to run).

use exprobe::lab::Scenario;
use exprobe::report::{human, Report};

/// Snapshots are taken on one day: Exchange Online's EWS advice counts the
/// days left from the run's day (the phase tests in `lab_scenarios` cover the others).
async fn report(name: &str) -> Report {
    let day = time::macros::date!(2026 - 12 - 03);
    let (report, _) = exprobe::app::run_scenario_on(Scenario::builtin(name).expect("scenario"), Some(day))
        .await
        .expect("run");
    report
}

fn human_text(report: &Report) -> String {
    human::render(report, human::HumanOptions::default())
}

/// Calendar dates in details (certificate validity) follow the day the lab
/// issued its certificates; the relative "N days ago" stays checked.
const DATE: &str = r"\b\d{4}-\d{2}-\d{2}\b";

/// A human snapshot of a scenario's report.
macro_rules! snapshot_human {
    ($name:literal, $human:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $human() {
            let r = report($name).await;
            insta::with_settings!({filters => vec![
                (r" +\d+ ms\b", " [ms] ms"),
                (r"started \S+", "started [time]"),
                (DATE, "[date]"),
            ]}, {
                insta::assert_snapshot!(human_text(&r));
            });
        }
    };
}

macro_rules! snapshot_both {
    ($name:literal, $human:ident, $json:ident) => {
        snapshot_human!($name, $human);

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $json() {
            let r = report($name).await;
            insta::with_settings!({filters => vec![(DATE, "[date]")]}, {
            insta::assert_json_snapshot!(r, {
                ".started_at" => "[time]",
                ".duration_ms" => "[ms]",
                ".steps[].duration_ms" => "[ms]",
                ".steps[].evidence" => "[evidence]",
                ".steps[].observations.server_headers[\"request-id\"]" => "[request-id]",
            });
            });
        }
    };
}

snapshot_both!("autodiscover-pox-root", human_pox_root, json_pox_root);
snapshot_both!("autodiscover-redirect-addr", human_redirect_addr, json_redirect_addr);
snapshot_both!("tls-expired", human_tls_expired, json_tls_expired);
snapshot_both!(
    "dns-domain-not-found",
    human_dns_domain_not_found,
    json_dns_domain_not_found
);
snapshot_both!(
    "ews-impersonation-scope-excludes",
    human_scope_excludes,
    json_scope_excludes
);
snapshot_both!("ews-basic-on-online", human_basic_on_online, json_basic_on_online);

// The advice texts: remediation chosen by the situation (issue 10).
snapshot_human!("ews-impersonation-denied", human_advice_onprem_impersonation_denied);
snapshot_human!(
    "online-delegated-impersonation-denied",
    human_advice_online_delegated_impersonation_denied
);
snapshot_human!("oauth-consent-missing", human_advice_consent_missing_unknown_owner);
snapshot_human!("oauth-vendor-consent-missing", human_advice_vendor_consent_missing);
snapshot_human!("ews-service-account-no-mailbox", human_advice_warning_no_mailbox);

// The five seed products' documented failures: the advice an admin gets.
snapshot_human!(
    "seed-email-integration-role-missing",
    human_seed_email_integration_role_missing
);
snapshot_human!(
    "seed-crm-exchange-sync-user-outside-scope",
    human_seed_crm_exchange_sync_user_outside_scope
);
snapshot_human!(
    "seed-sales-intelligence-consent-missing",
    human_seed_sales_intelligence_consent_missing
);
snapshot_human!("seed-mail-api-platform-alias", human_seed_mail_api_platform_alias);
snapshot_human!("seed-sales-sidebar-no-mailbox", human_seed_sales_sidebar_no_mailbox);

// Exchange Online since 1 October 2026 (issue 19): the EWS switches, RBAC
// for Applications, and each seed product as its customers meet it today.
snapshot_human!("exo-ews-app-not-allowed", human_exo_ews_app_not_allowed);
snapshot_human!("exo-ews-mailbox-disabled", human_exo_ews_mailbox_disabled);
snapshot_human!("exo-ews-after-shutdown", human_exo_ews_after_shutdown);
snapshot_human!("exo-rbac-scope-excludes", human_exo_rbac_scope_excludes);
snapshot_human!("exo-rbac-autodiscover", human_exo_rbac_autodiscover);
snapshot_human!(
    "seed-email-integration-exo-not-allow-listed",
    human_seed_email_integration_exo_not_allow_listed
);
snapshot_human!(
    "seed-crm-exchange-sync-exo-user-outside-scope",
    human_seed_crm_exchange_sync_exo_user_outside_scope
);
snapshot_human!(
    "seed-mail-api-platform-exo-service-account",
    human_seed_mail_api_platform_exo_service_account
);
snapshot_human!(
    "seed-sales-sidebar-exo-ews-disabled",
    human_seed_sales_sidebar_exo_ews_disabled
);
