//! TFRecord framing, the container of event files: each record is
//! `u64 length (LE) | u32 masked CRC-32C of those 8 bytes | data | u32 masked CRC-32C of data`.
//! The CRC is Castagnoli's (CRC-32C), not the IEEE one, and is "masked" (rotated and offset)
//! because CRCs of data that itself holds CRCs are weak.

use crate::error::{Error, Result};
use std::path::Path;

/// TensorFlow's mask constant for stored CRCs.
const MASK_DELTA: u32 = 0xa282_ead8;

/// The CRC-32C (Castagnoli) of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    crc32c::crc32c(data)
}

/// The masked CRC-32C that TFRecord stores: `rotr(crc, 15) + 0xa282ead8` (wrapping).
pub fn masked_crc32c(data: &[u8]) -> u32 {
    crc32c(data).rotate_right(15).wrapping_add(MASK_DELTA)
}

/// Appends one framed record holding `data` to `out`.
pub fn frame_record(data: &[u8], out: &mut Vec<u8>) {
    let len = (data.len() as u64).to_le_bytes();
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc32c(data).to_le_bytes());
}

/// Splits a TFRecord byte stream into its records, checking both CRCs of each. `path` only
/// names the source in errors (a truncated or corrupt record names its byte offset).
pub fn parse_records(bytes: &[u8], path: &Path) -> Result<Vec<Vec<u8>>> {
    let bad = |offset: usize, what: &str| Error::Decode {
        path: path.to_path_buf(),
        message: format!("TFRecord at byte {offset}: {what}"),
    };
    let mut records = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let header = bytes
            .get(pos..pos + 12)
            .ok_or_else(|| bad(pos, "truncated header"))?;
        let (len_bytes, len_crc) = header.split_at(8);
        if masked_crc32c(len_bytes) != u32::from_le_bytes(len_crc.try_into().expect("4 bytes")) {
            return Err(bad(pos, "length CRC mismatch"));
        }
        let len = u64::from_le_bytes(len_bytes.try_into().expect("8 bytes"));
        let len = usize::try_from(len).map_err(|_| bad(pos, "length does not fit in memory"))?;
        let start = pos + 12;
        let end = start
            .checked_add(len)
            .filter(|e| e + 4 <= bytes.len())
            .ok_or_else(|| bad(pos, "truncated data"))?;
        let data = &bytes[start..end];
        let crc = u32::from_le_bytes(bytes[end..end + 4].try_into().expect("4 bytes"));
        if masked_crc32c(data) != crc {
            return Err(bad(pos, "data CRC mismatch"));
        }
        records.push(data.to_vec());
        pos = end + 4;
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_known_vectors() {
        // RFC 3720 (iSCSI) B.4 test vectors and the classic check value.
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8a91_36aa);
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62a8_ab43);
        let inc: Vec<u8> = (0..32).collect();
        assert_eq!(crc32c(&inc), 0x46dd_794e);
        let dec: Vec<u8> = (0..32).rev().collect();
        assert_eq!(crc32c(&dec), 0x113f_db5c);
        assert_eq!(crc32c(b""), 0);
    }

    #[test]
    fn mask_is_rotate_and_offset() {
        // TensorFlow's crc32c::Mask of the check value, computed by hand:
        // rotr(0xe3069283, 15) = 0x2507c60d; + 0xa282ead8 = 0xc78ab0e5.
        assert_eq!(masked_crc32c(b"123456789"), 0xc78a_b0e5);
    }

    #[test]
    fn framing_layout_and_round_trip() {
        let mut out = Vec::new();
        frame_record(b"hello", &mut out);
        frame_record(b"", &mut out);
        assert_eq!(out.len(), (8 + 4 + 5 + 4) + (8 + 4 + 4));
        assert_eq!(&out[..8], &5u64.to_le_bytes());
        assert_eq!(
            &out[8..12],
            &masked_crc32c(&5u64.to_le_bytes()).to_le_bytes()
        );
        assert_eq!(&out[12..17], b"hello");
        assert_eq!(&out[17..21], &masked_crc32c(b"hello").to_le_bytes());
        let recs = parse_records(&out, Path::new("mem")).unwrap();
        assert_eq!(recs, vec![b"hello".to_vec(), vec![]]);
    }

    #[test]
    fn corrupt_and_truncated_records_are_errors() {
        let mut out = Vec::new();
        frame_record(b"hello", &mut out);
        let mut flipped = out.clone();
        flipped[13] ^= 1;
        let e = parse_records(&flipped, Path::new("f"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("data CRC mismatch") && e.contains("byte 0"),
            "{e}"
        );
        let e = parse_records(&out[..out.len() - 1], Path::new("f"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("truncated data"), "{e}");
        let mut badlen = out.clone();
        badlen[0] = 6;
        let e = parse_records(&badlen, Path::new("f"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("length CRC mismatch"), "{e}");
    }
}
