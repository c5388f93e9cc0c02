//! Reads the metadata part of an `.rpm` file: the 96-byte lead, the signature header and the
//! main header, never the payload behind them, with every offset and count checked against
//! the bytes actually read (the files come from the network).
//!
//! A header is an index of 16-byte entries (tag, type, offset, count, big-endian) followed by
//! a data store the offsets point into. Strings are kept as raw bytes: createrepo_c decides
//! what to do with text that is not UTF-8, so this module does not.

use std::io::{self, Read};

/// Tag numbers of the main header (rpmtag.h), and of the signature header where noted.
pub(crate) mod tag {
    pub const NAME: u32 = 1000;
    pub const VERSION: u32 = 1001;
    pub const RELEASE: u32 = 1002;
    pub const EPOCH: u32 = 1003;
    pub const SUMMARY: u32 = 1004;
    pub const DESCRIPTION: u32 = 1005;
    pub const BUILDTIME: u32 = 1006;
    pub const BUILDHOST: u32 = 1007;
    pub const SIZE: u32 = 1009;
    pub const VENDOR: u32 = 1011;
    pub const LICENSE: u32 = 1014;
    pub const PACKAGER: u32 = 1015;
    pub const GROUP: u32 = 1016;
    pub const URL: u32 = 1020;
    pub const ARCH: u32 = 1022;
    pub const OLDFILENAMES: u32 = 1027;
    pub const FILEMODES: u32 = 1030;
    pub const FILEFLAGS: u32 = 1037;
    pub const SOURCERPM: u32 = 1044;
    pub const ARCHIVESIZE: u32 = 1046;
    pub const PROVIDENAME: u32 = 1047;
    pub const REQUIREFLAGS: u32 = 1048;
    pub const REQUIRENAME: u32 = 1049;
    pub const REQUIREVERSION: u32 = 1050;
    pub const CONFLICTFLAGS: u32 = 1053;
    pub const CONFLICTNAME: u32 = 1054;
    pub const CONFLICTVERSION: u32 = 1055;
    pub const CHANGELOGTIME: u32 = 1080;
    pub const CHANGELOGNAME: u32 = 1081;
    pub const CHANGELOGTEXT: u32 = 1082;
    pub const OBSOLETENAME: u32 = 1090;
    pub const SOURCEPACKAGE: u32 = 1106;
    pub const PROVIDEFLAGS: u32 = 1112;
    pub const PROVIDEVERSION: u32 = 1113;
    pub const OBSOLETEFLAGS: u32 = 1114;
    pub const OBSOLETEVERSION: u32 = 1115;
    pub const DIRINDEXES: u32 = 1116;
    pub const BASENAMES: u32 = 1117;
    pub const DIRNAMES: u32 = 1118;
    pub const OLDSUGGESTSNAME: u32 = 1156;
    pub const OLDSUGGESTSVERSION: u32 = 1157;
    pub const OLDSUGGESTSFLAGS: u32 = 1158;
    pub const OLDENHANCESNAME: u32 = 1159;
    pub const OLDENHANCESVERSION: u32 = 1160;
    pub const OLDENHANCESFLAGS: u32 = 1161;
    pub const LONGSIZE: u32 = 5009;
    pub const RECOMMENDNAME: u32 = 5046;
    pub const RECOMMENDVERSION: u32 = 5047;
    pub const RECOMMENDFLAGS: u32 = 5048;
    pub const SUGGESTNAME: u32 = 5049;
    pub const SUGGESTVERSION: u32 = 5050;
    pub const SUGGESTFLAGS: u32 = 5051;
    pub const SUPPLEMENTNAME: u32 = 5052;
    pub const SUPPLEMENTVERSION: u32 = 5053;
    pub const SUPPLEMENTFLAGS: u32 = 5054;
    pub const ENHANCENAME: u32 = 5055;
    pub const ENHANCEVERSION: u32 = 5056;
    pub const ENHANCEFLAGS: u32 = 5057;
    /// In either header: the uncompressed payload size, 64-bit.
    pub const LONGARCHIVESIZE: u32 = 271;
    /// Signature header: the uncompressed payload size, 32-bit (`RPMSIGTAG_PAYLOADSIZE`).
    pub const SIG_PAYLOADSIZE: u32 = 1007;
    /// Signature header: an OpenPGP signature over the main header (`RPMSIGTAG_DSA`).
    pub const SIG_DSA: u32 = 267;
    /// Signature header: an OpenPGP signature over the main header (`RPMSIGTAG_RSA`; rpm 4.18's
    /// `rpmsign` puts EdDSA signatures here too).
    pub const SIG_RSA: u32 = 268;
    /// Signature header: an OpenPGP signature over the main header and the payload
    /// (`RPMSIGTAG_PGP`, RSA; rpm 4.0 and older signed only this way).
    pub const SIG_PGP: u32 = 1002;
    /// Signature header: as [`SIG_PGP`], DSA (`RPMSIGTAG_GPG`).
    pub const SIG_GPG: u32 = 1005;
}

