//! A checked compressed `Packages` index read on up to three threads: one decompresses it, one
//! hashes the text into the kept copy (when there is one), one parses the text as it comes. On
//! a cold build the largest index (bookworm's main: 12 MB of gzip, 50 MB of text) is on the
//! critical path, and doing the three one after the other took 0.27 s where the
//! decompression alone takes 0.15 s.

use std::io::{self, BufRead, Read};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};

use super::cache::PackagesCache;
use crate::apt::index::{self, IndexError, PackageEntry};

/// The size of one piece of decompressed text handed to the parser.
const CHUNK: usize = 1 << 20;
/// How many pieces may wait for the parser.
const AHEAD: usize = 4;

/// Decompresses `compressed` (by the extension of `compression`: `Packages.gz`, `.xz`, or
/// plain) and parses it, the two side by side. With `kept`, the text is also copied into the
/// kept copy, which is put in place only if it is the `Packages` that `Release` lists.
pub(super) fn read_packages<R: Read + Send>(
    compressed: R,
    compression: &str,
    kept: Option<&PackagesCache>,
) -> Result<Vec<PackageEntry>, IndexError> {
    let (text, pieces) = mpsc::sync_channel(AHEAD);
    let (spare, spares) = mpsc::channel();
    std::thread::scope(|s| {
        let inflater = s.spawn(move || {
            send_all(index::decompress(compressed, compression), &text, &spares);
        });
        // The copy is hashed and written on a third thread, which passes the text on.
        let (pieces, spare, copier) = match kept {
            Some(kept) => {
                let (copied, copies) = mpsc::sync_channel(AHEAD);
                let (copy_spare, copy_spares) = mpsc::channel();
                let copier = s.spawn(move || {
                    let mut tee = kept.tee(Pieces::new(pieces, spare));
                    if send_all(&mut tee, &copied, &copy_spares) {
                        tee.keep();
                    }
                });
                (copies, copy_spare, Some(copier))
            }
            None => (pieces, spare, None),
        };
        let parsed = index::read_packages(Pieces::new(pieces, spare));
        for t in std::iter::once(inflater).chain(copier) {
            t.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        }
        parsed
    })
}

/// Reads `text` to its end in pieces and sends them, then an empty piece for the end; a read
/// error is sent instead. False if it stopped before the end (an error, or a parser that is
/// gone).
fn send_all(
    mut text: impl Read,
    full: &SyncSender<io::Result<Vec<u8>>>,
    spares: &Receiver<Vec<u8>>,
) -> bool {
    loop {
        let mut piece = spares.try_recv().unwrap_or_default();
        piece.clear();
        piece.reserve_exact(CHUNK);
        match (&mut text).take(CHUNK as u64).read_to_end(&mut piece) {
            Err(e) => {
                let _ = full.send(Err(e));
                return false;
            }
            Ok(0) => return full.send(Ok(piece)).is_ok(),
            Ok(_) => {
                if full.send(Ok(piece)).is_err() {
                    return false;
                }
            }
        }
    }
}

/// The parser's side: the pieces in order as one `BufRead`. An empty piece is the end; a
/// sender gone before it is an error, never a short index.
struct Pieces {
    pieces: Receiver<io::Result<Vec<u8>>>,
    spare: Sender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    ended: bool,
}

impl Pieces {
    fn new(pieces: Receiver<io::Result<Vec<u8>>>, spare: Sender<Vec<u8>>) -> Pieces {
        Pieces {
            pieces,
            spare,
            current: Vec::new(),
            pos: 0,
            ended: false,
        }
    }
}

