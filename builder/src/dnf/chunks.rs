//! Parsing `primary.xml` / `filelists.xml` on several threads: the decompressed document is
//! cut after a `</package>` into chunks of a few MB, each chunk (a run of whole `<package>`
//! elements) parsed on a worker, the results put back in document order.
//!
//! The calling thread reads and decompresses; at most two chunks per worker wait in the
//! queue, so memory stays bounded whatever the size of the document. A document cut short
//! inside a package leaves that package unterminated in the last chunk, which its parser
//! reports.

use std::io::{BufRead, Read};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use super::primary::PrimaryError;

/// About how much XML one chunk holds.
const CHUNK: usize = 4 << 20;

const END: &[u8] = b"</package>";

/// The number of parsing threads to use: the CPUs, at most 4.
pub fn threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(4)
}

/// Splits `reader`'s document into chunks and parses each with `parse` on `threads` workers
/// (inline when 1); the items of all chunks, in document order, or the first chunk's error.
pub fn parse_chunks<T: Send>(
    mut reader: impl BufRead,
    threads: usize,
    parse: impl Fn(&[u8]) -> Result<Vec<T>, PrimaryError> + Sync,
) -> Result<Vec<T>, PrimaryError> {
    if threads <= 1 {
        let mut out = Vec::new();
        let mut carry = Vec::new();
        while let Some(chunk) = next_chunk(&mut reader, &mut carry)? {
            out.extend(parse(&chunk)?);
        }
        return Ok(out);
    }
    std::thread::scope(|scope| {
        let (jobs, queue) = mpsc::sync_channel::<(usize, Vec<u8>)>(threads * 2);
        let queue = Arc::new(Mutex::new(queue));
        let (results, done) = mpsc::channel::<(usize, Result<Vec<T>, PrimaryError>)>();
        for _ in 0..threads {
            let queue = Arc::clone(&queue);
            let results = results.clone();
            let parse = &parse;
            scope.spawn(move || loop {
                let job = match queue.lock() {
                    Ok(q) => q.recv(),
                    Err(_) => return,
                };
                let Ok((i, chunk)) = job else { return };
                if results.send((i, parse(&chunk))).is_err() {
                    return;
                }
            });
        }
        drop(results);
        let mut carry = Vec::new();
        let mut sent = 0;
        let read = loop {
            match next_chunk(&mut reader, &mut carry) {
                Ok(Some(chunk)) => {
                    if jobs.send((sent, chunk)).is_err() {
                        break Ok(());
                    }
                    sent += 1;
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        drop(jobs);
        let mut parts: Vec<Option<Vec<T>>> = (0..sent).map(|_| None).collect();
        let mut first_error: Option<(usize, PrimaryError)> = None;
        for (i, r) in done {
            match r {
                Ok(items) => parts[i] = Some(items),
                Err(e) => {
                    if first_error.as_ref().is_none_or(|(j, _)| i < *j) {
                        first_error = Some((i, e));
                    }
                }
            }
        }
        read?;
        if let Some((_, e)) = first_error {
            return Err(e);
        }
        Ok(parts.into_iter().flatten().flatten().collect())
    })
}

/// The next chunk: `carry` (the rest of the previous read) and about [`CHUNK`] more bytes,
/// cut after the last `</package>`; what follows it is kept in `carry`. At the end of the
/// document, whatever is left.
fn next_chunk(
    reader: &mut impl BufRead,
    carry: &mut Vec<u8>,
) -> Result<Option<Vec<u8>>, PrimaryError> {
    let mut block = std::mem::take(carry);
    let want = block.len() + CHUNK;
    block.reserve(CHUNK);
    let mut eof = false;
    while block.len() < want {
        let n = reader
            .by_ref()
            .take((want - block.len()) as u64)
            .read_to_end(&mut block)?;
        if n == 0 {
            eof = true;
            break;
        }
    }
    if eof {
        return Ok((!block.is_empty()).then_some(block));
    }
    match rfind(&block, END) {
        Some(at) => {
            let cut = at + END.len();
            *carry = block.split_off(cut);
            Ok(Some(block))
        }
        // No package ends in this block (a huge package): read on.
        None => {
            *carry = block;
            next_chunk(reader, carry)
        }
    }
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(n: usize) -> String {
        let mut s = String::from("<?xml version=\"1.0\"?>\n<metadata packages=\"x\">\n");
        for i in 0..n {
            s.push_str(&format!(
                "<package type=\"rpm\"><name>p{i}</name></package>\n"
            ));
        }
        s.push_str("</metadata>\n");
        s
    }

    /// Counts `<name>`s of a chunk, checking it holds whole packages.
    fn names(chunk: &[u8]) -> Result<Vec<String>, PrimaryError> {
        let text = std::str::from_utf8(chunk).unwrap();
        assert_eq!(
            text.matches("<package").count(),
            text.matches("</package>").count(),
            "a chunk cuts a package"
        );
        Ok(text
            .split("<name>")
            .skip(1)
            .map(|s| s.split('<').next().unwrap().to_string())
            .collect())
    }

    #[test]
    fn whole_packages_in_order_on_any_thread_count() {
        // About 200 000 packages: several chunks.
        let d = doc(200_000);
        assert!(d.len() > 2 * CHUNK);
        let want: Vec<String> = (0..200_000).map(|i| format!("p{i}")).collect();
        for threads in [1, 2, 3] {
            let got = parse_chunks(d.as_bytes(), threads, names).unwrap();
            assert_eq!(got.len(), want.len(), "{threads} threads");
            assert!(got == want, "{threads} threads: order differs");
        }
    }

    #[test]
    fn the_first_error_in_document_order_wins() {
        let d = doc(200_000);
        let err = parse_chunks(d.as_bytes(), 2, |chunk| {
            let text = std::str::from_utf8(chunk).unwrap();
            if text.contains("<name>p150000<") || text.contains("<name>p10<") {
                Err(PrimaryError::Missing {
                    index: 0,
                    name: text[text.find("<name>").unwrap()..][6..12].to_string(),
                    field: "x",
                })
            } else {
                Ok(vec![()])
            }
        })
        .unwrap_err();
        assert!(err.to_string().contains("`p0<"), "{err}");
    }
}