const LEAD_SIZE: usize = 96;
const LEAD_MAGIC: [u8; 4] = [0xed, 0xab, 0xee, 0xdb];
const HEADER_MAGIC: [u8; 4] = [0x8e, 0xad, 0xe8, 0x01];
/// Limits librpm applies too (`hdrchkTags`, `hdrchkData`): beyond them a header is corrupt.
const MAX_ENTRIES: u32 = 0x00ff_ffff;
const MAX_DATA: u32 = 0x3fff_ffff;

const TYPE_CHAR: u32 = 1;
const TYPE_INT8: u32 = 2;
const TYPE_INT16: u32 = 3;
const TYPE_INT32: u32 = 4;
const TYPE_INT64: u32 = 5;
const TYPE_STRING: u32 = 6;
const TYPE_BIN: u32 = 7;
const TYPE_STRING_ARRAY: u32 = 8;
const TYPE_I18NSTRING: u32 = 9;

/// Why an rpm's headers could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("not an rpm file (no rpm lead at its start)")]
    NotRpm,
    #[error("truncated: the file ends inside its {0}")]
    Truncated(&'static str),
    #[error("corrupt {0}")]
    Corrupt(String),
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    tag: u32,
    kind: u32,
    offset: u32,
    count: u32,
}

/// One header: its index entries and data store.
#[derive(Debug, Default)]
pub(crate) struct Header {
    entries: Vec<Entry>,
    data: Vec<u8>,
}

/// The two headers of an rpm and where the main one lies in the file.
#[derive(Debug)]
pub(crate) struct RpmHeaders {
    pub signature: Header,
    pub main: Header,
    /// Byte offset of the main header (createrepo_c's `header-range start`).
    pub start: u64,
    /// Byte offset just past the main header (`header-range end`).
    pub end: u64,
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Reads exactly `len` more bytes, telling a short file apart from other I/O errors. The
/// buffer grows with the bytes read, never to what a header claims before they are there
/// (a few hundred bytes claiming a GiB: found by the fuzz target `rpm_header`).
fn read_more<R: Read>(
    file: &mut R,
    out: &mut Vec<u8>,
    len: usize,
    what: &'static str,
) -> Result<(), HeaderError> {
    let start = out.len();
    Read::take(&mut *file, len as u64).read_to_end(out)?;
    if out.len() - start < len {
        return Err(HeaderError::Truncated(what));
    }
    Ok(())
}

/// Checks a header's 16-byte intro and returns (entry count, data size).
fn intro(bytes: &[u8], what: &'static str) -> Result<(u32, u32), HeaderError> {
    if bytes[..4] != HEADER_MAGIC {
        return Err(HeaderError::Corrupt(format!("{what} (bad magic)")));
    }
    let (count, size) = (be32(&bytes[8..12]), be32(&bytes[12..16]));
    if count == 0 || count > MAX_ENTRIES || size > MAX_DATA {
        return Err(HeaderError::Corrupt(format!(
            "{what} ({count} entries, {size} bytes of data)"
        )));
    }
    Ok((count, size))
}

impl Header {
    fn parse(index: &[u8], data: Vec<u8>) -> Header {
        let entries = index
            .chunks_exact(16)
            .map(|e| Entry {
                tag: be32(&e[0..4]),
                kind: be32(&e[4..8]),
                offset: be32(&e[8..12]),
                count: be32(&e[12..16]),
            })
            .collect();
        Header { entries, data }
    }

    fn entry(&self, tag: u32) -> Option<Entry> {
        self.entries.iter().find(|e| e.tag == tag).copied()
    }

    pub fn has(&self, tag: u32) -> bool {
        self.entry(tag).is_some()
    }

