//! Ed25519 verification of many signatures at once that accepts **exactly** what
//! `VerifyingKey::verify_strict` accepts (DESIGN.md §9, decision 0012).
//!
//! Batch verification checks one random linear combination of the verification equations
//! instead of each equation. `verify_strict` checks `R = [s]B − [k]A` exactly, cofactorless,
//! with `k = SHA-512(R ‖ A ‖ M)`, and refuses a non-canonical `s`, a small-order `R` or `A`,
//! and (by comparing encodings) a non-canonical `R`. A plain batch, even after those
//! pre-checks, is not equivalent: an error term `T = R − [s]B + [k]A` of small order (a
//! signer's `R` carrying a torsion component) vanishes in `Σ zᵢTᵢ` whenever `zᵢ` is a
//! multiple of its order, i.e. with probability up to 1/2; ed25519-dalek 3 even derives
//! `zᵢ` from the inputs, so a signer can grind for such a `z`.
//!
//! What makes it exact here:
//!
//! 1. **Pre-checks, each as `verify_strict` would fail:** `s` canonical; `R` a canonical
//!    encoding (`y < p`) of a curve point that is not of small order; `A` not of small
//!    order. A signature failing one goes to `verify_strict` alone, which refuses it.
//! 2. **Every `A` and every `R` lies in the prime-order subgroup.** Keys are tested one by
//!    one (`[ℓ]A = 0`, once per distinct key of the call); a key that fails sends its
//!    signatures to `verify_strict`. The `R`s are tested together: `K = 64` subsets `J`
//!    chosen from the caller's random seed, each `Σ_{i∈J} Rᵢ` tested for `[ℓ]S = 0`. If
//!    some `Rⱼ` has a torsion component, each subset sum misses it with probability at most
//!    1/2 (the subsets with and without `j` cannot both cancel), so all 64 miss it with
//!    probability ≤ 2⁻⁶⁴. Any failure sends the whole call to `verify_strict`.
//! 3. **One equation with secret random weights:** `Σ zᵢRᵢ + Σ_A (Σ_{i: Aᵢ=A} zᵢkᵢ) A −
//!    (Σ zᵢsᵢ) B = 0`, `zᵢ` 128-bit from the seed. With every point in the prime-order
//!    subgroup, every error term `Tᵢ` is too, and a nonzero one survives the combination
//!    except with probability ≈ 2⁻¹²⁸. A failure sends the call to `verify_strict`, which
//!    names the bad signatures.
//!
//! So a signature is accepted iff `R = [s]B − [k]A` with `R` canonical and neither `R` nor
//! `A` of small order — `verify_strict`'s condition — except with probability ≤ 2⁻⁶⁴ per
//! call, over randomness the signer never sees. The seed must be fresh and secret; this
//! crate does no I/O, so the caller supplies it.
//!
//! Below [`MIN_BATCH`] signatures the fixed cost of step 2 does not pay, and every
//! signature is checked alone, by [`verify_strict`]: the library's check without its final
//! point compression (about 8 % less time per signature, the same answers; it is what the
//! request signatures, the issuers' COSE signatures and the batch fallback use).

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha512};

/// Fewer signatures than this are checked one by one.
pub const MIN_BATCH: usize = 64;

/// Subset sums of the `R`s tested for torsion: the error bound is 2⁻ᴷ.
const SUBSETS: usize = 64;

/// One signature to check.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    /// The signer's key.
    pub key: &'a VerifyingKey,
    /// The signed bytes.
    pub message: &'a [u8],
    /// The signature.
    pub signature: &'a Signature,
}

impl Signed<'_> {
    fn strict(&self) -> bool {
        verify_strict(self.key, self.message, self.signature)
    }
}

