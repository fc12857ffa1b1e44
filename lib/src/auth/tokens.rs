//! JWTs per RFC 8725: Ed25519 (`EdDSA`) only, `kid` in the header, explicit `typ` per kind
//! (`at+jwt` for access, `rt+jwt` for refresh), `iss`/`aud`/`sub`/`iat`/`exp`/`jti` required
//! and checked with a few seconds of leeway. Only the issuer holds the private key.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::UserId;

/// Clock skew tolerated on `exp` and `iat`.
pub const LEEWAY_SECS: u64 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
    /// Proof that a login's secret was right, to finish it with a second factor
    /// (`POST /login/mfa`).
    Mfa,
}

impl TokenKind {
    pub fn typ(self) -> &'static str {
        match self {
            Self::Access => "at+jwt",
            Self::Refresh => "rt+jwt",
            Self::Mfa => "mfa+jwt",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    /// The login (refresh family) this token descends from.
    pub sid: String,
    /// When that login happened (OpenID Connect's `auth_time`): refreshes never extend a login
    /// past `auth_time` plus the session's absolute lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// The account's auth epoch the login is bound to (`UserRecord::auth_epoch`): a refresh
    /// is conditional on it in the same write that rotates the family.
    #[serde(default, rename = "aep")]
    pub auth_epoch: u64,
    /// How the login authenticated (RFC 8176): `["pwd"]`, or `["pwd", "otp"]` after a second
    /// factor.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// An `mfa_token`'s client address: the one that presented the right secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
}

impl Claims {
    /// Whether the login passed a second factor.
    pub fn mfa(&self) -> bool {
        self.amr.iter().any(|m| m == "otp")
    }
}

impl Claims {
    pub fn user_id(&self) -> Result<UserId, TokenError> {
        UserId::parse(&self.sub).map_err(|_| TokenError::Invalid)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("token is invalid")]
    Invalid,
}

/// An Ed25519 key pair, kept as PKCS#8 PEM.
#[derive(Clone)]
pub struct KeyPair(SigningKey);

impl KeyPair {
    pub fn generate() -> Self {
        Self(SigningKey::generate(&mut rand::rngs::OsRng))
    }

    pub fn from_pem(pem: &str) -> anyhow::Result<Self> {
        SigningKey::from_pkcs8_pem(pem.trim())
            .map(Self)
            .map_err(|e| anyhow::anyhow!("not an Ed25519 PKCS#8 private key in PEM: {e}"))
    }

    pub fn to_pem(&self) -> anyhow::Result<String> {
        Ok(self
            .0
            .to_pkcs8_pem(Default::default())
            .map_err(|e| anyhow::anyhow!("Failed to encode the private key: {e}"))?
            .to_string())
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Accepts an SPKI PEM (`-----BEGIN PUBLIC KEY-----`) or the raw key in base64url (a JWK's `x`).
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let text = text.trim();
        if text.starts_with("-----BEGIN") {
            return VerifyingKey::from_public_key_pem(text)
                .map(Self)
                .map_err(|e| anyhow::anyhow!("not an Ed25519 public key in PEM: {e}"));
        }
        let raw: [u8; 32] = URL_SAFE_NO_PAD
            .decode(text)
            .ok()
            .and_then(|b| b.try_into().ok())
            .context("not an Ed25519 public key: expected PEM or 32 bytes in base64url")?;
        VerifyingKey::from_bytes(&raw)
            .map(Self)
            .map_err(|e| anyhow::anyhow!("not an Ed25519 public key: {e}"))
    }

    pub fn to_pem(&self) -> anyhow::Result<String> {
        self.0
            .to_public_key_pem(Default::default())
            .map_err(|e| anyhow::anyhow!("Failed to encode the public key: {e}"))
    }

    fn x(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0.as_bytes())
    }

    /// RFC 7638 thumbprint: the `kid`.
    pub fn kid(&self) -> String {
        let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, self.x());
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
    }

    /// The JWK Set published at `/.well-known/jwks.json`.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({"keys": [{
            "kty": "OKP", "crv": "Ed25519", "x": self.x(),
            "kid": self.kid(), "alg": "EdDSA", "use": "sig",
        }]})
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
}

