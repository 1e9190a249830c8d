//! GGUF header: metadata key/values and tensor infos. The tensor data is never read; only its
//! extent is checked against the file length.
//!
//! Layout (v2/v3, little-endian): `"GGUF"`, version u32, tensor count u64, metadata count u64,
//! metadata (key string, value type u32, value), tensor infos (name, n_dims u32, dims u64…,
//! type u32, offset u64), padding to `general.alignment` (default 32), tensor data.

use std::io::{Read, Seek};

use crate::error::{PlanError, Result};
use crate::ggml_type::GgmlType;
use crate::reader::Reader;

pub const MAGIC: [u8; 4] = *b"GGUF";

/// GGUF keys are at most 65535 bytes (spec).
const MAX_KEY: u64 = 65_535;
/// Metadata strings longer than this are refused rather than allocated (chat templates are
/// tens of KiB; nothing legitimate comes near).
const MAX_STRING: u64 = 16 << 20;
/// Numeric arrays up to this length are kept (per-layer hparams); longer ones (token scores,
/// token types) are skipped and only their length is kept.
const MAX_KEPT_ARRAY: u64 = 1 << 16;
const MAX_ARRAY_DEPTH: u32 = 4;
const MAX_TENSOR_NAME: u64 = 4096;
/// GGML_MAX_DIMS.
const MAX_DIMS: u32 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    F32,
    Bool,
    String,
    Array,
    U64,
    I64,
    F64,
}

impl ValueType {
    fn from_id(id: u32) -> Result<ValueType> {
        use ValueType::*;
        Ok(match id {
            0 => U8,
            1 => I8,
            2 => U16,
            3 => I16,
            4 => U32,
            5 => I32,
            6 => F32,
            7 => Bool,
            8 => String,
            9 => Array,
            10 => U64,
            11 => I64,
            12 => F64,
            _ => return Err(PlanError::Invalid(format!("metadata value type {id}"))),
        })
    }

