//! Bearer tokens: HS256 JWTs signed with `JWT_SECRET`, carrying `sub` (the user id, 1–128
//! characters), `exp` (required) and optionally `roles`.
//!
//! Every failure (no header, another scheme, a malformed, wrongly signed or expired token, a
//! token not valid yet (`nbf`), `alg: none` or any algorithm but HS256, no `exp`, no or an
//! empty `sub`) is a 401 with `WWW-Authenticate: Bearer`. `exp` and `nbf` allow 30 seconds of
//! clock skew.

use crate::error::ApiError;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use domain::UserId;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::future::{Ready, ready};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECONDS: u64 = 30;

/// Verified tokens remembered, at most; past that (or past [`REMEMBERED_BYTES`]) the memory
/// starts over.
const REMEMBERED_TOKENS: usize = 4096;

/// The most token text remembered, in bytes.
const REMEMBERED_BYTES: usize = 4 * 1024 * 1024;

/// Tokens longer than this are verified every time and never remembered: a real one is a few
/// hundred bytes, and a huge one must not fill the memory.
const REMEMBERED_TOKEN_MAX_BYTES: usize = 4096;

/// The claims the service reads and writes. `sub` and `exp` default here so that a token
/// lacking one is reported as such by the validation, not as malformed.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    #[serde(default)]
    pub sub: String,
    #[serde(default)]
    pub exp: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
}

/// Signs and verifies tokens with one HS256 secret.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    verified: Arc<Mutex<Remembered>>,
}

/// The verified tokens, and how many bytes of token text they hold.
#[derive(Debug, Default)]
struct Remembered {
    tokens: HashMap<Box<str>, Verified>,
    bytes: usize,
}

/// A token that passed verification: who it speaks for and until when.
#[derive(Clone, Debug)]
struct Verified {
    caller: Caller,
    exp: i64,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys([REDACTED])")
    }
}

/// Why a token was refused (the text becomes the 401's detail).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token must be signed with HS256")]
    WrongAlgorithm,
    #[error("the token lacks the `{0}` claim")]
    MissingClaim(String),
    #[error("the token's `sub` must have 1 to 128 characters")]
    BadSubject,
    #[error("the token is malformed")]
    Malformed,
}

impl TokenKeys {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            verified: Arc::default(),
        }
    }

    /// Checks a token and returns who it speaks for.
    ///
    /// Clients send the same token on every request, so a token that verified is remembered
    /// (by its exact text, which the signature covers) until it expires: the next request
    /// with it skips the base64, JSON and HMAC work, which otherwise every read would pay
    /// again. Expiry is checked on every use, as `decode` does it.
    /// A token's `nbf` was checked when it verified; once valid it stays valid until `exp`.
    pub fn verify(&self, token: &str) -> Result<Caller, TokenError> {
        let now = chrono::Utc::now().timestamp();
        let leeway = LEEWAY_SECONDS as i64;
        if let Some(known) = self.remembered().tokens.get(token)
            && known.exp >= now - leeway
        {
            return Ok(known.caller.clone());
        }
        let (caller, exp) = self.decode(token)?;
        if token.len() <= REMEMBERED_TOKEN_MAX_BYTES {
            let mut remembered = self.remembered();
            if remembered.tokens.len() >= REMEMBERED_TOKENS || remembered.bytes + token.len() > REMEMBERED_BYTES {
                remembered.tokens.clear();
                remembered.bytes = 0;
            }
            if remembered.tokens.insert(token.into(), Verified { caller: caller.clone(), exp }).is_none() {
                remembered.bytes += token.len();
            }
        }
        Ok(caller)
    }

    fn remembered(&self) -> std::sync::MutexGuard<'_, Remembered> {
        self.verified.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Verifies a token's signature and claims: the caller and the token's `exp`.
    fn decode(&self, token: &str) -> Result<(Caller, i64), TokenError> {
        use jsonwebtoken::errors::ErrorKind;
        let data = decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => TokenError::Expired,
            ErrorKind::ImmatureSignature => TokenError::NotYetValid,
            ErrorKind::InvalidSignature => TokenError::BadSignature,
            ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm | ErrorKind::InvalidAlgorithmName => {
                TokenError::WrongAlgorithm
            }
            ErrorKind::MissingRequiredClaim(claim) => TokenError::MissingClaim(claim.clone()),
            _ => TokenError::Malformed,
        })?;
        let exp = data.claims.exp.ok_or_else(|| TokenError::MissingClaim("exp".into()))?;
        let user = UserId::parse(data.claims.sub).map_err(|_| TokenError::BadSubject)?;
        Ok((Caller { user, roles: data.claims.roles }, exp))
    }

    /// Mints a token for `sub` that expires after `ttl`.
    pub fn issue(&self, sub: &str, roles: &[String], ttl: Duration) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: sub.to_owned(),
            exp: Some(now + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2)),
            roles: roles.to_vec(),
            iat: Some(now),
            nbf: None,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).unwrap_or_default()
    }
}

