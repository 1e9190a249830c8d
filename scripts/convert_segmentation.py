#!/usr/bin/env python3
"""pyannote segmentation-3.0 Lightning checkpoint (pytorch_model.bin) -> safetensors, without torch.

Usage: convert_segmentation.py pytorch_model.bin segmentation-3.0.safetensors

Needs only python3 + numpy. The reader is the torch-free zip/pickle loader from
shared/docs/offline-models.md Appendix A. Keeps the `state_dict.*` tensors with that prefix
stripped (e.g. `lstm.weight_ih_l0`), all f32 and C-contiguous. The sinc filterbank stays as its
raw parameters (low_hz_, band_hz_, n_, window_); the Rust forward computes the filters.
Output is deterministic (sorted names, fixed JSON), so its sha256 can be pinned.
"""
import collections
import json
import pickle
import struct
import sys
import zipfile

import numpy as np

# ---- torch zip-format reader (Appendix A) -------------------------------------------------------
DT = {'FloatStorage': np.float32, 'HalfStorage': np.float16, 'LongStorage': np.int64,
      'IntStorage': np.int32, 'DoubleStorage': np.float64, 'BoolStorage': np.bool_}


def _tensor(storage, offset, size, stride, *a):
    return np.lib.stride_tricks.as_strided(storage[offset:], tuple(size),
                                           tuple(s * storage.itemsize for s in stride)).copy()


class _Any:
    def __init__(self, *a, **k): pass

    def __setstate__(self, st): self.__dict__.update(st if isinstance(st, dict) else {'state': st})


class _U(pickle.Unpickler):
    # Never imports anything: torch classes become inert placeholders, storages become numpy.
    def __init__(self, f, z, prefix): super().__init__(f); self.z, self.prefix = z, prefix

    def find_class(self, mod, name):
        if name in DT: return name
        if name == '_rebuild_tensor_v2': return _tensor
        if name == '_rebuild_parameter': return lambda d, *a: d
        if name == 'OrderedDict': return collections.OrderedDict
        if mod.startswith('torch') and name.startswith('_'): return lambda *a, **k: None
        return type(name, (_Any,), {})

    def persistent_load(self, pid):
        _, stype, key, _, _ = pid
        return np.frombuffer(self.z.read(f'{self.prefix}/data/{key}'), dtype=DT[stype])


def load_raw(path):
    z = zipfile.ZipFile(path)
    pkl = next(n for n in z.namelist() if n.endswith('/data.pkl'))
    return _U(z.open(pkl), z, pkl[:-9]).load()


def load_state(path):
    out = {}

    def walk(o, p, d=0):
        if d > 12: return
        if isinstance(o, np.ndarray): out[p] = o
        elif isinstance(o, dict):
            for k, v in o.items(): walk(v, f'{p}.{k}' if p else str(k), d + 1)
        elif hasattr(o, '__dict__'): walk(o.__dict__, p, d + 1)
    walk(load_raw(path), '')
    return out


# ---- safetensors writer / reader ----------------------------------------------------------------
def write_safetensors(path, tensors):
    names = sorted(tensors)
    arrs = [np.ascontiguousarray(tensors[n], dtype='<f4') for n in names]
    header, off = {}, 0
    for n, a in zip(names, arrs):
        header[n] = {'dtype': 'F32', 'shape': list(a.shape), 'data_offsets': [off, off + a.nbytes]}
        off += a.nbytes
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * (-len(h) % 8)          # pad so the f32 data starts 8-byte aligned (mmap-friendly)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for a in arrs:
            f.write(a.tobytes())


def read_safetensors(path):
    """Inverse of write_safetensors (F32 only); used by diarize_reference.py."""
    with open(path, 'rb') as f:
        buf = f.read()
    n = struct.unpack('<Q', buf[:8])[0]
    header = json.loads(buf[8:8 + n])
    base = 8 + n
    out = {}
    for k, v in header.items():
        if k == '__metadata__': continue
        assert v['dtype'] == 'F32', (k, v['dtype'])
        s, e = v['data_offsets']
        out[k] = np.frombuffer(buf[base + s:base + e], dtype='<f4').reshape(v['shape'])
    return out


def main(src, dst):
    sd = load_state(src)
    w = {k[len('state_dict.'):]: v for k, v in sd.items() if k.startswith('state_dict.')}
    if 'sincnet.conv1d.0.filterbank.low_hz_' not in w or len(w) != 54:
        sys.exit(f'error: {src}: unexpected checkpoint layout ({len(w)} state_dict tensors, want 54)')
    for k, v in w.items():
        if v.dtype != np.float32:
            sys.exit(f'error: {src}: tensor {k} is {v.dtype}, want float32')
    write_safetensors(dst, w)
    back = read_safetensors(dst)
    assert all(np.array_equal(back[k], w[k]) for k in w)


if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