    /// Bytes of one value on disk; strings and arrays: their smallest possible size.
    fn min_size(self) -> u64 {
        use ValueType::*;
        match self {
            U8 | I8 | Bool => 1,
            U16 | I16 => 2,
            U32 | I32 | F32 => 4,
            U64 | I64 | F64 | String => 8,
            Array => 12,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    U64(u64),
    I64(i64),
    F64(f64),
    /// `items` is empty when the array was skipped (strings, or longer than 65536).
    Array {
        elem: ValueType,
        len: u64,
        items: Vec<Value>,
    },
}

impl Value {
    /// Any integer value that fits a u64 (booleans are not integers).
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    pub dims: Vec<u64>,
    pub ggml_type: GgmlType,
    /// Offset from the start of the data section.
    pub offset: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Gguf {
    pub version: u32,
    pub metadata: Vec<(String, Value)>,
    pub tensors: Vec<TensorInfo>,
    /// Where tensor data starts (end of the header, aligned).
    pub data_offset: u64,
    pub file_len: u64,
}

impl Gguf {
    /// Parse the header of a GGUF file of `file_len` bytes.
    pub fn parse<R: Read + Seek>(inner: R, file_len: u64) -> Result<Gguf> {
        let mut r = Reader::new(inner, file_len);
        let magic = r.array::<4>("magic")?;
        if magic != MAGIC {
            return Err(PlanError::UnknownFormat(magic));
        }
        let version = r.u32("version")?;
        match version {
            2 | 3 => {}
            1 => return Err(PlanError::Unsupported("GGUF v1 (convert it again)".into())),
            v if v.swap_bytes() <= 3 => {
                return Err(PlanError::Unsupported("big-endian GGUF".into()));
            }
            v => return Err(PlanError::Unsupported(format!("GGUF version {v}"))),
        }
        let n_tensors = r.u64("tensor count")?;
        let n_kv = r.u64("metadata count")?;
        // Each key/value takes ≥ 13 bytes and each tensor info ≥ 24: counts the file cannot
        // hold are garbage, caught before anything is allocated from them.
        r.need(n_kv.saturating_mul(13), "metadata")?;
        let mut metadata = Vec::with_capacity(n_kv.min(4096) as usize);
        for _ in 0..n_kv {
            let key_len = r.u64("key length")?;
            let key = r.string(key_len, MAX_KEY, "metadata key")?;
            let ty = ValueType::from_id(r.u32("value type")?)
                .map_err(|e| PlanError::Invalid(format!("key {key}: {e}")))?;
            let value = read_value(&mut r, ty, 0)?;
            metadata.push((key, value));
        }
        r.need(n_tensors.saturating_mul(24), "tensor infos")?;
        let mut tensors = Vec::with_capacity(n_tensors.min(1 << 16) as usize);
        for _ in 0..n_tensors {
            tensors.push(read_tensor_info(&mut r)?);
        }
        let gguf = Gguf {
            version,
            data_offset: 0,
            file_len,
            metadata,
            tensors,
        };
        let alignment = match gguf.get("general.alignment") {
            None => 32,
            Some(v) => match v.as_u64() {
                Some(a) if a.is_power_of_two() => a,
                _ => {
                    return Err(PlanError::Invalid(format!(
                        "general.alignment {v:?} is not a power of two"
                    )));
                }
            },
        };
        let data_offset = r.pos().div_ceil(alignment) * alignment;
        let gguf = Gguf {
            data_offset,
            ..gguf
        };
        gguf.check_extents(alignment, r.len())?;
        Ok(gguf)
    }

    /// Every tensor lies inside the file (a cut-off download is an error here, not at load).
    fn check_extents(&self, alignment: u64, len: u64) -> Result<()> {
        for t in &self.tensors {
            if !t.offset.is_multiple_of(alignment) {
                return Err(PlanError::Invalid(format!(
                    "tensor {} offset {} is not aligned to {alignment}",
                    t.name, t.offset
                )));
            }
            let end = self
                .data_offset
                .checked_add(t.offset)
                .and_then(|s| s.checked_add(t.bytes));
            match end {
                Some(end) if end <= len => {}
                _ => {
                    return Err(PlanError::Truncated {
                        what: "tensor data",
                        offset: self.data_offset.saturating_add(t.offset),
                        needed: t.bytes,
                        len,
                    });
                }
            }
        }
        Ok(())
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(Value::as_u64)
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// Sum of all tensor sizes: what llama.cpp reports as the model buffer.
    pub fn tensor_bytes(&self) -> u64 {
        self.tensors.iter().map(|t| t.bytes).sum()
    }
}

fn read_value<R: Read + Seek>(r: &mut Reader<R>, ty: ValueType, depth: u32) -> Result<Value> {
    Ok(match ty {
        ValueType::U8 => Value::U8(r.u8("u8 value")?),
        ValueType::I8 => Value::I8(r.u8("i8 value")? as i8),
        ValueType::U16 => Value::U16(r.u16("u16 value")?),
        ValueType::I16 => Value::I16(r.u16("i16 value")? as i16),
        ValueType::U32 => Value::U32(r.u32("u32 value")?),
        ValueType::I32 => Value::I32(r.i32("i32 value")?),
        ValueType::F32 => Value::F32(f32::from_bits(r.u32("f32 value")?)),
        ValueType::Bool => match r.u8("bool value")? {
            0 => Value::Bool(false),
            1 => Value::Bool(true),
            b => return Err(PlanError::Invalid(format!("bool value {b}"))),
        },
        ValueType::String => {
            let len = r.u64("string length")?;
            Value::String(r.string(len, MAX_STRING, "string value")?)
        }
        ValueType::U64 => Value::U64(r.u64("u64 value")?),
        ValueType::I64 => Value::I64(r.u64("i64 value")? as i64),
        ValueType::F64 => Value::F64(f64::from_bits(r.u64("f64 value")?)),
        ValueType::Array => read_array(r, depth)?,
    })
}

fn read_array<R: Read + Seek>(r: &mut Reader<R>, depth: u32) -> Result<Value> {
    if depth >= MAX_ARRAY_DEPTH {
        return Err(PlanError::Invalid(format!(
            "arrays nested deeper than {MAX_ARRAY_DEPTH}"
        )));
    }
    let elem = ValueType::from_id(r.u32("array type")?)?;
    let len = r.u64("array length")?;
    r.need(len.saturating_mul(elem.min_size()), "array")?;
    let keep = len <= MAX_KEPT_ARRAY && !matches!(elem, ValueType::String);
    let mut items = Vec::new();
    if keep {
        items.reserve(len as usize);
        for _ in 0..len {
            items.push(read_value(r, elem, depth + 1)?);
        }
    } else {
        match elem {
            ValueType::String => {
                for _ in 0..len {
                    let n = r.u64("string length")?;
                    if n > MAX_STRING {
                        return Err(PlanError::Invalid(format!(
                            "array string of {n} bytes (limit {MAX_STRING})"
                        )));
                    }
                    r.skip(n, "string value")?;
                }
            }
            ValueType::Array => {
                for _ in 0..len {
                    read_array(r, depth + 1)?;
                }
            }
            fixed => r.skip(len * fixed.min_size(), "array")?,
        }
    }
    Ok(Value::Array { elem, len, items })
}

fn read_tensor_info<R: Read + Seek>(r: &mut Reader<R>) -> Result<TensorInfo> {
    let name_len = r.u64("tensor name length")?;
    let name = r.string(name_len, MAX_TENSOR_NAME, "tensor name")?;
    let n_dims = r.u32("tensor n_dims")?;
    if n_dims == 0 || n_dims > MAX_DIMS {
        return Err(PlanError::Invalid(format!(
            "tensor {name} has {n_dims} dimensions"
        )));
    }
    let mut dims = Vec::with_capacity(n_dims as usize);
    for _ in 0..n_dims {
        dims.push(r.u64("tensor dimension")?);
    }
    let ggml_type = GgmlType::from_id(r.u32("tensor type")?)
        .map_err(|e| PlanError::Invalid(format!("tensor {name}: {e}")))?;
    let offset = r.u64("tensor offset")?;
    let bytes = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .and_then(|n| {
            // ggml requires the first dimension to be a whole number of blocks.
            dims[0]
                .is_multiple_of(ggml_type.block)
                .then_some(n)
                .and_then(|n| ggml_type.bytes_for(n))
        })
        .ok_or_else(|| {
            PlanError::Invalid(format!(
                "tensor {name}: dims {dims:?} do not fit type {}",
                ggml_type.name
            ))
        })?;
    Ok(TensorInfo {
        name,
        dims,
        ggml_type,
        offset,
        bytes,
    })
}
