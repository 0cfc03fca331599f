//! Forged and malformed access tokens: the JWT attacks every verifier of
//! latchkey's tokens must refuse (docs/endpoints.md, docs/resource-servers.md).
//!
//! Self-contained on purpose (aws-lc-rs, base64 and serde_json only, no
//! latchkey types), so that other test crates can use the same generator,
//! e.g. latchkey's own introspection and userinfo tests:
//!
//! ```ignore
//! #[path = "../../../latchkey-verify/tests/it/forge.rs"]
//! mod forge;
//! ```

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

/// What a verifier must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Refused as invalid (`INVALID_TOKEN`, `active: false`).
    Invalid,
    /// Refused as expired (`TOKEN_EXPIRED`); only for a token that is
    /// genuine in every other respect.
    Expired,
}

#[derive(Debug, Clone)]
pub struct Attack {
    pub name: String,
    pub token: String,
    pub expect: Expect,
}

/// Everything the forger knows: what any holder of a real token and the
/// public JWKS knows, plus (to build tokens that are wrong in exactly one
/// respect) latchkey's real RS256 signing key.
pub struct Forger {
    pub issuer: String,
    pub audience: String,
    pub now: i64,
    /// The kid of latchkey's current RS256 key.
    pub kid: String,
    /// latchkey's current private key, PKCS#8 DER.
    pub real_key_pkcs8: Vec<u8>,
    /// A real access token signed by that key.
    pub real_token: String,
    /// A URL serving a JWKS with the attacker's key (`attacker_jwk`), for
    /// `jku`/`x5u`: a verifier must never fetch it.
    pub attacker_url: String,
    /// Claims that replace the defaults of every forged token (e.g. a real
    /// user's `sub` and the `openid` scope, for endpoints that need them so
    /// that the genuine baseline is accepted).
    pub claim_overrides: Value,
}

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn b64_json(value: &Value) -> String {
    b64(serde_json::to_vec(value).unwrap())
}

/// An RSA-2048 key pair the attacker controls (generated once per call).
pub struct Attacker {
    pub key: RsaKeyPair,
    pub kid: String,
}

impl Attacker {
    pub fn new() -> Attacker {
        Attacker {
            key: RsaKeyPair::generate(KeySize::Rsa2048).unwrap(),
            kid: "attacker-key".into(),
        }
    }

    /// The attacker's public key as a JWK.
    pub fn jwk(&self) -> Value {
        public_jwk(&self.key, &self.kid)
    }

    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.jwk()] })
    }

    /// A token with these claims, signed by the attacker's key, naming `kid`.
    pub fn token(&self, kid: &str, claims: &Value) -> String {
        jws(
            &json!({"alg": "RS256", "typ": "at+jwt", "kid": kid}),
            claims,
            |i| rs256(&self.key, i),
        )
    }
}

/// Claims that are right in every respect for this issuer and audience.
pub fn good_claims(issuer: &str, audience: &str, now: i64) -> Value {
    json!({
        "iss": issuer,
        "sub": "forged-subject",
        "aud": audience,
        "exp": now + 600,
        "iat": now - 10,
        "jti": "forged-jti",
        "client_id": "forged-client",
        "scope": "read admin",
    })
}

impl Default for Attacker {
    fn default() -> Self {
        Self::new()
    }
}

fn public_jwk(key: &RsaKeyPair, kid: &str) -> Value {
    let c: PublicKeyComponents<Vec<u8>> = key.public_key().into();
    json!({"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": b64(&c.n), "e": b64(&c.e)})
}

fn rs256(key: &RsaKeyPair, signing_input: &str) -> Vec<u8> {
    let mut sig = vec![0u8; key.public_modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        signing_input.as_bytes(),
        &mut sig,
    )
    .unwrap();
    sig
}

/// A compact JWS of these raw header and payload bytes, signed by `sign`.
fn jws_raw(header: &[u8], payload: &[u8], sign: impl FnOnce(&str) -> Vec<u8>) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let sig = sign(&input);
    format!("{input}.{}", b64(sig))
}

fn jws(header: &Value, claims: &Value, sign: impl FnOnce(&str) -> Vec<u8>) -> String {
    jws_raw(
        &serde_json::to_vec(header).unwrap(),
        &serde_json::to_vec(claims).unwrap(),
        sign,
    )
}

