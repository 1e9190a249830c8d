//! A safetensors reader for f32 tensors: an 8-byte little-endian header length, a JSON header
//! `{name: {dtype, shape, data_offsets}}`, then the data. Every length and offset is checked
//! against the file before anything is allocated from it.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use crate::DiarizeError;

/// A tensor: row-major f32 data and its shape.
#[derive(Debug, Clone)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Named tensors of one model file.
#[derive(Debug)]
pub struct Weights {
    tensors: HashMap<String, Tensor>,
    origin: String,
}

#[derive(Deserialize)]
struct Entry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: [usize; 2],
}

impl Weights {
    pub fn open(path: &Path) -> Result<Self, DiarizeError> {
        let bytes = std::fs::read(path).map_err(|e| DiarizeError::io(path, e))?;
        Self::parse(&bytes, &path.display().to_string())
    }

    pub fn parse(bytes: &[u8], origin: &str) -> Result<Self, DiarizeError> {
        let bad = |why: String| DiarizeError::Model {
            path: origin.to_string(),
            why,
        };
        let head_len = bytes
            .get(..8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize)
            .ok_or_else(|| bad("shorter than a safetensors header".into()))?;
        let data_start = 8usize
            .checked_add(head_len)
            .filter(|&end| end <= bytes.len())
            .ok_or_else(|| bad(format!("header length {head_len} runs past the file")))?;
        let header: HashMap<String, serde_json::Value> =
            serde_json::from_slice(&bytes[8..data_start])
                .map_err(|e| bad(format!("header is not JSON: {e}")))?;
        let data = &bytes[data_start..];
        let mut tensors = HashMap::new();
        for (name, value) in header {
            if name == "__metadata__" {
                continue;
            }
            let entry: Entry =
                serde_json::from_value(value).map_err(|e| bad(format!("tensor {name}: {e}")))?;
            if entry.dtype != "F32" {
                return Err(bad(format!(
                    "tensor {name}: dtype {} (F32 expected)",
                    entry.dtype
                )));
            }
            let [from, to] = entry.data_offsets;
            // A shape whose size overflows cannot match any data (and must not wrap into one
            // that does).
            let bytes = entry
                .shape
                .iter()
                .try_fold(4usize, |n, &d| n.checked_mul(d))
                .ok_or_else(|| bad(format!("tensor {name}: shape {:?} overflows", entry.shape)))?;
            if from > to || to > data.len() || to - from != bytes {
                return Err(bad(format!(
                    "tensor {name}: offsets {from}..{to} do not fit"
                )));
            }
            let values = data[from..to]
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
                .collect();
            tensors.insert(
                name,
                Tensor {
                    shape: entry.shape,
                    data: values,
                },
            );
        }
        Ok(Weights {
            tensors,
            origin: origin.to_string(),
        })
    }

    /// The tensor `name`, whose shape must be `shape`.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<&Tensor, DiarizeError> {
        let t = self.tensors.get(name).ok_or_else(|| DiarizeError::Model {
            path: self.origin.clone(),
            why: format!("tensor {name} missing"),
        })?;
        if t.shape != shape {
            return Err(DiarizeError::Model {
                path: self.origin.clone(),
                why: format!("tensor {name} has shape {:?}, expected {shape:?}", t.shape),
            });
        }
        Ok(t)
    }

    /// The tensor `name` of any shape with `count` values.
    pub fn get_flat(&self, name: &str, count: usize) -> Result<&[f32], DiarizeError> {
        let t = self.tensors.get(name).ok_or_else(|| DiarizeError::Model {
            path: self.origin.clone(),
            why: format!("tensor {name} missing"),
        })?;
        if t.data.len() != count {
            return Err(DiarizeError::Model {
                path: self.origin.clone(),
                why: format!(
                    "tensor {name} has {} values, expected {count}",
                    t.data.len()
                ),
            });
        }
        Ok(&t.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn reads_a_tensor() {
        let data: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let w = Weights::parse(
            &file(
                r#"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#,
                &data,
            ),
            "t",
        )
        .unwrap();
        assert_eq!(w.get("a", &[2, 2]).unwrap().data, vec![1.0, 2.0, 3.0, 4.0]);
        assert!(w.get("a", &[4]).is_err());
        assert!(w.get("b", &[4]).is_err());
    }

    #[test]
    fn a_shape_that_overflows_is_refused() {
        // 2^62 × 4 values × 4 bytes wraps to 0 bytes: it must not pass as an empty tensor.
        let header =
            r#"{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}}"#;
        let err = Weights::parse(&file(header, &[]), "t").unwrap_err();
        assert!(err.to_string().contains("overflows"), "{err}");
    }

    #[test]
    fn refuses_lengths_past_the_end() {
        let mut bytes = file(
            r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#,
            &[0; 8],
        );
        assert!(Weights::parse(&bytes, "t").is_err());
        bytes[0] = 0xff;
        bytes[7] = 0x7f;
        assert!(Weights::parse(&bytes, "t").is_err());
        assert!(Weights::parse(&[1, 2], "t").is_err());
    }
}