/// Who the tokens are for: `iss` and `aud`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audience {
    pub issuer: String,
    pub audience: String,
}

#[derive(Clone)]
pub struct TokenVerifier {
    key: DecodingKey,
    public: PublicKey,
    kid: String,
    aud: Audience,
    verified: Arc<VerifiedAccessTokens>,
}

/// Access tokens whose signature and claims were verified, by their exact text. Everything
/// [`TokenVerifier::verify`] checks is a function of that text except the time, which is checked
/// again on every use; revocation is the store's business (the session read) and is not cached.
/// A client sends one access token many times over its 15 minutes, and an Ed25519 verification
/// costs more than the rest of a short authenticated read.
#[derive(Default)]
struct VerifiedAccessTokens(Mutex<HashMap<String, Claims>>);

impl VerifiedAccessTokens {
    /// Bounds the memory: when full, the cache starts over (tokens are short-lived).
    const CAPACITY: usize = 4096;

    fn get(&self, token: &str) -> Option<Claims> {
        self.0.lock().ok()?.get(token).cloned()
    }

    fn insert(&self, token: &str, claims: &Claims) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= Self::CAPACITY {
                map.clear();
            }
            map.insert(token.to_owned(), claims.clone());
        }
    }
}

impl TokenVerifier {
    pub fn new(public: PublicKey, aud: Audience) -> anyhow::Result<Self> {
        super::jwt_crypto::install();
        let key = DecodingKey::from_ed_components(&public.x())
            .map_err(|e| anyhow::anyhow!("Failed to build the verification key: {e}"))?;
        Ok(Self {
            key,
            kid: public.kid(),
            public,
            aud,
            verified: Arc::default(),
        })
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Verifies signature, algorithm, `typ`, `kid`, `iss`, `aud`, `exp`, `iat` and the claim set.
    pub fn verify(
        &self,
        token: &str,
        kind: TokenKind,
        now_secs: i64,
    ) -> Result<Claims, TokenError> {
        let cached = match kind {
            TokenKind::Access => self.verified.get(token),
            TokenKind::Refresh | TokenKind::Mfa => None,
        };
        let claims = match cached {
            Some(claims) => claims,
            None => {
                let claims = self.verify_signed(token, kind)?;
                if kind == TokenKind::Access {
                    self.verified.insert(token, &claims);
                }
                claims
            }
        };
        if claims.iat > now_secs + LEEWAY_SECS as i64 || claims.exp <= now_secs - LEEWAY_SECS as i64
        {
            return Err(TokenError::Invalid);
        }
        Ok(claims)
    }

    /// Everything but the time: signature, algorithm, `typ`, `kid`, `iss`, `aud` and the claims.
    fn verify_signed(&self, token: &str, kind: TokenKind) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.alg != Algorithm::EdDSA
            || header.typ.as_deref() != Some(kind.typ())
            || header.kid.as_deref() != Some(self.kid.as_str())
        {
            return Err(TokenError::Invalid);
        }
        let mut validation = Validation::new(Algorithm::EdDSA);
        // `exp` is checked by `verify` against its `now`, also for cached tokens.
        validation.validate_exp = false;
        validation.leeway = LEEWAY_SECS;
        validation.set_issuer(&[&self.aud.issuer]);
        validation.set_audience(&[&self.aud.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &validation)
            .map_err(|_| TokenError::Invalid)?;
        let claims = data.claims;
        if claims.jti.is_empty() || claims.sid.is_empty() {
            return Err(TokenError::Invalid);
        }
        claims.user_id()?;
        Ok(claims)
    }
}

#[derive(Clone)]
pub struct TokenIssuer {
    key: EncodingKey,
    kid: String,
    aud: Audience,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// A login's absolute lifetime.
    pub session_max_age: Duration,
}

/// A freshly signed pair and the ids the store must remember for the refresh family.
pub struct Issued {
    pub pair: TokenPair,
    pub refresh_jti: String,
    pub refresh_expires_at: i64,
}

impl TokenIssuer {
    pub fn new(
        keys: &KeyPair,
        aud: Audience,
        access_ttl: Duration,
        refresh_ttl: Duration,
        session_max_age: Duration,
    ) -> anyhow::Result<Self> {
        super::jwt_crypto::install();
        let der = keys
            .0
            .to_pkcs8_der()
            .map_err(|e| anyhow::anyhow!("Failed to encode the signing key: {e}"))?;
        Ok(Self {
            key: EncodingKey::from_ed_der(der.as_bytes()),
            kid: keys.public().kid(),
            aud,
            access_ttl,
            refresh_ttl,
            session_max_age,
        })
    }

