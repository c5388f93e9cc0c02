//! OpenPGP keys, signing and verification: our own Ed25519 signing key, detached signatures
//! over packages and bundles, cleartext-signed apt `InRelease` files, and verification against
//! public keyrings such as the distributions' archive keyrings.
//!
//! Everything is built on the pure-Rust `pgp` crate. Data that may be large (packages,
//! bundles) is streamed through [`std::io::Read`]; only index files (Release, InRelease) and
//! keys are held in memory.

use std::fmt::Write as _;
use std::io::{self, BufReader, Read, Seek};
use std::path::{Path, PathBuf};

use pgp::composed::{
    ArmorOptions, CleartextSignedMessage, Deserializable, DetachedSignature, KeyType,
    SecretKeyParamsBuilder, SignedPublicKey, SignedSecretKey, SubpacketConfig,
};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{
    PublicKey as PgpPublicKey, PublicSubkey, Signature, SignatureConfig, SignatureType, Subpacket,
    SubpacketData,
};
use pgp::ser::Serialize;
use pgp::types::{Fingerprint, KeyDetails, KeyVersion, Password, Timestamp};

/// Hash algorithm of every signature we make.
const HASH: HashAlgorithm = HashAlgorithm::Sha512;

/// What went wrong while handling keys or signatures.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The signature input holds no signature at all.
    #[error("no OpenPGP signature found")]
    NoSignature,
    /// None of the signatures was made by a key (or subkey) in the keyring.
    #[error("signed by key {key_ids}, which is not in the keyring")]
    UnknownSigner {
        /// Upper-case hex key ids (or fingerprints) named by the signatures, comma-separated.
        key_ids: String,
    },
    /// A signature by a known key does not verify: the data was altered (or the signature).
    #[error(
        "bad signature by key {key_id}: the signed data or the signature was altered ({reason})"
    )]
    BadSignature {
        /// Upper-case hex id of the (sub)key that the signature names.
        key_id: String,
        /// What the verifier reported.
        reason: String,
    },
    /// The only signatures found were made by keys of the keyring that are expired or revoked
    /// now (apt rejects those too; gpgv alone accepts expired ones).
    #[error("signed by key {key_id}, which is {reason}")]
    KeyNotValid {
        /// Upper-case hex id of the (sub)key that the signature names.
        key_id: String,
        /// Why the key is not valid now, e.g. "expired on 2020-01-02" or "revoked".
        reason: String,
    },
    /// A key file could not be read or holds no usable key.
    #[error("key file {}: {reason}", path.display())]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// Why it is unusable.
        reason: String,
    },
    /// Input (a key, a signature, a signed message) could not be parsed.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What was being parsed.
        what: &'static str,
        /// What the parser reported.
        reason: String,
    },
    /// Reading the data to sign or verify failed.
    #[error("reading the data")]
    Io(#[from] io::Error),
    /// An OpenPGP operation (key generation, signing, serialization) failed.
    #[error("OpenPGP {op} failed")]
    Pgp {
        /// The operation.
        op: &'static str,
        /// The underlying error (boxed: it is large, and every `Result` carries its size).
        #[source]
        source: Box<pgp::errors::Error>,
    },
}

impl SignError {
    fn pgp(op: &'static str) -> impl FnOnce(pgp::errors::Error) -> SignError {
        move |source| SignError::Pgp {
            op,
            source: Box::new(source),
        }
    }

    fn malformed<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> SignError {
        move |e| SignError::Malformed {
            what,
            reason: crate::archive::escape(e.to_string().as_bytes()),
        }
    }

    fn key_file(path: &Path, err: SignError) -> SignError {
        let reason = match err {
            SignError::Malformed { what, reason } => format!("malformed {what}: {reason}"),
            other => other.to_string(),
        };
        SignError::KeyFile {
            path: path.to_path_buf(),
            reason,
        }
    }
}

fn hex_upper(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(s, "{b:02X}");
    }
    s
}

fn fingerprint_hex(fp: &Fingerprint) -> String {
    hex_upper(fp.as_bytes())
}