fn hs(alg: hmac::Algorithm, secret: &[u8]) -> impl FnOnce(&str) -> Vec<u8> {
    let key = hmac::Key::new(alg, secret);
    move |input: &str| hmac::sign(&key, input.as_bytes()).as_ref().to_vec()
}

/// PKCS#1 `RSAPublicKey` DER out of a SubjectPublicKeyInfo: the contents of
/// its BIT STRING, after the unused-bits octet.
fn spki_to_pkcs1(spki: &[u8]) -> Vec<u8> {
    fn header(der: &[u8]) -> (usize, usize) {
        // (header length, content length)
        let first = der[1] as usize;
        if first < 0x80 {
            (2, first)
        } else {
            let n = first & 0x7f;
            let len = der[2..2 + n]
                .iter()
                .fold(0usize, |acc, b| acc * 256 + *b as usize);
            (2 + n, len)
        }
    }
    let (outer_h, _) = header(spki);
    let rest = &spki[outer_h..];
    let (alg_h, alg_len) = header(rest);
    let bits = &rest[alg_h + alg_len..];
    assert_eq!(bits[0], 0x03, "BIT STRING expected");
    let (bits_h, bits_len) = header(bits);
    bits[bits_h + 1..bits_h + bits_len].to_vec()
}

fn pem(label: &str, der: &[u8], trailing_newline: bool) -> Vec<u8> {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----"));
    if trailing_newline {
        out.push('\n');
    }
    out.into_bytes()
}

impl Forger {
    /// Claims that are right in every respect.
    pub fn good_claims(&self) -> Value {
        let mut claims = good_claims(&self.issuer, &self.audience, self.now);
        if let Some(overrides) = self.claim_overrides.as_object() {
            for (k, v) in overrides {
                claims[k] = v.clone();
            }
        }
        claims
    }

    fn with(&self, changes: Value) -> Value {
        let mut claims = self.good_claims();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        claims
    }

    fn header(&self) -> Value {
        json!({"alg": "RS256", "typ": "at+jwt", "kid": self.kid})
    }