    fn sign(&self, kind: TokenKind, claims: &Claims) -> anyhow::Result<String> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(kind.typ().to_string());
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).context("Failed to sign a token")
    }

    /// Signs the first pair of a new login `sid` of `user`, bound to the auth epoch `epoch`;
    /// `mfa`: the login passed a second factor.
    pub fn issue(
        &self,
        user: UserId,
        sid: &str,
        epoch: u64,
        now_secs: i64,
        mfa: bool,
    ) -> anyhow::Result<Issued> {
        self.issue_for_login(user, sid, now_secs, epoch, now_secs, mfa)?
            .context("a new login has its whole lifetime ahead")
    }

    /// How long an `mfa_token` is good for.
    pub const MFA_TOKEN_SECS: i64 = 300;

    /// Signs an `mfa_token`: the secret of `user` was right at auth epoch `epoch`, from the
    /// client address `addr`; the login it finishes will be `sid`.
    pub fn issue_mfa(
        &self,
        user: UserId,
        sid: &str,
        epoch: u64,
        addr: &str,
        now_secs: i64,
    ) -> anyhow::Result<String> {
        let claims = Claims {
            iss: self.aud.issuer.clone(),
            aud: self.aud.audience.clone(),
            sub: user.to_string(),
            iat: now_secs,
            exp: now_secs + Self::MFA_TOKEN_SECS,
            jti: sid.to_string(),
            sid: sid.to_string(),
            auth_time: None,
            auth_epoch: epoch,
            amr: vec!["pwd".to_string()],
            addr: Some(addr.to_string()),
        };
        self.sign(TokenKind::Mfa, &claims)
    }

    /// Signs a pair for the login `sid` that began at `auth_time`; `None` once the login has
    /// outlived its absolute lifetime. No token outlives it.
    pub fn issue_for_login(
        &self,
        user: UserId,
        sid: &str,
        auth_time: i64,
        epoch: u64,
        now_secs: i64,
        mfa: bool,
    ) -> anyhow::Result<Option<Issued>> {
        let login_ends = auth_time.saturating_add(self.session_max_age.as_secs() as i64);
        if now_secs >= login_ends {
            return Ok(None);
        }
        let claims = |ttl: Duration| Claims {
            iss: self.aud.issuer.clone(),
            aud: self.aud.audience.clone(),
            sub: user.to_string(),
            iat: now_secs,
            exp: (now_secs + ttl.as_secs() as i64).min(login_ends),
            jti: uuid::Uuid::new_v4().to_string(),
            sid: sid.to_string(),
            auth_time: Some(auth_time),
            auth_epoch: epoch,
            amr: if mfa {
                vec!["pwd".to_string(), "otp".to_string()]
            } else {
                vec!["pwd".to_string()]
            },
            addr: None,
        };
        let access = claims(self.access_ttl);
        let refresh = claims(self.refresh_ttl);
        Ok(Some(Issued {
            pair: TokenPair {
                access_token: self.sign(TokenKind::Access, &access)?,
                refresh_token: self.sign(TokenKind::Refresh, &refresh)?,
                token_type: "Bearer",
                expires_in: (access.exp - now_secs).max(0) as u64,
            },
            refresh_jti: refresh.jti,
            refresh_expires_at: refresh.exp,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aud() -> Audience {
        Audience {
            issuer: "dompet".into(),
            audience: "dompet-api".into(),
        }
    }

    fn setup() -> (KeyPair, TokenIssuer, TokenVerifier) {
        let keys = KeyPair::generate();
        let issuer = TokenIssuer::new(
            &keys,
            aud(),
            Duration::from_secs(900),
            Duration::from_secs(86400),
            Duration::from_secs(30 * 86400),
        )
        .unwrap();
        let verifier = TokenVerifier::new(keys.public(), aud()).unwrap();
        (keys, issuer, verifier)
    }

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn amr_says_whether_a_second_factor_was_passed_and_mfa_tokens_are_their_own_kind() {
        let (_, issuer, verifier) = setup();
        let user = UserId::new();
        let plain = issuer.issue(user, "a", 0, NOW, false).unwrap();
        let access = verifier
            .verify(&plain.pair.access_token, TokenKind::Access, NOW)
            .unwrap();
        assert_eq!(access.amr, ["pwd"]);
        assert!(!access.mfa());
        let stepped = issuer.issue(user, "b", 0, NOW, true).unwrap();
        let refresh = verifier
            .verify(&stepped.pair.refresh_token, TokenKind::Refresh, NOW)
            .unwrap();
        assert_eq!(refresh.amr, ["pwd", "otp"]);
        let mfa = issuer.issue_mfa(user, "c", 3, "192.0.2.1", NOW).unwrap();
        let claims = verifier.verify(&mfa, TokenKind::Mfa, NOW).unwrap();
        assert_eq!((claims.sid.as_str(), claims.auth_epoch), ("c", 3));
        assert_eq!(claims.addr.as_deref(), Some("192.0.2.1"));
        assert!(verifier.verify(&mfa, TokenKind::Access, NOW).is_err());
        assert!(verifier
            .verify(&plain.pair.access_token, TokenKind::Mfa, NOW)
            .is_err());
        // Good for five minutes.
        assert!(verifier
            .verify(&mfa, TokenKind::Mfa, NOW + TokenIssuer::MFA_TOKEN_SECS + 10)
            .is_err());
    }

    #[test]
    fn issued_tokens_verify_only_as_their_own_kind() {
        let (_, issuer, verifier) = setup();
        let user = UserId::new();
        let issued = issuer.issue(user, "family", 0, NOW, false).unwrap();
        let access = verifier
            .verify(&issued.pair.access_token, TokenKind::Access, NOW)
            .unwrap();
        assert_eq!(access.sub, user.to_string());
        assert_eq!(access.exp - access.iat, 900);
        let refresh = verifier
            .verify(&issued.pair.refresh_token, TokenKind::Refresh, NOW)
            .unwrap();
        assert_eq!(refresh.jti, issued.refresh_jti);
        assert_ne!(access.jti, refresh.jti);
        assert!(verifier
            .verify(&issued.pair.access_token, TokenKind::Refresh, NOW)
            .is_err());
        assert!(verifier
            .verify(&issued.pair.refresh_token, TokenKind::Access, NOW)
            .is_err());
    }

    #[test]
    fn expiry_is_checked_with_small_leeway() {
        let (_, issuer, verifier) = setup();
        let t = issuer
            .issue(UserId::new(), "f", 0, NOW, false)
            .unwrap()
            .pair
            .access_token;
        assert!(verifier
            .verify(&t, TokenKind::Access, NOW + 900 + 4)
            .is_ok());
        assert!(verifier
            .verify(&t, TokenKind::Access, NOW + 900 + 6)
            .is_err());
        assert!(
            verifier.verify(&t, TokenKind::Access, NOW - 60).is_err(),
            "issued in the future"
        );
    }

    #[test]
    fn a_remembered_token_is_checked_for_time_and_a_changed_one_is_verified_anew() {
        let (_, issuer, verifier) = setup();
        let t = issuer
            .issue(UserId::new(), "f", 0, NOW, false)
            .unwrap()
            .pair
            .access_token;
        let first = verifier.verify(&t, TokenKind::Access, NOW).unwrap();
        assert_eq!(verifier.verified.get(&t), Some(first.clone()));
        assert_eq!(verifier.verify(&t, TokenKind::Access, NOW + 10), Ok(first));
        // The same text with its last signature character changed is another key in the cache,
        // and its signature fails.
        let mut tampered = t.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert_eq!(
            verifier.verify(&tampered, TokenKind::Access, NOW),
            Err(TokenError::Invalid)
        );
        assert_eq!(verifier.verified.get(&tampered), None);
        assert_eq!(
            verifier.verify(&t, TokenKind::Access, NOW + 900 + 6),
            Err(TokenError::Invalid),
            "expired, though remembered"
        );
    }

    #[test]
    fn no_token_outlives_the_login() {
        let (_, issuer, verifier) = setup();
        let max_age = 30 * 86_400;
        let near_end = NOW + max_age - 100;
        let late = issuer
            .issue_for_login(UserId::new(), "f", NOW, 0, near_end, false)
            .unwrap()
            .expect("still inside the login's lifetime");
        let refresh = verifier
            .verify(&late.pair.refresh_token, TokenKind::Refresh, near_end)
            .unwrap();
        assert_eq!(refresh.exp, NOW + max_age, "capped at the login's end");
        assert_eq!(refresh.auth_time, Some(NOW));
        assert_eq!(late.pair.expires_in, 100);
        assert!(issuer
            .issue_for_login(UserId::new(), "f", NOW, 0, NOW + max_age, false)
            .unwrap()
            .is_none());
    }

    #[test]
    fn another_key_issuer_or_audience_is_rejected() {
        let (_, issuer, _) = setup();
        let t = issuer
            .issue(UserId::new(), "f", 0, NOW, false)
            .unwrap()
            .pair
            .access_token;
        let other = TokenVerifier::new(KeyPair::generate().public(), aud()).unwrap();
        assert!(other.verify(&t, TokenKind::Access, NOW).is_err());
        let (keys, _, _) = setup();
        let wrong_aud = Audience {
            issuer: "dompet".into(),
            audience: "elsewhere".into(),
        };
        let issuer2 = TokenIssuer::new(
            &keys,
            wrong_aud,
            Duration::from_secs(60),
            Duration::from_secs(60),
            Duration::from_secs(60),
        )
        .unwrap();
        let t2 = issuer2
            .issue(UserId::new(), "f", 0, NOW, false)
            .unwrap()
            .pair
            .access_token;
        let verifier = TokenVerifier::new(keys.public(), aud()).unwrap();
        assert!(verifier.verify(&t2, TokenKind::Access, NOW).is_err());
    }

    #[test]
    fn alg_none_and_tampered_tokens_are_rejected() {
        let (_, issuer, verifier) = setup();
        let t = issuer
            .issue(UserId::new(), "f", 0, NOW, false)
            .unwrap()
            .pair
            .access_token;
        let parts: Vec<&str> = t.split('.').collect();
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"at+jwt"}"#);
        assert!(verifier
            .verify(
                &format!("{none_header}.{}.", parts[1]),
                TokenKind::Access,
                NOW
            )
            .is_err());
        let mut payload: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        payload["sub"] = UserId::new().to_string().into();
        let forged = URL_SAFE_NO_PAD.encode(payload.to_string());
        assert!(verifier
            .verify(
                &format!("{}.{forged}.{}", parts[0], parts[2]),
                TokenKind::Access,
                NOW
            )
            .is_err());
    }

    #[test]
    fn keys_round_trip_through_pem_and_publish_a_jwks() {
        let keys = KeyPair::generate();
        let again = KeyPair::from_pem(&keys.to_pem().unwrap()).unwrap();
        assert_eq!(keys.public(), again.public());
        let public = keys.public();
        assert_eq!(PublicKey::parse(&public.to_pem().unwrap()).unwrap(), public);
        let jwks = public.jwks();
        assert_eq!(jwks["keys"][0]["kid"], public.kid());
        assert_eq!(
            PublicKey::parse(jwks["keys"][0]["x"].as_str().unwrap()).unwrap(),
            public
        );
        assert!(KeyPair::from_pem("garbage").is_err());
    }
}