/// For each signature, whether `verify_strict` accepts it; computed with one batch
/// equation where that gives the same answer (see the module documentation). `seed` must
/// be 32 fresh random bytes that no signer can know.
pub fn verify_strict_all(items: &[Signed<'_>], seed: &[u8; 32]) -> Vec<bool> {
    if items.len() < MIN_BATCH {
        return items.iter().map(Signed::strict).collect();
    }
    let mut ok = vec![false; items.len()];
    // Keys, each tested once: (bytes, point) of the keys fit for the batch.
    let mut keys: Vec<([u8; 32], Option<EdwardsPoint>)> = Vec::new();
    let mut slots: std::collections::HashMap<[u8; 32], usize> = std::collections::HashMap::new();
    let mut batch: Vec<Candidate> = Vec::with_capacity(items.len());
    for (i, it) in items.iter().enumerate() {
        let key = *it.key.as_bytes();
        let slot = *slots.entry(key).or_insert_with(|| {
            keys.push((key, fit_key(it.key)));
            keys.len() - 1
        });
        match (keys[slot].1, candidate(it, slot, i)) {
            (Some(_), Some(c)) => batch.push(c),
            _ => ok[i] = it.strict(),
        }
    }
    if batch.is_empty() {
        return ok;
    }
    let accepted = batch.len() >= MIN_BATCH
        && subgroup_sums_are_torsion_free(&batch, seed)
        && equation_holds(&batch, &keys, seed);
    for c in &batch {
        ok[c.at] = accepted || items[c.at].strict();
    }
    ok
}

/// Whether `verify_strict` accepts `signature` by `key` on `message`: the same answer for
/// every input, at less cost. `verify_strict` ends by compressing `[s]B − [k]A` (a field
/// inversion) to compare encodings; here the pre-checks of step 1 (canonical `s`;
/// canonical, decodable `R` not of small order; `A` not of small order) come first, and
/// the point is then compared with the decoded `R` in projective coordinates. That is the
/// same test: a canonical encoding of a point with `x ≠ 0` is its compression (the two
/// points with `x = 0` are of small order, refused above), and compression is injective.
pub fn verify_strict(key: &VerifyingKey, message: &[u8], signature: &Signature) -> bool {
    let it = Signed {
        key,
        message,
        signature,
    };
    let Some(c) = candidate(&it, 0, 0) else {
        return false;
    };
    let a = key.to_edwards();
    !a.is_small_order() && EdwardsPoint::vartime_double_scalar_mul_basepoint(&c.k, &-a, &c.s) == c.r
}

/// A signature that passed the pre-checks, decoded.
struct Candidate {
    /// Its place in the caller's list.
    at: usize,
    /// Its key's slot.
    key: usize,
    r: EdwardsPoint,
    s: Scalar,
    k: Scalar,
}

/// The key's point if it may be batched: not of small order, and in the prime-order
/// subgroup.
fn fit_key(key: &VerifyingKey) -> Option<EdwardsPoint> {
    let a = key.to_edwards();
    (!a.is_small_order() && a.is_torsion_free()).then_some(a)
}

/// The decoded signature if it passes `verify_strict`'s own refusals: canonical `s`,
/// canonical `R` that is a point not of small order.
fn candidate(it: &Signed<'_>, key: usize, at: usize) -> Option<Candidate> {
    let r_bytes = it.signature.r_bytes();
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(*it.signature.s_bytes()))?;
    if !canonical_y(r_bytes) {
        return None;
    }
    let r = CompressedEdwardsY(*r_bytes).decompress()?;
    if r.is_small_order() {
        return None;
    }
    let mut h = Sha512::new();
    h.update(r_bytes);
    h.update(it.key.as_bytes());
    h.update(it.message);
    let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
    Some(Candidate { at, key, r, s, k })
}

/// Whether the 255-bit `y` of an encoded point is below p = 2²⁵⁵ − 19. (The two points
/// with x = 0, whose sign bit must be 0, are both of small order and refused anyway.)
fn canonical_y(bytes: &[u8; 32]) -> bool {
    // y ≥ p only for y ∈ [2²⁵⁵ − 19, 2²⁵⁵ − 1]: byte 0 ≥ 0xed, bytes 1..31 all 0xff, and
    // the low seven bits of byte 31 all set.
    !(bytes[0] >= 0xed && bytes[1..31].iter().all(|b| *b == 0xff) && bytes[31] & 0x7f == 0x7f)
}

/// 64 bytes of `SHA-512(seed ‖ label ‖ i)`, for the secret weights and subsets.
fn prf(seed: &[u8; 32], label: u8, i: usize) -> [u8; 64] {
    let mut h = Sha512::new();
    h.update(seed);
    h.update([label]);
    h.update((i as u64).to_be_bytes());
    h.finalize().into()
}

/// Step 2 of the module documentation for the `R`s.
fn subgroup_sums_are_torsion_free(batch: &[Candidate], seed: &[u8; 32]) -> bool {
    subset_sums(batch, seed)
        .iter()
        .all(EdwardsPoint::is_torsion_free)
}

/// Bit `j` of `R`'s mask: whether `Rₙ` is in subset `j`.
fn subset_mask(seed: &[u8; 32], n: usize) -> u64 {
    let bits = prf(seed, b'J', n);
    u64::from_le_bytes([
        bits[0], bits[1], bits[2], bits[3], bits[4], bits[5], bits[6], bits[7],
    ])
}