/// The authenticated caller of an `/api/v1` route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub user: UserId,
    pub roles: Vec<String>,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.roles.iter().any(|r| r == "admin")
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    /// The caller the rate limiter already authenticated, or the token checked now.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        if let Some(caller) = req.extensions().get::<Caller>() {
            return ready(Ok(caller.clone()));
        }
        ready(authenticate(req))
    }
}

/// The caller a request's bearer token speaks for.
pub fn authenticate(req: &HttpRequest) -> Result<Caller, ApiError> {
    let Some(keys) = req.app_data::<web::Data<TokenKeys>>() else {
        tracing::error!("TokenKeys missing from the app data");
        return Err(ApiError::Internal);
    };
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("an Authorization: Bearer token is required"))?;
    let header = header.to_str().map_err(|_| ApiError::unauthorized("the Authorization header is malformed"))?;
    let (scheme, token) = header.split_once(' ').unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::unauthorized("the Authorization header must be `Bearer <token>`"));
    }
    keys.verify(token.trim()).map_err(|e| ApiError::unauthorized(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn keys() -> TokenKeys {
        TokenKeys::new(b"a-secret-for-the-unit-tests-of-auth")
    }

    fn raw_token(header: &str, claims: &serde_json::Value, secret: &[u8]) -> String {
        let h = URL_SAFE_NO_PAD.encode(header);
        let c = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{h}.{c}");
        let key = jsonwebtoken::EncodingKey::from_secret(secret);
        let signature = jsonwebtoken::crypto::sign(signing_input.as_bytes(), &key, Algorithm::HS256).expect("sign");
        format!("{signing_input}.{signature}")
    }

    #[test]
    fn a_token_it_issued_verifies() {
        let keys = keys();
        let token = keys.issue("alice", &["admin".to_owned()], Duration::from_secs(60));
        let caller = keys.verify(&token).expect("valid");
        assert_eq!(caller.user.as_ref(), "alice");
        assert!(caller.is_admin());
    }

    #[test]
    fn a_remembered_token_verifies_again_and_a_tampered_copy_does_not() {
        let keys = keys();
        let token = keys.issue("alice", &[], Duration::from_secs(60));
        assert_eq!(keys.verify(&token).expect("first").user.as_ref(), "alice");
        assert_eq!(keys.remembered().tokens.len(), 1);
        assert_eq!(keys.verify(&token).expect("remembered").user.as_ref(), "alice");
        // One character of the signature changed (not the last, whose low bits are padding).
        let at = token.len() - 10;
        let swapped = if &token[at..=at] == "A" { "B" } else { "A" };
        let tampered = format!("{}{swapped}{}", &token[..at], &token[at + 1..]);
        assert_eq!(keys.verify(&tampered), Err(TokenError::BadSignature));
    }

    #[test]
    fn a_remembered_token_past_its_expiry_is_refused() {
        let keys = keys();
        let exp = chrono::Utc::now().timestamp() - LEEWAY_SECONDS as i64 - 1;
        let token = raw_token(
            r#"{"alg":"HS256","typ":"JWT"}"#,
            &serde_json::json!({"sub": "a", "exp": exp}),
            b"a-secret-for-the-unit-tests-of-auth",
        );
        // As if it had verified while it was still valid.
        let caller = Caller { user: UserId::parse("a".to_owned()).expect("user"), roles: vec![] };
        keys.remembered().tokens.insert(token.as_str().into(), Verified { caller, exp });
        assert_eq!(keys.verify(&token), Err(TokenError::Expired));
    }

    #[test]
    fn the_memory_of_verified_tokens_is_bounded() {
        let keys = keys();
        for i in 0..=REMEMBERED_TOKENS {
            keys.verify(&keys.issue(&format!("user-{i}"), &[], Duration::from_secs(60))).expect("valid");
        }
        assert!(keys.remembered().tokens.len() <= REMEMBERED_TOKENS);
    }

    #[test]
    fn the_memory_of_verified_tokens_is_bounded_in_bytes() {
        let keys = keys();
        let exp = chrono::Utc::now().timestamp() + 3600;
        let padded = |i: usize, pad: usize| {
            raw_token(
                r#"{"alg":"HS256","typ":"JWT"}"#,
                &serde_json::json!({"sub": format!("u{i}"), "exp": exp, "pad": "p".repeat(pad)}),
                b"a-secret-for-the-unit-tests-of-auth",
            )
        };
        let huge = padded(0, 128 * 1024);
        assert!(keys.verify(&huge).is_ok());
        assert!(keys.remembered().tokens.is_empty(), "a huge token is verified, not remembered");
        for i in 0..2000 {
            keys.verify(&padded(i, 2500)).expect("valid");
            assert!(keys.remembered().bytes <= REMEMBERED_BYTES);
        }
        let remembered = keys.remembered();
        assert_eq!(remembered.bytes, remembered.tokens.keys().map(|t| t.len()).sum::<usize>());
    }

    #[test]
    fn a_token_not_valid_yet_is_refused_within_the_same_skew_as_exp() {
        let now = chrono::Utc::now().timestamp();
        let with_nbf = |nbf: i64| {
            raw_token(
                r#"{"alg":"HS256","typ":"JWT"}"#,
                &serde_json::json!({"sub": "a", "exp": now + 3600, "nbf": nbf}),
                b"a-secret-for-the-unit-tests-of-auth",
            )
        };
        assert_eq!(keys().verify(&with_nbf(now + 3600)), Err(TokenError::NotYetValid));
        assert_eq!(keys().verify(&with_nbf(now + LEEWAY_SECONDS as i64 + 5)), Err(TokenError::NotYetValid));
        assert!(keys().verify(&with_nbf(now + 10)).is_ok(), "within the clock skew");
        assert!(keys().verify(&with_nbf(now - 10)).is_ok());
    }

    #[test]
    fn a_token_signed_with_another_secret_is_refused() {
        let token = TokenKeys::new(b"another-secret-entirely-0123456789").issue("alice", &[], Duration::from_secs(60));
        assert_eq!(keys().verify(&token), Err(TokenError::BadSignature));
    }

    #[test]
    fn an_expired_token_is_refused() {
        let exp = chrono::Utc::now().timestamp() - 3600;
        let token = raw_token(
            r#"{"alg":"HS256","typ":"JWT"}"#,
            &serde_json::json!({"sub": "a", "exp": exp}),
            b"a-secret-for-the-unit-tests-of-auth",
        );
        assert_eq!(keys().verify(&token), Err(TokenError::Expired));
    }

    #[test]
    fn a_token_without_exp_is_refused() {
        let token = raw_token(
            r#"{"alg":"HS256","typ":"JWT"}"#,
            &serde_json::json!({"sub": "a"}),
            b"a-secret-for-the-unit-tests-of-auth",
        );
        assert_eq!(keys().verify(&token), Err(TokenError::MissingClaim("exp".into())));
    }

    #[test]
    fn alg_none_is_refused() {
        let exp = chrono::Utc::now().timestamp() + 3600;
        let claims = URL_SAFE_NO_PAD.encode(serde_json::json!({"sub": "a", "exp": exp}).to_string());
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        assert!(keys().verify(&format!("{header}.{claims}.")).is_err());
    }

    #[test]
    fn a_subject_must_have_one_to_128_characters() {
        let exp = chrono::Utc::now().timestamp() + 3600;
        for sub in [String::new(), "x".repeat(129)] {
            let token = raw_token(
                r#"{"alg":"HS256","typ":"JWT"}"#,
                &serde_json::json!({"sub": sub, "exp": exp}),
                b"a-secret-for-the-unit-tests-of-auth",
            );
            assert_eq!(keys().verify(&token), Err(TokenError::BadSubject));
        }
    }

    #[test]
    fn garbage_is_malformed() {
        assert_eq!(keys().verify("not-a-token"), Err(TokenError::Malformed));
    }
}
