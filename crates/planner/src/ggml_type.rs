//! ggml tensor types: block sizes and bytes per block (ggml.c `type_traits`, gguf-py
//! `GGML_QUANT_SIZES`).

use crate::error::{PlanError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GgmlType {
    pub id: u32,
    pub name: &'static str,
    /// Elements per block.
    pub block: u64,
    /// Bytes per block.
    pub bytes: u64,
}

const fn t(id: u32, name: &'static str, block: u64, bytes: u64) -> GgmlType {
    GgmlType {
        id,
        name,
        block,
        bytes,
    }
}

const QK_K: u64 = 256;

/// Every type id a GGUF file may carry today. 4, 5 (old Q4_2/Q4_3) and 31–38 (repacked or
/// withdrawn) are never stored in files.
const TYPES: &[GgmlType] = &[
    t(0, "f32", 1, 4),
    t(1, "f16", 1, 2),
    t(2, "q4_0", 32, 18),
    t(3, "q4_1", 32, 20),
    t(6, "q5_0", 32, 22),
    t(7, "q5_1", 32, 24),
    t(8, "q8_0", 32, 34),
    t(9, "q8_1", 32, 36),
    t(10, "q2_K", QK_K, 84),
    t(11, "q3_K", QK_K, 110),
    t(12, "q4_K", QK_K, 144),
    t(13, "q5_K", QK_K, 176),
    t(14, "q6_K", QK_K, 210),
    t(15, "q8_K", QK_K, 292),
    t(16, "iq2_xxs", QK_K, 66),
    t(17, "iq2_xs", QK_K, 74),
    t(18, "iq3_xxs", QK_K, 98),
    t(19, "iq1_s", QK_K, 50),
    t(20, "iq4_nl", 32, 18),
    t(21, "iq3_s", QK_K, 110),
    t(22, "iq2_s", QK_K, 82),
    t(23, "iq4_xs", QK_K, 136),
    t(24, "i8", 1, 1),
    t(25, "i16", 1, 2),
    t(26, "i32", 1, 4),
    t(27, "i64", 1, 8),
    t(28, "f64", 1, 8),
    t(29, "iq1_m", QK_K, 56),
    t(30, "bf16", 1, 2),
    t(34, "tq1_0", QK_K, 54),
    t(35, "tq2_0", QK_K, 66),
    t(39, "mxfp4", 32, 17),
    t(40, "nvfp4", 64, 36),
    t(41, "q1_0", 128, 18),
    t(42, "q2_0", 64, 18),
];

pub const F16: GgmlType = t(1, "f16", 1, 2);
pub const Q8_0: GgmlType = t(8, "q8_0", 32, 34);
pub const Q4_0: GgmlType = t(2, "q4_0", 32, 18);

impl GgmlType {
    pub fn from_id(id: u32) -> Result<GgmlType> {
        TYPES
            .iter()
            .copied()
            .find(|t| t.id == id)
            .ok_or_else(|| PlanError::Unsupported(format!("ggml tensor type {id}")))
    }

    /// Bytes of `n` elements; `None` if `n` is not a whole number of blocks or overflows.
    pub fn bytes_for(&self, n: u64) -> Option<u64> {
        if !n.is_multiple_of(self.block) {
            return None;
        }
        (n / self.block).checked_mul(self.bytes)
    }

    pub fn is_quantized(&self) -> bool {
        self.block > 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_per_weight_of_common_types() {
        let bpw = |id| {
            let t = GgmlType::from_id(id).unwrap();
            t.bytes as f64 * 8.0 / t.block as f64
        };
        assert_eq!(bpw(12), 4.5); // q4_K
        assert_eq!(bpw(14), 6.5625); // q6_K
        assert_eq!(bpw(8), 8.5); // q8_0
        assert_eq!(bpw(3), 5.0); // q4_1
        assert!(GgmlType::from_id(4).is_err());
        assert_eq!(Q8_0.bytes_for(33), None);
        assert_eq!(Q8_0.bytes_for(64), Some(68));
    }
}
