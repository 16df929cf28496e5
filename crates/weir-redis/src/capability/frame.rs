//! Many payloads in one pub/sub message.
//!
//! A `PUBLISH` costs Redis a command and every subscriber a message, however
//! small the payload, so what goes out together (a batch of task events, the
//! ids a pipeline stored) goes as one frame: a fixed marker, then each
//! payload as a big-endian `u32` length and its bytes. A message without the
//! marker (sent by something else, `redis-cli PUBLISH` say) is one payload.

/// Starts every frame. Eight bytes that no msgpack, JSON or UTF-8 text
/// starts with (`0xc1` is never used by msgpack, `0xff` never in UTF-8).
const MARKER: &[u8; 8] = b"\xc1\xffweir\x01\x00";

/// The most bytes of payloads one frame carries before the next begins.
pub(crate) const MAX_FRAME: usize = 1 << 20;

/// Packs `payloads` into frames of at most about [`MAX_FRAME`] bytes (a
/// larger payload gets a frame of its own).
pub(crate) fn pack<'a>(payloads: impl IntoIterator<Item = &'a [u8]>) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    let mut frame: Vec<u8> = Vec::new();
    for p in payloads {
        if frame.len() > MARKER.len() && frame.len() + 4 + p.len() > MAX_FRAME {
            frames.push(std::mem::take(&mut frame));
        }
        if frame.is_empty() {
            frame.extend_from_slice(MARKER);
        }
        // A payload over 4 GiB cannot be published at all (Redis takes 512 MiB).
        let len = u32::try_from(p.len()).unwrap_or(u32::MAX);
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(p);
    }
    if !frame.is_empty() {
        frames.push(frame);
    }
    frames
}

/// The payloads of one message: those of a frame, or the message itself.
/// A frame cut short yields what it holds whole; the rest is dropped.
pub(crate) fn unpack(message: &[u8]) -> Unpacked<'_> {
    match message.strip_prefix(MARKER.as_slice()) {
        Some(rest) => Unpacked::Frame(rest),
        None => Unpacked::One(Some(message)),
    }
}

/// The payloads of one message, in order.
pub(crate) enum Unpacked<'a> {
    Frame(&'a [u8]),
    One(Option<&'a [u8]>),
}

impl<'a> Iterator for Unpacked<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        match self {
            Unpacked::One(one) => one.take(),
            Unpacked::Frame(rest) => {
                let (len, tail) = rest.split_first_chunk::<4>()?;
                let len = u32::from_be_bytes(*len) as usize;
                if tail.len() < len {
                    *rest = &[];
                    return None;
                }
                let (payload, tail) = tail.split_at(len);
                *rest = tail;
                Some(payload)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_message_without_the_marker_is_one_payload() {
        let got: Vec<&[u8]> = unpack(b"hello").collect();
        assert_eq!(got, [b"hello".as_slice()]);
        let empty: Vec<&[u8]> = unpack(b"").collect();
        assert_eq!(empty, [b"".as_slice()]);
    }

    #[test]
    fn a_frame_cut_short_yields_its_whole_payloads() {
        let frames = pack([b"one".as_slice(), b"two"]);
        let cut = &frames[0][..frames[0].len() - 1];
        let got: Vec<&[u8]> = unpack(cut).collect();
        assert_eq!(got, [b"one".as_slice()]);
    }

    #[test]
    fn big_batches_split_into_frames_under_the_limit() {
        let payload = vec![7u8; 300_000];
        let frames = pack(std::iter::repeat_n(payload.as_slice(), 10));
        assert!(frames.len() >= 3, "{} frames", frames.len());
        assert!(
            frames.iter().all(|f| f.len() <= MAX_FRAME + 8),
            "over the limit"
        );
        let n: usize = frames.iter().map(|f| unpack(f).count()).sum();
        assert_eq!(n, 10);
    }

    proptest! {
        #[test]
        fn what_is_packed_unpacks_in_order(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..50)
        ) {
            let frames = pack(payloads.iter().map(Vec::as_slice));
            let got: Vec<Vec<u8>> = frames
                .iter()
                .flat_map(|f| unpack(f).map(<[u8]>::to_vec).collect::<Vec<_>>())
                .collect();
            prop_assert_eq!(got, payloads);
        }
    }
}
