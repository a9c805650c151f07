//! Where an encoding goes as it is written: memory, until it outgrows
//! [`FILE_MIN`](crate::store::FILE_MIN) and the store can take a file — then that file, so
//! a large result is never encoded into memory beside itself.

use std::io::{self, Write};

use crate::store::{FILE_MIN, Staged};

/// How to start a file in the store, for an encoding that outgrows memory; `None` keeps
/// every encoding in memory.
pub(crate) type Stage<'a> = Option<&'a dyn Fn() -> io::Result<Staged>>;

/// What a [`Sink`] holds once the encoding is written.
pub(crate) enum Written {
    Bytes(Vec<u8>),
    File(Box<Staged>),
}

/// An `io::Write` that an encoder writes a result into.
pub(crate) struct Sink<'a> {
    bytes: Vec<u8>,
    file: Option<Box<Staged>>,
    stage: Stage<'a>,
    /// Whether the bytes began with `head` when they moved to a file.
    began: Option<[u8; 8]>,
    /// The first I/O error, kept whole: an encoder reports only that writing failed.
    error: Option<io::Error>,
}

impl<'a> Sink<'a> {
    pub(crate) fn new(stage: Stage<'a>) -> Sink<'a> {
        Sink {
            bytes: Vec::new(),
            file: None,
            stage,
            began: None,
            error: None,
        }
    }

    /// The first eight bytes written.
    pub(crate) fn head(&self) -> &[u8] {
        match &self.began {
            Some(head) => head,
            None => &self.bytes[..self.bytes.len().min(8)],
        }
    }

    /// What was written, or the I/O error that stopped it.
    pub(crate) fn end(self) -> io::Result<Written> {
        if let Some(error) = self.error {
            return Err(error);
        }
        Ok(match self.file {
            Some(file) => Written::File(file),
            None => Written::Bytes(self.bytes),
        })
    }

    fn spill(&mut self, stage: &dyn Fn() -> io::Result<Staged>) -> io::Result<()> {
        let mut file = stage()?;
        file.write_all(&self.bytes)?;
        let mut head = [0u8; 8];
        head.copy_from_slice(&self.bytes[..8]);
        self.began = Some(head);
        self.bytes = Vec::new();
        self.file = Some(Box::new(file));
        Ok(())
    }

    fn write_through(&mut self, mut buf: &[u8]) -> io::Result<()> {
        if self.file.is_none()
            && self.bytes.len() + buf.len() > FILE_MIN
            && let Some(stage) = self.stage
        {
            // The head is whole before the move, however short the writes before it
            // (a string's length, then the string in one write).
            let short = 8usize.saturating_sub(self.bytes.len()).min(buf.len());
            self.bytes.extend_from_slice(&buf[..short]);
            buf = &buf[short..];
            self.spill(stage)?;
        }
        match &mut self.file {
            Some(file) => file.write_all(buf),
            None => {
                self.bytes.extend_from_slice(buf);
                Ok(())
            }
        }
    }
}

impl Write for Sink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(error) = &self.error {
            return Err(io::Error::new(error.kind(), "an earlier write failed"));
        }
        match self.write_through(buf) {
            Ok(()) => Ok(buf.len()),
            Err(error) => {
                let kind = error.kind();
                self.error = Some(error);
                Err(kind.into())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// An `io::Write` that only hashes: the content hash of an encoding, without keeping it.
pub(crate) struct Hashing(pub blake3::Hasher);

impl Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// An `io::Write` that only counts.
pub(crate) struct Counting(pub u64);

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_encoding_stays_in_memory_until_it_outgrows_it() {
        let dir = tempfile::tempdir().unwrap();
        let stage = || Staged::create(dir.path());
        let mut sink = Sink::new(Some(&stage));
        sink.write_all(b"small").unwrap();
        assert!(matches!(sink.end().unwrap(), Written::Bytes(b) if b == b"small"));

        let mut sink = Sink::new(Some(&stage));
        let chunk = vec![7u8; 1 << 20];
        for _ in 0..9 {
            sink.write_all(&chunk).unwrap();
        }
        assert_eq!(sink.head(), &[7u8; 8]);
        let Written::File(file) = sink.end().unwrap() else {
            panic!("9 MiB stayed in memory");
        };
        assert_eq!(file.size(), 9 << 20);

        // Without a way to start a file, it all stays in memory.
        let mut sink = Sink::new(None);
        for _ in 0..9 {
            sink.write_all(&chunk).unwrap();
        }
        assert!(matches!(sink.end().unwrap(), Written::Bytes(b) if b.len() == 9 << 20));

        // A few bytes, then one write past the size: the head is still the first eight.
        let mut sink = Sink::new(Some(&stage));
        sink.write_all(&[1, 2, 3, 4]).unwrap();
        let long: Vec<u8> = (0..9u32 << 20).map(|i| i as u8).collect();
        sink.write_all(&long).unwrap();
        assert_eq!(sink.head(), &[1, 2, 3, 4, 0, 1, 2, 3]);
        let Written::File(mut file) = sink.end().unwrap() else {
            panic!("9 MiB stayed in memory");
        };
        let mut back = Vec::new();
        io::Read::read_to_end(&mut file.reread().unwrap(), &mut back).unwrap();
        assert_eq!(&back[..4], &[1, 2, 3, 4]);
        assert_eq!(&back[4..], &long[..]);
    }

    #[test]
    fn a_file_that_cannot_be_started_is_the_error_it_was() {
        let failing = || -> io::Result<Staged> { Err(io::ErrorKind::StorageFull.into()) };
        let mut sink = Sink::new(Some(&failing));
        let chunk = vec![0u8; FILE_MIN + 1];
        assert!(sink.write_all(&chunk).is_err());
        assert_eq!(
            sink.end().err().map(|e| e.kind()),
            Some(io::ErrorKind::StorageFull)
        );
    }
}
