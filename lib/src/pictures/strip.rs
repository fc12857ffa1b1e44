//! Metadata removal for profile pictures, done before a picture is stored.
//!
//! A photo taken with a phone carries EXIF (often with the GPS position where it was taken, the
//! time, and the device), XMP and text notes. Every signed-in user can fetch any account's
//! picture, so whatever metadata it carries would be published to all of them. Each function
//! here walks its format's container (JPEG marker segments, PNG chunks, WebP RIFF chunks),
//! drops the segments or chunks that hold metadata, and copies all others byte for byte: the
//! image data is never decoded or re-encoded. A file with no metadata comes out identical.
//!
//! What is removed:
//! - JPEG: APP1–APP15 segments (EXIF, XMP, ICC profile, MPF, Photoshop IRB, …) and COM
//!   segments;
//! - PNG: `tEXt`, `zTXt`, `iTXt`, `eXIf` and `tIME` chunks;
//! - WebP: `EXIF` and `XMP ` chunks, with the `VP8X` header's flags for them cleared.
//!
//! The walks check only what they need to (sizes fit, markers are where they must be), never
//! panic, and refuse anything they cannot walk with [`Malformed`] rather than pass it through.
//!
//! The pixels are never touched, so nothing makes up for metadata that changed how they are
//! shown: the EXIF orientation tag goes with the rest of EXIF, so a photo a phone stored
//! sideways with "rotate on display" is then shown sideways.

use std::fmt;

/// Why a picture could not be cleaned: its structure is not a well-formed file of its format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the picture is not a well-formed file of its format")
    }
}

impl std::error::Error for Malformed {}

// JPEG markers (ITU-T T.81, table B.1). A marker is 0xFF then one of these bytes.
const JPEG_SOI: [u8; 2] = [0xFF, 0xD8];
const JPEG_TEM: u8 = 0x01;
const JPEG_RST0: u8 = 0xD0;
const JPEG_RST7: u8 = 0xD7;
const JPEG_SOI_CODE: u8 = 0xD8;
const JPEG_EOI: u8 = 0xD9;
const JPEG_SOS: u8 = 0xDA;
const JPEG_APP1: u8 = 0xE1;
const JPEG_APP15: u8 = 0xEF;
const JPEG_COM: u8 = 0xFE;

/// A JPEG without its APP1–APP15 segments (EXIF with GPS, XMP, ICC profiles: see below) and COM
/// segments.
///
/// The marker segments are walked from SOI up to the first SOS (start of scan); from there on
/// the rest of the file (entropy-coded data, any later segments, EOI and anything after it) is
/// copied unchanged. APP0 (JFIF) and every segment the decoder needs are kept, with the fill
/// bytes (0xFF padding) before them; a removed segment's fill bytes go with it.
///
/// APP2 also carries ICC colour profiles: they are removed too, as the contract is "APP1–APP15",
/// so a picture tagged with a wide-gamut profile (e.g. Display P3) is then shown as sRGB, its
/// colours a little duller. APP14 ("Adobe"), which tells how CMYK or RGB-coded scans were
/// colour-transformed, goes the same way.
///
/// [`Malformed`] when the file does not start with SOI, a segment's length is below 2 or runs
/// past the end, something other than a marker stands between segments, or no SOS comes
/// before the end (EOI or a second SOI before SOS included).
pub fn jpeg(bytes: &[u8]) -> Result<Vec<u8>, Malformed> {
    if !bytes.starts_with(&JPEG_SOI) {
        return Err(Malformed);
    }
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&JPEG_SOI);
    let mut pos = JPEG_SOI.len();
    loop {
        let start = pos;
        // A marker: one or more 0xFF (all but the last are fill bytes), then its code.
        if bytes.get(pos) != Some(&0xFF) {
            return Err(Malformed);
        }
        while bytes.get(pos) == Some(&0xFF) {
            pos += 1;
        }
        let code = *bytes.get(pos).ok_or(Malformed)?;
        pos += 1;
        match code {
            // Standalone markers: no length, no payload.
            JPEG_TEM | JPEG_RST0..=JPEG_RST7 => {
                out.extend_from_slice(bytes.get(start..pos).ok_or(Malformed)?);
                continue;
            }
            // 0xFF00 is stuffing, only meaningful inside a scan; SOI again or EOI before any
            // scan means there is no image.
            0x00 | JPEG_SOI_CODE | JPEG_EOI => return Err(Malformed),
            _ => {}
        }
        // Every other marker opens a segment: a big-endian length that counts itself.
        let length = usize::from(be_u16(bytes, pos).ok_or(Malformed)?);
        if length < 2 {
            return Err(Malformed);
        }
        let end = pos.checked_add(length).ok_or(Malformed)?;
        let segment = bytes.get(start..end).ok_or(Malformed)?;
        if code == JPEG_SOS {
            out.extend_from_slice(bytes.get(start..).ok_or(Malformed)?);
            return Ok(out);
        }
        if !jpeg_is_metadata(code) {
            out.extend_from_slice(segment);
        }
        pos = end;
    }
}

