//! The diagnosis catalogue: stable codes with severity, explanation, likely
//! causes and numbered remediation in the admin's words. Codes are a public
//! contract: never rename one; add new ones freely.

use crate::report::Severity;

mod entry;
mod oauth;

pub use entry::Entry;
pub use oauth::ENTRIES as OAUTH_ENTRIES;

const AUTODISCOVER_DOC: &str =
    "https://learn.microsoft.com/exchange/client-developer/exchange-web-services/autodiscover-for-exchange";
const AUTODISCOVER_ERRORS_DOC: &str =
    "https://learn.microsoft.com/exchange/client-developer/exchange-web-services/handling-autodiscover-error-messages";
const RCA: &str = "https://testconnectivity.microsoft.com/";
const CERT_DOC: &str = "https://learn.microsoft.com/exchange/architecture/client-access/certificates";

pub const CATALOGUE: &[Entry] = &[
    Entry {
        code: "input.invalid_address",
        severity: Severity::Critical,
        title: "The address is not a valid email address",
        explanation: "exprobe cannot check a mailbox whose address it cannot parse. Every check of this address was skipped.",
        causes: &["A typo, a missing domain, or a display name pasted instead of the address", "A CSV column other than the mailbox column was read"],
        remediation: &[
            "Correct the address (user@domain.example) in the command line or the mailbox file.",
            "For CSV files, make sure the header has a `mailbox` column holding the addresses.",
        ],
        references: &[],
    },
    Entry {
        code: "dns.domain_not_found",
        severity: Severity::Critical,
        title: "The mailbox domain does not exist in DNS",
        explanation: "DNS answered NXDOMAIN for the domain and its MX records: the name is not registered, expired, or mistyped. Nothing can be discovered for its mailboxes, so every later step for them was skipped.",
        causes: &["A typo in the domain part of the address", "The domain registration lapsed", "An internal-only domain checked against public DNS (or the wrong --dns-server)"],
        remediation: &[
            "Check the spelling of the domain in the mailbox address.",
            "Look the domain up with your registrar or `nslookup -type=MX DOMAIN`; renew it if it lapsed.",
            "If the domain only exists in internal DNS, run exprobe inside the network or pass --dns-server with an internal resolver.",
        ],
        references: &[],
    },
    Entry {
        code: "dns.no_autodiscover_records",
        severity: Severity::Critical,
        title: "No DNS record leads to autodiscover",
        explanation: "The domain exists, but neither the domain itself, nor autodiscover.<domain>, nor an _autodiscover._tcp SRV record on port 443 resolves, so no autodiscover endpoint can be found by DNS.",
        causes: &["The autodiscover CNAME was never created or was removed", "A DNS migration dropped the records"],
        remediation: &[
            "Exchange Online: in the Microsoft 365 admin center → Settings → Domains → the domain → DNS records, add the CNAME autodiscover → autodiscover.outlook.com.",
            "Exchange Server: publish autodiscover.<domain> (A or CNAME) pointing at your Client Access namespace, or an SRV record _autodiscover._tcp.<domain> on port 443.",
            "Or give the EWS URL directly with --ews-url (and configure the same URL in the sync product).",
        ],
        references: &[AUTODISCOVER_DOC],
    },
    Entry {
        code: "dns.cname_loop",
        severity: Severity::Critical,
        title: "A DNS alias (CNAME) chain loops",
        explanation: "Following the CNAME records of the name comes back to a name already passed, so it never resolves to an address. Resolvers report this as \"no records\"; exprobe followed the chain itself.",
        causes: &["Two CNAME records pointing at each other after a migration", "A CNAME to a name that has a CNAME back"],
        remediation: &[
            "List the chain with `nslookup -type=CNAME NAME` for each name in the finding and break the loop: the last name must have an A or AAAA record.",
        ],
        references: &[],
    },
    Entry {
        code: "autodiscover.not_found",
        severity: Severity::Critical,
        title: "Autodiscover did not produce an EWS URL",
        explanation: "No autodiscover method (v2, the domain, the autodiscover host, the HTTP redirect, SRV) answered with settings for this address. Sync products that rely on autodiscover cannot find the mailbox's EWS endpoint.",
        causes: &["The endpoints exist but answer 404 or require authentication that was not given", "Autodiscover is published only internally", "A firewall or reverse proxy does not forward /autodiscover"],
        remediation: &[
            "Look at the autodiscover step's attempts to see what each candidate answered.",
            "If the endpoints asked for authentication, re-run with --service-account and a password (--password-env VAR).",
            "Publish autodiscover externally (autodiscover.<domain> to your Client Access namespace, or autodiscover.outlook.com for Exchange Online).",
            "Or configure the EWS URL explicitly in the sync product and check it with --ews-url.",
        ],
        references: &[AUTODISCOVER_DOC, RCA],
    },
    Entry {
        code: "autodiscover.user_not_found",
        severity: Severity::Critical,
        title: "Autodiscover does not know this address",
        explanation: "The autodiscover server answered that the address cannot be found (POX error 500 / SOAP InvalidUser). The mailbox does not exist under this address on this organization, or the address is not one of its proxy addresses.",
        causes: &["A typo in the address", "The user has no mailbox, or it was deleted", "The address belongs to another organization or was removed from the user's proxy addresses"],
        remediation: &[
            "Exchange admin center → Recipients → Mailboxes: search for the user and check that the address is listed under Email addresses.",
            "Use the user's primary SMTP address in the sync product.",
            "If the mailbox was just created, wait for directory replication (up to an hour in Exchange Online) and re-run.",
        ],
        references: &[AUTODISCOVER_ERRORS_DOC],
    },
    Entry {
        code: "autodiscover.redirect_loop",
        severity: Severity::Critical,
        title: "Autodiscover redirects in a loop",
        explanation: "Autodiscover redirected to an address or URL it had already redirected to. Clients give up on loops, so no EWS URL can be found.",
        causes: &["Two mail-enabled objects (e.g. a mail user and a remote mailbox) whose target addresses point at each other", "A hybrid configuration whose targetAddress points back on-premises"],
        remediation: &[
            "Follow the redirect chain in the autodiscover step's observations and find the object that points back.",
            "Exchange Server: Get-RemoteMailbox / Get-MailUser USER | fl *TargetAddress*; fix the target address so it ends at the mailbox's real location.",
            "Re-run exprobe after the directory change has replicated.",
        ],
        references: &[AUTODISCOVER_ERRORS_DOC],
    },
    Entry {
        code: "autodiscover.too_many_redirects",
        severity: Severity::Critical,
        title: "Autodiscover redirects more than 10 times",
        explanation: "Autodiscover kept redirecting past the limit of 10 hops that Microsoft's clients also apply, so no EWS URL was found.",
        causes: &["A long chain of mail users / forwarding objects", "A misconfigured redirect that always produces a new address or URL"],
        remediation: &[
            "Look at the redirect chain in the autodiscover step's observations.",
            "Point the first object of the chain straight at the final mailbox (its target address or the autodiscover redirect).",
        ],
        references: &[AUTODISCOVER_ERRORS_DOC],
    },
    Entry {
        code: "autodiscover.cross_domain_redirect",
        severity: Severity::Critical,
        title: "Autodiscover led to another domain's host",
        explanation: "An autodiscover hop (an HTTP redirect, the plain-HTTP redirect method, an SRV record, a redirectUrl or a redirectAddr) led outside the mailbox and service-account domains, and the EWS URL came from there without the organization's own server confirming it. Anyone who can forge one DNS record or one plain-HTTP answer can send clients there, so exprobe (like Outlook, which asks its user) sends no credentials to that host. Critical when it is the only way to the mailbox; a warning when a trusted path answered too, or when the run had no credentials to withhold; information when --trust-domain allowed the hop.",
        causes: &["A hybrid or hosted deployment whose autodiscover redirects to the provider's domain", "A stale SRV record or HTTP redirect to a former provider", "A hijacked or parked domain, or a forged DNS or HTTP answer"],
        remediation: &[
            "Look at the autodiscover step: it names the hop and the domain it led to.",
            "If that domain is not yours, remove the redirect or SRV record that points there and treat the finding as a possible attack on your users' credentials.",
            "If it is yours (a hosting partner, a second namespace), re-run with --trust-domain DOMAIN, and configure the sync product to trust the same redirect.",
            "Prefer an autodiscover record in the mailbox's own domain (autodiscover.<domain>) so no cross-domain hop is needed.",
        ],
        references: &[AUTODISCOVER_DOC, "https://learn.microsoft.com/exchange/client-developer/exchange-web-services/autodiscover-for-exchange#implementing-an-autodiscover-client"],
    },
    Entry {
        code: "autodiscover.insecure_redirect_refused",
        severity: Severity::Critical,
        title: "Autodiscover redirect refused as unsafe",
        explanation: "An autodiscover endpoint redirected to a plain-http URL, to a host with an untrusted certificate, or to a path that is not an autodiscover path. exprobe (like Outlook) does not follow such redirects because credentials could leak to a third party.",
        causes: &["A reverse proxy or load balancer that rewrites https to http", "An old HTTP redirect site pointing at the wrong path", "A hijacked or parked domain"],
        remediation: &[
            "Fix the redirect so that its Location is https://<host>/autodiscover/autodiscover.xml on a host with a valid certificate.",
            "Check the web server or load balancer rule that issues the redirect.",
        ],
        references: &[AUTODISCOVER_DOC],
    },
    Entry {
        code: "autodiscover.invalid_response",
        severity: Severity::Critical,
        title: "Autodiscover answered something that is not a valid autodiscover response",
        explanation: "An autodiscover endpoint answered HTTP 200 but the body is not the XML Exchange sends (malformed XML, the wrong namespace, or an unknown Action). Real Exchange servers use http://schemas.microsoft.com/... namespaces.",
        causes: &["A web site, parking page or captive portal answering on the autodiscover URL", "A proxy that rewrites or truncates the body", "A third-party autodiscover implementation with the wrong namespace"],
        remediation: &[
            "Open the evidence of the autodiscover step to see the body that was returned.",
            "Make sure /autodiscover on that host is served by Exchange, not by the web site of the domain.",
            "If the host is your public web site, remove its /autodiscover handler or publish autodiscover.<domain> for Exchange.",
        ],
        references: &[AUTODISCOVER_DOC],
    },
    Entry {
        code: "autodiscover.ews_url_mismatch",
        severity: Severity::Warning,
        title: "The EWS URL given differs from the one autodiscover returns",
        explanation: "--ews-url is not the URL autodiscover returns for this mailbox. Sync products configured with a fixed URL break when the mailbox moves or the namespace changes.",
        causes: &["An old URL kept in the sync product's settings", "A URL generated from a standard pattern that does not match the organization's namespace"],
        remediation: &[
            "Use the EWS URL autodiscover returns (shown in the finding) in the sync product.",
            "If the fixed URL is deliberate (e.g. a load-balanced namespace), make sure it reaches the same servers.",
        ],
        references: &[AUTODISCOVER_DOC],
    },
    Entry {
        code: "tls.certificate_expired",
        severity: Severity::Critical,
        title: "The server's TLS certificate has expired",
        explanation: "The certificate presented by the host is past its expiry date. Clients refuse the connection, and credentials are never sent to it.",
        causes: &["The Exchange or load-balancer certificate was not renewed", "The renewed certificate was imported but not assigned to IIS"],
        remediation: &[
            "Renew the certificate with your certificate authority.",
            "Exchange Server: Exchange admin center → Servers → Certificates: import the new certificate and assign it to IIS (or Enable-ExchangeCertificate -Services IIS).",
            "If a load balancer or reverse proxy terminates TLS, install the new certificate there.",
        ],
        references: &[CERT_DOC],
    },
    Entry {
        code: "tls.certificate_not_yet_valid",
        severity: Severity::Critical,
        title: "The server's TLS certificate is not valid yet",
        explanation: "The certificate's validity starts in the future, or this machine's clock is behind.",
        causes: &["A certificate installed before its start date", "A wrong clock on this machine or on the server"],
        remediation: &["Check the clock of this machine (and NTP).", "Install a certificate that is valid now."],
        references: &[CERT_DOC],
    },
    Entry {
        code: "tls.certificate_name_mismatch",
        severity: Severity::Critical,
        title: "The server's TLS certificate is for another name",
        explanation: "The certificate does not list the host name that was connected to in its subject alternative names. Clients refuse the connection.",
        causes: &["autodiscover.<domain> or the EWS host name missing from the certificate's SAN list", "DNS pointing the name at a server with another certificate (e.g. the web hosting provider)"],
        remediation: &[
            "Get a certificate whose subject alternative names include the host in the finding (e.g. autodiscover.<domain> and mail.<domain>).",
            "If the name should not point at this server at all, fix the DNS record.",
        ],
        references: &[CERT_DOC],
    },
    Entry {
        code: "tls.certificate_untrusted",
        severity: Severity::Critical,
        title: "The server's TLS certificate is not from a trusted authority",
        explanation: "The certificate chain does not lead to a root this machine trusts: a self-signed or internal CA certificate, or a missing intermediate. Cloud sync products will refuse it.",
        causes: &["A self-signed Exchange certificate still in use externally", "An internal CA not trusted outside the domain", "The server does not send its intermediate certificates"],
        remediation: &[
            "Use a certificate from a public certificate authority for the external names.",
            "Make the server send the full chain (install the intermediate certificates).",
            "If an internal CA is intended, check with --ca-file pointing at its root.",
        ],
        references: &[CERT_DOC],
    },
    Entry {
        code: "tls.handshake_failed",
        severity: Severity::Critical,
        title: "The TLS handshake failed",
        explanation: "The connection was made but TLS could not be negotiated (no common protocol version or cipher, or the server broke off the handshake).",
        causes: &["The server only offers TLS 1.0/1.1", "A middlebox interfering with TLS"],
        remediation: &["Enable TLS 1.2 on the server or load balancer.", "Check for proxies or inspection devices between this machine and the server."],
        references: &[],
    },
    Entry {
        code: "tls.protocol_version",
        severity: Severity::Critical,
        title: "The server offers only TLS versions older than 1.2",
        explanation: "The server answered the TLS handshake with TLS 1.0 or 1.1. exprobe, like current Windows, Outlook and Exchange Online clients, requires TLS 1.2 or 1.3, so no client can connect securely.",
        causes: &["TLS 1.2 disabled on an old Windows Server (SCHANNEL registry settings)", "An old load balancer or reverse proxy in front of Exchange"],
        remediation: &[
            "Enable TLS 1.2 on the server: on Windows Server, the SCHANNEL TLS 1.2 Server keys and the .NET SchUseStrongCrypto settings, then restart.",
            "Update or reconfigure the load balancer or reverse proxy to offer TLS 1.2.",
        ],
        references: &["https://learn.microsoft.com/exchange/exchange-tls-configuration"],
    },
    Entry {
        code: "http.protocol_error",
        severity: Severity::Critical,
        title: "The server's HTTP answer is malformed",
        explanation: "The connection worked but what came back is not valid HTTP (a broken status line, an impossible Content-Length, too many or too long headers, a header value with control characters, a compressed body that was not asked for). The finding quotes the HTTP parser's error.",
        causes: &["A broken reverse proxy or load balancer", "A non-HTTP service on the HTTPS port", "A middlebox rewriting traffic"],
        remediation: &[
            "Fetch the same URL with `curl -v` from this machine and look at the raw answer.",
            "Check the reverse proxy or load balancer in front of the server; bypass it to compare.",
        ],
        references: &[],
    },
    Entry {
        code: "run.interrupted",
        severity: Severity::Warning,
        title: "The run was interrupted before every mailbox was checked",
        explanation: "exprobe received Ctrl-C or SIGTERM: it started no further mailboxes, let those under way finish for two seconds and wrote what it had. The report holds only the mailboxes checked; the others are unknown, not healthy. The exit code is 130.",
        causes: &["Ctrl-C in the terminal", "A scheduler stopping the job (SIGTERM)"],
        remediation: &["Run the check again, with a larger --deadline or a smaller mailbox list if the run was stopped for taking too long."],
        references: &[],
    },
    Entry {
        code: "run.deadline_reached",
        severity: Severity::Critical,
        title: "The deadline ended the run before every mailbox was checked",
        explanation: "--deadline bounds the whole run. It passed while mailboxes were still waiting to be checked; their results are unknown, not healthy. The finding says how many.",
        causes: &["More mailboxes than the deadline allows at this --concurrency", "Slow or unresponsive servers using up the time"],
        remediation: &[
            "Raise --deadline, or check fewer mailboxes per run.",
            "If servers were slow, look at the timings of the steps that did run.",
        ],
        references: &[],
    },
    Entry {
        code: "network.unreachable",
        severity: Severity::Critical,
        title: "A host could not be reached",
        explanation: "The connection was refused, reset, or timed out, or the DNS servers did not answer. The finding names the host and port.",
        causes: &["A firewall blocking the port", "The service is stopped", "The host name points at an address that does not serve HTTPS", "DNS servers unreachable from this machine"],
        remediation: &[
            "Check from this machine that the host and port in the finding accept connections (e.g. `curl -v https://HOST/`).",
            "Check firewall and load-balancer rules for that port.",
            "If DNS servers did not answer, check --dns-server or the machine's resolver configuration.",
        ],
        references: &[RCA],
    },
    Entry {
        code: "server.error",
        severity: Severity::Critical,
        title: "The server answered with an error",
        explanation: "The server answered with a 5xx status or an autodiscover error code that is not one of the known Exchange answers exprobe explains specifically.",
        causes: &["A failing Exchange service or application pool", "A load balancer with no healthy backend"],
        remediation: &[
            "Look at the evidence of the step for the status, the body and headers such as X-FEServer / X-BEServer / request-id.",
            "Check the Exchange server's event log and the IIS application pools (MSExchangeAutodiscoverAppPool, MSExchangeServicesAppPool).",
            "For Exchange Online, check the service health dashboard in the Microsoft 365 admin center.",
        ],
        references: &[],
    },
    Entry {
        code: "ews.credentials_rejected",
        severity: Severity::Critical,
        title: "The service account's credentials were rejected",
        explanation: "Several endpoints answered 401 to the service account's credentials (Basic, or the NTLM AUTHENTICATE message). One 401 could be a misconfigured endpoint; several mean the user name or password is wrong, the account is disabled, or the scheme is not allowed.",
        causes: &["A wrong or expired password", "The user name format (UPN vs DOMAIN\\user) not accepted", "The account is disabled or locked", "Basic authentication disabled on the virtual directory", "NTLM: Extended Protection requires a channel binding the client did not send (old NTLM clients)"],
        remediation: &[
            "Sign in to Outlook on the web as the service account to check the password.",
            "Microsoft 365 admin center → Users → Active users → the service account: check that sign-in is allowed; reset the password if needed.",
            "Exchange Server: check that Basic authentication is enabled on the Autodiscover and EWS virtual directories.",
        ],
        references: &[],
    },

    Entry {
        code: "ews.endpoint_not_found",
        severity: Severity::Critical,
        title: "The EWS URL does not serve EWS",
        explanation: "The EWS URL answered, but not like Exchange Web Services (no 401 challenge and no SOAP answer: typically a 404 page). The URL is wrong or the EWS virtual directory is not published there.",
        causes: &["A typo or an old host in the configured EWS URL", "A reverse proxy that does not forward /EWS/", "The EWS virtual directory was removed or is on another server"],
        remediation: &[
            "Use the EWS URL autodiscover returns for the mailbox (run exprobe without --ews-url to see it).",
            "Exchange Server: Get-WebServicesVirtualDirectory | fl Server,InternalUrl,ExternalUrl and compare with the URL used.",
            "Check the reverse proxy or load balancer rules for the /EWS/ path.",
        ],
        references: &["https://learn.microsoft.com/exchange/client-developer/exchange-web-services/start-using-web-services-in-exchange"],
    },
    Entry {
        code: "ews.auth_scheme_unavailable",
        severity: Severity::Critical,
        title: "EWS does not offer the authentication method in use",
        explanation: "The EWS endpoint's 401 answer does not list the scheme this check authenticates with. Exchange Online turned Basic authentication off for EWS on 1 October 2022; it only accepts OAuth (Bearer) tokens. On Exchange Server, Basic may be turned off on the EWS virtual directory.",
        causes: &["Basic authentication against Exchange Online", "Basic disabled on the EWS virtual directory of Exchange Server"],
        remediation: &[
            "Exchange Online: move the sync product to app-only OAuth — an app registration with either the tenant-wide application permission (full_access_as_app for EWS, Mail.Read for Graph; it reaches every mailbox) or, limited to the synced mailboxes, an RBAC for Applications role without that permission (the two add up, so with both the scope limits nothing).",
            "Exchange Server: enable Basic on the EWS virtual directory (Set-WebServicesVirtualDirectory -BasicAuthentication $true) or configure the product for the scheme the server offers.",
        ],
        references: &["https://learn.microsoft.com/exchange/clients-and-mobile-in-exchange-online/deprecation-of-basic-authentication-exchange-online"],
    },
    Entry {
        code: "ews.ntlm_internal_only",
        severity: Severity::Critical,
        title: "NTLM is offered only on the internal EWS name",
        explanation: "The EWS URL the product uses (the external one) does not offer NTLM or Negotiate, while the internal EWS URL autodiscover gives does: Windows authentication is turned on for internal clients only, so a product outside the network (or one configured with the external name) cannot sign in with NTLM.",
        causes: &[
            "The EWS virtual directory's ExternalAuthenticationMethods lack Ntlm/Negotiate (Basic or OAuth only from outside)",
            "A reverse proxy or load balancer on the external name that pre-authenticates with Basic or forms and does not pass Windows authentication",
            "Split DNS: the external name points at another server or publishing rule than the internal one",
        ],
        remediation: &[
            "Exchange Server: Get-WebServicesVirtualDirectory | fl Server,InternalUrl,ExternalUrl,InternalAuthenticationMethods,ExternalAuthenticationMethods; add Ntlm to the external methods (Set-WebServicesVirtualDirectory -WindowsAuthentication $true) and let the publishing proxy pass NTLM through.",
            "Or run the product inside the network against the internal EWS URL shown, or sign it in another way the external name offers (Basic over HTTPS, or OAuth with hybrid modern authentication).",
        ],
        references: &["https://learn.microsoft.com/powershell/module/exchange/set-webservicesvirtualdirectory"],
    },
    Entry {
        code: "ews.kerberos_required",
        severity: Severity::Critical,
        title: "EWS takes only Kerberos: NTLM is not accepted",
        explanation: "The EWS endpoint offers only Negotiate and answered the NTLM token sent inside it with another 401, without an NTLM challenge: the server (or a domain policy such as \"Network security: Restrict NTLM\") accepts Kerberos only. A service account outside the domain, or a product that speaks NTLM, cannot sign in there.",
        causes: &[
            "NTLM restricted by Group Policy (Restrict NTLM: incoming NTLM traffic, deny all)",
            "The EWS virtual directory's Windows authentication providers reduced to Negotiate with Kerberos only",
            "A load balancer or reverse proxy that passes only Kerberos",
        ],
        remediation: &[
            "Exchange Server: Get-WebServicesVirtualDirectory | fl Server,WindowsAuthentication,InternalAuthenticationMethods,ExternalAuthenticationMethods; add Ntlm (Set-WebServicesVirtualDirectory -WindowsAuthentication $true) and check that IIS lists the NTLM provider for /EWS.",
            "If the policy restricts NTLM on purpose, add an exception for the Exchange servers, or have the product authenticate with Kerberos (a domain-joined host with an SPN for the EWS host name) or with OAuth (hybrid modern authentication).",
        ],
        references: &["https://learn.microsoft.com/windows/security/threat-protection/security-policy-settings/network-security-restrict-ntlm-incoming-ntlm-traffic"],
    },
    Entry {
        code: "ews.account_locked",
        severity: Severity::Critical,
        title: "The service account is locked (or must do MFA)",
        explanation: "EWS answered HTTP 456: the account is locked out, or on Exchange Online it must complete multi-factor authentication, which a service account cannot do non-interactively.",
        causes: &["Too many wrong passwords (a sync product with an old password retrying)", "An MFA or Conditional Access policy applying to the service account"],
        remediation: &[
            "Microsoft 365 admin center → Users → Active users → the service account: unblock sign-in and reset the password if needed.",
            "Exclude the service account from MFA/Conditional Access, or better move to app-only OAuth.",
        ],
        references: &[],
    },
    Entry {
        code: "ews.access_denied",
        severity: Severity::Critical,
        title: "EWS denied access",
        explanation: "EWS answered ErrorAccessDenied (\"Access is denied. Check credentials and try again.\") or HTTP 403 for this request: the account is authenticated but not allowed to do this.",
        causes: &["EWS access restricted for the account (Set-CASMailbox -EwsEnabled/EwsAllowList)", "An application access policy or RBAC for Applications scope"],
        remediation: &[
            "Exchange Server / Online PowerShell: Get-CASMailbox SERVICEACCOUNT | fl Ews* and allow EWS for it.",
            "Check organization-wide EWS settings: Get-OrganizationConfig | fl Ews*.",
        ],
        references: &[],
    },
    Entry {
        code: "ews.disabled",
        severity: Severity::Critical,
        title: "EWS is turned off",
        explanation: "EWS answered HTTP 403 to an authenticated request without saying why (Exchange Online's refusals carry X-EWS-Policy-Reason, Exchange Server's do not): EWS is turned off for the organization or the mailbox, or a User-Agent policy (EwsApplicationAccessPolicy) refuses the product.",
        causes: &["Set-OrganizationConfig -EwsEnabled $false", "Set-CASMailbox -EwsEnabled $false on the mailbox or the account", "EwsApplicationAccessPolicy EnforceAllowList without the product's User-Agent, or EnforceBlockList matching it"],
        remediation: &[
            "PowerShell: Get-OrganizationConfig | fl EwsEnabled,EwsApplicationAccessPolicy,EwsAllowList,EwsBlockList and Get-CASMailbox MAILBOX | fl EwsEnabled.",
            "Enable EWS for the organization and the mailbox, or add the product's User-Agent to EwsAllowList.",
        ],
        references: &["https://learn.microsoft.com/exchange/client-developer/exchange-web-services/how-to-control-access-to-ews-in-exchange"],
    },
    Entry {
        code: "ews.throttled",
        severity: Severity::Critical,
        title: "EWS stayed busy after backing off",
        explanation: "EWS answered ErrorServerBusy (or 429/503) and kept doing so after exprobe waited the BackOffMilliseconds it was told, a few times. EWS budgets are charged to both the service account and the impersonated user; the default concurrency is 27 per user.",
        causes: &["The sync product (or several) using the same service account at full speed", "A throttling policy stricter than the default", "Server overload"],
        remediation: &[
            "Re-run later; if it persists, look at the load generated with the service account.",
            "Exchange Server: assign the service account a throttling policy with higher EWS limits (New-ThrottlingPolicy, Set-ThrottlingPolicyAssociation).",
            "Exchange Online: spread the load over time; limits cannot be raised per account.",
        ],
        references: &["https://learn.microsoft.com/exchange/client-developer/exchange-web-services/ews-throttling-in-exchange"],
    },
    Entry {
        code: "impersonation.denied",
        severity: Severity::Critical,
        title: "The service account may not impersonate this mailbox",
        explanation: "EWS answered ErrorImpersonateUserDenied (\"The account does not have permission to impersonate the requested user.\"): insufficient privileges. The service account does not hold the ApplicationImpersonation role, or the role's scope (a management scope or a group) does not include this mailbox.",
        causes: &["The ApplicationImpersonation role was never assigned, or was assigned to another account", "The role is scoped to a group or OU the mailbox is not in", "The role was assigned less than two hours ago"],
        remediation: &[
            "Exchange admin center → Permissions → Admin roles → + (new role group): name it, add the role ApplicationImpersonation, add the service account (or a security group containing it) as a member, save.",
            "Or in Exchange PowerShell: New-ManagementRoleAssignment -Role ApplicationImpersonation -User SERVICEACCOUNT (add -CustomRecipientWriteScope to limit it to a scope that includes these mailboxes).",
            "If the role is scoped, add the mailbox to the scope's group or widen the scope (Get-ManagementRoleAssignment -Role ApplicationImpersonation | fl User,CustomRecipientWriteScope).",
            "Wait for propagation (up to two hours), then re-run exprobe before changing anything else.",
        ],
        references: &["https://learn.microsoft.com/exchange/client-developer/exchange-web-services/how-to-configure-impersonation"],
    },
    Entry {
        code: "impersonation.server_denied",
        severity: Severity::Critical,
        title: "The Exchange server does not let the service account impersonate",
        explanation: "EWS answered ErrorImpersonationDenied: the service account lacks the ms-Exch-EPI-Impersonation right on the Client Access server, so it cannot impersonate anyone through it, whatever its role on the mailboxes.",
        causes: &["The ApplicationImpersonation assignment is missing its server part (old manual ACLs)", "A custom role without the impersonation right on the servers"],
        remediation: &[
            "Assign the ApplicationImpersonation management role (it grants the right on both the servers and the mailboxes): New-ManagementRoleAssignment -Role ApplicationImpersonation -User SERVICEACCOUNT.",
            "Remove old manual Add-ADPermission grants of ms-Exch-EPI-Impersonation that conflict with the role.",
            "Wait for propagation (up to two hours), then re-run exprobe.",
        ],
        references: &["https://learn.microsoft.com/exchange/client-developer/exchange-web-services/how-to-configure-impersonation"],
    },
    Entry {
        code: "impersonation.header_invalid",
        severity: Severity::Critical,
        title: "The ExchangeImpersonation header is wrong for this kind of token",
        explanation: "EWS answered ErrorInvalidExchangeImpersonationHeaderData: app-only OAuth tokens must carry the ExchangeImpersonation header, and some token types must not.",
        causes: &["An app-only token used without impersonating a mailbox", "A delegated token sent with an impersonation header the product should not add"],
        remediation: &["Configure the product to impersonate the mailbox (ExchangeImpersonation with its SMTP address and X-AnchorMailbox) for app-only tokens."],
        references: &[],
    },
    Entry {
        code: "mailbox.not_found",
        severity: Severity::Critical,
        title: "There is no mailbox with this address",
        explanation: "Exchange answered that the address has no mailbox (ErrorNonExistentMailbox / ErrorInvalidUser, or Graph's MailboxNotEnabledForRESTAPI): missing identity. The user may exist without a mailbox or licence, or the address belongs to nobody.",
        causes: &["A typo in the address", "The user has no Exchange licence or mailbox (or it is on-premises while the check targets Exchange Online)", "The mailbox was deleted or is soft-deleted"],
        remediation: &[
            "Microsoft 365 admin center → Users → Active users → the user → Licenses and apps: assign a licence that includes Exchange Online, then wait for the mailbox to be created.",
            "Exchange admin center → Recipients → Mailboxes: check the mailbox exists and the address is one of its email addresses.",
            "Use the mailbox's primary SMTP address in the sync product.",
        ],
        references: &[],
    },
    Entry {
        code: "mailbox.alias_not_primary",
        severity: Severity::Warning,
        title: "The address is an alias, not the mailbox's primary SMTP address",
        explanation: "The address given reaches the mailbox, but it is not its primary SMTP address (the finding shows the primary). Several sync products authenticate users by their original address only and fail, or create duplicates, with an alias.",
        causes: &["The user was entered with an old or secondary address", "A domain rename left the old address as a proxy address"],
        remediation: &[
            "Use the primary SMTP address shown in this finding in the sync product.",
            "Or make the address given the primary one: Exchange admin center → Recipients → Mailboxes → the user → Email addresses → set as primary.",
        ],
        references: &[],
    },
    Entry {
        code: "mailbox.moved",
        severity: Severity::Critical,
        title: "The mailbox moved or is moving: autodiscover again",
        explanation: "EWS answered an error that tells the client to run autodiscover again (ErrorMailboxMoveInProgress, ErrorMailboxStoreUnavailable, ErrorProxyRequestNotAllowed, ...). A fixed EWS URL no longer reaches this mailbox.",
        causes: &["A mailbox move (on-premises ↔ Exchange Online, or between databases) in progress or just done", "A fixed EWS URL pointing at the old location"],
        remediation: &[
            "Wait for the move to complete (Get-MoveRequest USER).",
            "Let the sync product use autodiscover, or update its EWS URL to the one autodiscover returns now.",
        ],
        references: &[],
    },
    Entry {
        code: "service_account.no_mailbox",
        severity: Severity::Warning,
        title: "The service account has no mailbox",
        explanation: "The service account signs in, but has no mailbox (or no Exchange licence). Impersonation can still work, but rooms and resources cannot be listed through it, and some products become slow authorizing each user.",
        causes: &["The account was created without a licence that includes Exchange", "The mailbox was removed"],
        remediation: &[
            "Microsoft 365 admin center → Users → Active users → the service account → Licenses and apps: assign a licence with Exchange (MAPI-capable).",
            "Exchange Server: Enable-Mailbox SERVICEACCOUNT.",
        ],
        references: &[],
    },
    Entry {
        code: "account.domain_mismatch",
        severity: Severity::Warning,
        title: "The service account is in another domain than the mailbox",
        explanation: "The service account's domain differs from the mailbox's. Some sync products require the service account and the users to be in the same domain (e.g. a service account @contoso.com cannot authorize users @bravo.com).",
        causes: &["One service account used for several accepted domains", "A service account created in the tenant's onmicrosoft.com domain"],
        remediation: &[
            "Check whether the sync product requires one domain; if so, create a service account in the users' domain (or give it an address in that domain as its sign-in name).",
        ],
        references: &[],
    },
    Entry {
        code: "permissions.recently_changed",
        severity: Severity::Info,
        title: "Permission changes take time to apply",
        explanation: "Role, consent and policy changes take 30 minutes to 2 hours to reach every Exchange server (ApplicationImpersonation assignments up to two hours, depending on the information cache). If the permission was granted recently, re-run exprobe later before changing more.",
        causes: &["A role assignment, admin consent or access policy changed in the last two hours"],
        remediation: &["If you changed permissions in the last two hours, wait and re-run exprobe before changing anything else."],
        references: &[],
    },
    Entry {
        code: "exchange_online.application_impersonation_retired",
        severity: Severity::Critical,
        title: "ApplicationImpersonation is retired in Exchange Online",
        explanation: "Microsoft removed the ApplicationImpersonation role from Exchange Online in February 2025 (no new assignments since 2024), and Basic authentication for EWS ended in October 2022. A service account, with a password or a delegated OAuth token (refresh token), cannot impersonate other Exchange Online mailboxes any more: EWS answers ErrorImpersonateUserDenied whatever role the account was given. Exchange Server on-premises is not affected.",
        causes: &["A sync product still configured for a service account with ApplicationImpersonation against Exchange Online"],
        remediation: &[
            "Move the product to app-only OAuth (an app registration with its own client secret or certificate), with ONE of two grants: the tenant-wide Entra application permission (full_access_as_app for EWS, Mail.Read or Mail.ReadWrite for Graph, with admin consent), which reaches every mailbox; or, to limit the app to the synced mailboxes, RBAC for Applications (New-ServicePrincipal, New-ManagementScope, New-ManagementRoleAssignment -App APP_CLIENT_ID -Role \"Application Mail.Read\" or \"Application EWS.AccessAsApp\") WITHOUT the Entra permission: the grants add up, so with both the scope limits nothing.",
            "A product that autodiscovers with the app's token cannot use the RBAC role (Autodiscover does not accept it): give it the EWS URL, or use the Entra permission with an application access policy.",
            "Configure the sync product for app-only OAuth, then check it with exprobe --auth app.",
        ],
        references: &["https://techcommunity.microsoft.com/blog/exchange/retirement-of-rbac-application-impersonation-in-exchange-online/4062671"],
    },
];