impl Read for Pieces {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Pieces {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos == self.current.len() && !self.ended {
            if !self.current.is_empty() {
                let done = std::mem::take(&mut self.current);
                let _ = self.spare.send(done);
                self.pos = 0;
            }
            match self.pieces.recv() {
                Ok(Ok(piece)) if piece.is_empty() => self.ended = true,
                Ok(Ok(piece)) => self.current = piece,
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the decompressing thread stopped before the end of the index",
                    ))
                }
            }
        }
        Ok(&self.current[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.current.len());
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use sha2::{Digest, Sha256};

    use super::*;
    use crate::apt::index::ReleaseFile;

    /// A `Packages` text of several pieces, with long paragraphs that straddle their edges.
    fn text() -> Vec<u8> {
        (0..6000)
            .map(|i| {
                format!(
                    "Package: p{i}\nVersion: 1.{i}\nArchitecture: amd64\nDescription: x\n {}\n\n",
                    "long line ".repeat(i % 97)
                )
            })
            .collect::<String>()
            .into_bytes()
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn xz(data: &[u8]) -> Vec<u8> {
        let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn raws(entries: &[PackageEntry]) -> Vec<&str> {
        entries.iter().map(|p| p.raw()).collect()
    }

    fn kept_cache(dir: &std::path::Path, text: &[u8], sha256: String) -> PackagesCache {
        PackagesCache::new(
            dir.join("kept"),
            ReleaseFile {
                sha256,
                size: text.len() as u64,
                path: "main/binary-amd64/Packages".into(),
            },
        )
    }

    #[test]
    fn parses_what_one_thread_parses_from_gz_xz_and_plain() {
        let text = text();
        assert!(text.len() > 3 * CHUNK, "the text spans several pieces");
        let whole = index::read_packages(&text[..]).unwrap();
        assert_eq!(whole.len(), 6000);
        for (name, data) in [
            ("Packages.gz", gz(&text)),
            ("Packages.xz", xz(&text)),
            ("Packages", text.clone()),
        ] {
            let got = read_packages(&data[..], name, None).unwrap();
            assert_eq!(raws(&got), raws(&whole), "{name}");
        }
    }

    #[test]
    fn the_copy_is_kept_only_when_it_is_the_listed_text() {
        let text = text();
        let dir = tempfile::tempdir().unwrap();
        let listed = kept_cache(dir.path(), &text, hex::encode(Sha256::digest(&text)));
        let got = read_packages(&gz(&text)[..], "Packages.gz", Some(&listed)).unwrap();
        assert_eq!(got.len(), 6000);
        assert_eq!(std::fs::read(dir.path().join("kept")).unwrap(), text);

        let other = tempfile::tempdir().unwrap();
        let wrong = kept_cache(other.path(), &text, "0".repeat(64));
        let got = read_packages(&gz(&text)[..], "Packages.gz", Some(&wrong)).unwrap();
        assert_eq!(got.len(), 6000);
        let left: Vec<_> = std::fs::read_dir(other.path()).unwrap().collect();
        assert!(left.is_empty(), "no copy, no temporary file: {left:?}");
    }

    #[test]
    fn a_cut_or_damaged_stream_is_an_error_never_a_short_index() {
        let text = text();
        let whole = gz(&text);
        let cut = &whole[..whole.len() * 3 / 5];
        let mut damaged = whole.clone();
        let mid = damaged.len() / 2;
        damaged[mid..mid + 64].fill(0xff);
        for (what, data) in [("cut", cut), ("damaged", &damaged[..])] {
            for keep in [false, true] {
                let dir = tempfile::tempdir().unwrap();
                let cache = kept_cache(dir.path(), &text, hex::encode(Sha256::digest(&text)));
                let got = read_packages(data, "Packages.gz", keep.then_some(&cache));
                // Cut: the decompressor's error. Damaged: that, or garbage that does not
                // parse before the CRC is reached. Never fewer packages and success.
                let ok = match &got {
                    Err(IndexError::Io(_)) => true,
                    Err(_) => what == "damaged",
                    Ok(_) => false,
                };
                assert!(ok, "{what}, kept copy {keep}: {:?}", got.map(|p| p.len()));
                assert!(!dir.path().join("kept").exists(), "{what}: no copy kept");
            }
        }
    }

    #[test]
    fn a_parse_error_stops_the_decompression() {
        // The first paragraph has no Package: the parser stops at once, and the threads
        // behind it stop too instead of waiting for a reader that is gone.
        let mut text = b"Version: 1\n\n".to_vec();
        for _ in 0..8 {
            text.extend(self::text());
        }
        let dir = tempfile::tempdir().unwrap();
        let cache = kept_cache(dir.path(), &text, hex::encode(Sha256::digest(&text)));
        let got = read_packages(&gz(&text)[..], "Packages.gz", Some(&cache));
        assert!(matches!(
            got,
            Err(IndexError::MissingField {
                field: "Package",
                ..
            })
        ));
        assert!(!dir.path().join("kept").exists());
    }

    #[test]
    fn a_sender_gone_before_the_end_is_an_error() {
        let (full, pieces) = mpsc::sync_channel(AHEAD);
        let (spare, _spares) = mpsc::channel();
        full.send(Ok(b"Package: a\nVersion: 1\n\n".to_vec()))
            .unwrap();
        drop(full);
        let err = index::read_packages(Pieces::new(pieces, spare)).unwrap_err();
        let IndexError::Io(e) = err else {
            panic!("{err:?}")
        };
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);

        // With the end sent, the same piece is a whole index.
        let (full, pieces) = mpsc::sync_channel(AHEAD);
        let (spare, _spares) = mpsc::channel();
        full.send(Ok(b"Package: a\nVersion: 1\n\n".to_vec()))
            .unwrap();
        full.send(Ok(Vec::new())).unwrap();
        let got = index::read_packages(Pieces::new(pieces, spare)).unwrap();
        assert_eq!(got.len(), 1);
    }
}