    fn header_with(&self, changes: Value) -> Value {
        let mut h = self.header();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                h.as_object_mut().unwrap().remove(k);
            } else {
                h[k] = v.clone();
            }
        }
        h
    }

    fn real_key(&self) -> RsaKeyPair {
        RsaKeyPair::from_pkcs8(&self.real_key_pkcs8).unwrap()
    }

    /// Signs with latchkey's real key: a token wrong only in what the
    /// header or claims say.
    pub fn real_signed(&self, header: &Value, claims: &Value) -> String {
        let key = self.real_key();
        jws(header, claims, |i| rs256(&key, i))
    }

    pub fn real_signed_raw(&self, header: &[u8], payload: &[u8]) -> String {
        let key = self.real_key();
        jws_raw(header, payload, |i| rs256(&key, i))
    }

    /// A genuine token (right key, right claims): the control case.
    pub fn genuine(&self) -> String {
        self.real_signed(&self.header(), &self.good_claims())
    }

    /// Every attack, each refused with `expect`.
    pub fn attacks(&self, attacker: &Attacker) -> Vec<Attack> {
        let mut out: Vec<Attack> = Vec::new();
        let mut add = |name: &str, token: String, expect: Expect| {
            out.push(Attack {
                name: name.to_owned(),
                token,
                expect,
            });
        };
        use Expect::{Expired, Invalid};

        let good = self.good_claims();
        let real_parts: Vec<&str> = self.real_token.split('.').collect();
        let (real_h, real_p, real_sig) = (real_parts[0], real_parts[1], real_parts[2]);

        // alg: none, with and without a signature, in several spellings.
        for alg in ["none", "None", "NONE", "nOnE"] {
            let h = b64_json(&self.header_with(json!({"alg": alg})));
            let p = b64_json(&good);
            add(
                &format!("alg {alg}, no signature"),
                format!("{h}.{p}."),
                Invalid,
            );
            add(
                &format!("alg {alg}, real signature kept"),
                format!("{h}.{p}.{real_sig}"),
                Invalid,
            );
        }
        let h = b64_json(&json!({"alg": "none", "typ": "at+jwt"}));
        add(
            "alg none, no kid, no signature",
            format!("{h}.{}.", b64_json(&good)),
            Invalid,
        );
        add(
            "alg none, two segments",
            format!("{h}.{}", b64_json(&good)),
            Invalid,
        );
        // The real token with its header's alg switched.
        for alg in [
            "none", "HS256", "RS384", "PS256", "ES256", "EdDSA", "rs256", "RS256 ",
        ] {
            let h = b64_json(&json!({"alg": alg, "typ": "at+jwt", "kid": self.kid}));
            add(
                &format!("real token with alg {alg:?}"),
                format!("{h}.{real_p}.{real_sig}"),
                Invalid,
            );
        }

        // HS256 signed with the RSA public key as the HMAC secret.
        let real = self.real_key();
        let spki = real.public_key().as_der().unwrap().as_ref().to_vec();
        let pkcs1 = spki_to_pkcs1(&spki);
        let real_jwk = public_jwk(&real, &self.kid);
        let n = {
            let c: PublicKeyComponents<Vec<u8>> = real.public_key().into();
            c.n
        };
        let secrets: Vec<(&str, Vec<u8>)> = vec![
            ("SPKI DER", spki.clone()),
            ("PKCS#1 DER", pkcs1.clone()),
            ("SPKI PEM", pem("PUBLIC KEY", &spki, true)),
            ("SPKI PEM without newline", pem("PUBLIC KEY", &spki, false)),
            ("PKCS#1 PEM", pem("RSA PUBLIC KEY", &pkcs1, true)),
            ("JWK JSON", serde_json::to_vec(&real_jwk).unwrap()),
            ("JWK n", n),
            (
                "JWK n base64url",
                real_jwk["n"].as_str().unwrap().as_bytes().to_vec(),
            ),
        ];
        for (what, secret) in &secrets {
            for (alg, hmac_alg) in [
                ("HS256", hmac::HMAC_SHA256),
                ("HS384", hmac::HMAC_SHA384),
                ("HS512", hmac::HMAC_SHA512),
            ] {
                add(
                    &format!("{alg} keyed with the public key ({what})"),
                    jws(
                        &self.header_with(json!({"alg": alg})),
                        &good,
                        hs(hmac_alg, secret),
                    ),
                    Invalid,
                );
            }
        }
        add(
            "HS256 keyed with the public key, no kid",
            jws(
                &json!({"alg": "HS256", "typ": "at+jwt"}),
                &good,
                hs(hmac::HMAC_SHA256, &spki),
            ),
            Invalid,
        );

        // Tampering with a real token.
        let mut payload: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(real_p).unwrap()).unwrap();
        payload["scope"] = json!("read admin");
        add(
            "tampered payload (scope raised)",
            format!("{real_h}.{}.{real_sig}", b64_json(&payload)),
            Invalid,
        );
        payload["sub"] = json!("someone-else");
        add(
            "tampered payload (sub changed)",
            format!("{real_h}.{}.{real_sig}", b64_json(&payload)),
            Invalid,
        );
        let mut header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(real_h).unwrap()).unwrap();
        header["extra"] = json!(1);
        add(
            "tampered header",
            format!("{}.{real_p}.{real_sig}", b64_json(&header)),
            Invalid,
        );
        let mut sig = URL_SAFE_NO_PAD.decode(real_sig).unwrap();
        sig[10] ^= 1;
        add(
            "signature with one bit flipped",
            format!("{real_h}.{real_p}.{}", b64(&sig)),
            Invalid,
        );
        add(
            "signature truncated",
            format!("{real_h}.{real_p}.{}", b64(&sig[..128])),
            Invalid,
        );
        add(
            "signature doubled",
            format!("{real_h}.{real_p}.{real_sig}{real_sig}"),
            Invalid,
        );
        add("signature removed", format!("{real_h}.{real_p}."), Invalid);
        add(
            "signature of another token",
            format!("{real_h}.{}.{real_sig}", b64_json(&good)),
            Invalid,
        );

        // The attacker's own key.
        let evil = |i: &str| rs256(&attacker.key, i);
        add(
            "attacker's signature with latchkey's kid",
            jws(&self.header(), &good, evil),
            Invalid,
        );
        add(
            "attacker's signature with an unknown kid",
            jws(&self.header_with(json!({"kid": attacker.kid})), &good, evil),
            Invalid,
        );
        add(
            "attacker's signature with a kid that points nowhere",
            jws(
                &self.header_with(json!({"kid": "../../../../dev/null"})),
                &good,
                evil,
            ),
            Invalid,
        );
        add(
            "attacker's signature, no kid",
            jws(&self.header_with(json!({"kid": null})), &good, evil),
            Invalid,
        );
        add(
            "attacker's signature, expired (must not say expired)",
            jws(
                &self.header(),
                &self.with(json!({"exp": self.now - 3600, "iat": self.now - 4000})),
                evil,
            ),
            Invalid,
        );
        let jku = format!("{}/jwks.json", self.attacker_url);
        let x5u = format!("{}/cert.pem", self.attacker_url);
        for (what, kid) in [
            ("attacker's kid", attacker.kid.as_str()),
            ("latchkey's kid", self.kid.as_str()),
        ] {
            add(
                &format!("jku to the attacker's JWKS, {what}"),
                jws(
                    &self.header_with(json!({"kid": kid, "jku": jku})),
                    &good,
                    evil,
                ),
                Invalid,
            );
            add(
                &format!("x5u to the attacker's certificate, {what}"),
                jws(
                    &self.header_with(json!({"kid": kid, "x5u": x5u})),
                    &good,
                    evil,
                ),
                Invalid,
            );
            add(
                &format!("embedded jwk of the attacker, {what}"),
                jws(
                    &self.header_with(json!({"kid": kid, "jwk": attacker.jwk()})),
                    &good,
                    evil,
                ),
                Invalid,
            );
            add(
                &format!("embedded x5c, {what}"),
                jws(
                    &self.header_with(json!({"kid": kid, "x5c": [STANDARD.encode(&spki)]})),
                    &good,
                    evil,
                ),
                Invalid,
            );
        }
        add(
            "embedded jwk of the attacker, no kid",
            jws(
                &self.header_with(json!({"kid": null, "jwk": attacker.jwk()})),
                &good,
                evil,
            ),
            Invalid,
        );
        // Even with latchkey's real signature, pointing at a key is refused.
        add(
            "real signature with a jku header",
            self.real_signed(&self.header_with(json!({"jku": jku})), &good),
            Invalid,
        );
        add(
            "real signature with a null jku header",
            self.real_signed_raw(
                format!(
                    r#"{{"alg":"RS256","typ":"at+jwt","kid":"{}","jku":null}}"#,
                    self.kid
                )
                .as_bytes(),
                &serde_json::to_vec(&good).unwrap(),
            ),
            Invalid,
        );

        // Real key, wrong claims.
        for (name, changes) in [
            ("wrong iss", json!({"iss": "https://evil.example"})),
            (
                "iss with a trailing slash",
                json!({"iss": format!("{}/", self.issuer)}),
            ),
            (
                "iss differing in case",
                json!({"iss": self.issuer.to_uppercase()}),
            ),
            ("no iss", json!({"iss": null})),
            ("wrong aud", json!({"aud": "https://other-service.example"})),
            (
                "aud array without us",
                json!({"aud": ["https://a.example", "https://b.example"]}),
            ),
            ("empty aud array", json!({"aud": []})),
            ("no aud", json!({"aud": null})),
            ("future nbf", json!({"nbf": self.now + 3600})),
            ("nbf just past the leeway", json!({"nbf": self.now + 90})),
            ("iat in the future", json!({"iat": self.now + 3600})),
            ("no exp", json!({"exp": null})),
            (
                "exp as a string",
                json!({"exp": (self.now + 600).to_string()}),
            ),
            (
                "exp as a float",
                json!({"exp": (self.now + 600) as f64 + 0.5}),
            ),
            ("no iat", json!({"iat": null})),
            ("no sub", json!({"sub": null})),
            (
                "expired and wrong iss (must not say expired)",
                json!({"iss": "https://evil.example", "exp": self.now - 3600, "iat": self.now - 4000}),
            ),
        ] {
            add(
                name,
                self.real_signed(&self.header(), &self.with(changes)),
                Invalid,
            );
        }
        add(
            "expired",
            self.real_signed(
                &self.header(),
                &self.with(json!({"exp": self.now - 3600, "iat": self.now - 4000})),
            ),
            Expired,
        );
        add(
            "expired just past the leeway",
            self.real_signed(&self.header(), &self.with(json!({"exp": self.now - 31}))),
            Expired,
        );
        let claims_text = serde_json::to_string(&good).unwrap();
        let duplicated = format!(
            "{},\"iss\":\"https://evil.example\"}}",
            &claims_text[..claims_text.len() - 1]
        );
        add(
            "duplicate iss claim",
            self.real_signed_raw(
                &serde_json::to_vec(&self.header()).unwrap(),
                duplicated.as_bytes(),
            ),
            Invalid,
        );
        add(
            "duplicate alg in the header",
            self.real_signed_raw(
                format!(
                    r#"{{"alg":"RS256","typ":"at+jwt","kid":"{}","alg":"none"}}"#,
                    self.kid
                )
                .as_bytes(),
                claims_text.as_bytes(),
            ),
            Invalid,
        );

        // Real key, wrong header.
        for (name, changes) in [
            ("typ JWT", json!({"typ": "JWT"})),
            ("typ jwt", json!({"typ": "jwt"})),
            ("typ application/jwt", json!({"typ": "application/jwt"})),
            ("typ at+jwt with a space", json!({"typ": "at+jwt "})),
            ("typ not a string", json!({"typ": 1})),
            ("no typ", json!({"typ": null})),
            ("no kid", json!({"kid": null})),
            ("kid not a string", json!({"kid": 7})),
            ("crit header", json!({"crit": ["exp"], "exp": 1})),
            (
                "b64 false (RFC 7797)",
                json!({"b64": false, "crit": ["b64"]}),
            ),
            ("no alg", json!({"alg": null})),
        ] {
            add(
                &format!("real signature, {name}"),
                self.real_signed(&self.header_with(changes), &good),
                Invalid,
            );
        }

        // Malformed.
        let h = b64_json(&self.header());
        let p = b64_json(&good);
        let s = real_sig;
        for (name, token) in [
            ("empty token", String::new()),
            ("one segment", h.clone()),
            ("two segments", format!("{h}.{p}")),
            ("four segments", format!("{h}.{p}.{s}.{s}")),
            ("five segments (JWE shape)", format!("{h}.{p}.{s}.{s}.{s}")),
            ("only dots", "..".into()),
            ("trailing dot", format!("{}.", self.real_token)),
            ("leading dot", format!(".{}", self.real_token)),
            ("non-base64 header", format!("!!!.{p}.{s}")),
            ("non-base64 payload", format!("{h}.*{p}.{s}")),
            ("non-base64 signature", format!("{h}.{p}.{s}~")),
            ("padded payload", format!("{real_h}.{real_p}==.{s}")),
            (
                "standard base64 alphabet",
                format!(
                    "{real_h}.{real_p}.{}",
                    STANDARD.encode(URL_SAFE_NO_PAD.decode(s).unwrap())
                ),
            ),
            ("space inside", format!("{real_h}.{real_p} .{s}")),
            ("newline inside", format!("{real_h}.\n{real_p}.{s}")),
            ("header not JSON", format!("{}.{p}.{s}", b64("not json"))),
            (
                "header a JSON array",
                format!("{}.{p}.{s}", b64(r#"["RS256","at+jwt"]"#)),
            ),
            (
                "header a JSON string",
                format!("{}.{p}.{s}", b64(r#""RS256""#)),
            ),
            ("header JSON null", format!("{}.{p}.{s}", b64("null"))),
            ("header empty", format!(".{p}.{s}")),
            (
                "header not UTF-8",
                format!("{}.{p}.{s}", b64([0xff, 0xfe, b'{', b'}'])),
            ),
        ] {
            add(name, token, Invalid);
        }
        let header_bytes = serde_json::to_vec(&self.header()).unwrap();
        let array_claims = format!(
            r#"["{}","sub","{}",{},{},null,"jti","client","read admin"]"#,
            self.issuer,
            self.audience,
            self.now + 600,
            self.now - 10
        );
        for (name, payload) in [
            (
                "claims a JSON array (really signed)",
                array_claims.into_bytes(),
            ),
            (
                "claims a JSON string (really signed)",
                br#""claims""#.to_vec(),
            ),
            ("claims a JSON number (really signed)", b"42".to_vec()),
            ("claims JSON null (really signed)", b"null".to_vec()),
            ("claims JSON true (really signed)", b"true".to_vec()),
            ("claims empty (really signed)", Vec::new()),
            ("claims not UTF-8 (really signed)", vec![b'{', 0xff, b'}']),
            (
                "claims truncated JSON (really signed)",
                claims_text.as_bytes()[..20].to_vec(),
            ),
            (
                "claims with trailing garbage (really signed)",
                format!("{claims_text}x").into_bytes(),
            ),
        ] {
            add(name, self.real_signed_raw(&header_bytes, &payload), Invalid);
        }

        // Oversized, though really signed and otherwise valid.
        let big = self.with(json!({"padding": "x".repeat(9 * 1024)}));
        add(
            "oversized (9 KiB, really signed)",
            self.real_signed(&self.header(), &big),
            Invalid,
        );
        add("oversized (1 MiB of garbage)", "a".repeat(1 << 20), Invalid);
        let huge_header = self.header_with(json!({"pad": "x".repeat(16 * 1024)}));
        add(
            "oversized header",
            self.real_signed(&huge_header, &good),
            Invalid,
        );

        out
    }
}

/// ES256 forgeries against an ES256 key with `kid` (CVE-2022-21449 and
/// friends). `real_es256_token` is a genuine ES256 token from latchkey.
pub fn es256_attacks(
    kid: &str,
    issuer: &str,
    audience: &str,
    now: i64,
    real_es256_token: &str,
) -> Vec<Attack> {
    let header = json!({"alg": "ES256", "typ": "at+jwt", "kid": kid});
    let claims = json!({
        "iss": issuer, "sub": "forged", "aud": audience, "exp": now + 600, "iat": now,
        "jti": "j", "client_id": "c", "scope": "admin",
    });
    let input = format!("{}.{}", b64_json(&header), b64_json(&claims));
    // The order n of P-256, big-endian: r = n is as invalid as r = 0.
    let n: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63,
        0x25, 0x51,
    ];
    let mut r_n_s_n = n.to_vec();
    r_n_s_n.extend_from_slice(&n);
    let mut r0_s1 = vec![0u8; 64];
    r0_s1[63] = 1;
    let parts: Vec<&str> = real_es256_token.split('.').collect();
    let real_sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    // The same signature in DER (what some libraries emit instead of r||s).
    let der = {
        fn int(x: &[u8]) -> Vec<u8> {
            let mut x: Vec<u8> = x.iter().copied().skip_while(|b| *b == 0).collect();
            if x.first().is_some_and(|b| b & 0x80 != 0) {
                x.insert(0, 0);
            }
            let mut out = vec![0x02, x.len() as u8];
            out.extend(x);
            out
        }
        let mut body = int(&real_sig[..32]);
        body.extend(int(&real_sig[32..]));
        let mut out = vec![0x30, body.len() as u8];
        out.extend(body);
        out
    };
    let mut flipped = real_sig.clone();
    flipped[40] ^= 0x80;
    vec![
        Attack {
            name: "ES256 r=s=0".into(),
            token: format!("{input}.{}", b64([0u8; 64])),
            expect: Expect::Invalid,
        },
        Attack {
            name: "ES256 r=s=0, one byte".into(),
            token: format!("{input}.{}", b64([0u8; 1])),
            expect: Expect::Invalid,
        },
        Attack {
            name: "ES256 r=s=n".into(),
            token: format!("{input}.{}", b64(&r_n_s_n)),
            expect: Expect::Invalid,
        },
        Attack {
            name: "ES256 r=0 s=1".into(),
            token: format!("{input}.{}", b64(&r0_s1)),
            expect: Expect::Invalid,
        },
        Attack {
            name: "ES256 empty signature".into(),
            token: format!("{input}."),
            expect: Expect::Invalid,
        },
        Attack {
            name: "ES256 real signature DER-encoded".into(),
            token: format!("{}.{}.{}", parts[0], parts[1], b64(&der)),
            expect: Expect::Invalid,
        },
        Attack {
            name: "ES256 real signature with a bit flipped".into(),
            token: format!("{}.{}.{}", parts[0], parts[1], b64(&flipped)),
            expect: Expect::Invalid,
        },
        Attack {
            name: "ES256 token relabelled RS256".into(),
            token: format!(
                "{}.{}.{}",
                b64_json(&json!({"alg": "RS256", "typ": "at+jwt", "kid": kid})),
                parts[1],
                parts[2]
            ),
            expect: Expect::Invalid,
        },
        Attack {
            name: "ES256 token relabelled EdDSA".into(),
            token: format!(
                "{}.{}.{}",
                b64_json(&json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid})),
                parts[1],
                parts[2]
            ),
            expect: Expect::Invalid,
        },
    ]
}