/// A fingerprint as the keyrings print it: upper-case hex, no spaces.
pub fn normalize_fingerprint(fingerprint: &str) -> String {
    fingerprint
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase()
}

fn is_armored(data: &[u8]) -> bool {
    let start = data
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(data.len());
    data[start..].starts_with(b"-----BEGIN PGP")
}

/// A reader that remembers the first I/O error, so that a failed verification caused by
/// unreadable data is reported as [`SignError::Io`] rather than as a bad signature.
struct TrackingReader<R> {
    inner: R,
    error: Option<io::Error>,
}

impl<R: Read> Read for TrackingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => Ok(n),
            Err(e) => {
                let copy = io::Error::new(e.kind(), e.to_string());
                if self.error.is_none() {
                    self.error = Some(e);
                }
                Err(copy)
            }
        }
    }
}

/// A signing key (secret and public parts), Ed25519 in the legacy v4 EdDSA form that gpg 2.2
/// and apt's gpgv accept. It carries no passphrase.
#[derive(Debug, Clone)]
pub struct SecretKey {
    key: SignedSecretKey,
    /// The creation time written into signatures; `None`: now. A fixed time (the build's
    /// SOURCE_DATE_EPOCH) makes signatures reproducible: Ed25519 signing is deterministic.
    signing_time: Option<u32>,
}

impl SecretKey {
    /// Generate a new key with one User ID, e.g. `"Pigsty <pigsty@example.org>"`.
    pub fn generate(user_id: &str) -> Result<SecretKey, SignError> {
        let mut params = SecretKeyParamsBuilder::default();
        params
            .version(KeyVersion::V4)
            .key_type(KeyType::Ed25519Legacy)
            .can_certify(true)
            .can_sign(true)
            .primary_user_id(user_id.to_string());
        let params = params
            .build()
            .map_err(SignError::malformed("key parameters"))?;
        let key = params
            .generate(rand::thread_rng())
            .map_err(SignError::pgp("key generation"))?;
        Ok(SecretKey {
            key,
            signing_time: None,
        })
    }

    /// Parse an ASCII-armored secret key.
    pub fn from_armored(text: &str) -> Result<SecretKey, SignError> {
        let (key, _headers) =
            SignedSecretKey::from_string(text).map_err(SignError::malformed("secret key"))?;
        Ok(SecretKey {
            key,
            signing_time: None,
        })
    }

    /// Parse a secret key, ASCII-armored or binary.
    pub fn from_bytes(data: &[u8]) -> Result<SecretKey, SignError> {
        if is_armored(data) {
            let text = std::str::from_utf8(data).map_err(SignError::malformed("secret key"))?;
            Self::from_armored(text)
        } else {
            let key =
                SignedSecretKey::from_bytes(data).map_err(SignError::malformed("secret key"))?;
            Ok(SecretKey {
                key,
                signing_time: None,
            })
        }
    }

    /// Read a secret key file (armored or binary); errors name the file.
    pub fn load(path: &Path) -> Result<SecretKey, SignError> {
        let data = std::fs::read(path).map_err(|e| SignError::KeyFile {
            path: path.to_path_buf(),
            reason: crate::archive::escape(e.to_string().as_bytes()),
        })?;
        Self::from_bytes(&data).map_err(|e| SignError::key_file(path, e))
    }

    /// Date every signature made from now on at `secs` since the epoch, instead of now; never
    /// earlier than the key itself, which verifiers would refuse.
    pub fn with_signing_time(mut self, secs: u64) -> SecretKey {
        let created = u64::from(self.key.primary_key.created_at().as_secs());
        self.signing_time = Some(u32::try_from(secs.max(created)).unwrap_or(u32::MAX));
        self
    }

    fn created(&self) -> Timestamp {
        self.signing_time
            .map(Timestamp::from_secs)
            .unwrap_or_else(Timestamp::now)
    }

