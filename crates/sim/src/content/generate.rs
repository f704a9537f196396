//! Generated file content: bytes made on demand from a number, and their
//! QuickXorHash in O(160) without reading them.
//!
//! Byte `i` of a file is `B[(i + o) mod L] ^ c_j[i mod 8]`, where `B` is one
//! pseudo-random block of `L = 160 × 1024` bytes shared by every file, `o` an offset
//! into it and `c_j` a 64-bit word per block `j = i / L`, both derived from the
//! file's content seed (the tenant seed, the item and its content version). Reading a
//! range is a copy from `B` and an XOR of one word per 8 bytes; nothing is stored per
//! file, so a file of many GB costs no memory.
//!
//! QuickXorHash XORs byte `i` in at bit `11 i mod 160`, which repeats every 160 bytes:
//! the hash depends only on the 160 column sums (byte `k` = XOR of the bytes at
//! positions `≡ k mod 160`) and the length. `L` is a multiple of 160 and `8`, so over
//! a whole block each column receives each lane of `c_j` 1024 times (they cancel) and
//! the columns of `B`, turned by `o`. A file's columns are thus the columns of `B`
//! for the blocks an odd number of times, those of one segment of `B` (from the
//! prefix sums kept at every 160th byte, plus under 160 bytes at each end) and the
//! lanes of the last block's word in the columns counted an odd number of times.
//! Placing those 160 bytes at their bits ([`fold`]) and XORing in the length gives
//! the hash of the whole file; the tests check it against the `quickxorhash` crate
//! over the bytes themselves.

use std::sync::OnceLock;

use crate::ids;

/// Bytes per QuickXorHash column cycle.
const ROW: usize = 160;
/// Rows per block of `B`.
const ROWS: usize = 1024;
/// Length of the shared block `B`, a multiple of [`ROW`] and of 8.
pub(crate) const BLOCK: usize = ROW * ROWS;
/// Seed of `B` (files differ by their offset and words, not by `B`).
const BLOCK_SEED: u64 = 0x424C_4F43_4B00_0001;

/// The shared block and its column sums.
struct Source {
    bytes: Box<[u8]>,
    /// `rows[m]`: the column sums of `bytes[..ROW * m]`, for `m` in `0..=ROWS`.
    rows: Box<[[u8; ROW]]>,
}

fn source() -> &'static Source {
    static SOURCE: OnceLock<Source> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let bytes: Box<[u8]> = (0..BLOCK / 8)
            .flat_map(|w| ids::mix(BLOCK_SEED, w as u64).to_le_bytes())
            .collect();
        let mut rows = vec![[0u8; ROW]; ROWS + 1];
        for m in 0..ROWS {
            let mut next = rows[m];
            xor_into(&mut next, &bytes[m * ROW..(m + 1) * ROW]);
            rows[m + 1] = next;
        }
        Source {
            bytes,
            rows: rows.into_boxed_slice(),
        }
    })
}

fn xor_into(acc: &mut [u8], bytes: &[u8]) {
    acc.iter_mut().zip(bytes).for_each(|(a, b)| *a ^= b);
}

/// The content of one generated file: its seed and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Generated {
    /// Stands for the file's current content (see `Drive::content_seed`).
    pub seed: u64,
    /// Length in bytes.
    pub size: u64,
}

impl Generated {
    /// The offset into `B` of byte 0.
    fn offset(&self) -> usize {
        (ids::mix(self.seed, 0x4F46_4653) % BLOCK as u64) as usize
    }

    /// The word XORed over block `j`.
    fn word(&self, j: u64) -> u64 {
        ids::mix(self.seed, j)
    }

