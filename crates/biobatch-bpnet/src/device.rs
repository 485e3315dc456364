//! Where a model runs, chosen at run time: burn's `flex` CPU backend (always built), or a GPU
//! through wgpu when this crate is built with the `wgpu` feature (Vulkan on Linux and
//! Windows, Metal on macOS), or pinned to Vulkan and its SPIR-V compiler with the `vulkan`
//! feature.
//!
//! Spellings (`--device`, and `device` in a training config): `cpu`; `wgpu` (the adapter wgpu
//! ranks first, high-power GPUs before others; `CUBECL_WGPU_DEFAULT_DEVICE` overrides it),
//! `wgpu:N` (discrete GPU number `N`); `vulkan`, `vulkan:N` (the same adapters, on Vulkan
//! only). A choice this build cannot run is an error that says how to build one that can,
//! and a GPU this machine cannot open is an error naming what the graphics runtime said;
//! neither is ever a silent fallback to the CPU.
//!
//! burn 0.22's `cuda` backend is not offered: it cannot be built without downloading an LLVM
//! bundle at build time (see `docs/training.md`).

use std::fmt;
use std::str::FromStr;

use burn::prelude::Device;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A device choice; see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeviceChoice {
    /// burn's `flex` backend on the CPU, multi-threaded through rayon.
    #[default]
    Cpu,
    /// A GPU through wgpu on the API it picks: the default adapter, or discrete GPU `n`.
    Wgpu(Option<usize>),
    /// A GPU through wgpu pinned to Vulkan (SPIR-V kernels): the default adapter, or
    /// discrete GPU `n`.
    Vulkan(Option<usize>),
}

impl DeviceChoice {
    /// Whether this build can run on this choice (`cpu` always; `wgpu` and `vulkan` with
    /// their features).
    pub fn available(&self) -> bool {
        match self {
            DeviceChoice::Cpu => true,
            DeviceChoice::Wgpu(_) => cfg!(feature = "wgpu"),
            DeviceChoice::Vulkan(_) => cfg!(feature = "vulkan"),
        }
    }

    /// Whether it is a GPU.
    pub fn is_gpu(&self) -> bool {
        !matches!(self, DeviceChoice::Cpu)
    }

    /// The feature a build needs for this choice.
    fn feature(&self) -> &'static str {
        match self {
            DeviceChoice::Cpu => "",
            DeviceChoice::Wgpu(_) => "wgpu",
            DeviceChoice::Vulkan(_) => "vulkan",
        }
    }

    /// The burn device. A GPU is opened (adapter and driver) the first time a process asks
    /// for it, and the same device is handed out after that; a GPU this build lacks or this
    /// machine cannot open is an error.
    pub fn device(&self) -> Result<Device> {
        if !self.available() {
            return Err(Error::DeviceUnavailable {
                device: self.to_string(),
                feature: self.feature(),
            });
        }
        match *self {
            DeviceChoice::Cpu => Ok(Device::flex()),
            #[cfg(feature = "wgpu")]
            gpu => gpu::open(gpu),
            #[cfg(not(feature = "wgpu"))]
            _ => unreachable!("checked by `available`"),
        }
    }
}

/// Opening GPUs through wgpu, once per process and choice.
#[cfg(feature = "wgpu")]
mod gpu {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use burn::prelude::{Device, DeviceKind};
    use burn::tensor::wgpu::WgpuBackend;

    use super::DeviceChoice;
    use crate::{Error, Result};

    /// Devices opened so far: wgpu refuses to initialise one twice.
    static OPENED: Mutex<Option<HashMap<DeviceChoice, Device>>> = Mutex::new(None);

    pub(super) fn open(choice: DeviceChoice) -> Result<Device> {
        let (n, api) = match choice {
            DeviceChoice::Wgpu(n) => (n, WgpuBackend::Auto),
            DeviceChoice::Vulkan(n) => (n, WgpuBackend::Vulkan),
            DeviceChoice::Cpu => return Ok(Device::flex()),
        };
        let mut opened = OPENED.lock().unwrap_or_else(|p| p.into_inner());
        let opened = opened.get_or_insert_with(HashMap::new);
        if let Some(d) = opened.get(&choice) {
            return Ok(d.clone());
        }
        let kind = n.map_or(DeviceKind::DefaultDevice, DeviceKind::DiscreteGpu);
        let device = Device::wgpu_options()
            .device_kind(kind)
            .graphics_api(api)
            .init()
            .map_err(|e| Error::DeviceOpen {
                device: choice.to_string(),
                message: e.to_string(),
            })?;
        opened.insert(choice, device.clone());
        Ok(device)
    }
}