    /// The subpackets of every signature we make: creation time, issuer fingerprint (hashed),
    /// issuer key id (unhashed), as gpg writes them.
    fn subpackets(&self) -> Result<(Vec<Subpacket>, Vec<Subpacket>), SignError> {
        let key = &self.key.primary_key;
        Ok((
            vec![
                Subpacket::regular(SubpacketData::SignatureCreationTime(self.created()))
                    .map_err(SignError::pgp("signing"))?,
                Subpacket::regular(SubpacketData::IssuerFingerprint(key.fingerprint()))
                    .map_err(SignError::pgp("signing"))?,
            ],
            vec![
                Subpacket::regular(SubpacketData::IssuerKeyId(key.legacy_key_id()))
                    .map_err(SignError::pgp("signing"))?,
            ],
        ))
    }

    /// The ASCII-armored secret key (keep it secret).
    pub fn to_armored(&self) -> Result<String, SignError> {
        self.key
            .to_armored_string(ArmorOptions::default())
            .map_err(SignError::pgp("armoring the secret key"))
    }

    /// The public key that verifies this key's signatures.
    pub fn public(&self) -> PublicKeyring {
        PublicKeyring {
            keys: vec![self.key.to_public_key()],
        }
    }

    /// The primary key's fingerprint: 40 upper-case hex characters.
    pub fn fingerprint(&self) -> String {
        fingerprint_hex(&self.key.fingerprint())
    }

    /// Sign `data` (streamed) and return an ASCII-armored detached signature, binary mode.
    pub fn sign_detached<R: Read>(&self, data: R) -> Result<String, SignError> {
        let mut reader = TrackingReader {
            inner: data,
            error: None,
        };
        let signed = DetachedSignature::sign_binary_data_with_subpackets(
            rand::thread_rng(),
            &self.key.primary_key,
            &Password::empty(),
            HASH,
            &mut reader,
            {
                let (hashed, unhashed) = self.subpackets()?;
                SubpacketConfig::UserDefined { hashed, unhashed }
            },
        );
        if let Some(e) = reader.error {
            return Err(SignError::Io(e));
        }
        let sig = signed.map_err(SignError::pgp("signing"))?;
        sig.to_armored_string(ArmorOptions::default())
            .map_err(SignError::pgp("armoring the signature"))
    }

    /// Produce a cleartext-signed message (the form of apt's `InRelease`), `Hash: SHA512`.
    ///
    /// As in every cleartext signature, trailing spaces and tabs on each line are not signed:
    /// they are removed from the output. The text's final line break is kept as the line break
    /// before the signature block, as gpg does, so verifying returns the text unchanged.
    pub fn clearsign(&self, text: &str) -> Result<String, SignError> {
        let body = text.strip_suffix('\n').unwrap_or(text);
        let body = body.strip_suffix('\r').unwrap_or(body);
        let body: Vec<&str> = body
            .split('\n')
            .map(|line| {
                let line = line.strip_suffix('\r').unwrap_or(line);
                line.trim_end_matches([' ', '\t'])
            })
            .collect();
        let body = body.join("\n");

        let key = &self.key.primary_key;
        let mut config = SignatureConfig::v4(SignatureType::Text, key.algorithm(), HASH);
        (config.hashed_subpackets, config.unhashed_subpackets) = self.subpackets()?;
        let msg = CleartextSignedMessage::new(&body, config, key, &Password::empty())
            .map_err(SignError::pgp("signing"))?;
        msg.to_armored_string(ArmorOptions::default())
            .map_err(SignError::pgp("armoring the signed message"))
    }
}

/// A key of a keyring that may have made a signature.
#[derive(Clone, Copy)]
enum SigningPart<'a> {
    Primary(&'a PgpPublicKey),
    Sub(&'a PublicSubkey),
}

impl SigningPart<'_> {
    fn key_id(&self) -> String {
        match self {
            SigningPart::Primary(k) => hex_upper(k.legacy_key_id().as_ref()),
            SigningPart::Sub(k) => hex_upper(k.legacy_key_id().as_ref()),
        }
    }

    fn matches(&self, sig: &Signature) -> bool {
        let (id, fp) = match self {
            SigningPart::Primary(k) => (k.legacy_key_id(), k.fingerprint()),
            SigningPart::Sub(k) => (k.legacy_key_id(), k.fingerprint()),
        };
        let ids = sig.issuer_key_id();
        let fps = sig.issuer_fingerprint();
        if ids.is_empty() && fps.is_empty() {
            // The signature does not say who made it: try every key.
            return true;
        }
        ids.iter().any(|i| **i == id) || fps.iter().any(|f| **f == fp)
    }

    fn verify<R: Read>(&self, sig: &Signature, data: R) -> pgp::errors::Result<()> {
        match self {
            SigningPart::Primary(k) => sig.verify(*k, data),
            SigningPart::Sub(k) => sig.verify(*k, data),
        }
    }
}

