//! Absolute URLs written into responses, on the public origin the client used.

/// Path of the plugin's API under NetBox's base path.
pub const API_PREFIX: &str = "api/plugins/secrets/";

/// Builds the absolute URLs of API objects, UI pages and NetBox objects.
#[derive(Clone, Debug)]
pub struct Urls {
    /// `scheme://host[:port]`
    origin: String,
    /// NetBox's base path, starting and ending with `/`.
    base_path: String,
}

impl Urls {
    pub fn new(scheme: &str, host: &str, base_path: &str) -> Urls {
        let mut base_path = base_path.to_string();
        if !base_path.starts_with('/') {
            base_path.insert(0, '/');
        }
        if !base_path.ends_with('/') {
            base_path.push('/');
        }

        Urls {
            origin: format!("{scheme}://{host}"),
            base_path,
        }
    }

    /// URL of a collection or, with an id, of one object of this API.
    pub fn api(&self, collection: &str, id: Option<i64>) -> String {
        match id {
            Some(id) => format!(
                "{}{}{API_PREFIX}{collection}/{id}/",
                self.origin, self.base_path
            ),
            None => format!("{}{}{API_PREFIX}{collection}/", self.origin, self.base_path),
        }
    }

    /// URL of the plugin's UI page for an object, kept for field compatibility.
    pub fn ui(&self, collection: &str, id: i64) -> String {
        format!(
            "{}{}plugins/secrets/{collection}/{id}/",
            self.origin, self.base_path
        )
    }

    /// URL of a NetBox path such as `api/users/users/1/`.
    pub fn netbox(&self, path: &str) -> String {
        format!("{}{}{path}", self.origin, self.base_path)
    }

    /// Returns the absolute URL of a public path, which already includes the base path.
    pub fn absolute(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    /// NetBox's base path, starting and ending with `/`.
    pub fn base_path(&self) -> &str {
        &self.base_path
    }
}

/// Encodes query pairs the way Python's `urlencode` does, which DRF uses for page links.
pub fn python_urlencode(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(name, value)| format!("{}={}", quote_plus(name), quote_plus(value)))
        .collect::<Vec<_>>()
        .join("&")
}

fn quote_plus(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                encoded.push(byte as char)
            }
            b' ' => encoded.push('+'),
            other => encoded.push_str(&format!("%{other:02X}")),
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_follow_origin_and_base_path() {
        let urls = Urls::new("https", "proxy.example.com:8443", "netbox");
        assert_eq!(
            urls.api("secrets", Some(3)),
            "https://proxy.example.com:8443/netbox/api/plugins/secrets/secrets/3/"
        );
        assert_eq!(
            urls.ui("user-keys", 1),
            "https://proxy.example.com:8443/netbox/plugins/secrets/user-keys/1/"
        );
        assert_eq!(
            urls.netbox("api/users/users/1/"),
            "https://proxy.example.com:8443/netbox/api/users/users/1/"
        );
    }

    #[test]
    fn urlencode_matches_python() {
        let pairs = vec![
            ("fields".to_string(), "id,name".to_string()),
            ("q".to_string(), "a b/c*".to_string()),
        ];
        assert_eq!(python_urlencode(&pairs), "fields=id%2Cname&q=a+b%2Fc%2A");
    }
}