    /// Writes the bytes from `start` into `out` (as many as fit; past the size the
    /// pattern goes on, which the callers clamp).
    pub fn fill(&self, start: u64, out: &mut [u8]) {
        let b = &source().bytes;
        let o = self.offset();
        let mut i = start;
        let mut done = 0;
        while done < out.len() {
            let t = (i % BLOCK as u64) as usize;
            let u = (t + o) % BLOCK;
            let run = (BLOCK - t).min(BLOCK - u).min(out.len() - done);
            let part = &mut out[done..done + run];
            part.copy_from_slice(&b[u..u + run]);
            // Byte x of `part` takes lane (i + x) mod 8 of the word: one u64 XOR per 8 bytes.
            let word = self.word(i / BLOCK as u64).rotate_right(8 * (i % 8) as u32);
            let mut lanes = part.chunks_exact_mut(8);
            for chunk in &mut lanes {
                let mut v = [0u8; 8];
                v.copy_from_slice(chunk);
                chunk.copy_from_slice(&(u64::from_le_bytes(v) ^ word).to_le_bytes());
            }
            let tail = lanes.into_remainder();
            xor_into(tail, &word.to_le_bytes());
            done += run;
            i += run as u64;
        }
    }

    /// The QuickXorHash of all the bytes, computed from the column sums.
    pub fn quick_xor_hash(&self) -> [u8; 20] {
        let src = source();
        let o = self.offset();
        let full_blocks = self.size / BLOCK as u64;
        let rest = (self.size % BLOCK as u64) as usize;
        // Columns in `B`'s own numbering (byte u of B is in column u mod 160): the
        // whole of B for an odd number of blocks, and the segment B[o..o + rest]
        // (wrapping past the end of B) from prefix sums.
        let mut y = [0u8; ROW];
        let mut add_prefix = |x: usize| {
            let m = x / ROW;
            xor_into(&mut y, &src.rows[m]);
            xor_into(&mut y, &src.bytes[m * ROW..x]);
        };
        if full_blocks % 2 == 1 {
            add_prefix(BLOCK);
        }
        add_prefix(o);
        if o + rest <= BLOCK {
            add_prefix(o + rest);
        } else {
            add_prefix(BLOCK);
            add_prefix(o + rest - BLOCK);
        }
        // File byte i is B's byte i + o: file column k is B's column k + o.
        let turn = o % ROW;
        let mut x = [0u8; ROW];
        x[..ROW - turn].copy_from_slice(&y[turn..]);
        x[ROW - turn..].copy_from_slice(&y[..turn]);
        // The last, partial block's word, in the columns it fills an odd number of
        // times: those below `cols` when the whole rows are even, the others if odd.
        let lanes = self.word(full_blocks);
        let (rows_odd, cols) = ((rest / ROW) % 2 == 1, rest % ROW);
        let (below, above) = if rows_odd { (0, lanes) } else { (lanes, 0) };
        for (w, chunk) in x.chunks_exact_mut(8).enumerate() {
            let low_columns = cols.saturating_sub(8 * w).min(8);
            let low = u64::MAX
                .checked_shr(64 - 8 * low_columns as u32)
                .unwrap_or(0);
            xor_into(chunk, &((below & low) | (above & !low)).to_le_bytes());
        }
        let mut hash = fold(&x);
        xor_into(&mut hash[12..], &self.size.to_le_bytes());
        hash
    }
}

/// `BY_BIT[r][j]`: the column whose byte QuickXorHash puts at bit `8 j + r` (column
/// k goes to bit `11 k mod 160`, and `11 × 131 ≡ 1 mod 160`).
const BY_BIT: [[u8; 20]; 8] = {
    let mut table = [[0u8; 20]; 8];
    let mut r = 0;
    while r < 8 {
        let mut j = 0;
        while j < 20 {
            table[r][j] = ((131 * (8 * j + r)) % ROW) as u8;
            j += 1;
        }
        r += 1;
    }
    table
};

