//! Entry points of the cargo-fuzz targets in `fuzz/` (and of the replay of their corpora on
//! stable Rust, `bundle/tests/fuzz_corpus.rs`): each parser of bytes a bundle, a mirror or an
//! upstream sends (the manifest, the tar walk and its verifier, OpenPGP keys, detached and
//! clear-signed signatures) run over any input, with what must hold checked by assertions: a
//! panic is a finding. Not an API: hidden, and nothing else uses it.

use std::io::Read;
use std::path::Path;
use std::sync::OnceLock;

use crate::archive::read::{decompress, signed_manifest_of, walk_stream};
use crate::archive::{Discard, SignedManifest, Verifier};
use crate::manifest::Manifest;
use crate::sign::{PublicKeyring, SecretKey};

/// `MANIFEST.json`: what parses writes back to bytes that parse to the same manifest, and
/// holds no control character in any string (they reach the terminal).
pub fn manifest(data: &[u8]) {
    let Ok(m) = Manifest::from_json(data) else {
        return;
    };
    let text = m.to_json().expect("a manifest that parsed writes");
    let back = Manifest::from_json(text.as_bytes()).expect("what was written parses");
    assert_eq!(back.to_json().expect("writes again"), text);
    for f in &m.files {
        assert!(!f.path.chars().any(char::is_control), "{:?}", f.path);
    }
    assert!(!m.version.chars().any(char::is_control));
    let _ = SignedManifest::parse(data.to_vec(), None);
}

/// The manifest every walk below is judged against: two files, one in a folder.
fn head() -> &'static SignedManifest {
    static HEAD: OnceLock<SignedManifest> = OnceLock::new();
    HEAD.get_or_init(|| {
        let raw = br#"{"schema":1,"target":{"os":"d12","arch":"x86_64","pg":15},"version":"1","builder":"fuzz","catalog":"fuzz","created":0,"files":[{"path":"a","size":1,"sha256":"ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"},{"path":"pool/b","size":0,"sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}],"packages":[],"repo_format":"apt"}"#;
        SignedManifest::parse(raw.to_vec(), Some(b"sig".to_vec())).expect("the fuzz manifest")
    })
}

/// A bundle's bytes: the signed manifest at its head, then every entry walked through the
/// one verifier. Plain tar (most of the corpus) or gzip / zstd, told by the magic bytes.
pub fn bundle(data: &[u8]) {
    let name = Path::new("fuzz.tgz");
    let compressed = data.starts_with(&[0x1f, 0x8b]) || data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]);
    let stream = || -> Box<dyn Read + '_> {
        if compressed {
            match decompress(data, name) {
                // A bomb is cut: the walk reads at most this much.
                Ok(s) => Box::new(s.take(64 << 20)),
                Err(_) => Box::new(std::io::empty()),
            }
        } else {
            Box::new(data)
        }
    };
    let _ = signed_manifest_of(stream(), name);
    let mut v = Verifier::new(head(), "fuzz");
    if walk_stream(stream(), name, &mut v, &mut Discard).is_ok() {
        v.finish();
        if let Err(e) = v.into_result() {
            let text = e.to_string();
            assert!(
                !text.chars().any(|c| c.is_control() && c != '\n'),
                "a control character reaches the message: {text:?}"
            );
            assert!(e.problems().len() <= crate::archive::MAX_PROBLEMS + 1);
        }
    }
}

/// The key the signature targets verify with.
fn ring() -> &'static PublicKeyring {
    static RING: OnceLock<PublicKeyring> = OnceLock::new();
    RING.get_or_init(|| {
        SecretKey::generate("Fuzz <fuzz@example.invalid>")
            .expect("a key")
            .public()
    })
}

/// A public keyring (`pigsty.pub` shipped in a bundle, an upstream's key): parsed, its
/// fingerprints listed and each alone taken out.
pub fn keyring(data: &[u8]) {
    if let Ok(ring) = PublicKeyring::from_bytes(data) {
        for f in ring.fingerprints() {
            assert!(ring.only(&f).is_some(), "{f} listed but not found");
        }
        let _ = ring.verify_detached(&b"data"[..], b"sig");
    }
}

/// A detached signature (`MANIFEST.json.asc`, `Release.gpg`, `repomd.xml.asc`) and a
/// clear-signed message (`InRelease`), checked with a key that signed none of them: never
/// accepted.
pub fn signature(data: &[u8]) {
    assert!(ring().verify_detached(&b"data"[..], data).is_err());
    let text = String::from_utf8_lossy(data);
    assert!(ring().verify_clearsigned(&text).is_err());
}
