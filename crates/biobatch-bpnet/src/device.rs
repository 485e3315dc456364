//! Where a model runs, chosen at run time: burn's `flex` CPU backend (always built), or a GPU
//! through wgpu (Vulkan on Linux and Windows, Metal on macOS) when this crate is built with
//! the `wgpu` feature.
//!
//! Spellings (`--device`, and `device` in a training config): `cpu`; `wgpu` (the adapter wgpu
//! ranks first, high-power GPUs before others; `CUBECL_WGPU_DEFAULT_DEVICE` overrides it),
//! `wgpu:N` (discrete GPU number `N`). A choice this build cannot run is an error that says
//! how to build one that can; it is never a silent fallback to the CPU.
//!
//! burn 0.22's `cuda` backend is not offered: it cannot be built without downloading an LLVM
//! bundle at build time (see `docs/training.md`).

use std::fmt;
use std::str::FromStr;

use burn::prelude::Device;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A device choice; see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeviceChoice {
    /// burn's `flex` backend on the CPU, multi-threaded through rayon.
    #[default]
    Cpu,
    /// A GPU through wgpu: the default adapter, or discrete GPU `n`.
    Wgpu(Option<usize>),
}

impl DeviceChoice {
    /// Whether this build can run on this choice (`cpu` always; `wgpu` with the feature).
    pub fn available(&self) -> bool {
        match self {
            DeviceChoice::Cpu => true,
            DeviceChoice::Wgpu(_) => cfg!(feature = "wgpu"),
        }
    }

    /// Whether it is a GPU.
    pub fn is_gpu(&self) -> bool {
        !matches!(self, DeviceChoice::Cpu)
    }

    /// The burn device (the GPU itself is opened lazily, at the first tensor).
    pub fn device(&self) -> Result<Device> {
        match *self {
            DeviceChoice::Cpu => Ok(Device::flex()),
            #[cfg(feature = "wgpu")]
            DeviceChoice::Wgpu(n) => {
                use burn::prelude::DeviceKind;
                Ok(Device::wgpu(match n {
                    Some(i) => DeviceKind::DiscreteGpu(i),
                    None => DeviceKind::DefaultDevice,
                }))
            }
            #[cfg(not(feature = "wgpu"))]
            DeviceChoice::Wgpu(_) => Err(Error::DeviceUnavailable {
                device: self.to_string(),
                feature: "wgpu",
            }),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Cpu => f.write_str("cpu"),
            DeviceChoice::Wgpu(None) => f.write_str("wgpu"),
            DeviceChoice::Wgpu(Some(n)) => write!(f, "wgpu:{n}"),
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
            other => match other.split_once(':') {
                Some(("wgpu" | "gpu", n)) => n
                    .parse()
                    .map(|n| DeviceChoice::Wgpu(Some(n)))
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
        ] {
            let d: DeviceChoice = text.parse().unwrap();
            assert_eq!(d, want);
            assert_eq!(d.to_string().parse::<DeviceChoice>().unwrap(), d);
        }
        for bad in ["cuda", "wgpu:x", "", "tpu:0"] {
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
        let gpu = DeviceChoice::Wgpu(None);
        assert_eq!(gpu.available(), cfg!(feature = "wgpu"));
        if !gpu.available() {
            let e = gpu.device().unwrap_err().to_string();
            assert!(e.contains("--features wgpu"), "{e}");
        }
    }
}
