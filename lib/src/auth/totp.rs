//! The second factor's primitives: TOTP (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps, the
//! step before and after the current one accepted) through the `totp-rs` crate, each code
//! accepted once (the caller keeps the last accepted step and passes it in), and recovery codes
//! (random, shown once, kept only as HMAC-SHA-256 hashes: they are high-entropy, so a keyed hash
//! is as safe as argon2id for them and costs microseconds).

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// Digits of a code.
pub const DIGITS: u8 = 6;
/// Seconds of a step.
pub const STEP_SECS: u64 = 30;
/// Bytes of a new secret: 160 bits, as RFC 4226 recommends.
pub const SECRET_BYTES: usize = 20;
/// The issuer an authenticator app shows.
pub const ISSUER: &str = "dompet";
/// How many recovery codes an account gets.
pub const RECOVERY_CODES: usize = 10;

/// A TOTP authenticator of one account.
pub struct Authenticator {
    totp: totp_rs::Totp,
}

#[derive(Debug, thiserror::Error)]
#[error("not a usable TOTP secret: {0}")]
pub struct InvalidSecret(String);

impl Authenticator {
    /// A new random secret.
    pub fn new_secret() -> Vec<u8> {
        let mut secret = vec![0u8; SECRET_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        secret
    }

    /// The authenticator of `secret`, labelled `label` (the account's name in the app).
    pub fn new(secret: Vec<u8>, label: &str) -> Result<Self, InvalidSecret> {
        let totp = totp_rs::Builder::new()
            .with_algorithm(totp_rs::Algorithm::SHA1)
            .with_digits(DIGITS)
            .with_skew(1)
            .with_step_duration(STEP_SECS)
            .with_secret(secret)
            .with_issuer(Some(ISSUER))
            .with_account_name(label.replace(':', "_"))
            .build()
            .map_err(|e| InvalidSecret(e.to_string()))?;
        Ok(Self { totp })
    }

    /// The authenticator of a secret given in base32 (as an app is given it).
    pub fn from_base32(secret: &str, label: &str) -> Result<Self, InvalidSecret> {
        let secret = totp_rs::Secret::try_from_base32(secret)
            .map_err(|e| InvalidSecret(format!("{e:?}")))?;
        Self::new(secret.as_bytes().to_vec(), label)
    }

    /// The secret in base32 (what a user types into an app that can't scan).
    pub fn secret_base32(&self) -> String {
        self.totp.secret().to_base32()
    }

    /// `otpauth://totp/dompet:<label>?secret=…&issuer=dompet&algorithm=SHA1&digits=6&period=30`.
    pub fn otpauth_uri(&self) -> Result<String, InvalidSecret> {
        self.totp.to_url().map_err(|e| InvalidSecret(e.to_string()))
    }

    /// The code of the step `unix_secs` falls in.
    pub fn code_at(&self, unix_secs: u64) -> String {
        self.totp.generate(unix_secs).to_string()
    }

    /// The step `code` belongs to, if it is the code of the current step or of one next to it
    /// (`unix_secs`) and that step is later than `last_step`, the last one accepted: a code is
    /// accepted once, and never one older than the last accepted.
    pub fn accept(&self, code: &str, unix_secs: u64, last_step: Option<u64>) -> Option<u64> {
        let code = code.trim();
        if code.len() != usize::from(DIGITS) || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let step = self.totp.check(code, unix_secs)?;
        match last_step {
            Some(last) if step <= last => None,
            _ => Some(step),
        }
    }
}

/// New recovery codes: [`RECOVERY_CODES`] of them, each 80 random bits written as four groups
/// of four lowercase base32 letters (`abcd-efgh-ijkl-mnop`).
pub fn new_recovery_codes() -> Vec<String> {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; 10];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            let bits = bytes
                .iter()
                .fold(0u128, |acc, b| (acc << 8) | u128::from(*b));
            let letters: Vec<u8> = (0..16)
                .map(|i| ALPHABET[((bits >> (75 - 5 * i)) & 31) as usize])
                .collect();
            letters
                .chunks(4)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect()
}

