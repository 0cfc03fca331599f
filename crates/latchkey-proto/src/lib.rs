//! The wire types that latchkey and its resource servers share.
//!
//! Everything here is plain data with serde derives: no I/O, no crypto. Both the
//! server (`latchkey`) and the verifier (`latchkey-verify`) depend on this crate,
//! so that a claim spelled one way when a token is minted is spelled the same way
//! when it is checked.

mod claims;
mod discovery;
mod error;
mod jwks;
mod token;

pub use claims::{
    AccessTokenClaims, Actor, Audience, BACKCHANNEL_LOGOUT_EVENT, Confirmation, IdTokenClaims,
    LOGOUT_TOKEN_TYP, LogoutTokenClaims,
};
pub use discovery::ProviderMetadata;
pub use error::ErrorBody;
pub use jwks::{Jwk, JwkSet};
pub use token::{IntrospectionResponse, TokenResponse};

/// The `typ` header of an access token (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
