//! A little-endian reader that knows how long the file is, so that no length read from the
//! file is trusted before it is checked against the bytes that are really there.

use std::io::{Read, Seek, SeekFrom};

use crate::error::{PlanError, Result};

pub(crate) struct Reader<R> {
    inner: R,
    pos: u64,
    len: u64,
}

/// Skips shorter than this are read and dropped rather than seeked (a seek empties a
/// `BufReader`, and a vocabulary is 10⁵ tiny strings).
const READ_TO_SKIP: u64 = 1 << 16;

impl<R: Read + Seek> Reader<R> {
    pub(crate) fn new(inner: R, len: u64) -> Reader<R> {
        Reader { inner, pos: 0, len }
    }

    pub(crate) fn pos(&self) -> u64 {
        self.pos
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    pub(crate) fn remaining(&self) -> u64 {
        self.len.saturating_sub(self.pos)
    }

    /// Fail unless `needed` more bytes exist.
    pub(crate) fn need(&self, needed: u64, what: &'static str) -> Result<()> {
        if needed > self.remaining() {
            return Err(PlanError::Truncated {
                what,
                offset: self.pos,
                needed,
                len: self.len,
            });
        }
        Ok(())
    }

    pub(crate) fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        self.need(N as u64, what)?;
        let mut buf = [0u8; N];
        self.inner
            .read_exact(&mut buf)
            .map_err(|e| self.eof_as_truncated(e, N as u64, what))?;
        self.pos += N as u64;
        Ok(buf)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }
    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    pub(crate) fn i32(&mut self, what: &'static str) -> Result<i32> {
        Ok(i32::from_le_bytes(self.array(what)?))
    }
    pub(crate) fn u64(&mut self, what: &'static str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// `len` bytes as UTF-8 (lossy). `len` is checked against the file and against `max`, so a
    /// garbage length can neither allocate much nor read past the end.
    pub(crate) fn string(&mut self, len: u64, max: u64, what: &'static str) -> Result<String> {
        if len > max {
            return Err(PlanError::Invalid(format!(
                "{what} at byte {} claims {len} bytes (limit {max})",
                self.pos
            )));
        }
        self.need(len, what)?;
        let mut buf = vec![0u8; len as usize];
        self.inner
            .read_exact(&mut buf)
            .map_err(|e| self.eof_as_truncated(e, len, what))?;
        self.pos += len;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    pub(crate) fn skip(&mut self, n: u64, what: &'static str) -> Result<()> {
        self.need(n, what)?;
        if n < READ_TO_SKIP {
            let copied = std::io::copy(&mut (&mut self.inner).take(n), &mut std::io::sink())?;
            if copied < n {
                return Err(self.eof_as_truncated(
                    std::io::ErrorKind::UnexpectedEof.into(),
                    n,
                    what,
                ));
            }
        } else {
            self.inner.seek(SeekFrom::Current(n as i64))?;
        }
        self.pos += n;
        Ok(())
    }

    /// The file was shorter than its metadata said (it changed under us): report it as such.
    fn eof_as_truncated(&self, e: std::io::Error, needed: u64, what: &'static str) -> PlanError {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            PlanError::Truncated {
                what,
                offset: self.pos,
                needed,
                len: self.len,
            }
        } else {
            PlanError::Io(e)
        }
    }
}
