//! Reading client credentials off a request (RFC 6749 §2.3.1).

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::core::client_assertion;
use crate::core::clients::{ClientCredentials, ClientId};
use crate::core::error::{Error, Result};
use crate::core::params::Params;
use crate::core::secret::Secret;

/// The credentials of a request: HTTP Basic (`client_secret_basic`), or
/// `client_id` and `client_secret` in the body (`client_secret_post`), or a bare
/// `client_id` (`none`, public clients).
///
/// "The client MUST NOT use more than one authentication method in each
/// request" (RFC 6749 §2.3): Basic together with a body secret, or a body
/// `client_id` naming another client than Basic does, is `invalid_request`.
pub fn credentials(headers: &HeaderMap, params: &Params) -> Result<ClientCredentials> {
    if params.contains("client_assertion") || params.contains("client_assertion_type") {
        return assertion(headers, params);
    }
    if let Some((client_id, secret)) = basic(headers)? {
        if params.contains("client_secret") {
            return Err(Error::invalid_request(
                "use one client authentication method: HTTP Basic or client_secret, not both",
            ));
        }
        if params.get("client_id").is_some_and(|id| id != client_id) {
            return Err(Error::invalid_request(
                "client_id in the body does not match HTTP Basic",
            ));
        }
        return Ok(ClientCredentials::Basic {
            client_id: ClientId::new(client_id),
            secret: Secret::new(secret),
        });
    }
    let client_id = params
        .get("client_id")
        .map(ClientId::new)
        .ok_or_else(|| Error::invalid_client("no client authentication included"))?;
    Ok(match params.get("client_secret") {
        Some(secret) => ClientCredentials::Post {
            client_id,
            secret: Secret::new(secret),
        },
        None => ClientCredentials::None { client_id },
    })
}

/// `private_key_jwt` (RFC 7523 §2.2): `client_assertion_type` and
/// `client_assertion`, alone; a `client_id` beside them must be the
/// assertion's.
fn assertion(headers: &HeaderMap, params: &Params) -> Result<ClientCredentials> {
    if tried_basic(headers) || params.contains("client_secret") {
        return Err(Error::invalid_request(
            "use one client authentication method: a client assertion or a secret, not both",
        ));
    }
    if params.get("client_assertion_type") != Some(client_assertion::ASSERTION_TYPE) {
        return Err(Error::invalid_client(
            "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ));
    }
    let assertion = params
        .get("client_assertion")
        .ok_or_else(|| Error::invalid_client("client_assertion is missing"))?;
    let client_id = ClientId::new(client_assertion::claimed_client(assertion)?);
    if params
        .get("client_id")
        .is_some_and(|id| id != client_id.as_str())
    {
        return Err(Error::invalid_client("client authentication failed"));
    }
    Ok(ClientCredentials::Assertion {
        client_id,
        assertion: Secret::new(assertion),
    })
}

/// Whether the request tried HTTP Basic, even if malformed: the 401 then carries
/// a Basic challenge.
pub fn tried_basic(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.get(..6))
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("basic "))
}

/// Decodes `Authorization: Basic`. "The client identifier is encoded using the
/// application/x-www-form-urlencoded encoding algorithm [...] and the encoded
/// value is used as the username; the client password is encoded using the same
/// algorithm and used as the password." (RFC 6749 §2.3.1)
fn basic(headers: &HeaderMap) -> Result<Option<(String, String)>> {
    if !tried_basic(headers) {
        return Ok(None);
    }
    let malformed = || Error::invalid_client("malformed HTTP Basic credentials");
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(malformed)?;
    let encoded = value.get(6..).ok_or_else(malformed)?.trim();
    let decoded = STANDARD.decode(encoded).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let id = form_decode(id);
    if id.is_empty() {
        return Err(malformed());
    }
    Ok(Some((id, form_decode(secret))))
}

