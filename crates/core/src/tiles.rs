//! C2SP `tlog-tiles` addressing and entry bundles (<https://c2sp.org/tlog-tiles>).
//!
//! Tiles have height 8: a full tile holds 256 hashes (or, for entry bundles, 256 entries).
//! A tile at level `L` and index `N` holds the hashes of the tree nodes at level `8·L` with
//! indices `256·N … 256·N+W−1`. A *partial* tile (`.p/W`, `1 ≤ W ≤ 255`) is the prefix of
//! width `W` of a tile that is not yet full; once published, neither kind ever changes.
//!
//! Paths are parsed strictly: exactly one spelling is accepted for each tile, so the
//! same tile is never cached under two URLs.

use crate::entry::MAX_ENTRY_SIZE;
use thiserror::Error;

/// Tile height: each tile spans 2^8 nodes.
pub const TILE_HEIGHT: u8 = 8;
/// Entries (or hashes) in a full tile.
pub const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;

/// Largest level that can exist in a tree of fewer than 2^64 leaves: a level-8 tile
/// would need 2^64.
const MAX_LEVEL: u8 = 7;

/// A parsed tile address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileId {
    /// A hash tile: `tile/<L>/<N>[.p/<W>]`.
    Hashes {
        /// Tile level (level 0 holds leaf hashes).
        level: u8,
        /// Index of the tile within its level.
        index: u64,
        /// Number of hashes, 1–256.
        width: u16,
    },
    /// An entry bundle: `tile/entries/<N>[.p/<W>]`.
    Entries {
        /// Index of the bundle.
        index: u64,
        /// Number of entries, 1–256.
        width: u16,
    },
}

/// A tile path that does not follow the C2SP spelling.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("malformed tile path")]
pub struct BadTilePath;

impl TileId {
    /// Parses the part of the path after `tile/`.
    pub fn parse(path: &str) -> Result<Self, BadTilePath> {
        // Longest valid path: "entries/" + 7 groups for u64 ("x018/…/615") + ".p/255".
        if path.len() > 64 {
            return Err(BadTilePath);
        }
        let (first, rest) = path.split_once('/').ok_or(BadTilePath)?;
        let (index, width) = parse_index_and_width(rest)?;
        if first == "entries" {
            return Ok(Self::Entries { index, width });
        }
        let level = parse_decimal(first).ok_or(BadTilePath)?;
        let level = u8::try_from(level).map_err(|_| BadTilePath)?;
        if level > MAX_LEVEL {
            return Err(BadTilePath);
        }
        Ok(Self::Hashes {
            level,
            index,
            width,
        })
    }

    /// The canonical path, without a leading slash: `tile/…`.
    pub fn path(&self) -> String {
        let (first, index, width) = match *self {
            Self::Hashes {
                level,
                index,
                width,
            } => (level.to_string(), index, width),
            Self::Entries { index, width } => ("entries".to_owned(), index, width),
        };
        let mut groups = vec![format!("{:03}", index % 1000)];
        let mut n = index / 1000;
        while n > 0 {
            groups.push(format!("x{:03}", n % 1000));
            n /= 1000;
        }
        groups.reverse();
        let partial = if u64::from(width) == TILE_WIDTH {
            String::new()
        } else {
            format!(".p/{width}")
        };
        format!("tile/{first}/{}{partial}", groups.join("/"))
    }

    /// The number of leaves the tree must have for this tile to exist.
    /// `None` when that number does not fit in a `u64` (the tile can never exist).
    pub fn required_tree_size(&self) -> Option<u64> {
        match *self {
            Self::Hashes {
                level,
                index,
                width,
            } => {
                let nodes = index
                    .checked_mul(TILE_WIDTH)?
                    .checked_add(u64::from(width))?;
                let shift = u32::from(level) * u32::from(TILE_HEIGHT);
                let leaves = nodes.checked_shl(shift)?;
                // A shift that drops high bits is an overflow too.
                (leaves >> shift == nodes).then_some(leaves)
            }
            Self::Entries { index, width } => {
                index.checked_mul(TILE_WIDTH)?.checked_add(u64::from(width))
            }
        }
    }
}

fn parse_decimal(s: &str) -> Option<u64> {
    // No sign, no leading zeros (except "0" itself), digits only.
    if s.is_empty() || (s.len() > 1 && s.starts_with('0')) || !s.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse().ok()
}

fn parse_index_and_width(rest: &str) -> Result<(u64, u16), BadTilePath> {
    let (index_part, width) = match rest.split_once(".p/") {
        Some((idx, w)) => {
            let w = parse_decimal(w).ok_or(BadTilePath)?;
            if !(1..TILE_WIDTH).contains(&w) {
                return Err(BadTilePath);
            }
            (idx, w as u16)
        }
        None => (rest, TILE_WIDTH as u16),
    };
    let groups: Vec<&str> = index_part.split('/').collect();
    let mut index: u64 = 0;
    for (i, g) in groups.iter().enumerate() {
        let digits = if i + 1 < groups.len() {
            g.strip_prefix('x').ok_or(BadTilePath)?
        } else {
            g
        };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BadTilePath);
        }
        let d: u64 = digits.parse().map_err(|_| BadTilePath)?;
        index = index
            .checked_mul(1000)
            .and_then(|v| v.checked_add(d))
            .ok_or(BadTilePath)?;
    }
    // The canonical spelling has no leading "x000/" groups.
    if groups.len() > 1 && groups[0] == "x000" {
        return Err(BadTilePath);
    }
    Ok((index, width))
}