    /// A binary tag's bytes; `None` if absent.
    pub fn binary(&self, tag: u32) -> Result<Option<&[u8]>, HeaderError> {
        let Some(e) = self.entry(tag) else {
            return Ok(None);
        };
        let (start, len) = (e.offset as usize, e.count as usize);
        match start.checked_add(len) {
            Some(end) if e.kind == TYPE_BIN && end <= self.data.len() => {
                Ok(Some(&self.data[start..end]))
            }
            _ => Err(Self::corrupt(tag, "bad binary entry")),
        }
    }

    fn corrupt(tag: u32, what: &str) -> HeaderError {
        HeaderError::Corrupt(format!("header (tag {tag}: {what})"))
    }

    /// The `count` NUL-terminated strings from `offset`.
    fn strings_at(&self, e: Entry) -> Result<StrIter<'_>, HeaderError> {
        let start = e.offset as usize;
        if start > self.data.len() {
            return Err(Self::corrupt(e.tag, "offset past the data"));
        }
        Ok(StrIter {
            rest: &self.data[start..],
            left: e.count,
            tag: e.tag,
        })
    }

    /// A string tag (or the first string of an array / i18n string), as librpm's
    /// `headerGetString` gives it; `None` if absent.
    pub fn string(&self, tag: u32) -> Result<Option<&[u8]>, HeaderError> {
        let Some(e) = self.entry(tag) else {
            return Ok(None);
        };
        match e.kind {
            TYPE_STRING | TYPE_STRING_ARRAY | TYPE_I18NSTRING if e.count > 0 => {
                self.strings_at(e)?.next().transpose()
            }
            _ => Err(Self::corrupt(tag, "not a string")),
        }
    }

    /// A string array tag; `None` if absent.
    pub fn strings(&self, tag: u32) -> Result<Option<Vec<&[u8]>>, HeaderError> {
        let Some(e) = self.entry(tag) else {
            return Ok(None);
        };
        match e.kind {
            TYPE_STRING_ARRAY | TYPE_I18NSTRING => {}
            TYPE_STRING if e.count == 1 => {}
            _ => return Err(Self::corrupt(tag, "not a string array")),
        }
        self.strings_at(e)?.collect::<Result<Vec<_>, _>>().map(Some)
    }

    /// An integer array tag (any width), widened to u64; `None` if absent.
    pub fn numbers(&self, tag: u32) -> Result<Option<Vec<u64>>, HeaderError> {
        let Some(e) = self.entry(tag) else {
            return Ok(None);
        };
        let width = match e.kind {
            TYPE_CHAR | TYPE_INT8 => 1,
            TYPE_INT16 => 2,
            TYPE_INT32 => 4,
            TYPE_INT64 => 8,
            _ => return Err(Self::corrupt(tag, "not a number")),
        };
        let start = e.offset as usize;
        let end = (e.count as usize)
            .checked_mul(width)
            .and_then(|n| n.checked_add(start))
            .filter(|&end| end <= self.data.len())
            .ok_or_else(|| Self::corrupt(tag, "numbers past the data"))?;
        Ok(Some(
            self.data[start..end]
                .chunks_exact(width)
                .map(|c| c.iter().fold(0u64, |n, &b| (n << 8) | u64::from(b)))
                .collect(),
        ))
    }

    /// The first value of an integer tag, as librpm's `headerGetNumber` (`None` if absent).
    pub fn number(&self, tag: u32) -> Result<Option<u64>, HeaderError> {
        Ok(self.numbers(tag)?.and_then(|v| v.first().copied()))
    }
}

/// The strings of one entry, each checked to end inside the data store.
pub(crate) struct StrIter<'a> {
    rest: &'a [u8],
    left: u32,
    tag: u32,
}

impl<'a> Iterator for StrIter<'a> {
    type Item = Result<&'a [u8], HeaderError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        match self.rest.iter().position(|&b| b == 0) {
            Some(nul) => {
                let s = &self.rest[..nul];
                self.rest = &self.rest[nul + 1..];
                Some(Ok(s))
            }
            None => {
                self.left = 0;
                Some(Err(Header::corrupt(self.tag, "unterminated string")))
            }
        }
    }
}

/// The signature header parsed, and the main header as its bytes (intro, index, data).
struct RawHeaders {
    signature: Header,
    main: Vec<u8>,
    /// Byte offset of the main header in the file.
    start: u64,
}