/// Whether a JPEG segment is one [`jpeg`] removes.
fn jpeg_is_metadata(code: u8) -> bool {
    (JPEG_APP1..=JPEG_APP15).contains(&code) || code == JPEG_COM
}

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1A, b'\n'];
/// The largest chunk length PNG allows (2^31 − 1).
const PNG_MAX_CHUNK_LENGTH: u32 = 0x7FFF_FFFF;
const PNG_METADATA: [[u8; 4]; 5] = [*b"tEXt", *b"zTXt", *b"iTXt", *b"eXIf", *b"tIME"];
const PNG_IEND: [u8; 4] = *b"IEND";

/// A PNG without its tEXt, zTXt, iTXt, eXIf and tIME chunks.
///
/// Every other chunk, unknown ones included, is copied byte for byte with its CRC, in its
/// order. CRCs are not checked (a chunk is either dropped whole or copied whole, so none is
/// made wrong here). Anything after IEND is dropped.
///
/// [`Malformed`] when the signature is wrong, a chunk's length is over 2^31 − 1 or runs past
/// the end, a chunk type is not four ASCII letters, or the file ends before IEND.
pub fn png(bytes: &[u8]) -> Result<Vec<u8>, Malformed> {
    if !bytes.starts_with(&PNG_SIGNATURE) {
        return Err(Malformed);
    }
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&PNG_SIGNATURE);
    let mut pos = PNG_SIGNATURE.len();
    loop {
        // length (4, big-endian), type (4), data (length), CRC (4)
        let length = be_u32(bytes, pos).ok_or(Malformed)?;
        if length > PNG_MAX_CHUNK_LENGTH {
            return Err(Malformed);
        }
        let kind = array4(bytes, pos.checked_add(4).ok_or(Malformed)?).ok_or(Malformed)?;
        if !kind.iter().all(u8::is_ascii_alphabetic) {
            return Err(Malformed);
        }
        let end = usize::try_from(length)
            .ok()
            .and_then(|length| pos.checked_add(12)?.checked_add(length))
            .ok_or(Malformed)?;
        let chunk = bytes.get(pos..end).ok_or(Malformed)?;
        if !PNG_METADATA.contains(&kind) {
            out.extend_from_slice(chunk);
        }
        if kind == PNG_IEND {
            return Ok(out);
        }
        pos = end;
    }
}

const RIFF: [u8; 4] = *b"RIFF";
const WEBP: [u8; 4] = *b"WEBP";
const WEBP_EXIF: [u8; 4] = *b"EXIF";
const WEBP_XMP: [u8; 4] = *b"XMP ";
const WEBP_VP8X: [u8; 4] = *b"VP8X";
/// The size of a `VP8X` chunk's payload: flags (1), reserved (3), canvas width and height (3+3).
const WEBP_VP8X_SIZE: u32 = 10;
/// The `VP8X` flags (first payload byte) telling an `EXIF` or `XMP ` chunk is present.
const WEBP_VP8X_EXIF_FLAG: u8 = 0x08;
const WEBP_VP8X_XMP_FLAG: u8 = 0x04;