/// Who a signature says made it, for error messages.
fn issuer_names(sig: &Signature) -> Vec<String> {
    let mut names: Vec<String> = sig
        .issuer_key_id()
        .iter()
        .map(|id| hex_upper(id.as_ref()))
        .collect();
    if names.is_empty() {
        names = sig
            .issuer_fingerprint()
            .iter()
            .map(|fp| fingerprint_hex(fp))
            .collect();
    }
    if names.is_empty() {
        names.push("(unnamed)".to_string());
    }
    names
}

/// One signature matched with a key that may have made it.
struct Candidate<'a> {
    sig: &'a Signature,
    part: SigningPart<'a>,
    primary_fingerprint: String,
    /// Whether the key is valid now, or why not.
    valid: Result<(), String>,
}

/// When a key must have been valid for a signature to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum When {
    /// Now (apt, gpgv, our own manifests).
    Now,
    /// When the signature was made (rpm's package signatures).
    AtSigning,
}

/// One or more public keys, e.g. a distribution's archive keyring or our `pigsty.pub`.
#[derive(Debug, Clone)]
pub struct PublicKeyring {
    keys: Vec<SignedPublicKey>,
}

impl PublicKeyring {
    /// Parse a binary keyring (several concatenated keys, as in
    /// `/usr/share/keyrings/*.gpg`) or one or more ASCII-armored public key blocks.
    /// Expired keys are kept: whether a signature is acceptable is decided when verifying.
    pub fn from_bytes(data: &[u8]) -> Result<PublicKeyring, SignError> {
        let mut keys = Vec::new();
        if is_armored(data) {
            let text = std::str::from_utf8(data).map_err(SignError::malformed("public key"))?;
            const BEGIN: &str = "-----BEGIN PGP";
            let mut rest = text;
            while let Some(start) = rest.find(BEGIN) {
                let block = &rest[start..];
                let end = block[BEGIN.len()..]
                    .find(BEGIN)
                    .map_or(block.len(), |i| i + BEGIN.len());
                let (iter, _headers) =
                    SignedPublicKey::from_armor_many_buf(&block.as_bytes()[..end])
                        .map_err(SignError::malformed("public key"))?;
                for key in iter {
                    keys.push(key.map_err(SignError::malformed("public key"))?);
                }
                rest = &block[end..];
            }
        } else {
            let iter =
                SignedPublicKey::from_bytes_many(data).map_err(SignError::malformed("keyring"))?;
            for key in iter {
                keys.push(key.map_err(SignError::malformed("keyring"))?);
            }
        }
        if keys.is_empty() {
            return Err(SignError::Malformed {
                what: "keyring",
                reason: "no public key found".to_string(),
            });
        }
        Ok(PublicKeyring { keys })
    }

    /// Read a keyring file (binary or armored); errors name the file.
    pub fn load(path: &Path) -> Result<PublicKeyring, SignError> {
        let data = std::fs::read(path).map_err(|e| SignError::KeyFile {
            path: path.to_path_buf(),
            reason: crate::archive::escape(e.to_string().as_bytes()),
        })?;
        Self::from_bytes(&data).map_err(|e| SignError::key_file(path, e))
    }

    /// The keys, ASCII-armored in one public key block (what we ship as `pigsty.pub`).
    pub fn to_armored(&self) -> Result<String, SignError> {
        let mut out = Vec::new();
        pgp::armor::write(
            &self.keys,
            pgp::armor::BlockType::PublicKey,
            &mut out,
            None,
            true,
        )
        .map_err(SignError::pgp("armoring the public keys"))?;
        String::from_utf8(out).map_err(SignError::malformed("armored public keys"))
    }