/// Reads the lead, the signature header and the main header of the rpm open as `file`, from
/// its start; the payload is not touched.
fn read_raw<R: Read>(file: &mut R) -> Result<RawHeaders, HeaderError> {
    let mut start = [0u8; LEAD_SIZE + 16];
    let mut got = 0;
    while got < start.len() {
        match file.read(&mut start[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    if got < 4 || start[..4] != LEAD_MAGIC {
        return Err(HeaderError::NotRpm);
    }
    if got < start.len() {
        return Err(HeaderError::Truncated("lead and signature header"));
    }
    let (sig_count, sig_size) = intro(&start[LEAD_SIZE..], "signature header")?;
    let sig_len = sig_count as usize * 16 + sig_size as usize;
    // The main header starts at the next multiple of 8 after the signature header.
    let pad = (8 - sig_len % 8) % 8;
    let mut sig = Vec::new();
    read_more(file, &mut sig, sig_len + pad + 16, "signature header")?;
    let mut main = sig.split_off(sig_len + pad);
    let mut sig_data = sig.split_off(sig_count as usize * 16);
    sig_data.truncate(sig_size as usize);
    let signature = Header::parse(&sig, sig_data);

    let (count, size) = intro(&main, "header")?;
    read_more(
        file,
        &mut main,
        count as usize * 16 + size as usize,
        "header",
    )?;
    Ok(RawHeaders {
        signature,
        main,
        start: (LEAD_SIZE + 16 + sig_len + pad) as u64,
    })
}

/// Reads the lead, signature header and main header of the rpm open as `file`, from its
/// start; the payload is not touched.
pub(crate) fn read_headers<R: Read>(file: &mut R) -> Result<RpmHeaders, HeaderError> {
    let RawHeaders {
        signature,
        mut main,
        start,
    } = read_raw(file)?;
    let end = start + main.len() as u64;
    let count = be32(&main[8..12]) as usize;
    let data = main.split_off(16 + count * 16);
    let main = Header::parse(&main[16..], data);
    Ok(RpmHeaders {
        signature,
        main,
        start,
        end,
    })
}

/// An rpm's own signature and what it covers, for checking it as dnf's `gpgcheck` does.
#[derive(Debug, Clone)]
pub struct SignedHeader {
    /// The OpenPGP signature over the main header (`RSAHEADER`, else `DSAHEADER`), binary;
    /// `None` for a package without one.
    pub signature: Option<Vec<u8>>,
    /// The OpenPGP signature over the main header and the payload (`PGP`, else `GPG`), as
    /// rpm 4.0 and older wrote it; rpm checks it when there is no header signature.
    pub payload_signature: Option<Vec<u8>>,
    /// The main header's bytes. It holds every payload file's digest, so a good signature
    /// over it (plus the file's sha256 from signed metadata) covers the package.
    pub header: Vec<u8>,
    /// Where the payload starts in the file (right after the main header).
    pub payload_start: u64,
}

/// Reads the signatures and main header of the rpm open as `file` (the payload is not read).
pub fn read_signed_header<R: Read>(file: &mut R) -> Result<SignedHeader, HeaderError> {
    let raw = read_raw(file)?;
    let first = |tags: [u32; 2]| -> Result<Option<Vec<u8>>, HeaderError> {
        for t in tags {
            if let Some(bytes) = raw.signature.binary(t)? {
                return Ok(Some(bytes.to_vec()));
            }
        }
        Ok(None)
    };
    let signature = first([tag::SIG_RSA, tag::SIG_DSA])?;
    let payload_signature = first([tag::SIG_PGP, tag::SIG_GPG])?;
    let payload_start = raw.start + raw.main.len() as u64;
    Ok(SignedHeader {
        signature,
        payload_signature,
        header: raw.main,
        payload_start,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header with the given entries, laid out as rpm does.
    fn header_bytes(entries: &[(u32, u32, u32, &[u8])]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut data = Vec::new();
        for (tag, kind, count, bytes) in entries {
            index.extend_from_slice(&tag.to_be_bytes());
            index.extend_from_slice(&kind.to_be_bytes());
            index.extend_from_slice(&(data.len() as u32).to_be_bytes());
            index.extend_from_slice(&count.to_be_bytes());
            data.extend_from_slice(bytes);
        }
        let mut out = HEADER_MAGIC.to_vec();
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend(index);
        out.extend(data);
        out
    }

    fn rpm_bytes(main: &[(u32, u32, u32, &[u8])]) -> Vec<u8> {
        let mut out = LEAD_MAGIC.to_vec();
        out.resize(LEAD_SIZE, 0);
        let sig = header_bytes(&[(tag::SIG_PAYLOADSIZE, TYPE_INT32, 1, &[0, 0, 1, 0])]);
        let sig_len = sig.len();
        out.extend(sig);
        out.resize(out.len() + (8 - sig_len % 8) % 8, 0);
        out.extend(header_bytes(main));
        out.extend_from_slice(b"payload");
        out
    }

    fn read(bytes: &[u8]) -> Result<RpmHeaders, HeaderError> {
        let mut f = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut f, bytes).unwrap();
        std::io::Seek::rewind(&mut f).unwrap();
        read_headers(&mut f)
    }

    #[test]
    fn reads_tags_and_range() {
        let bytes = rpm_bytes(&[
            (tag::NAME, TYPE_STRING, 1, b"pg\0"),
            (tag::BASENAMES, TYPE_STRING_ARRAY, 2, b"a\0b c\0"),
            (tag::FILEMODES, TYPE_INT16, 2, &[0x41, 0xed, 0x81, 0xa4]),
            (tag::SUMMARY, TYPE_I18NSTRING, 1, b"sum\0"),
        ]);
        let h = read(&bytes).unwrap();
        assert_eq!(h.end as usize, bytes.len() - "payload".len());
        // 16-byte intro, one 16-byte entry, 4 bytes of data, padded to 8.
        assert_eq!(h.start, 96 + 40);
        assert_eq!(h.signature.number(tag::SIG_PAYLOADSIZE).unwrap(), Some(256));
        assert_eq!(h.main.string(tag::NAME).unwrap(), Some(&b"pg"[..]));
        assert_eq!(h.main.string(tag::SUMMARY).unwrap(), Some(&b"sum"[..]));
        assert_eq!(
            h.main.strings(tag::BASENAMES).unwrap(),
            Some(vec![&b"a"[..], &b"b c"[..]])
        );
        assert_eq!(
            h.main.numbers(tag::FILEMODES).unwrap(),
            Some(vec![0o40755, 0o100644])
        );
        assert_eq!(h.main.string(tag::URL).unwrap(), None);
        assert!(h.main.number(tag::NAME).is_err());
    }

    #[test]
    fn rejects_broken_files() {
        assert!(matches!(read(b"hello world"), Err(HeaderError::NotRpm)));
        assert!(matches!(read(b""), Err(HeaderError::NotRpm)));
        let bytes = rpm_bytes(&[(tag::NAME, TYPE_STRING, 1, b"pg\0")]);
        for cut in [100, 140, bytes.len() - "payload".len() - 1] {
            assert!(
                matches!(read(&bytes[..cut]), Err(HeaderError::Truncated(_))),
                "cut at {cut}"
            );
        }
        // An unterminated string, numbers past the data.
        let bad = rpm_bytes(&[
            (tag::EPOCH, TYPE_INT32, 9, &[0, 0, 0, 1]),
            (tag::NAME, TYPE_STRING, 1, b"pg"),
        ]);
        let h = read(&bad).unwrap();
        assert!(matches!(
            h.main.string(tag::NAME),
            Err(HeaderError::Corrupt(_))
        ));
        assert!(matches!(
            h.main.number(tag::EPOCH),
            Err(HeaderError::Corrupt(_))
        ));
    }

    /// Found by the fuzz target `rpm_header`: an rpm with no NAME (or VERSION, RELEASE,
    /// ARCH), or one that is blank or all bytes the XML conversion drops, gave
    /// `<name></name>` (`<arch></arch>`) in primary.xml, which no reader takes; refused.
    #[test]
    fn a_header_without_its_nevra_is_no_package() {
        use super::super::package::Package;
        let full: [(u32, u32, u32, &[u8]); 4] = [
            (tag::NAME, TYPE_STRING, 1, b"pg\0"),
            (tag::VERSION, TYPE_STRING, 1, b"1\0"),
            (tag::RELEASE, TYPE_STRING, 1, b"1\0"),
            (tag::ARCH, TYPE_STRING, 1, b"x86_64\0"),
        ];
        let h = read(&rpm_bytes(&full)).unwrap();
        assert_eq!(
            Package::from_headers(&h, Default::default()).unwrap().name,
            b"pg"
        );
        for (i, field) in ["NAME", "VERSION", "RELEASE", "ARCH"].iter().enumerate() {
            let mut without = full.to_vec();
            without.remove(i);
            let h = read(&rpm_bytes(&without)).unwrap();
            let err = Package::from_headers(&h, Default::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains(&format!("no {field}")), "{err}");
            // Nothing once written as XML: blanks, or bytes the Latin-1 conversion drops.
            for empty in [&b" \0"[..], &b"\x80\x9f\0"[..]] {
                let mut blank = full.to_vec();
                blank[i].3 = empty;
                let h = read(&rpm_bytes(&blank)).unwrap();
                let err = Package::from_headers(&h, Default::default())
                    .unwrap_err()
                    .to_string();
                assert!(err.contains(&format!("no {field}")), "{err}");
            }
        }
    }

    /// Found by the fuzz target `rpm_header`: a dependency with an empty name was written as
    /// `<rpm:entry name=""/>`, which no reader takes; such an rpm is refused.
    #[test]
    fn a_dependency_on_nothing_is_refused() {
        use super::super::package::Package;
        let with = |names: &'static [u8]| {
            rpm_bytes(&[
                (tag::NAME, TYPE_STRING, 1, b"pg\0"),
                (tag::VERSION, TYPE_STRING, 1, b"1\0"),
                (tag::RELEASE, TYPE_STRING, 1, b"1\0"),
                (tag::ARCH, TYPE_STRING, 1, b"x86_64\0"),
                (tag::REQUIRENAME, TYPE_STRING_ARRAY, 2, names),
                (tag::REQUIREFLAGS, TYPE_INT32, 2, &[0, 0, 0, 0, 0, 0, 0, 0]),
                (tag::REQUIREVERSION, TYPE_STRING_ARRAY, 2, b"\0\0"),
            ])
        };
        let h = read(&with(b"libc.so.6\0bash\0")).unwrap();
        assert_eq!(
            Package::from_headers(&h, Default::default())
                .unwrap()
                .requires
                .len(),
            2
        );
        let h = read(&with(b"libc.so.6\0\0")).unwrap();
        let err = Package::from_headers(&h, Default::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("a dependency with no name among its requires"),
            "{err}"
        );
    }

    /// Found by the fuzz target `rpm_header`: a few hundred bytes whose headers claim 16M
    /// entries and 1 GiB of data made the reader allocate all of it before reading (891 MB
    /// in the finding). Memory follows the bytes read: run here under a 512 MiB address-space
    /// limit, in a child process of this test binary.
    #[test]
    fn a_header_claiming_more_than_it_holds_allocates_no_more_than_it_reads() {
        const CHILD: &str = "PIGSTY_TEST_HEADER_RLIMIT";
        let claim = |count: u32, size: u32| {
            let mut b = HEADER_MAGIC.to_vec();
            b.extend_from_slice(&[0; 4]);
            b.extend_from_slice(&count.to_be_bytes());
            b.extend_from_slice(&size.to_be_bytes());
            b
        };
        if std::env::var_os(CHILD).is_some() {
            use rustix::process::{setrlimit, Resource, Rlimit};
            let limit = Some(512 << 20);
            setrlimit(
                Resource::As,
                Rlimit {
                    current: limit,
                    maximum: limit,
                },
            )
            .unwrap();
            // The signature header, then the main header, each claiming the most allowed.
            for main in [false, true] {
                let mut bytes = LEAD_MAGIC.to_vec();
                bytes.resize(LEAD_SIZE, 0);
                if main {
                    bytes.extend(header_bytes(&[(
                        tag::SIG_PAYLOADSIZE,
                        TYPE_INT32,
                        1,
                        &[0, 0, 1, 0],
                    )]));
                    bytes.resize(bytes.len() + (8 - bytes.len() % 8) % 8, 0);
                }
                bytes.extend(claim(MAX_ENTRIES, MAX_DATA));
                bytes.extend_from_slice(&[7; 300]);
                assert!(
                    matches!(read(&bytes), Err(HeaderError::Truncated(_))),
                    "main {main}"
                );
            }
            return;
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "dnf::repo::header::tests::a_header_claiming_more_than_it_holds_allocates_no_more_than_it_reads",
                "--nocapture",
            ])
            .env(CHILD, "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