/// Every entry: discovery, transport and EWS here; OAuth, tokens, Graph and organization in `oauth.rs`.
pub fn all() -> impl Iterator<Item = &'static Entry> {
    CATALOGUE.iter().chain(oauth::ENTRIES.iter())
}

pub fn lookup(code: &str) -> Option<&'static Entry> {
    all().find(|e| e.code == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_lowercase_dotted_and_complete() {
        let mut seen = std::collections::HashSet::new();
        for e in all() {
            assert!(seen.insert(e.code), "duplicate {}", e.code);
            assert!(e.code.contains('.') && e.code == e.code.to_lowercase(), "{}", e.code);
            assert!(!e.remediation.is_empty() && !e.explanation.is_empty(), "{}", e.code);
        }
    }
}

/// Codes close to `wanted` (already lowercase), best first: a typo away
/// (Jaro-Winkler), the same name without or under another prefix, or a
/// prefix or part of a code (`impersonation` → every impersonation code).
pub fn suggestions(wanted: &str) -> Vec<&'static str> {
    const MAX: usize = 5;
    let wanted = wanted.trim_matches('.');
    if wanted.is_empty() {
        return vec![];
    }
    let mut scored: Vec<(f64, &'static str)> = all()
        .filter_map(|e| {
            let name = e.code.rsplit('.').next().unwrap_or(e.code);
            let score = strsim::jaro_winkler(wanted, e.code)
                .max(strsim::jaro_winkler(wanted, name))
                .max(if e.code.contains(wanted) && wanted.len() >= 3 {
                    0.95
                } else {
                    0.0
                });
            (score >= 0.88).then_some((score, e.code))
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    scored.into_iter().take(MAX).map(|(_, c)| c).collect()
}

#[cfg(test)]
mod suggestion_tests {
    use super::suggestions;

    #[test]
    fn near_misses_are_suggested() {
        for (typed, expected) in [
            ("impersonation.denid", "impersonation.denied"),
            ("tls.certificate_expird", "tls.certificate_expired"),
            ("certificate_expired", "tls.certificate_expired"),
            ("ews.credential_rejected", "ews.credentials_rejected"),
            ("impersonation", "impersonation.denied"),
        ] {
            let got = suggestions(typed);
            assert!(got.contains(&expected), "{typed}: {got:?}");
            assert!(got.len() <= 5, "{typed}: {got:?}");
        }
        assert!(suggestions("zzzz").is_empty());
        assert!(suggestions("").is_empty());
    }
}