/// The [`SUBSETS`] sums `Sⱼ = Σ_{n: bit j of mask n} Rₙ`. Added one `R` at a time, they
/// cost 32 point additions per signature on average. Here the `R`s go in blocks of four:
/// the 15 non-empty sums of a block's points cost 11 additions, and then each `Sⱼ` adds
/// the one its four bits pick (none when they are all zero): 11 + 64·15/16 = 71
/// additions per block, about 18 per signature. The sums are the same points.
fn subset_sums(batch: &[Candidate], seed: &[u8; 32]) -> [EdwardsPoint; SUBSETS] {
    let mut sums = [EdwardsPoint::default(); SUBSETS];
    for (b, block) in batch.chunks(4).enumerate() {
        let masks: Vec<u64> = (0..block.len())
            .map(|i| subset_mask(seed, 4 * b + i))
            .collect();
        // table[m]: the sum of the block's points whose bit is set in m.
        let mut table = [EdwardsPoint::default(); 16];
        for (i, c) in block.iter().enumerate() {
            let bit = 1 << i;
            table[bit] = c.r;
            for m in 1..bit {
                table[bit | m] = table[m] + c.r;
            }
        }
        for (j, sum) in sums.iter_mut().enumerate() {
            let pick = masks
                .iter()
                .enumerate()
                .fold(0, |m, (i, mask)| m | (((mask >> j) & 1) as usize) << i);
            if pick != 0 {
                *sum += &table[pick];
            }
        }
    }
    sums
}

