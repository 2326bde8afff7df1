//! Microsoft's clouds (`--cloud`): the documented Entra ID authority, Graph
//! and Exchange Online hosts of each, and how a tenant's discovery document
//! tells which cloud it lives in.
//!
//! Sources: Microsoft Graph national cloud deployments
//! (learn.microsoft.com/graph/deployments), the Office 365 endpoint lists for
//! GCC High, DoD and 21Vianet, and the DNS record pages for those clouds;
//! `tenant_region_scope` / `tenant_region_sub_scope` as documented for Azure
//! Government identity ("USGov" with "DODCON" for GCC High, "DOD" for DoD).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Cloud {
    /// Microsoft's global cloud (also GCC).
    #[default]
    Global,
    /// US Government Community Cloud High.
    UsgovGcchigh,
    /// US Government Department of Defense.
    UsgovDod,
    /// China, operated by 21Vianet.
    China,
}

pub const ALL: [Cloud; 4] = [Cloud::Global, Cloud::UsgovGcchigh, Cloud::UsgovDod, Cloud::China];

impl Cloud {
    pub fn as_str(self) -> &'static str {
        match self {
            Cloud::Global => "global",
            Cloud::UsgovGcchigh => "usgov-gcchigh",
            Cloud::UsgovDod => "usgov-dod",
            Cloud::China => "china",
        }
    }

    /// Its name in the admin's words.
    pub fn title(self) -> &'static str {
        match self {
            Cloud::Global => "Microsoft's global cloud",
            Cloud::UsgovGcchigh => "the US Government GCC High cloud",
            Cloud::UsgovDod => "the US Government DoD cloud",
            Cloud::China => "the China cloud operated by 21Vianet",
        }
    }

    /// The Entra ID authority tokens are requested from.
    pub fn authority(self) -> &'static str {
        match self {
            Cloud::Global => "https://login.microsoftonline.com",
            Cloud::UsgovGcchigh | Cloud::UsgovDod => "https://login.microsoftonline.us",
            Cloud::China => "https://login.partner.microsoftonline.cn",
        }
    }

    pub fn graph(self) -> &'static str {
        match self {
            Cloud::Global => "https://graph.microsoft.com",
            Cloud::UsgovGcchigh => "https://graph.microsoft.us",
            Cloud::UsgovDod => "https://dod-graph.microsoft.us",
            Cloud::China => "https://microsoftgraph.chinacloudapi.cn",
        }
    }

    /// Exchange Online's host: EWS, Autodiscover v2 and the EWS token resource.
    pub fn exchange_host(self) -> &'static str {
        match self {
            Cloud::Global => "outlook.office365.com",
            Cloud::UsgovGcchigh => "outlook.office365.us",
            Cloud::UsgovDod => "outlook-dod.office365.us",
            Cloud::China => "partner.outlook.cn",
        }
    }

    /// The resource (token audience) of EWS in this cloud.
    pub fn ews_resource(self) -> String {
        format!("https://{}", self.exchange_host())
    }

    /// The clouds whose Entra ID answers on this authority host (both US
    /// Government clouds share login.microsoftonline.us).
    pub fn of_authority_host(host: &str) -> Vec<Cloud> {
        let h = host.trim_end_matches('.').to_ascii_lowercase();
        match h.as_str() {
            "login.microsoftonline.us" | "login.usgovcloudapi.net" => vec![Cloud::UsgovGcchigh, Cloud::UsgovDod],
            "login.partner.microsoftonline.cn" | "login.chinacloudapi.cn" => vec![Cloud::China],
            _ => vec![Cloud::Global],
        }
    }

    /// Its `cloud_instance_name` in discovery documents.
    pub fn instance_name(self) -> &'static str {
        match self {
            Cloud::Global => "microsoftonline.com",
            Cloud::UsgovGcchigh | Cloud::UsgovDod => "microsoftonline.us",
            Cloud::China => "partner.microsoftonline.cn",
        }
    }

    /// Whether `resource` is EWS's (token audience) in some cloud.
    pub fn is_ews_resource(resource: &str) -> bool {
        let r = resource.trim_end_matches('/');
        r == "00000002-0000-0ff1-ce00-000000000000" || ALL.iter().any(|c| c.ews_resource() == r)
    }

    /// Whether `resource` is Graph's in some cloud.
    pub fn is_graph_resource(resource: &str) -> bool {
        let r = resource.trim_end_matches('/');
        r == "00000003-0000-0000-c000-000000000000" || ALL.iter().any(|c| c.graph() == r)
    }

    /// Exchange Online hosts of every cloud (EWS may answer on any of them).
    pub fn is_exchange_online_host(host: &str) -> bool {
        let h = host.trim_end_matches('.').to_ascii_lowercase();
        h == "outlook.office365.com"
            || h == "outlook.office.com"
            || h.ends_with(".outlook.com")
            || h == "outlook.office365.us"
            || h == "outlook-dod.office365.us"
            || h == "webmail.apps.mil"
            || h == "partner.outlook.cn"
    }

    /// An MX host that is Exchange Online Protection in some cloud.
    pub fn is_exchange_online_mx(host: &str) -> bool {
        let h = host.trim_end_matches('.').to_ascii_lowercase();
        [
            ".mail.protection.outlook.com",
            ".mail.protection.office365.us",
            ".mail.protection.partner.outlook.cn",
        ]
        .iter()
        .any(|s| h.ends_with(s))
    }

    /// An autodiscover CNAME target of Exchange Online in some cloud.
    pub fn is_exchange_online_autodiscover(host: &str) -> bool {
        let h = host.trim_end_matches('.').to_ascii_lowercase();
        [
            "autodiscover.outlook.com",
            "autodiscover.office365.us",
            "autodiscover-dod.office365.us",
            "autodiscover.partner.outlook.cn",
        ]
        .contains(&h.as_str())
    }

    /// The cloud a tenant lives in, from its openid-configuration: the
    /// `cloud_instance_name` (`microsoftonline.us`, `partner.microsoftonline.cn`),
    /// the region scope (`USGov`/`USG`) and sub-scope (`DOD`, `DODCON`), or the
    /// issuer's host. None when the document says nothing about it.
    pub fn of_tenant(
        cloud_instance_name: Option<&str>,
        region_scope: Option<&str>,
        region_sub_scope: Option<&str>,
        issuer: Option<&str>,
    ) -> Option<Cloud> {
        let lower = |s: Option<&str>| s.map(|v| v.trim().to_ascii_lowercase());
        let instance = lower(cloud_instance_name);
        let scope = lower(region_scope);
        let sub = lower(region_sub_scope);
        let issuer_host = issuer
            .and_then(|i| url::Url::parse(i).ok())
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase));
        let us_gov = || {
            if sub.as_deref() == Some("dod") {
                Cloud::UsgovDod
            } else {
                Cloud::UsgovGcchigh
            }
        };
        if instance.as_deref() == Some("partner.microsoftonline.cn")
            || issuer_host
                .as_deref()
                .is_some_and(|h| h.ends_with(".microsoftonline.cn") || h.ends_with(".chinacloudapi.cn"))
        {
            return Some(Cloud::China);
        }
        if instance.as_deref() == Some("microsoftonline.us")
            || matches!(scope.as_deref(), Some("usgov" | "usg"))
            || issuer_host
                .as_deref()
                .is_some_and(|h| h.ends_with(".microsoftonline.us"))
        {
            return Some(us_gov());
        }
        if instance.as_deref() == Some("microsoftonline.com") {
            return Some(Cloud::Global);
        }
        None
    }
}