/// A recovery code as kept: HMAC-SHA-256 under the server's `key` of the code as typed, without
/// dashes, spaces or case (so `ABCD EFGH…` is the same code), hex.
pub fn recovery_code_hash(key: &[u8], code: &str) -> String {
    let normalized: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(normalized.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The server's key for second factors (`DOMPET_MFA_KEY`): it seals TOTP secrets at rest
/// (AES-256-GCM, bound to their account) and keys the recovery codes' hashes. Hosts that verify
/// codes hold it; a copy of the table alone reveals no secret.
#[derive(Clone)]
pub struct FactorKey {
    seal: aes_gcm::Aes256Gcm,
    recovery: [u8; 32],
}

impl std::fmt::Debug for FactorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FactorKey(..)")
    }
}

/// Version prefix of a sealed secret.
const SEALED_V1: &str = "v1.";

impl FactorKey {
    /// The keys derived from the configured secret material (one HMAC-SHA-256 per purpose).
    pub fn from_secret(material: &[u8]) -> Self {
        use aes_gcm::KeyInit;
        let derive = |purpose: &[u8]| -> [u8; 32] {
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(material)
                .expect("HMAC takes a key of any length");
            mac.update(purpose);
            mac.finalize().into_bytes().into()
        };
        let seal = derive(b"dompet second factor: sealed secrets v1");
        Self {
            seal: aes_gcm::Aes256Gcm::new(&seal.into()),
            recovery: derive(b"dompet second factor: recovery codes v1"),
        }
    }

    /// `secret` sealed for `account`: `v1.` and base64url of a random nonce and the ciphertext.
    pub fn seal(&self, account: &str, secret: &[u8]) -> anyhow::Result<String> {
        use aes_gcm::aead::{Aead, Payload};
        use base64::Engine;
        let mut raw = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let nonce = aes_gcm::Nonce::<aes_gcm::aead::consts::U12>::from(raw);
        let sealed = self
            .seal
            .encrypt(
                &nonce,
                Payload {
                    msg: secret,
                    aad: account.as_bytes(),
                },
            )
            .map_err(|_| anyhow::anyhow!("Failed to seal a second-factor secret"))?;
        let mut out = nonce.to_vec();
        out.extend(sealed);
        Ok(format!(
            "{SEALED_V1}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out)
        ))
    }

