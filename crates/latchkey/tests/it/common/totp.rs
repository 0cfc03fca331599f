//! TOTP as an authenticator app computes it (RFC 6238, written here again
//! rather than taken from latchkey, so the tests check the server's), and
//! the browser steps of enrolling and signing in with a second factor.

use super::TestServer;
use super::browser::{Browser, Page};
use super::first_party::PASSWORD;

/// RFC 4648 base32 (no padding), as apps read the key.
pub fn base32_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut buffer, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in s.bytes().filter(|c| *c != b'=' && *c != b' ') {
        let v = ALPHABET
            .iter()
            .position(|a| *a == c.to_ascii_uppercase())
            .expect("a base32 character") as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

/// The 6-digit code of `key` at Unix time `t`.
pub fn code_at(key: &[u8], t: i64) -> String {
    let counter = (t / 30) as u64;
    let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
    let tag = aws_lc_rs::hmac::sign(&k, &counter.to_be_bytes());
    let h = tag.as_ref();
    let o = (h[19] & 0xf) as usize;
    let bin = ((h[o] as u32 & 0x7f) << 24)
        | ((h[o + 1] as u32) << 16)
        | ((h[o + 2] as u32) << 8)
        | h[o + 3] as u32;
    format!("{:06}", bin % 1_000_000)
}

/// The text between `start` and the next `end` after it.
pub fn between<'a>(body: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let i = body.find(start)? + start.len();
    let j = body[i..].find(end)? + i;
    Some(&body[i..j])
}

/// What an enrolment gave the test: the key and the recovery codes.
pub struct Enrolled {
    pub key: Vec<u8>,
    pub recovery_codes: Vec<String>,
}

/// The key the setup page shows as text.
pub fn shown_key(page: &Page) -> Vec<u8> {
    let text = between(
        &page.body,
        "<code id=\"secret\" class=\"secret\">",
        "</code>",
    )
    .unwrap_or_else(|| panic!("no key on the page: {}", page.body));
    base32_decode(text)
}

/// The recovery codes the page shows once.
pub fn shown_recovery_codes(page: &Page) -> Vec<String> {
    page.body
        .split("<li><code>")
        .skip(1)
        .filter_map(|p| p.split("</code>").next())
        .map(str::to_owned)
        .collect()
}

/// Enrols TOTP on `/account/totp` with a browser already signed in: reads
/// the key, confirms with the code of the current step, reads the codes.
/// Moves the clock a step on, so that the next code is a new one.
pub async fn enrol_signed_in(srv: &TestServer, b: &Browser) -> Enrolled {
    let setup = b.get("/account/totp").await;
    assert_eq!(setup.status, 200, "{}", setup.body);
    assert!(setup.body.contains("<svg"), "a QR code: {}", setup.body);
    let key = shown_key(&setup);
    let inputs = setup.inputs();
    let code = code_at(&key, srv.now());
    let done = b
        .post(
            "/account/totp",
            &[
                ("csrf_token", inputs["csrf_token"].as_str()),
                ("action", "confirm"),
                ("code", code.as_str()),
            ],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    let recovery_codes = shown_recovery_codes(&done);
    assert_eq!(recovery_codes.len(), 10, "{}", done.body);
    srv.clock.advance(30);
    Enrolled {
        key,
        recovery_codes,
    }
}

/// Signs `email` in on `/login` (outside any request) and enrols TOTP.
pub async fn enrol(srv: &TestServer, email: &str) -> Enrolled {
    let b = Browser::new(srv);
    let login = b.get("/login").await;
    let signed_in = b.submit_login(&login, email, PASSWORD).await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.body);
    enrol_signed_in(srv, &b).await
}

/// Submits the second-step page `page` with `field` (`code` or
/// `recovery_code`) set to `value`.
pub async fn submit_second_factor(b: &Browser, page: &Page, field: &str, value: &str) -> Page {
    let inputs = page.inputs();
    b.post(
        "/login/mfa",
        &[
            ("csrf_token", inputs["csrf_token"].as_str()),
            ("challenge", inputs["challenge"].as_str()),
            (field, value),
        ],
    )
    .await
}