impl std::fmt::Display for Cloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_tell_their_cloud() {
        let c = Cloud::of_tenant;
        assert_eq!(
            c(Some("microsoftonline.com"), Some("NA"), None, None),
            Some(Cloud::Global)
        );
        // GCC is in the global cloud.
        assert_eq!(
            c(Some("microsoftonline.com"), Some("NA"), Some("GCC"), None),
            Some(Cloud::Global)
        );
        assert_eq!(
            c(Some("microsoftonline.us"), Some("USGov"), Some("DODCON"), None),
            Some(Cloud::UsgovGcchigh)
        );
        assert_eq!(c(None, Some("USGov"), Some("DOD"), None), Some(Cloud::UsgovDod));
        assert_eq!(c(None, Some("USG"), None, None), Some(Cloud::UsgovGcchigh));
        assert_eq!(
            c(
                None,
                None,
                None,
                Some("https://login.partner.microsoftonline.cn/t/v2.0")
            ),
            Some(Cloud::China)
        );
        assert_eq!(
            c(None, Some("EU"), None, Some("https://login.microsoftonline.com/t/v2.0")),
            None
        );
    }

    #[test]
    fn hosts_of_every_cloud() {
        for cloud in ALL {
            assert!(Cloud::is_exchange_online_host(cloud.exchange_host()), "{cloud}");
            assert!(cloud.authority().starts_with("https://"));
            assert!(cloud.graph().starts_with("https://"));
        }
        assert!(Cloud::is_exchange_online_mx("contoso-us.mail.protection.office365.us."));
        assert!(!Cloud::is_exchange_online_mx("mail.contoso.com"));
        assert!(Cloud::is_exchange_online_autodiscover("autodiscover.office365.us"));
    }
}