/// A graphics adapter this machine offers to wgpu.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Adapter {
    /// The adapter's name (e.g. `NVIDIA H100`, `llvmpipe (LLVM 19.1.7, 256 bits)`).
    pub name: String,
    /// `DiscreteGpu`, `IntegratedGpu`, `VirtualGpu`, `Cpu` or `Other`.
    pub kind: String,
    /// The graphics API (`Vulkan`, `Metal`, `Dx12`, `Gl`).
    pub api: String,
    /// The driver and its version.
    pub driver: String,
}

/// The adapters wgpu finds on this machine (empty in a build without `wgpu`, or where no
/// driver is installed). Discrete GPU `N` of `--device wgpu:N` is the `N`-th `DiscreteGpu`.
pub fn adapters() -> Vec<Adapter> {
    #[cfg(feature = "wgpu")]
    {
        use burn::tensor::wgpu::wgpu;
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        block_on(instance.enumerate_adapters(wgpu::Backends::all()))
            .into_iter()
            .map(|a| {
                let i = a.get_info();
                Adapter {
                    name: i.name,
                    kind: format!("{:?}", i.device_type),
                    api: format!("{:?}", i.backend),
                    driver: format!("{} {}", i.driver, i.driver_info).trim().to_string(),
                }
            })
            .collect()
    }
    #[cfg(not(feature = "wgpu"))]
    Vec::new()
}

/// Runs a future that native wgpu completes without waiting on an event loop.
#[cfg(feature = "wgpu")]
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Cpu => f.write_str("cpu"),
            DeviceChoice::Wgpu(None) => f.write_str("wgpu"),
            DeviceChoice::Wgpu(Some(n)) => write!(f, "wgpu:{n}"),
            DeviceChoice::Vulkan(None) => f.write_str("vulkan"),
            DeviceChoice::Vulkan(Some(n)) => write!(f, "vulkan:{n}"),
        }
    }
}

impl FromStr for DeviceChoice {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::UnknownDevice(s.to_string());
        match s.trim().to_ascii_lowercase().as_str() {
            "cpu" | "flex" => Ok(DeviceChoice::Cpu),
            "wgpu" | "gpu" => Ok(DeviceChoice::Wgpu(None)),
            "vulkan" => Ok(DeviceChoice::Vulkan(None)),
            other => match other.split_once(':') {
                Some(("wgpu" | "gpu", n)) => n
                    .parse()
                    .map(|n| DeviceChoice::Wgpu(Some(n)))
                    .map_err(|_| bad()),
                Some(("vulkan", n)) => n
                    .parse()
                    .map(|n| DeviceChoice::Vulkan(Some(n)))
                    .map_err(|_| bad()),
                _ => Err(bad()),
            },
        }
    }
}

impl TryFrom<String> for DeviceChoice {
    type Error = Error;

    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<DeviceChoice> for String {
    fn from(d: DeviceChoice) -> String {
        d.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip_and_unknown_ones_are_refused() {
        for (text, want) in [
            ("cpu", DeviceChoice::Cpu),
            ("CPU", DeviceChoice::Cpu),
            ("wgpu", DeviceChoice::Wgpu(None)),
            ("gpu:1", DeviceChoice::Wgpu(Some(1))),
            ("vulkan", DeviceChoice::Vulkan(None)),
            ("Vulkan:0", DeviceChoice::Vulkan(Some(0))),
        ] {
            let d: DeviceChoice = text.parse().unwrap();
            assert_eq!(d, want);
            assert_eq!(d.to_string().parse::<DeviceChoice>().unwrap(), d);
        }
        for bad in ["cuda", "wgpu:x", "", "tpu:0", "vulkan:-1", "vulkan:"] {
            let e = bad.parse::<DeviceChoice>().unwrap_err().to_string();
            assert!(e.contains("expected `cpu`, `wgpu`"), "{bad}: {e}");
        }
        let json = serde_json::to_string(&DeviceChoice::Wgpu(Some(2))).unwrap();
        assert_eq!(json, "\"wgpu:2\"");
        assert!(serde_json::from_str::<DeviceChoice>("\"cuda:0\"").is_err());
    }

    #[test]
    fn a_device_this_build_lacks_is_an_error_not_the_cpu() {
        assert!(DeviceChoice::Cpu.device().is_ok());
        for (gpu, feature) in [
            (DeviceChoice::Wgpu(None), "wgpu"),
            (DeviceChoice::Vulkan(Some(0)), "vulkan"),
        ] {
            assert_eq!(
                gpu.available(),
                cfg!(feature = "wgpu") && (feature == "wgpu" || cfg!(feature = "vulkan"))
            );
            if !gpu.available() {
                let e = gpu.device().unwrap_err().to_string();
                assert!(e.contains(&format!("--features {feature}")), "{e}");
            }
        }
    }
}
