//! Request parameters, parsed once from a form or JSON body (or a query string).
//!
//! RFC 6749 §3.1: "Parameters sent without a value MUST be treated as if they
//! were omitted from the request. [...] Request and response parameters MUST NOT
//! be included more than once." Both rules are enforced here, once, for every
//! endpoint. The exceptions are RFC 8707's `resource` and RFC 8693's
//! `audience`, which may repeat.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::error::{Error, Result};

/// Parameters that RFC 8707 lets a client send more than once.
const MULTI_VALUED: &[&str] = &["resource", "audience"];

#[derive(Default, Clone)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl fmt::Debug for Params {
    /// Names only: values include passwords, secrets, codes and tokens.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.pairs.iter().map(|(k, _)| k))
            .finish()
    }
}

impl Params {
    /// Parses `application/x-www-form-urlencoded` (also a query string).
    pub fn from_form(body: &[u8]) -> Result<Self> {
        Self::from_pairs(
            form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())),
        )
    }

    /// Parses a JSON object whose members are strings (or numbers and booleans,
    /// taken as their text; `resource` may also be an array of strings).
    pub fn from_json(body: &[u8]) -> Result<Self> {
        let mut de = serde_json::Deserializer::from_slice(body);
        let pairs = de
            .deserialize_map(PairsVisitor)
            .and_then(|p| de.end().map(|()| p))
            .map_err(|e| match e.classify() {
                serde_json::error::Category::Data => {
                    Error::invalid_request(format!("invalid JSON body: {e}"))
                }
                _ => Error::invalid_request("the body is not a JSON object"),
            })?;
        Self::from_pairs(pairs)
    }

    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Result<Self> {
        let mut out: Vec<(String, String)> = Vec::new();
        for (k, v) in pairs {
            // No OAuth parameter may hold a NUL (RFC 6749 Appendix A: every
            // value is VSCHAR or UNICODECHARNOCRLF, neither of which has
            // %x00), and PostgreSQL text cannot store one: refuse it here
            // rather than fail later in the database.
            if k.contains('\0') || v.contains('\0') {
                return Err(Error::invalid_request(
                    "a parameter contains a NUL character",
                ));
            }
            if !MULTI_VALUED.contains(&k.as_str()) && out.iter().any(|(seen, _)| *seen == k) {
                return Err(Error::invalid_request(format!(
                    "parameter `{k}` was sent more than once"
                )));
            }
            out.push((k, v));
        }
        Ok(Params { pairs: out })
    }

    /// The value of `name`; an empty value counts as absent (RFC 6749 §3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    pub fn require(&self, name: &str) -> Result<&str> {
        self.get(name)
            .ok_or_else(|| Error::invalid_request(format!("missing parameter `{name}`")))
    }

    /// Every non-empty value of a multi-valued parameter.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Every parameter with a value, in the order received.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Reads a JSON object into pairs without losing repeated keys, which
/// `serde_json::Map` would silently collapse.
struct PairsVisitor;

impl<'de> Visitor<'de> for PairsVisitor {
    type Value = Vec<(String, String)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of string parameters")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let value: serde_json::Value = map.next_value()?;
            match value {
                serde_json::Value::Null => {}
                serde_json::Value::String(s) => out.push((key, s)),
                serde_json::Value::Bool(b) => out.push((key, b.to_string())),
                serde_json::Value::Number(n) => out.push((key, n.to_string())),
                serde_json::Value::Array(items) if MULTI_VALUED.contains(&key.as_str()) => {
                    for item in items {
                        match item {
                            serde_json::Value::String(s) => out.push((key.clone(), s)),
                            _ => {
                                return Err(de::Error::custom(format!(
                                    "`{key}` must be an array of strings"
                                )));
                            }
                        }
                    }
                }
                _ => {
                    return Err(de::Error::custom(format!(
                        "parameter `{key}` must be a string"
                    )));
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_duplicates_are_refused_except_resource() {
        let err = Params::from_form(b"grant_type=a&grant_type=b").unwrap_err();
        assert_eq!(err.code(), "invalid_request");
        let p = Params::from_form(b"resource=a&resource=b").unwrap();
        assert_eq!(p.get_all("resource").collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn empty_values_are_absent() {
        let p = Params::from_form(b"scope=&grant_type=x").unwrap();
        assert_eq!(p.get("scope"), None);
        assert_eq!(p.require("grant_type").unwrap(), "x");
        assert_eq!(p.require("scope").unwrap_err().code(), "invalid_request");
    }

    #[test]
    fn json_objects_parse_and_keep_duplicates_visible() {
        let p = Params::from_json(br#"{"username":"a","password":"b","n":3,"x":null}"#).unwrap();
        assert_eq!(p.get("username"), Some("a"));
        assert_eq!(p.get("n"), Some("3"));
        assert_eq!(p.get("x"), None);
        let err = Params::from_json(br#"{"a":"1","a":"2"}"#).unwrap_err();
        assert_eq!(err.code(), "invalid_request");
    }

    #[test]
    fn json_that_is_not_an_object_of_strings_is_invalid_request() {
        for body in [
            &b"[1,2]"[..],
            b"\"x\"",
            b"{",
            b"{\"a\":{}}",
            b"{} trailing",
            b"",
        ] {
            assert_eq!(
                Params::from_json(body).unwrap_err().code(),
                "invalid_request"
            );
        }
    }

    #[test]
    fn nul_characters_are_refused() {
        for body in [&b"username=a%00b"[..], b"a%00=1"] {
            assert_eq!(
                Params::from_form(body).unwrap_err().code(),
                "invalid_request"
            );
        }
        let err = Params::from_json(br#"{"username":"a\u0000b"}"#).unwrap_err();
        assert_eq!(err.code(), "invalid_request");
    }

    #[test]
    fn debug_shows_names_only() {
        let p = Params::from_form(b"password=hunter2").unwrap();
        assert!(!format!("{p:?}").contains("hunter2"));
    }
}