/// The 160-bit QuickXorHash state of 160 column sums, before the length: the same
/// as the `quickxorhash` crate's final step, eight shifts of 20 gathered bytes
/// instead of 160 single placements (the tests compare the two).
fn fold(columns: &[u8; ROW]) -> [u8; 20] {
    let mut state = [0u64; 3];
    for (r, by_byte) in BY_BIT.iter().enumerate() {
        // The 20 columns that land r bits past a byte boundary, as one 160-bit number
        // (little-endian words, the last holding 32 bits), turned left by r bits.
        let mut bytes = [0u8; 24];
        for (b, &k) in bytes.iter_mut().zip(by_byte) {
            *b = columns[k as usize];
        }
        let w = [0, 1, 2].map(|i| {
            let mut word = [0u8; 8];
            word.copy_from_slice(&bytes[8 * i..8 * i + 8]);
            u64::from_le_bytes(word)
        });
        let turned = match r as u32 {
            0 => w,
            r => [
                (w[0] << r) | (w[2] >> (32 - r)),
                (w[1] << r) | (w[0] >> (64 - r)),
                ((w[2] << r) | (w[1] >> (64 - r))) & 0xFFFF_FFFF,
            ],
        };
        for (s, t) in state.iter_mut().zip(turned) {
            *s ^= t;
        }
    }
    let mut out = [0u8; 20];
    out[..8].copy_from_slice(&state[0].to_le_bytes());
    out[8..16].copy_from_slice(&state[1].to_le_bytes());
    out[16..].copy_from_slice(&state[2].to_le_bytes()[..4]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickxorhash::QuickXorHash;

    fn bytes(g: &Generated) -> Vec<u8> {
        let mut v = vec![0; g.size as usize];
        g.fill(0, &mut v);
        v
    }

    fn crate_hash(bytes: &[u8]) -> [u8; 20] {
        let mut h = QuickXorHash::new();
        h.update(bytes);
        h.finalize()
    }

    #[test]
    fn the_crate_matches_known_vectors() {
        // Computed with Python's `quickxorhash` package (PyPI), independently of the crate.
        let b64 = |h: [u8; 20]| {
            let mut out = Vec::new();
            ids::write_base64(&mut out, &h);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(
            b64(crate_hash(b"hello world")),
            "aCgDG9jwBhDc4Q1yawMZAAAAAAA="
        );
        let pattern: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        assert_eq!(b64(crate_hash(&pattern)), "hNsGCVKR90prHWP/ZJHOFVZ+TIk=");
    }

    #[test]
    fn the_fast_hash_is_the_hash_of_the_bytes() {
        let sizes = [
            0,
            1,
            7,
            159,
            160,
            161,
            319,
            320,
            BLOCK - 1,
            BLOCK,
            BLOCK + 1,
            2 * BLOCK,
            3 * BLOCK + 17,
        ];
        for seed in [0u64, 1, 42, u64::MAX] {
            for size in sizes {
                let g = Generated {
                    seed,
                    size: size as u64,
                };
                assert_eq!(
                    g.quick_xor_hash(),
                    crate_hash(&bytes(&g)),
                    "seed {seed}, size {size}"
                );
            }
        }
    }

    #[test]
    fn versions_and_blocks_differ() {
        let a = Generated {
            seed: 1,
            size: 3 * BLOCK as u64,
        };
        let b = Generated { seed: 2, ..a };
        assert_ne!(a.quick_xor_hash(), b.quick_xor_hash());
        let all = bytes(&a);
        assert_ne!(all[..BLOCK], all[BLOCK..2 * BLOCK]);
        assert_ne!(all, bytes(&b));
        // Sizes that cancel the per-block words still hash apart.
        let even = Generated { seed: 1, size: 320 };
        assert_ne!(
            even.quick_xor_hash(),
            Generated { seed: 3, ..even }.quick_xor_hash()
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn fold_places_columns_as_the_crate_does(columns: [u8; 32], pad: u8) {
            let mut x = [pad; ROW];
            x[..32].copy_from_slice(&columns);
            let mut expected = crate_hash(&x);
            xor_into(&mut expected[12..], &(ROW as u64).to_le_bytes());
            proptest::prop_assert_eq!(fold(&x), expected);
        }

        #[test]
        fn hashes_and_slices_agree_with_the_bytes(seed: u64, size in 0u64..4 * BLOCK as u64, a: u64, n in 0usize..5000) {
            let g = Generated { seed, size };
            let all = bytes(&g);
            proptest::prop_assert_eq!(g.quick_xor_hash(), crate_hash(&all));
            let start = if size == 0 { 0 } else { a % size };
            let end = (start as usize + n).min(size as usize);
            let mut part = vec![0; end - start as usize];
            g.fill(start, &mut part);
            proptest::prop_assert_eq!(&part[..], &all[start as usize..end]);
        }
    }
}