/// A WebP without its EXIF and "XMP " chunks (the VP8X header's EXIF/XMP flags cleared, RIFF
/// size fixed).
///
/// The chunks inside the RIFF container are walked; every other chunk (image data, alpha,
/// animation frames, ICC profile `ICCP`, unknown ones) is copied byte for byte with its pad
/// byte. Anything after the RIFF container's end is dropped.
///
/// [`Malformed`] when the file is not `RIFF`…`WEBP`, the RIFF size runs past the end of the
/// file, a chunk (with its pad byte when its size is odd) runs past the RIFF container's end,
/// or a `VP8X` chunk is shorter than its 10 bytes.
pub fn webp(bytes: &[u8]) -> Result<Vec<u8>, Malformed> {
    if array4(bytes, 0) != Some(RIFF) || array4(bytes, 8) != Some(WEBP) {
        return Err(Malformed);
    }
    let riff_size = le_u32(bytes, 4).ok_or(Malformed)?;
    let riff_end = usize::try_from(riff_size)
        .ok()
        .and_then(|size| size.checked_add(8))
        .filter(|&end| end >= 12)
        .ok_or(Malformed)?;
    // Reading only within the container keeps every chunk inside it.
    let body = bytes.get(..riff_end).ok_or(Malformed)?;
    let mut out = Vec::with_capacity(riff_end);
    out.extend_from_slice(&RIFF);
    out.extend_from_slice(&[0; 4]); // the RIFF size, written last
    out.extend_from_slice(&WEBP);
    let mut pos = 12;
    while pos < riff_end {
        // FourCC (4), size (4, little-endian), payload (size), a pad byte when size is odd
        let fourcc = array4(body, pos).ok_or(Malformed)?;
        let size = le_u32(body, pos + 4).ok_or(Malformed)?;
        let end = usize::try_from(size)
            .ok()
            .and_then(|size| size.checked_add(usize::from(size % 2 == 1)))
            .and_then(|padded| pos.checked_add(8)?.checked_add(padded))
            .ok_or(Malformed)?;
        let chunk = body.get(pos..end).ok_or(Malformed)?;
        match fourcc {
            WEBP_EXIF | WEBP_XMP => {}
            WEBP_VP8X => {
                if size < WEBP_VP8X_SIZE {
                    return Err(Malformed);
                }
                let flags_at = out.len() + 8;
                out.extend_from_slice(chunk);
                if let Some(flags) = out.get_mut(flags_at) {
                    *flags &= !(WEBP_VP8X_EXIF_FLAG | WEBP_VP8X_XMP_FLAG);
                }
            }
            _ => out.extend_from_slice(chunk),
        }
        pos = end;
    }
    // Never more than the RIFF size read above, so it fits.
    let size = u32::try_from(out.len() - 8).map_err(|_| Malformed)?;
    if let Some(field) = out.get_mut(4..8) {
        field.copy_from_slice(&size.to_le_bytes());
    }
    Ok(out)
}

/// The four bytes at `at`, if there are four.
fn array4(bytes: &[u8], at: usize) -> Option<[u8; 4]> {
    bytes.get(at..at.checked_add(4)?)?.try_into().ok()
}

fn be_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let pair = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes(pair.try_into().ok()?))
}

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    array4(bytes, at).map(u32::from_be_bytes)
}

fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    array4(bytes, at).map(u32::from_le_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stands for a photo's position: no stripped output may contain it.
    const GPS: &[u8] = b"GPS 52.3702N 4.8952E";

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    fn concat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    /// A small deterministic generator (xorshift64*), for the mangled-input tests.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Feeds `strip` each file with a few bytes changed, cut short, or extended with junk: it
    /// must never panic, and whatever it returns is never longer than what it was given.
    fn survives_mangling(strip: fn(&[u8]) -> Result<Vec<u8>, Malformed>, valid: &[u8]) {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..5000 {
            let mut file = valid.to_vec();
            for _ in 0..=rng.below(4) {
                let at = rng.below(file.len());
                file[at] = match rng.below(4) {
                    0 => 0x00,
                    1 => 0xFF,
                    _ => rng.next() as u8,
                };
            }
            match rng.below(3) {
                0 => file.truncate(rng.below(file.len() + 1)),
                1 => file.extend((0..rng.below(16)).map(|_| rng.next() as u8)),
                _ => {}
            }
            if let Ok(out) = strip(&file) {
                assert!(out.len() <= file.len(), "{file:02X?}");
            }
        }
    }

    // ----- JPEG -----

    fn segment(code: u8, payload: &[u8]) -> Vec<u8> {
        let length = u16::try_from(payload.len() + 2).unwrap();
        concat(&[&[0xFF, code], &length.to_be_bytes(), payload])
    }

    fn app0_jfif() -> Vec<u8> {
        segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0")
    }

    fn app1_exif() -> Vec<u8> {
        segment(0xE1, &concat(&[b"Exif\0\0MM\0\x2A\0\0\0\x08", GPS]))
    }

    fn app2_icc() -> Vec<u8> {
        segment(0xE2, b"ICC_PROFILE\0\x01\x01fake profile")
    }

    fn com() -> Vec<u8> {
        segment(0xFE, &concat(&[b"taken at ", GPS]))
    }

    fn dqt() -> Vec<u8> {
        let mut table = vec![0x00];
        table.extend((1..=64).map(|i| i as u8));
        segment(0xDB, &table)
    }

    fn sof0() -> Vec<u8> {
        // 8-bit, 16×16, one component (id 1, 1×1 sampling, table 0)
        segment(0xC0, &[8, 0, 16, 0, 16, 1, 1, 0x11, 0])
    }

    fn dht() -> Vec<u8> {
        let mut table = vec![0x00, 1];
        table.extend([0; 15]);
        table.push(0);
        segment(0xC4, &table)
    }

    fn sos() -> Vec<u8> {
        segment(0xDA, &[1, 1, 0x00, 0, 63, 0])
    }

    /// Entropy-coded data with 0xFF00 stuffing and an RST marker, then EOI.
    const SCAN: &[u8] = &[
        0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0xFF, 0x00, 0x78, 0xFF, 0xD9,
    ];

    fn clean_jpeg() -> Vec<u8> {
        concat(&[
            &JPEG_SOI,
            &app0_jfif(),
            &dqt(),
            &sof0(),
            &dht(),
            &sos(),
            SCAN,
        ])
    }

    fn phone_jpeg() -> Vec<u8> {
        concat(&[
            &JPEG_SOI,
            &app0_jfif(),
            &app1_exif(),
            &app2_icc(),
            &com(),
            &dqt(),
            &sof0(),
            &segment(0xEE, b"Adobe\0\x64\0\0\0\0\x01"),
            &dht(),
            &sos(),
            SCAN,
        ])
    }

    #[test]
    fn jpeg_loses_its_app1_to_app15_and_comments() {
        let phone = phone_jpeg();
        assert!(contains(&phone, GPS));
        let out = jpeg(&phone).unwrap();
        assert!(!contains(&out, GPS));
        assert!(!contains(&out, b"Exif"));
        assert!(!contains(&out, b"ICC_PROFILE"));
        assert!(!contains(&out, b"Adobe"));
        // The rest, in order and byte for byte, the scan included.
        assert_eq!(out, clean_jpeg());
    }

    #[test]
    fn jpeg_without_metadata_is_unchanged() {
        let clean = clean_jpeg();
        assert_eq!(jpeg(&clean).unwrap(), clean);
        // Standalone markers and fill bytes before kept segments are kept as they are.
        let odd = concat(&[
            &JPEG_SOI,
            &[0xFF, 0xFF],
            &app0_jfif(),
            &[0xFF, 0x01],
            &[0xFF, 0xFF, 0xFF],
            &dqt(),
            &sof0(),
            &sos(),
            SCAN,
        ]);
        assert_eq!(jpeg(&odd).unwrap(), odd);
    }

    #[test]
    fn jpeg_fill_bytes_go_with_their_segment() {
        let padded = concat(&[
            &JPEG_SOI,
            &[0xFF, 0xFF],
            &app1_exif(),
            &[0xFF],
            &dqt(),
            &sof0(),
            &sos(),
            SCAN,
        ]);
        let expected = concat(&[&JPEG_SOI, &[0xFF], &dqt(), &sof0(), &sos(), SCAN]);
        assert_eq!(jpeg(&padded).unwrap(), expected);
    }

    #[test]
    fn jpeg_after_the_first_scan_is_copied_as_is() {
        // The contract walks segments only up to SOS; what follows it is not looked into.
        let tail = concat(&[&[0x11, 0xFF, 0x00], &com(), &[0xFF, 0xD9], b"trailer"]);
        let file = concat(&[&JPEG_SOI, &app1_exif(), &sof0(), &sos(), &tail]);
        let expected = concat(&[&JPEG_SOI, &sof0(), &sos(), &tail]);
        assert_eq!(jpeg(&file).unwrap(), expected);
    }

    #[test]
    fn jpeg_every_prefix_is_either_refused_or_cut_in_the_scan() {
        let phone = phone_jpeg();
        let expected = clean_jpeg();
        let scan_at = phone.len() - SCAN.len();
        for n in 0..=phone.len() {
            let result = jpeg(&phone[..n]);
            if n < scan_at {
                assert_eq!(result, Err(Malformed), "prefix of {n} bytes");
            } else {
                let cut = phone.len() - n;
                assert_eq!(
                    result.unwrap(),
                    expected[..expected.len() - cut],
                    "{n} bytes"
                );
            }
        }
    }

    #[test]
    fn jpeg_garbage_is_malformed() {
        let sof = sof0();
        let cases: Vec<Vec<u8>> = vec![
            vec![],
            vec![0xFF],
            vec![0xFF, 0xD8],
            vec![0xFF, 0xD8, 0xFF],
            vec![0xFF; 64],
            // no SOI
            concat(&[&app0_jfif(), &sos(), SCAN]),
            // EOI, or another SOI, before any scan
            concat(&[&JPEG_SOI, &sof, &[0xFF, 0xD9]]),
            concat(&[&JPEG_SOI, &sof, &[0xFF, 0xD8], &sos(), SCAN]),
            // … even when what follows them would read as a length
            concat(&[&JPEG_SOI, &[0xFF, 0xD9, 0x00, 0x02], &sof, &sos(), SCAN]),
            concat(&[&JPEG_SOI, &[0xFF, 0xD8, 0x00, 0x02], &sof, &sos(), SCAN]),
            concat(&[&JPEG_SOI, &[0xFF, 0x00, 0x00, 0x02], &sof, &sos(), SCAN]),
            // stuffing, or a stray byte, between segments
            concat(&[&JPEG_SOI, &[0xFF, 0x00], &sof, &sos(), SCAN]),
            concat(&[&JPEG_SOI, &[0x00], &sof, &sos(), SCAN]),
            // lengths below 2, or past the end
            concat(&[&JPEG_SOI, &[0xFF, 0xE1, 0x00, 0x01], &sof, &sos(), SCAN]),
            concat(&[&JPEG_SOI, &[0xFF, 0xE1, 0x00, 0x00], &sof, &sos(), SCAN]),
            concat(&[&JPEG_SOI, &sof, &[0xFF, 0xE1, 0xFF, 0xFF, 0x01, 0x02]]),
            concat(&[&JPEG_SOI, &sof, &[0xFF, 0xDA, 0x00, 0x0C, 1, 1]]),
            // no SOS at all
            concat(&[&JPEG_SOI, &app0_jfif(), &dqt(), &sof]),
        ];
        for case in cases {
            assert_eq!(jpeg(&case), Err(Malformed), "{case:02X?}");
        }
        survives_mangling(jpeg, &phone_jpeg());
    }

    #[test]
    fn jpeg_stripping_twice_changes_nothing() {
        let once = jpeg(&phone_jpeg()).unwrap();
        assert_eq!(jpeg(&once).unwrap(), once);
    }

    // ----- PNG -----

    /// The CRC-32 PNG uses (ISO 3309), so the test files are real PNGs.
    fn crc32(parts: &[&[u8]]) -> u32 {
        let mut crc = !0u32;
        for &byte in parts.iter().flat_map(|part| part.iter()) {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let length = u32::try_from(data.len()).unwrap().to_be_bytes();
        let crc = crc32(&[kind, data]).to_be_bytes();
        concat(&[&length, kind, data, &crc])
    }

    fn ihdr() -> Vec<u8> {
        // 1×1, 8-bit greyscale
        chunk(b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0])
    }

    fn idat() -> Vec<u8> {
        chunk(
            b"IDAT",
            &[0x78, 0x9C, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01],
        )
    }

    fn iend() -> Vec<u8> {
        chunk(b"IEND", &[])
    }

    fn png_metadata() -> Vec<Vec<u8>> {
        vec![
            chunk(b"tEXt", &concat(&[b"Comment\0", GPS])),
            chunk(b"zTXt", b"Author\0\0\x78\x9C\x03\x00\x00\x00\x00\x01"),
            chunk(b"iTXt", &concat(&[b"XML:com.adobe.xmp\0\0\0\0\0", GPS])),
            chunk(b"eXIf", &concat(&[b"MM\0\x2A\0\0\0\x08", GPS])),
            chunk(b"tIME", &[0x07, 0xE8, 6, 1, 12, 30, 0]),
        ]
    }

    fn clean_png() -> Vec<u8> {
        concat(&[
            &PNG_SIGNATURE,
            &ihdr(),
            &chunk(b"pHYs", &[0, 0, 0x0B, 0x13, 0, 0, 0x0B, 0x13, 1]),
            &chunk(b"prVt", b"unknown ancillary chunk"),
            &idat(),
            &iend(),
        ])
    }

    fn phone_png() -> Vec<u8> {
        let m = png_metadata();
        concat(&[
            &PNG_SIGNATURE,
            &ihdr(),
            &m[0],
            &m[4],
            &chunk(b"pHYs", &[0, 0, 0x0B, 0x13, 0, 0, 0x0B, 0x13, 1]),
            &m[3],
            &chunk(b"prVt", b"unknown ancillary chunk"),
            &m[1],
            &idat(),
            &m[2],
            &iend(),
        ])
    }

    #[test]
    fn png_loses_its_text_exif_and_time() {
        let phone = phone_png();
        assert!(contains(&phone, GPS));
        let out = png(&phone).unwrap();
        assert!(!contains(&out, GPS));
        for kind in PNG_METADATA {
            assert!(!contains(&out, &kind), "{}", String::from_utf8_lossy(&kind));
        }
        assert_eq!(out, clean_png());
    }

    #[test]
    fn png_without_metadata_is_unchanged() {
        let clean = clean_png();
        assert_eq!(png(&clean).unwrap(), clean);
    }

    #[test]
    fn png_after_iend_is_dropped() {
        let file = concat(&[&phone_png(), b"appended", GPS]);
        assert_eq!(png(&file).unwrap(), clean_png());
    }

    #[test]
    fn png_every_prefix_short_of_iend_is_malformed() {
        let phone = phone_png();
        for n in 0..phone.len() {
            assert_eq!(png(&phone[..n]), Err(Malformed), "prefix of {n} bytes");
        }
        assert_eq!(png(&phone).unwrap(), clean_png());
    }

    #[test]
    fn png_garbage_is_malformed() {
        let body = concat(&[&ihdr(), &idat(), &iend()]);
        let oversized = concat(&[&[0x80, 0, 0, 0], b"IDAT"]);
        let cases: Vec<Vec<u8>> = vec![
            vec![],
            PNG_SIGNATURE.to_vec(),
            // wrong signature
            concat(&[b"\x89PNG\r\n\x1a\r", &body]),
            // no IEND
            concat(&[&PNG_SIGNATURE, &ihdr(), &idat()]),
            // a length over 2^31 − 1, or past the end
            concat(&[&PNG_SIGNATURE, &ihdr(), &oversized, &[0; 16], &iend()]),
            concat(&[&PNG_SIGNATURE, &ihdr(), &[0xFF, 0xFF, 0xFF, 0xFF], b"IDAT"]),
            concat(&[&PNG_SIGNATURE, &ihdr(), &[0, 0, 0, 0x40], b"IDAT", &[0; 8]]),
            // a chunk type that is not four letters
            concat(&[&PNG_SIGNATURE, &ihdr(), &chunk(b"ID4T", &[1]), &iend()]),
        ];
        for case in cases {
            assert_eq!(png(&case), Err(Malformed), "{case:02X?}");
        }
        survives_mangling(png, &phone_png());
    }

    #[test]
    fn png_stripping_twice_changes_nothing() {
        let once = png(&phone_png()).unwrap();
        assert_eq!(png(&once).unwrap(), once);
    }

    // ----- WebP -----

    fn riff_chunk(fourcc: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let size = u32::try_from(data.len()).unwrap().to_le_bytes();
        let pad: &[u8] = if data.len() % 2 == 1 { &[0] } else { &[] };
        concat(&[fourcc, &size, data, pad])
    }

    fn riff(chunks: &[Vec<u8>]) -> Vec<u8> {
        let body = chunks.concat();
        let size = u32::try_from(body.len() + 4).unwrap().to_le_bytes();
        concat(&[&RIFF, &size, &WEBP, &body])
    }

    /// A VP8X header: flags, three reserved bytes, canvas width − 1 and height − 1 (24-bit LE).
    fn vp8x(flags: u8) -> Vec<u8> {
        riff_chunk(b"VP8X", &[flags, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    }

    /// A 1×1 lossless image (odd size, so it is padded).
    fn vp8l() -> Vec<u8> {
        riff_chunk(
            b"VP8L",
            &[
                0x2F, 0, 0, 0, 0x10, 0x07, 0x10, 0x11, 0x11, 0x88, 0x88, 0xFE, 0x07, 0x00, 0x00,
            ],
        )
    }

    /// ICC, alpha, EXIF and XMP flags, and the canvas.
    const ALL_FLAGS: u8 = 0x20 | 0x10 | 0x08 | 0x04;
    const KEPT_FLAGS: u8 = 0x20 | 0x10;

    fn phone_webp() -> Vec<u8> {
        riff(&[
            vp8x(ALL_FLAGS),
            riff_chunk(b"ICCP", b"fake icc"),
            vp8l(),
            // odd size: followed by a pad byte
            riff_chunk(b"EXIF", &concat(&[b"MM\0\x2A\0\0\0\x08", GPS, b"!"])),
            riff_chunk(b"XMP ", &concat(&[b"<x:xmpmeta>", GPS, b"</x:xmpmeta>"])),
        ])
    }

    fn clean_webp() -> Vec<u8> {
        riff(&[vp8x(KEPT_FLAGS), riff_chunk(b"ICCP", b"fake icc"), vp8l()])
    }

    #[test]
    fn webp_loses_its_exif_and_xmp() {
        let phone = phone_webp();
        assert!(contains(&phone, GPS));
        let out = webp(&phone).unwrap();
        assert!(!contains(&out, GPS));
        assert!(!contains(&out, b"EXIF"));
        assert!(!contains(&out, b"XMP "));
        assert_eq!(out, clean_webp());
        // Flags cleared, the others kept; the RIFF size is the file's.
        assert_eq!(out[20], KEPT_FLAGS);
        let riff_size = u32::from_le_bytes(out[4..8].try_into().unwrap());
        assert_eq!(riff_size as usize, out.len() - 8);
        assert!(out.len() < phone.len());
    }

    #[test]
    fn webp_without_metadata_is_unchanged() {
        let simple = riff(&[vp8l()]);
        assert_eq!(webp(&simple).unwrap(), simple);
        let extended = clean_webp();
        assert_eq!(webp(&extended).unwrap(), extended);
    }

    #[test]
    fn webp_odd_sized_chunks_keep_or_lose_their_pad_byte() {
        let odd = riff_chunk(b"ODDS", b"odd");
        assert_eq!(odd.len(), 8 + 3 + 1);
        let file = riff(&[
            vp8l(),
            riff_chunk(b"EXIF", &concat(&[GPS, b"!"])),
            odd.clone(),
            riff_chunk(b"XMP ", b"x"),
        ]);
        let out = webp(&file).unwrap();
        assert_eq!(out, riff(&[vp8l(), odd]));
        let riff_size = u32::from_le_bytes(out[4..8].try_into().unwrap());
        assert_eq!(riff_size as usize, out.len() - 8);
        // An odd-sized last chunk without its pad byte is short.
        let mut unpadded = riff(&[vp8l()]);
        unpadded.pop();
        let size = u32::try_from(unpadded.len() - 8).unwrap();
        unpadded[4..8].copy_from_slice(&size.to_le_bytes());
        assert_eq!(webp(&unpadded), Err(Malformed));
    }

    #[test]
    fn webp_flags_are_cleared_even_without_the_chunks() {
        let file = riff(&[vp8x(ALL_FLAGS), vp8l()]);
        assert_eq!(webp(&file).unwrap(), riff(&[vp8x(KEPT_FLAGS), vp8l()]));
    }

    #[test]
    fn webp_after_the_riff_container_is_dropped() {
        let file = concat(&[&phone_webp(), GPS]);
        assert_eq!(webp(&file).unwrap(), clean_webp());
    }

    #[test]
    fn webp_every_prefix_is_malformed() {
        let phone = phone_webp();
        for n in 0..phone.len() {
            assert_eq!(webp(&phone[..n]), Err(Malformed), "prefix of {n} bytes");
        }
        assert_eq!(webp(&phone).unwrap(), clean_webp());
    }

    #[test]
    fn webp_garbage_is_malformed() {
        let with_size = |size: u32, rest: &[u8]| concat(&[&RIFF, &size.to_le_bytes(), &WEBP, rest]);
        let image = vp8l();
        let cases: Vec<Vec<u8>> = vec![
            vec![],
            RIFF.to_vec(),
            // not WebP
            concat(&[&RIFF, &[4, 0, 0, 0], b"WAVE"]),
            concat(&[b"RIFX", &[4, 0, 0, 0], &WEBP]),
            // RIFF sizes too small, or past the end
            with_size(0, &image),
            with_size(3, &image),
            with_size(u32::MAX, &image),
            with_size(u32::try_from(image.len() + 5).unwrap(), &image),
            // a chunk header, or a chunk, past the RIFF container's end
            with_size(
                u32::try_from(image.len() + 4 + 4).unwrap(),
                &concat(&[&image, b"EXIF"]),
            ),
            with_size(
                16,
                &[b"VP8L" as &[u8], &[0xFF, 0xFF, 0xFF, 0xFF], &[0; 8]].concat(),
            ),
            // a VP8X too short to be one
            riff(&[riff_chunk(b"VP8X", &[0x0C, 0, 0, 0]), image.clone()]),
            riff(&[riff_chunk(b"VP8X", &[]), image.clone()]),
        ];
        for case in cases {
            assert_eq!(webp(&case), Err(Malformed), "{case:02X?}");
        }
        survives_mangling(webp, &phone_webp());
    }

    #[test]
    fn webp_stripping_twice_changes_nothing() {
        let once = webp(&phone_webp()).unwrap();
        assert_eq!(webp(&once).unwrap(), once);
    }

    #[test]
    fn a_format_refuses_the_others() {
        assert_eq!(jpeg(&phone_png()), Err(Malformed));
        assert_eq!(jpeg(&phone_webp()), Err(Malformed));
        assert_eq!(png(&phone_jpeg()), Err(Malformed));
        assert_eq!(png(&phone_webp()), Err(Malformed));
        assert_eq!(webp(&phone_jpeg()), Err(Malformed));
        assert_eq!(webp(&phone_png()), Err(Malformed));
    }

    #[test]
    fn malformed_reads_as_an_error() {
        let error: Box<dyn std::error::Error> = Box::new(Malformed);
        assert_eq!(
            error.to_string(),
            "the picture is not a well-formed file of its format"
        );
    }
}
