//! The one signature algorithm the tokens use, Ed25519 (`EdDSA`), as jsonwebtoken's crypto
//! provider. Its own `rust_crypto` provider links RSA and the NIST curves into every function
//! for algorithms no token here is signed or accepted with.

use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use jsonwebtoken::crypto::{CryptoProvider, JwkUtils, JwtSigner, JwtVerifier};
use jsonwebtoken::errors::{ErrorKind, Result};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};

struct EdSigner(SigningKey);

impl signature::Signer<Vec<u8>> for EdSigner {
    fn try_sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        Ok(self.0.sign(message).to_bytes().to_vec())
    }
}

impl JwtSigner for EdSigner {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
}

struct EdVerifier(VerifyingKey);

impl signature::Verifier<Vec<u8>> for EdVerifier {
    fn verify(
        &self,
        message: &[u8],
        signature: &Vec<u8>,
    ) -> std::result::Result<(), signature::Error> {
        self.0.verify(message, &Signature::from_slice(signature)?)
    }
}

impl JwtVerifier for EdVerifier {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
}

/// A signer for `EdDSA` with a PKCS#8 private key; any other algorithm is refused.
fn signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    if *algorithm != Algorithm::EdDSA {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    let key = SigningKey::from_pkcs8_der(key.inner()).map_err(|_| ErrorKind::InvalidEddsaKey)?;
    Ok(Box::new(EdSigner(key)))
}

/// A verifier for `EdDSA` with a public key's 32 bytes; any other algorithm is refused.
fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    if *algorithm != Algorithm::EdDSA {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    let bytes: &[u8; 32] = key
        .as_bytes()
        .get(..32)
        .and_then(|b| b.try_into().ok())
        .ok_or(ErrorKind::InvalidEddsaKey)?;
    let key = VerifyingKey::from_bytes(bytes).map_err(|_| ErrorKind::InvalidEddsaKey)?;
    Ok(Box::new(EdVerifier(key)))
}

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: signer,
    verifier_factory: verifier,
    jwk_utils: JwkUtils::new_unimplemented(),
};

/// Makes [`PROVIDER`] the process's, before the first token is signed or verified (the token
/// signer's and verifier's constructors call it; later calls do nothing).
pub(crate) fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Another provider installed first would be the `rust_crypto` one of a build that
        // enables it: it signs and verifies EdDSA the same way.
        let _ = PROVIDER.install_default();
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::pkcs8::EncodePrivateKey;

    fn keys() -> (EncodingKey, DecodingKey, VerifyingKey) {
        let signing = SigningKey::from_bytes(&[7; 32]);
        let der = signing.to_pkcs8_der().unwrap();
        let public = signing.verifying_key();
        let x = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            public.as_bytes(),
        );
        (
            EncodingKey::from_ed_der(der.as_bytes()),
            DecodingKey::from_ed_components(&x).unwrap(),
            public,
        )
    }

    #[test]
    fn signs_ed25519_as_the_standard_verifies_it_and_refuses_other_algorithms() {
        let (encoding, decoding, public) = keys();
        let signed = signer(&Algorithm::EdDSA, &encoding)
            .unwrap()
            .try_sign(b"header.claims")
            .unwrap();
        // RFC 8032's verification, by ed25519-dalek itself.
        public
            .verify_strict(b"header.claims", &Signature::from_slice(&signed).unwrap())
            .unwrap();
        let check = verifier(&Algorithm::EdDSA, &decoding).unwrap();
        assert!(check.verify(b"header.claims", &signed).is_ok());
        assert!(check.verify(b"header.claimz", &signed).is_err());
        for other in [Algorithm::HS256, Algorithm::RS256, Algorithm::ES256] {
            assert!(signer(&other, &encoding).is_err(), "{other:?}");
            assert!(verifier(&other, &decoding).is_err(), "{other:?}");
        }
    }
}