/// Undoes application/x-www-form-urlencoded on one value (`+` is a space).
fn form_decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Runs a client-authenticated endpoint: reads the credentials, calls `core`,
/// and answers with `Cache-Control: no-store` (RFC 6749 §5.1, RFC 7662 §2.2);
/// a failure carries `WWW-Authenticate: Basic` when Basic was tried
/// (RFC 6749 §5.2). Shared by the token endpoint, `/v1/signin`, revocation,
/// introspection and device authorization, which differ only in the `core`
/// call.
pub async fn respond<T, F, Fut>(
    headers: &HeaderMap,
    params: &Params,
    call: F,
) -> axum::response::Response
where
    T: axum::response::IntoResponse,
    F: FnOnce(ClientCredentials) -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    use axum::response::IntoResponse as _;
    let basic = tried_basic(headers);
    let result = match credentials(headers, params) {
        Ok(creds) => call(creds).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(answer) => {
            let mut resp = answer.into_response();
            super::headers::no_store(resp.headers_mut());
            resp
        }
        Err(e) => super::error::ApiError::from(e)
            .with_basic_challenge(basic)
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_auth(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        h
    }

    fn b64(s: &str) -> String {
        STANDARD.encode(s)
    }

    #[test]
    fn basic_is_form_decoded() {
        let h = with_auth(&format!("Basic {}", b64("my%20client:p%3Ass+word")));
        let c = credentials(&h, &Params::default()).unwrap();
        let ClientCredentials::Basic { client_id, secret } = c else {
            panic!()
        };
        assert_eq!(client_id.as_str(), "my client");
        assert_eq!(secret.expose(), "p:ss word");
    }

    #[test]
    fn malformed_basic_is_invalid_client() {
        for v in [
            "Basic !!!",
            "Basic ",
            &format!("Basic {}", b64("nocolon")),
            &format!("basic {}", b64(":x")),
        ] {
            assert_eq!(
                credentials(&with_auth(v), &Params::default())
                    .unwrap_err()
                    .code(),
                "invalid_client",
                "{v}"
            );
            assert!(tried_basic(&with_auth(v)));
        }
    }

    #[test]
    fn two_methods_are_invalid_request() {
        let h = with_auth(&format!("Basic {}", b64("a:b")));
        let p = Params::from_form(b"client_secret=b").unwrap();
        assert_eq!(credentials(&h, &p).unwrap_err().code(), "invalid_request");
        let p = Params::from_form(b"client_id=other").unwrap();
        assert_eq!(credentials(&h, &p).unwrap_err().code(), "invalid_request");
    }

    #[test]
    fn post_and_none() {
        let p = Params::from_form(b"client_id=a&client_secret=b").unwrap();
        assert!(matches!(
            credentials(&HeaderMap::new(), &p).unwrap(),
            ClientCredentials::Post { .. }
        ));
        let p = Params::from_form(b"client_id=a").unwrap();
        assert!(matches!(
            credentials(&HeaderMap::new(), &p).unwrap(),
            ClientCredentials::None { .. }
        ));
        let p = Params::default();
        assert_eq!(
            credentials(&HeaderMap::new(), &p).unwrap_err().code(),
            "invalid_client"
        );
    }

    proptest::proptest! {
        /// Hostile input: any `Authorization` value, raw bytes or Basic with
        /// any decoded content, is either credentials or a clean error.
        #[test]
        fn basic_decoding_never_panics(raw in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let mut h = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_bytes(&raw) {
                h.insert(header::AUTHORIZATION, v);
                let _ = credentials(&h, &Params::default());
            }
            let mut prefixed = b"Basic ".to_vec();
            prefixed.extend_from_slice(&raw);
            if let Ok(v) = HeaderValue::from_bytes(&prefixed) {
                h.insert(header::AUTHORIZATION, v);
                let _ = credentials(&h, &Params::default());
            }
        }

        #[test]
        fn basic_with_any_decoded_pair_never_panics(inner in ".{0,120}") {
            let h = with_auth(&format!("Basic {}", b64(&inner)));
            match credentials(&h, &Params::default()) {
                Ok(ClientCredentials::Basic { client_id, .. }) => proptest::prop_assert!(!client_id.as_str().is_empty()),
                Ok(_) => proptest::prop_assert!(false, "Basic must yield Basic credentials"),
                Err(e) => proptest::prop_assert!(matches!(e.code(), "invalid_client" | "invalid_request")),
            }
        }
    }
}