    /// The keys in binary form, concatenated (a keyring file for gpgv or apt's `signed-by`).
    pub fn to_binary(&self) -> Result<Vec<u8>, SignError> {
        let mut out = Vec::new();
        for key in &self.keys {
            key.to_writer(&mut out)
                .map_err(SignError::pgp("serializing the public keys"))?;
        }
        Ok(out)
    }

    /// The keyring cut down to the one primary key whose fingerprint is `fingerprint` (upper
    /// or lower case hex, spaces ignored), with the subkeys bound to it; `None` if it holds no
    /// such key. Verifying with it accepts a signature by that key only: whatever else a
    /// shipped keyring carries is out.
    pub fn only(&self, fingerprint: &str) -> Option<PublicKeyring> {
        let wanted = normalize_fingerprint(fingerprint);
        let keys: Vec<SignedPublicKey> = self
            .keys
            .iter()
            .filter(|k| fingerprint_hex(&k.fingerprint()) == wanted)
            .cloned()
            .collect();
        (!keys.is_empty()).then_some(PublicKeyring { keys })
    }

    /// Primary key fingerprints, upper-case hex, in keyring order.
    pub fn fingerprints(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| fingerprint_hex(&k.fingerprint()))
            .collect()
    }

    /// The primary key and every subkey bound to it for signing, with the primary fingerprint
    /// and whether the key is valid at `now` (not expired, not revoked), of the keys that may
    /// have made `sig` (by its issuer; every key when it names none). Only those keys'
    /// bindings are checked: an archive keyring holds a dozen keys, and checking every
    /// binding for every signature was 5% of a warm build.
    fn signing_parts(
        &self,
        now: u64,
        sig: &Signature,
    ) -> Vec<(SigningPart<'_>, String, Result<(), String>)> {
        let mut parts = Vec::new();
        for key in &self.keys {
            let may_have_signed = SigningPart::Primary(&key.primary_key).matches(sig)
                || key
                    .public_subkeys
                    .iter()
                    .any(|sub| SigningPart::Sub(&sub.key).matches(sig));
            if !may_have_signed {
                continue;
            }
            let fp = fingerprint_hex(&key.fingerprint());
            let primary_valid = primary_validity(key, now);
            parts.push((
                SigningPart::Primary(&key.primary_key),
                fp.clone(),
                primary_valid.clone(),
            ));
            for sub in &key.public_subkeys {
                let bindings: Vec<&Signature> = sub
                    .signatures
                    .iter()
                    .filter(|sig| {
                        sig.verify_subkey_binding(&key.primary_key, &sub.key)
                            .is_ok()
                    })
                    .collect();
                let newest = bindings
                    .iter()
                    .filter(|sig| sig.typ() == Some(SignatureType::SubkeyBinding))
                    .max_by_key(|sig| sig.created().map(|t| t.as_secs()));
                let Some(binding) = newest else { continue };
                if !binding.key_flags().sign() {
                    continue;
                }
                let valid = if let Err(reason) = &primary_valid {
                    Err(format!("a subkey of a key that is {reason}"))
                } else if bindings
                    .iter()
                    .any(|sig| sig.typ() == Some(SignatureType::SubkeyRevocation))
                {
                    Err("revoked".to_string())
                } else {
                    expiry_check(sub.key.created_at(), binding, now)
                };
                parts.push((SigningPart::Sub(&sub.key), fp.clone(), valid));
            }
        }
        parts
    }

    /// Match each data signature with the keys that may have made it.
    fn candidates<'a>(
        &'a self,
        sigs: &'a [Signature],
        when: When,
    ) -> Result<Vec<Candidate<'a>>, SignError> {
        if sigs.is_empty() {
            return Err(SignError::NoSignature);
        }
        let now = u64::from(Timestamp::now().as_secs());
        let mut found = Vec::new();
        for sig in sigs {
            if !matches!(sig.typ(), Some(SignatureType::Binary | SignatureType::Text)) {
                continue;
            }
            let at = match (when, sig.created()) {
                (When::AtSigning, Some(t)) => u64::from(t.as_secs()),
                _ => now,
            };
            for (part, fp, valid) in self.signing_parts(at, sig) {
                if part.matches(sig) {
                    found.push(Candidate {
                        sig,
                        part,
                        primary_fingerprint: fp,
                        valid,
                    });
                }
            }
        }
        if found.iter().any(|c| c.valid.is_ok()) {
            found.retain(|c| c.valid.is_ok());
        } else if let Some(Candidate {
            part,
            valid: Err(reason),
            ..
        }) = found.first()
        {
            return Err(SignError::KeyNotValid {
                key_id: part.key_id(),
                reason: reason.clone(),
            });
        }
        if found.is_empty() {
            let mut names: Vec<String> = sigs.iter().flat_map(issuer_names).collect();
            names.dedup();
            return Err(SignError::UnknownSigner {
                key_ids: names.join(", "),
            });
        }
        Ok(found)
    }

    /// Verify a detached signature (armored or binary) over `data` (streamed). Succeeds when
    /// any signature in it verifies with any key or subkey of the keyring, and returns the
    /// fingerprint of the primary key that owns the signing (sub)key.
    pub fn verify_detached<R: Read>(&self, data: R, signature: &[u8]) -> Result<String, SignError> {
        self.verify_detached_when(data, signature, When::Now)
    }

    /// [`PublicKeyring::verify_detached`] with the keys judged as they were when the
    /// signature was made, as rpm judges package signatures: a package signed in 2011 by a key
    /// that expired in 2021 is good (a revoked key is not).
    pub fn verify_detached_at_signing<R: Read>(
        &self,
        data: R,
        signature: &[u8],
    ) -> Result<String, SignError> {
        self.verify_detached_when(data, signature, When::AtSigning)
    }

    fn verify_detached_when<R: Read>(
        &self,
        data: R,
        signature: &[u8],
        when: When,
    ) -> Result<String, SignError> {
        let sigs = parse_detached(signature)?;
        let candidates = self.candidates(&sigs, when)?;
        if let [only] = candidates.as_slice() {
            let mut reader = TrackingReader {
                inner: data,
                error: None,
            };
            let res = only.part.verify(only.sig, BufReader::new(&mut reader));
            if let Some(e) = reader.error {
                return Err(SignError::Io(e));
            }
            return match res {
                Ok(()) => Ok(only.primary_fingerprint.clone()),
                Err(e) => Err(SignError::BadSignature {
                    key_id: only.part.key_id(),
                    reason: crate::archive::escape(e.to_string().as_bytes()),
                }),
            };
        }
        // Several candidates: the data can be read only once, so spool it to an anonymous
        // temporary file and try each in turn.
        let mut spool = tempfile::tempfile()?;
        let mut data = data;
        io::copy(&mut data, &mut spool)?;
        let mut first_error = None;
        for cand in &candidates {
            spool.rewind()?;
            match cand.part.verify(cand.sig, BufReader::new(&mut spool)) {
                Ok(()) => return Ok(cand.primary_fingerprint.clone()),
                Err(e) => {
                    first_error.get_or_insert_with(|| SignError::BadSignature {
                        key_id: cand.part.key_id(),
                        reason: crate::archive::escape(e.to_string().as_bytes()),
                    });
                }
            }
        }
        Err(first_error.unwrap_or(SignError::NoSignature))
    }

    /// Verify a cleartext-signed message (apt's `InRelease`). Succeeds when any one of its
    /// signatures verifies with any key or subkey of the keyring. Returns the signed content,
    /// exactly what was signed (dash-escaping undone, trailing blanks removed, `\n` line
    /// endings, a final line break), and the signer's primary fingerprint.
    pub fn verify_clearsigned(&self, text: &str) -> Result<(String, String), SignError> {
        if !text
            .trim_start()
            .starts_with("-----BEGIN PGP SIGNED MESSAGE-----")
        {
            return Err(SignError::NoSignature);
        }
        let (msg, _headers) = CleartextSignedMessage::from_string(text)
            .map_err(SignError::malformed("cleartext-signed message"))?;
        let candidates = self.candidates(msg.signatures(), When::Now)?;
        let signed = msg.signed_text();
        let mut first_error = None;
        for cand in &candidates {
            match cand.part.verify(cand.sig, signed.as_bytes()) {
                Ok(()) => {
                    let mut content = signed.replace("\r\n", "\n");
                    if !content.is_empty() && !content.ends_with('\n') {
                        content.push('\n');
                    }
                    return Ok((content, cand.primary_fingerprint.clone()));
                }
                Err(e) => {
                    first_error.get_or_insert_with(|| SignError::BadSignature {
                        key_id: cand.part.key_id(),
                        reason: crate::archive::escape(e.to_string().as_bytes()),
                    });
                }
            }
        }
        Err(first_error.unwrap_or(SignError::NoSignature))
    }
}