    /// The secret `sealed` for `account`; an error when it was sealed for another account or
    /// under another key, or was altered.
    pub fn open(&self, account: &str, sealed: &str) -> anyhow::Result<Vec<u8>> {
        use aes_gcm::aead::{Aead, Payload};
        use base64::Engine;
        let bytes = sealed
            .strip_prefix(SEALED_V1)
            .and_then(|b| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(b)
                    .ok()
            })
            .filter(|b| b.len() > 12)
            .ok_or_else(|| anyhow::anyhow!("not a sealed second-factor secret"))?;
        let (nonce, ciphertext) = bytes.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().expect("split at 12");
        self.seal
            .decrypt(
                &aes_gcm::Nonce::<aes_gcm::aead::consts::U12>::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: account.as_bytes(),
                },
            )
            .map_err(|_| {
                anyhow::anyhow!("a second-factor secret does not open with DOMPET_MFA_KEY")
            })
    }

    /// The hash a recovery code is kept as.
    pub fn recovery_hash(&self, code: &str) -> String {
        recovery_code_hash(&self.recovery, code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_for_its_account_and_key() {
        let key = FactorKey::from_secret(b"0123456789abcdef0123456789abcdef");
        let secret = Authenticator::new_secret();
        let sealed = key.seal("alice", &secret).unwrap();
        assert!(sealed.starts_with("v1."));
        assert!(!sealed.contains(
            &Authenticator::new(secret.clone(), "a")
                .unwrap()
                .secret_base32()
        ));
        assert_eq!(key.open("alice", &sealed).unwrap(), secret);
        assert!(key.open("bob", &sealed).is_err());
        let other = FactorKey::from_secret(b"another key, also thirty-two bytes!");
        assert!(other.open("alice", &sealed).is_err());
        // Two seals of one secret differ (a fresh nonce each).
        assert_ne!(key.seal("alice", &secret).unwrap(), sealed);
        assert_ne!(
            key.recovery_hash("abcd-efgh"),
            other.recovery_hash("abcd-efgh")
        );
    }

    /// RFC 6238's key for SHA-1: the ASCII string "12345678901234567890".
    fn rfc() -> Authenticator {
        Authenticator::new(b"12345678901234567890".to_vec(), "test").unwrap()
    }

    #[test]
    fn codes_are_rfc_6238s_test_vectors() {
        // RFC 6238, Appendix B (SHA-1), the last six of the eight digits.
        for (time, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
            (20_000_000_000, "353130"),
        ] {
            assert_eq!(rfc().code_at(time), code, "T = {time}");
        }
    }

    #[test]
    fn the_step_before_and_after_are_accepted_and_no_further() {
        let a = rfc();
        let now = 1_111_111_111; // step 37037037
        let step = now / STEP_SECS;
        assert_eq!(a.accept(&a.code_at(now), now, None), Some(step));
        assert_eq!(a.accept(&a.code_at(now - 30), now, None), Some(step - 1));
        assert_eq!(a.accept(&a.code_at(now + 30), now, None), Some(step + 1));
        assert_eq!(a.accept(&a.code_at(now - 60), now, None), None);
        assert_eq!(a.accept(&a.code_at(now + 60), now, None), None);
    }

    #[test]
    fn a_code_is_accepted_once_and_never_one_older_than_the_last() {
        let a = rfc();
        let now = 1_234_567_890;
        let step = a.accept(&a.code_at(now), now, None).unwrap();
        assert_eq!(a.accept(&a.code_at(now), now, Some(step)), None, "replayed");
        assert_eq!(
            a.accept(&a.code_at(now - 30), now, Some(step)),
            None,
            "older than the last accepted"
        );
        assert_eq!(
            a.accept(&a.code_at(now + 30), now + 30, Some(step)),
            Some(step + 1)
        );
    }

    #[test]
    fn anything_but_six_digits_is_refused() {
        let a = rfc();
        let now = 59;
        for code in ["", "28708", "2870822", "28708a", "94287082", "-28708"] {
            assert_eq!(a.accept(code, now, None), None, "{code:?}");
        }
        assert!(
            a.accept(" 287082 ", now, None).is_some(),
            "spaces around are fine"
        );
    }

    #[test]
    fn new_secrets_are_random_160_bits_and_the_uri_names_them() {
        let (x, y) = (Authenticator::new_secret(), Authenticator::new_secret());
        assert_eq!(x.len(), 20);
        assert_ne!(x, y);
        let a = Authenticator::new(x, "guntur").unwrap();
        let uri = a.otpauth_uri().unwrap();
        assert!(uri.starts_with("otpauth://totp/dompet:guntur?"), "{uri}");
        assert!(
            uri.contains(&format!("secret={}", a.secret_base32())),
            "{uri}"
        );
        assert!(uri.contains("issuer=dompet"), "{uri}");
        assert_eq!(a.secret_base32().len(), 32, "160 bits in base32");
        assert!(
            Authenticator::new(vec![1; 10], "short").is_err(),
            "80 bits is too few"
        );
    }

    #[test]
    fn recovery_codes_are_ten_distinct_and_hash_as_typed_in_any_form() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        let distinct: std::collections::BTreeSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), 10);
        for code in &codes {
            assert_eq!(code.len(), 19, "{code}");
            assert_eq!(code.matches('-').count(), 3, "{code}");
        }
        let key = b"server key";
        let code = &codes[0];
        let hash = recovery_code_hash(key, code);
        assert_eq!(hash.len(), 64);
        let typed = code.to_uppercase().replace('-', " ");
        assert_eq!(recovery_code_hash(key, &typed), hash);
        assert_ne!(recovery_code_hash(b"other key", code), hash);
        assert_ne!(recovery_code_hash(key, &codes[1]), hash);
    }
}
