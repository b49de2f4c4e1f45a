//! Seeded randomness for tests: a failure replays with the same numbers.

/// A small deterministic generator (SplitMix64): no dependency, and the
/// same seed gives the same sequence on every run.
pub struct Moments(pub u64);

impl Moments {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn next_fraction(&mut self) -> f64 {
        self.next_u64() as f64 / u64::MAX as f64
    }

    /// A moment within `span`, a little past it now and then so some
    /// kills land as the command finishes.
    pub fn within(&mut self, span: std::time::Duration) -> std::time::Duration {
        span.mul_f64(self.next_fraction() * 1.1)
    }
}

/// `len` incompressible bytes from `seed`, cheap to make: a layer or a
/// file that no compressor shrinks.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut moments = Moments(seed);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(&moments.next_u64().to_le_bytes());
    }
    out.truncate(len);
    out
}
