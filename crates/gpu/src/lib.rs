//! GPU memory as the driver reports it, through NVML (`libnvidia-ml.so`, loaded at run time).
//!
//! Nothing here links CUDA or needs a GPU: on a machine without an NVIDIA driver, [`probe`]
//! returns [`Probe::Unavailable`] with the reason, and every caller works from model files and
//! RAM instead. Other vendors (Vulkan, Metal) have no equivalent query here yet; their budget
//! comes from `--gpu-budget` or the profile.

use nvml_wrapper::Nvml;
use nvml_wrapper::enums::device::UsedGpuMemory;

/// One GPU's memory now.
#[derive(Debug, Clone, PartialEq)]
pub struct Gpu {
    pub index: u32,
    pub name: String,
    pub total_bytes: u64,
    pub used_bytes: u64,
    pub free_bytes: u64,
    /// Compute processes and what each holds (when the driver tells).
    pub processes: Vec<GpuProcess>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GpuProcess {
    pub pid: u32,
    pub used_bytes: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    Gpus(Vec<Gpu>),
    /// No NVML library, no driver, or no device: why, in words.
    Unavailable(String),
}

impl Probe {
    /// The first GPU, which workers use by default.
    pub fn primary(&self) -> Option<&Gpu> {
        match self {
            Probe::Gpus(g) => g.first(),
            Probe::Unavailable(_) => None,
        }
    }
}

/// Ask the driver. Never panics and never fails: absence is a normal answer.
pub fn probe() -> Probe {
    let nvml = match Nvml::init() {
        Ok(n) => n,
        Err(e) => return Probe::Unavailable(format!("NVML not available ({e})")),
    };
    let count = match nvml.device_count() {
        Ok(c) => c,
        Err(e) => return Probe::Unavailable(format!("NVML cannot count devices ({e})")),
    };
    let mut gpus = Vec::new();
    for index in 0..count {
        let Ok(dev) = nvml.device_by_index(index) else {
            continue;
        };
        let Ok(mem) = dev.memory_info() else {
            continue;
        };
        let processes = dev
            .running_compute_processes()
            .unwrap_or_default()
            .into_iter()
            .map(|p| GpuProcess {
                pid: p.pid,
                used_bytes: match p.used_gpu_memory {
                    UsedGpuMemory::Used(b) => Some(b),
                    UsedGpuMemory::Unavailable => None,
                },
            })
            .collect();
        gpus.push(Gpu {
            index,
            name: dev.name().unwrap_or_else(|_| "NVIDIA GPU".into()),
            total_bytes: mem.total,
            used_bytes: mem.used,
            free_bytes: mem.free,
            processes,
        });
    }
    if gpus.is_empty() {
        Probe::Unavailable("NVML found no usable device".into())
    } else {
        Probe::Gpus(gpus)
    }
}

/// Peak-style reading for one process tree: what `pids` hold on every GPU, summed.
pub fn used_by(probe: &Probe, pids: &[u32]) -> Option<u64> {
    let Probe::Gpus(gpus) = probe else {
        return None;
    };
    let mut total = 0;
    let mut seen = false;
    for p in gpus.iter().flat_map(|g| &g.processes) {
        if pids.contains(&p.pid) {
            total += p.used_bytes.unwrap_or(0);
            seen = true;
        }
    }
    seen.then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probing_never_fails_and_absence_says_why() {
        match probe() {
            Probe::Gpus(g) => assert!(g.iter().all(|g| g.total_bytes >= g.used_bytes)),
            Probe::Unavailable(why) => assert!(!why.is_empty()),
        }
    }

    #[test]
    fn usage_of_processes_is_summed_across_gpus() {
        let gpu = |index, pids: &[(u32, u64)]| Gpu {
            index,
            name: "test".into(),
            total_bytes: 8 << 30,
            used_bytes: 0,
            free_bytes: 8 << 30,
            processes: pids
                .iter()
                .map(|&(pid, b)| GpuProcess {
                    pid,
                    used_bytes: Some(b),
                })
                .collect(),
        };
        let p = Probe::Gpus(vec![gpu(0, &[(10, 100), (11, 5)]), gpu(1, &[(10, 1)])]);
        assert_eq!(used_by(&p, &[10]), Some(101));
        assert_eq!(used_by(&p, &[12]), None);
        assert_eq!(used_by(&Probe::Unavailable("x".into()), &[10]), None);
    }
}