/// Parse the signature packets of a detached signature, armored or binary.
fn parse_detached(signature: &[u8]) -> Result<Vec<Signature>, SignError> {
    let trimmed_empty = signature.iter().all(|b| b.is_ascii_whitespace());
    if trimmed_empty {
        return Err(SignError::NoSignature);
    }
    let iter: Box<dyn Iterator<Item = pgp::errors::Result<DetachedSignature>>> =
        if is_armored(signature) {
            DetachedSignature::from_armor_many_buf(signature)
                .map_err(SignError::malformed("signature"))?
                .0
        } else {
            DetachedSignature::from_bytes_many(signature)
                .map_err(SignError::malformed("signature"))?
        };
    let mut sigs = Vec::new();
    for sig in iter {
        sigs.push(sig.map_err(SignError::malformed("signature"))?.signature);
    }
    if sigs.is_empty() {
        return Err(SignError::NoSignature);
    }
    Ok(sigs)
}

/// Whether a primary key is valid at `now`: not revoked by itself, not expired according to its
/// newest valid self-signature. A key without any valid self-signature is taken as valid (the
/// keyring is trusted as a whole).
fn primary_validity(key: &SignedPublicKey, now: u64) -> Result<(), String> {
    let primary = &key.primary_key;
    if key.details.revocation_signatures.iter().any(|sig| {
        sig.typ() == Some(SignatureType::KeyRevocation) && sig.verify_key(primary).is_ok()
    }) {
        return Err("revoked".to_string());
    }
    let direct = key
        .details
        .direct_signatures
        .iter()
        .filter(|sig| sig.verify_key(primary).is_ok());
    let certs = key.details.users.iter().flat_map(|user| {
        user.signatures.iter().filter(move |sig| {
            sig.is_certification()
                && sig
                    .verify_certification(primary, pgp::types::Tag::UserId, &user.id)
                    .is_ok()
        })
    });
    match direct
        .chain(certs)
        .max_by_key(|sig| sig.created().map(|t| t.as_secs()))
    {
        Some(newest) => expiry_check(primary.created_at(), newest, now),
        None => Ok(()),
    }
}

/// Err("expired on DATE") when the self-signature gives the key an expiration time before `now`.
fn expiry_check(created: Timestamp, sig: &Signature, now: u64) -> Result<(), String> {
    match sig.key_expiration_time() {
        Some(d) if d.as_secs() > 0 => {
            let end = u64::from(created.as_secs()) + u64::from(d.as_secs());
            if end <= now {
                Err(format!("expired on {}", iso_date(end)))
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

/// `YYYY-MM-DD` (UTC) of a Unix time.
fn iso_date(secs: u64) -> String {
    // Days to civil date, after Howard Hinnant's algorithm.
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::iso_date;

    #[test]
    fn iso_dates() {
        assert_eq!(iso_date(0), "1970-01-01");
        assert_eq!(iso_date(1_577_836_800), "2020-01-01");
        assert_eq!(iso_date(951_782_400), "2000-02-29");
        assert_eq!(iso_date(4_102_444_799), "2099-12-31");
    }
}