/// Step 3 of the module documentation.
fn equation_holds(
    batch: &[Candidate],
    keys: &[([u8; 32], Option<EdwardsPoint>)],
    seed: &[u8; 32],
) -> bool {
    let mut b_coefficient = Scalar::ZERO;
    let mut key_coefficients = vec![Scalar::ZERO; keys.len()];
    let mut scalars = Vec::with_capacity(batch.len() + keys.len() + 1);
    let mut points = Vec::with_capacity(batch.len() + keys.len() + 1);
    for (n, c) in batch.iter().enumerate() {
        let w = prf(seed, b'z', n);
        let mut z = [0u8; 16];
        z.copy_from_slice(&w[..16]);
        let z = Scalar::from(u128::from_le_bytes(z));
        b_coefficient += z * c.s;
        key_coefficients[c.key] += z * c.k;
        scalars.push(z);
        points.push(c.r);
    }
    for ((_, point), coefficient) in keys.iter().zip(key_coefficients) {
        if let Some(a) = point {
            scalars.push(coefficient);
            points.push(*a);
        }
    }
    scalars.push(-b_coefficient);
    points.push(ED25519_BASEPOINT_POINT);
    EdwardsPoint::vartime_multiscalar_mul(scalars, points).is_identity()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use curve25519_dalek::constants::EIGHT_TORSION;
    use ed25519_dalek::{Signer, SigningKey};

    fn keys(n: u8) -> Vec<SigningKey> {
        (0..n)
            .map(|i| SigningKey::from_bytes(&[i + 1; 32]))
            .collect()
    }

    /// Signs `msg` with secret scalar `a` (public key `[a]B + key_torsion`), nonce `r` and
    /// `R = [r]B + r_torsion`, as a dishonest signer who knows its scalar can.
    fn sign_raw(
        a: Scalar,
        key_torsion: EdwardsPoint,
        r: Scalar,
        r_torsion: EdwardsPoint,
        msg: &[u8],
    ) -> (VerifyingKey, Signature) {
        let big_a = ED25519_BASEPOINT_POINT * a + key_torsion;
        let big_r = ED25519_BASEPOINT_POINT * r + r_torsion;
        let (ra, aa) = (big_r.compress(), big_a.compress());
        let mut h = Sha512::new();
        h.update(ra.as_bytes());
        h.update(aa.as_bytes());
        h.update(msg);
        let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
        let s = r + k * a;
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(ra.as_bytes());
        sig[32..].copy_from_slice(s.as_bytes());
        (
            VerifyingKey::from_bytes(aa.as_bytes()).unwrap(),
            Signature::from_bytes(&sig),
        )
    }

    /// `n` honest signatures of distinct messages by a few keys, plus `extra`.
    fn check(extra: &[(VerifyingKey, Signature, Vec<u8>)], seed: u8) -> (Vec<bool>, Vec<bool>) {
        let ks = keys(5);
        let msgs: Vec<Vec<u8>> = (0..100u32).map(|i| i.to_be_bytes().to_vec()).collect();
        let mut owned: Vec<(VerifyingKey, Signature, Vec<u8>)> = msgs
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let k = &ks[i % ks.len()];
                (k.verifying_key(), k.sign(m), m.clone())
            })
            .collect();
        owned.extend(extra.iter().cloned());
        let items: Vec<Signed<'_>> = owned
            .iter()
            .map(|(key, signature, message)| Signed {
                key,
                message,
                signature,
            })
            .collect();
        // The reference: ed25519-dalek's own `verify_strict`.
        let strict: Vec<bool> = items
            .iter()
            .map(|i| i.key.verify_strict(i.message, i.signature).is_ok())
            .collect();
        // The single verifier answers as the library's on every case the batch meets.
        let single: Vec<bool> = items
            .iter()
            .map(|i| verify_strict(i.key, i.message, i.signature))
            .collect();
        assert_eq!(single, strict);
        (verify_strict_all(&items, &[seed; 32]), strict)
    }

    /// The block-wise subset sums are the sums of the `R`s each mask selects, for
    /// batches whose length is not a multiple of the block size too.
    #[test]
    fn subset_sums_are_the_selected_sums() {
        for len in [1, 2, 3, 4, 5, 7, 8, 9, 64, 67] {
            let batch: Vec<Candidate> = (0..len)
                .map(|n| Candidate {
                    at: n,
                    key: 0,
                    r: ED25519_BASEPOINT_POINT * Scalar::from(1_000 + n as u64),
                    s: Scalar::ZERO,
                    k: Scalar::ZERO,
                })
                .collect();
            let seed = [len as u8; 32];
            let mut naive = [EdwardsPoint::default(); SUBSETS];
            for (n, c) in batch.iter().enumerate() {
                let mask = subset_mask(&seed, n);
                for (j, sum) in naive.iter_mut().enumerate() {
                    if (mask >> j) & 1 == 1 {
                        *sum += &c.r;
                    }
                }
            }
            assert_eq!(subset_sums(&batch, &seed), naive, "{len} signatures");
        }
    }

    #[test]
    fn honest_signatures_pass_and_a_forged_one_is_named() {
        let (got, strict) = check(&[], 1);
        assert!(got.iter().all(|b| *b));
        assert_eq!(got, strict);
        let k = SigningKey::from_bytes(&[42; 32]);
        let mut sig = k.sign(b"x").to_bytes();
        sig[40] ^= 1;
        let (got, strict) = check(
            &[(
                k.verifying_key(),
                Signature::from_bytes(&sig),
                b"x".to_vec(),
            )],
            2,
        );
        assert_eq!(got, strict);
        assert_eq!(got.iter().filter(|b| !**b).count(), 1);
    }

    /// A signer's `R` with a torsion component: `verify_strict` refuses it; a plain batch
    /// (ed25519-dalek's `verify_batch` after the usual pre-checks) would accept it about
    /// half the time for an order-2 component. Here it is refused every time.
    #[test]
    fn a_torsion_component_in_r_is_refused_exactly_like_verify_strict() {
        let a = Scalar::from(123_456_789u64);
        for (t, torsion) in EIGHT_TORSION.iter().enumerate().skip(1) {
            for seed in 0..16u8 {
                let r = Scalar::from(1000u64 + 16 * t as u64 + u64::from(seed));
                let msg = vec![t as u8, seed];
                let (vk, sig) = sign_raw(a, EdwardsPoint::default(), r, *torsion, &msg);
                assert!(vk.verify_strict(&msg, &sig).is_err());
                let (got, strict) = check(&[(vk, sig, msg)], seed);
                assert_eq!(got, strict, "torsion point {t}, seed {seed}");
                assert!(!got[100]);
            }
        }
    }

    /// Keys with a torsion component, small-order keys and `R`s, non-canonical `s` and `R`:
    /// every answer equals `verify_strict`'s.
    #[test]
    fn odd_keys_and_encodings_get_verify_strict_answers() {
        let a = Scalar::from(987_654_321u64);
        let msg = b"odd".to_vec();
        let mut extra = Vec::new();
        // A mixed-order key, honestly used: strict decides (and accepts when k·T = 0).
        for torsion in EIGHT_TORSION.iter().skip(1) {
            extra.push({
                let (vk, sig) = sign_raw(
                    a,
                    *torsion,
                    Scalar::from(5u64),
                    EdwardsPoint::default(),
                    &msg,
                );
                (vk, sig, msg.clone())
            });
        }
        // A small-order key and a small-order R.
        let weak = VerifyingKey::from_bytes(EIGHT_TORSION[1].compress().as_bytes()).unwrap();
        extra.push((weak, Signature::from_bytes(&[0; 64]), msg.clone()));
        let (vk, sig) = sign_raw(
            a,
            EdwardsPoint::default(),
            Scalar::ZERO,
            EIGHT_TORSION[4],
            &msg,
        );
        extra.push((vk, sig, msg.clone()));
        // Non-canonical s (s + ℓ) of a valid signature.
        let k = SigningKey::from_bytes(&[7; 32]);
        let good = k.sign(&msg).to_bytes();
        let mut high_s = good;
        // ℓ = 2²⁵² + 27742317777372353535851937790883648493, little-endian.
        let l: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut carry = 0u16;
        for i in 0..32 {
            let v = u16::from(high_s[32 + i]) + u16::from(l[i]) + carry;
            high_s[32 + i] = v as u8;
            carry = v >> 8;
        }
        extra.push((
            k.verifying_key(),
            Signature::from_bytes(&high_s),
            msg.clone(),
        ));
        // Non-canonical R: y = p + 1 encodes the same point as y = 1 (the identity).
        let mut r_high = [0xff; 64];
        r_high[0] = 0xee;
        r_high[31] = 0x7f;
        extra.push((
            k.verifying_key(),
            Signature::from_bytes(&r_high),
            msg.clone(),
        ));
        // The identity as R with s = k·a: [s]B − [k]A is the identity, so a plain batch
        // accepts it without any grinding; verify_strict refuses a small-order R.
        let (vk, sig) = sign_raw(
            a,
            EdwardsPoint::default(),
            Scalar::ZERO,
            EIGHT_TORSION[0],
            &msg,
        );
        assert!(vk.verify_strict(&msg, &sig).is_err());
        extra.push((vk, sig, msg.clone()));
        // Non-canonical R with a canonical s: y = p + 3 (a mixed-order point).
        let mut r_p3 = [0u8; 64];
        r_p3[..32].copy_from_slice(&[0xff; 32]);
        r_p3[0] = 0xf0;
        r_p3[31] = 0x7f;
        extra.push((k.verifying_key(), Signature::from_bytes(&r_p3), msg.clone()));
        // An R that does not decompress.
        let no_point = (2u8..=255)
            .find(|y| {
                let mut b = [0u8; 32];
                b[0] = *y;
                CompressedEdwardsY(b).decompress().is_none()
            })
            .unwrap();
        let mut r_none = good;
        r_none[..32].copy_from_slice(&[0; 32]);
        r_none[0] = no_point;
        extra.push((
            k.verifying_key(),
            Signature::from_bytes(&r_none),
            msg.clone(),
        ));
        // A non-canonical key encoding (y = p + 3), where the library accepts it as a key.
        let mut a_p3 = [0xffu8; 32];
        a_p3[0] = 0xf0;
        a_p3[31] = 0x7f;
        if let Ok(vk) = VerifyingKey::from_bytes(&a_p3) {
            extra.push((vk, Signature::from_bytes(&good), msg.clone()));
        }
        let (got, strict) = check(&extra, 3);
        assert_eq!(got, strict);
        assert!(got[..100].iter().all(|b| *b));
    }

    /// Every single-bit change of an honest signature, key-side and message-side: the single
    /// verifier refuses exactly what the library's `verify_strict` refuses.
    #[test]
    fn the_single_verifier_answers_as_verify_strict_on_every_bit_flip() {
        let k = SigningKey::from_bytes(&[9; 32]);
        let msg = b"flip".to_vec();
        let good = k.sign(&msg).to_bytes();
        let vk = k.verifying_key();
        assert!(verify_strict(&vk, &msg, &Signature::from_bytes(&good)));
        for bit in 0..512 {
            let mut b = good;
            b[bit / 8] ^= 1 << (bit % 8);
            let sig = Signature::from_bytes(&b);
            assert_eq!(
                verify_strict(&vk, &msg, &sig),
                vk.verify_strict(&msg, &sig).is_ok(),
                "signature bit {bit}"
            );
        }
        for bit in 0..msg.len() * 8 {
            let mut m = msg.clone();
            m[bit / 8] ^= 1 << (bit % 8);
            let sig = Signature::from_bytes(&good);
            assert!(!verify_strict(&vk, &m, &sig), "message bit {bit}");
        }
    }

    #[test]
    fn canonical_y_refuses_exactly_the_values_at_or_above_p() {
        let mut p = [0xff; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        assert!(!canonical_y(&p));
        let mut below = p;
        below[0] = 0xec;
        assert!(canonical_y(&below));
        let mut top = [0xff; 32];
        top[31] = 0x7f;
        assert!(!canonical_y(&top));
        // The sign bit is not part of y.
        let mut signed = below;
        signed[31] |= 0x80;
        assert!(canonical_y(&signed));
    }
}
