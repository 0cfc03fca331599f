//! Key material for each signing algorithm: generation, parsing, signing, and the
//! public JWK. The only module that touches private keys.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256,
    RSA_PSS_SHA256, RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use latchkey_proto::Jwk;

use super::SigningAlg;
use crate::core::error::{Error, Result};

/// A private key, parsed once and kept for the life of the key set: parsing an
/// RSA key costs as much as several signatures (measured), so it never happens
/// on the token path.
pub(super) enum KeyPair {
    Rsa(RsaKeyPair),
    /// The same key material, signing RSASSA-PSS (PS256).
    RsaPss(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

impl KeyPair {
    /// Generates a new key; RSA keys are 2048 bits (docs/operations.md).
    ///
    /// RSA generation takes tens to hundreds of milliseconds: call it off the
    /// async runtime.
    pub(super) fn generate(alg: SigningAlg) -> Result<Vec<u8>> {
        let fail = |e: aws_lc_rs::error::Unspecified| {
            Error::internal(format!("key generation failed: {e}"))
        };
        Ok(match alg {
            SigningAlg::RS256 | SigningAlg::PS256 => {
                let kp = RsaKeyPair::generate(KeySize::Rsa2048).map_err(fail)?;
                kp.as_der().map_err(fail)?.as_ref().to_vec()
            }
            SigningAlg::ES256 => {
                let kp = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(fail)?;
                kp.to_pkcs8v1().map_err(fail)?.as_ref().to_vec()
            }
            SigningAlg::EdDSA => {
                let kp = Ed25519KeyPair::generate().map_err(fail)?;
                kp.to_pkcs8().map_err(fail)?.as_ref().to_vec()
            }
        })
    }

    /// Parses a PKCS#8 DER private key of the given algorithm.
    pub(super) fn parse(alg: SigningAlg, pkcs8: &[u8]) -> Result<Self> {
        let fail =
            |e: aws_lc_rs::error::KeyRejected| Error::internal(format!("stored key rejected: {e}"));
        Ok(match alg {
            SigningAlg::RS256 => KeyPair::Rsa(RsaKeyPair::from_pkcs8(pkcs8).map_err(fail)?),
            SigningAlg::PS256 => KeyPair::RsaPss(RsaKeyPair::from_pkcs8(pkcs8).map_err(fail)?),
            SigningAlg::ES256 => KeyPair::Ec(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8).map_err(fail)?,
            ),
            SigningAlg::EdDSA => {
                KeyPair::Ed(Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).map_err(fail)?)
            }
        })
    }

    /// Signs `msg` as the JWS algorithm of this key (RFC 7518 §3).
    pub(super) fn sign(&self, msg: &[u8]) -> Result<Vec<u8>> {
        let fail = |_| Error::internal("signing failed");
        match self {
            KeyPair::Rsa(kp) => {
                let mut sig = vec![0u8; kp.public_modulus_len()];
                // aws-lc-rs ignores the RNG for PKCS#1 v1.5; the type wants one.
                kp.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), msg, &mut sig)
                    .map_err(fail)?;
                Ok(sig)
            }
            KeyPair::RsaPss(kp) => {
                // PSS is randomized: the salt comes from the RNG (RFC 7518
                // §3.5: SHA-256, MGF1 with SHA-256, a 32-byte salt).
                let mut sig = vec![0u8; kp.public_modulus_len()];
                kp.sign(&RSA_PSS_SHA256, &SystemRandom::new(), msg, &mut sig)
                    .map_err(fail)?;
                Ok(sig)
            }
            KeyPair::Ec(kp) => Ok(kp
                .sign(&SystemRandom::new(), msg)
                .map_err(fail)?
                .as_ref()
                .to_vec()),
            KeyPair::Ed(kp) => Ok(kp.sign(msg).as_ref().to_vec()),
        }
    }

    /// The public half as a JWK (RFC 7518 §6.2, §6.3; RFC 8037 §2).
    pub(super) fn jwk(&self, kid: &str, alg: SigningAlg) -> Result<Jwk> {
        let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
        let mut jwk = Jwk {
            kty: String::new(),
            kid: kid.to_owned(),
            alg: Some(alg.as_str().to_owned()),
            use_: Some("sig".to_owned()),
            n: None,
            e: None,
            crv: None,
            x: None,
            y: None,
        };
        match self {
            KeyPair::Rsa(kp) | KeyPair::RsaPss(kp) => {
                let c: PublicKeyComponents<Vec<u8>> = kp.public_key().into();
                jwk.kty = "RSA".into();
                jwk.n = Some(b64(&c.n));
                jwk.e = Some(b64(&c.e));
            }
            KeyPair::Ec(kp) => {
                // Uncompressed SEC1 point: 0x04 || X (32 bytes) || Y (32 bytes).
                let point = kp.public_key().as_ref();
                if point.len() != 65 || point[0] != 4 {
                    return Err(Error::internal("unexpected P-256 public key encoding"));
                }
                jwk.kty = "EC".into();
                jwk.crv = Some("P-256".into());
                jwk.x = Some(b64(&point[1..33]));
                jwk.y = Some(b64(&point[33..65]));
            }
            KeyPair::Ed(kp) => {
                jwk.kty = "OKP".into();
                jwk.crv = Some("Ed25519".into());
                jwk.x = Some(b64(kp.public_key().as_ref()));
            }
        }
        Ok(jwk)
    }
}

/// The verification key for a published JWK, with the one algorithm it may be
/// used with: the algorithm comes from the key, never from a token's header.
pub(super) fn decoding_key(jwk: &Jwk, alg: SigningAlg) -> Result<(DecodingKey, Algorithm)> {
    let missing = || Error::internal("published JWK lacks a member");
    let fail = |e: jsonwebtoken::errors::Error| Error::internal(format!("JWK rejected: {e}"));
    Ok(match alg {
        SigningAlg::RS256 | SigningAlg::PS256 => (
            DecodingKey::from_rsa_components(
                jwk.n.as_deref().ok_or_else(missing)?,
                jwk.e.as_deref().ok_or_else(missing)?,
            )
            .map_err(fail)?,
            if alg == SigningAlg::PS256 {
                Algorithm::PS256
            } else {
                Algorithm::RS256
            },
        ),
        SigningAlg::ES256 => (
            DecodingKey::from_ec_components(
                jwk.x.as_deref().ok_or_else(missing)?,
                jwk.y.as_deref().ok_or_else(missing)?,
            )
            .map_err(fail)?,
            Algorithm::ES256,
        ),
        SigningAlg::EdDSA => (
            DecodingKey::from_ed_components(jwk.x.as_deref().ok_or_else(missing)?).map_err(fail)?,
            Algorithm::EdDSA,
        ),
    })
}