/// Why an entry bundle could not be read.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum BundleError {
    /// The bundle ends in the middle of a length prefix or an entry.
    #[error("entry bundle is truncated")]
    Truncated,
    /// An entry is empty; no valid entry is.
    #[error("entry bundle holds an empty entry")]
    EmptyEntry,
}

/// Every hash tile of a tree of `size` leaves, level by level: full tiles, then the
/// partial one of each level, as a tlog-tiles server serves them at that size.
pub fn hash_tiles(size: u64) -> Vec<TileId> {
    let mut out = Vec::new();
    for level in 0u8.. {
        let nodes = size
            .checked_shr(u32::from(level) * u32::from(TILE_HEIGHT))
            .unwrap_or(0);
        if nodes == 0 {
            break;
        }
        for index in 0..nodes.div_ceil(TILE_WIDTH) {
            out.push(TileId::Hashes {
                level,
                index,
                // INVARIANT: at most TILE_WIDTH = 256, which fits in u16.
                width: (nodes - index * TILE_WIDTH).min(TILE_WIDTH) as u16,
            });
        }
    }
    out
}

/// Appends one entry to a bundle: a big-endian `uint16` length, then the bytes.
///
/// # Panics
/// When `entry` is longer than [`MAX_ENTRY_SIZE`]; entries are checked long before they
/// reach a bundle, so this is a programming error.
pub fn push_bundle_entry(bundle: &mut Vec<u8>, entry: &[u8]) {
    assert!(
        entry.len() <= MAX_ENTRY_SIZE,
        "entry exceeds the bundle format"
    );
    #[allow(clippy::cast_possible_truncation)]
    bundle.extend_from_slice(&(entry.len() as u16).to_be_bytes());
    bundle.extend_from_slice(entry);
}

/// Splits an entry bundle into its entries.
pub fn split_bundle(mut bundle: &[u8]) -> Result<Vec<&[u8]>, BundleError> {
    let mut out = Vec::new();
    while !bundle.is_empty() {
        let [a, b, rest @ ..] = bundle else {
            return Err(BundleError::Truncated);
        };
        let len = usize::from(u16::from_be_bytes([*a, *b]));
        if len == 0 {
            return Err(BundleError::EmptyEntry);
        }
        if rest.len() < len {
            return Err(BundleError::Truncated);
        }
        let (entry, tail) = rest.split_at(len);
        out.push(entry);
        bundle = tail;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_spec_examples() {
        assert_eq!(
            TileId::parse("0/x001/x234/067").unwrap(),
            TileId::Hashes {
                level: 0,
                index: 1_234_067,
                width: 256
            }
        );
        assert_eq!(
            TileId::parse("entries/x001/x234/067.p/8").unwrap(),
            TileId::Entries {
                index: 1_234_067,
                width: 8
            }
        );
        assert_eq!(
            TileId::parse("2/000").unwrap(),
            TileId::Hashes {
                level: 2,
                index: 0,
                width: 256
            }
        );
    }

    #[test]
    fn path_round_trips() {
        for id in [
            TileId::Hashes {
                level: 1,
                index: 1_234_067,
                width: 256,
            },
            TileId::Entries { index: 0, width: 1 },
            TileId::Entries {
                index: u64::MAX,
                width: 255,
            },
        ] {
            let p = id.path();
            assert_eq!(TileId::parse(p.strip_prefix("tile/").unwrap()).unwrap(), id);
        }
    }

    #[test]
    fn rejects_every_other_spelling() {
        for bad in [
            "",
            "0",
            "0/",
            "0/67",
            "0/0067",
            "0/x067",
            "0/000/001",
            "0/x000/067",
            "0/067.p/0",
            "0/067.p/256",
            "0/067.p/08",
            "0/067.p/",
            "00/067",
            "8/000",
            "9/000",
            "-1/000",
            "0/+67",
            "entries/067.p/1/2",
            "data/000",
            "0/x018/x446/x744/x073/x709/x551/616",
            "0/067.p/-1",
            "0/x1/067",
        ] {
            assert_eq!(TileId::parse(bad), Err(BadTilePath), "{bad}");
        }
    }

    #[test]
    fn required_size_overflow_is_none() {
        let t = TileId::Hashes {
            level: 7,
            index: 1 << 8,
            width: 256,
        };
        assert_eq!(t.required_tree_size(), None);
        let t = TileId::Hashes {
            level: 1,
            index: 0,
            width: 3,
        };
        assert_eq!(t.required_tree_size(), Some(768));
    }

    #[test]
    fn bundles_round_trip_and_reject_truncation() {
        let mut b = Vec::new();
        push_bundle_entry(&mut b, b"abc");
        push_bundle_entry(&mut b, &[7; 300]);
        let parts = split_bundle(&b).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], b"abc");
        assert_eq!(split_bundle(&b[..b.len() - 1]), Err(BundleError::Truncated));
        assert_eq!(split_bundle(&[0]), Err(BundleError::Truncated));
        assert_eq!(split_bundle(&[0, 0]), Err(BundleError::EmptyEntry));
    }
}
