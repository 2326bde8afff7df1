//! Lab key material (test data in `fixtures/keys/`): client certificates
//! registered on lab apps, and one registered nowhere.

/// A certificate credential's files.
#[derive(Debug, Clone, Copy)]
pub struct ClientKeys {
    pub certificate: &'static str,
    pub private_key: &'static str,
    pub public_key: &'static str,
}

const CLIENT_KEYS: &[(&str, ClientKeys)] = &[
    (
        "app-client",
        ClientKeys {
            certificate: include_str!("../../fixtures/keys/app-client.cert.pem"),
            private_key: include_str!("../../fixtures/keys/app-client.key.pem"),
            public_key: include_str!("../../fixtures/keys/app-client.pub.pem"),
        },
    ),
    (
        "other-client",
        ClientKeys {
            certificate: include_str!("../../fixtures/keys/other-client.cert.pem"),
            private_key: include_str!("../../fixtures/keys/other-client.key.pem"),
            public_key: "",
        },
    ),
];

pub fn client(name: &str) -> Option<ClientKeys> {
    CLIENT_KEYS.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
}
