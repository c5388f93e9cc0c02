//! A gzip writer whose deflate level can change between tar entries, so that packages are
//! stored (deflate level 0: compressing them again is wasted work) and metadata compressed.

use std::io::{self, Write};

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// gzip level for `.tgz` entries that are not compressed already (metadata, scripts).
pub const GZIP_LEVEL: u32 = 3;
const OUT_BUF: usize = 1 << 20;

/// Compressors whose level can change between entries.
pub(super) trait Levels {
    /// Whether [`Levels::set_stored`] does anything.
    fn wants_levels(&self) -> bool {
        false
    }

    /// Stores (true) or compresses (false) what comes next.
    fn set_stored(&mut self, _stored: bool) -> io::Result<()> {
        Ok(())
    }
}

impl<W: Write> Levels for zstd::stream::Encoder<'_, W> {}

/// A gzip writer (one member, no name, mtime 0, OS unknown: deterministic) whose deflate
/// level can change between entries, so that packages are stored and metadata compressed.
pub(super) struct GzWriter<W: Write> {
    inner: W,
    deflate: Compress,
    crc: Crc,
    out: Vec<u8>,
    level: u32,
}

impl<W: Write> GzWriter<W> {
    pub(super) fn new(mut inner: W, level: u32) -> io::Result<GzWriter<W>> {
        // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=255 (unknown).
        inner.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff])?;
        Ok(GzWriter {
            inner,
            deflate: Compress::new(Compression::new(level), false),
            crc: Crc::new(),
            out: Vec::with_capacity(OUT_BUF),
            level,
        })
    }

    /// Runs deflate over `input` with `flush`, writing out what it makes; returns how much
    /// of `input` it took.
    fn run(&mut self, input: &[u8], flush: FlushCompress) -> io::Result<(usize, Status)> {
        self.out.clear();
        let before = self.deflate.total_in();
        let status = self
            .deflate
            .compress_vec(input, &mut self.out, flush)
            .map_err(io::Error::other)?;
        self.inner.write_all(&self.out)?;
        Ok(((self.deflate.total_in() - before) as usize, status))
    }

    /// Ends the deflate stream, writes the trailer (CRC-32, length) and hands back the writer.
    pub(super) fn finish(mut self) -> io::Result<W> {
        loop {
            let (_, status) = self.run(&[], FlushCompress::Finish)?;
            if status == Status::StreamEnd {
                break;
            }
        }
        self.inner.write_all(&self.crc.sum().to_le_bytes())?;
        self.inner.write_all(&self.crc.amount().to_le_bytes())?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for GzWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while !rest.is_empty() {
            let (taken, _) = self.run(rest, FlushCompress::None)?;
            rest = &rest[taken..];
        }
        self.crc.update(buf);
        Ok(buf.len())
    }

    /// Passes buffered output on; the deflate stream itself is not flushed.
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Write> Levels for GzWriter<W> {
    fn wants_levels(&self) -> bool {
        true
    }

    fn set_stored(&mut self, stored: bool) -> io::Result<()> {
        let level = if stored { 0 } else { GZIP_LEVEL };
        if level == self.level {
            return Ok(());
        }
        // End the current block with a sync flush (byte-aligned, not final), then go on with a
        // fresh compressor: its blocks continue the same raw deflate stream. (Changing the
        // level in place, deflateParams, fails with zlib-rs through flate2.)
        loop {
            self.run(&[], FlushCompress::Sync)?;
            if self.out.len() < self.out.capacity() {
                break;
            }
        }
        self.deflate = Compress::new(Compression::new(level), false);
        self.level = level;
        Ok(())
    }
}
