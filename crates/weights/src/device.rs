//! Devices: naming one (`"cpu"`, `"cuda:0"`, `"metal:0"`), opening it, and moving loaded
//! tensors onto it (what every plugin's `demote` and `promote` do).
//!
//! A device is named as models.toml's `device` names it. Opening a CUDA or Metal device needs
//! candle built with that support: this crate's `cuda` and `metal` features, which switch
//! candle's implementation only. Without them the device is a [`DeviceError::NotCompiled`]
//! that says which feature to build with.

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use modelcache_backend::BackendError;

use crate::load::LoadedTensors;

/// The forms [`parse_device`] accepts, for messages.
pub const DEVICE_FORMS: &str =
    "\"cpu\", \"cuda:N\" or \"metal:N\" (N the device's index, e.g. \"cuda:0\")";

/// Why a device could not be had, or tensors could not be moved onto it. Every variant names
/// the device; [`for_model`](DeviceError::for_model) adds the model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// The name is not one of the accepted forms ([`DEVICE_FORMS`]).
    #[error("unknown device {name:?}: the accepted forms are {DEVICE_FORMS}")]
    Unknown {
        /// The name as given.
        name: String,
    },
    /// candle was built without the device's support.
    #[error(
        "device {name:?} is not available in this build: candle was compiled without {kind} \
         support; build with the `{feature}` feature (modelcache-weights/{feature}, forwarded \
         by every plugin and by modelcache)"
    )]
    NotCompiled {
        /// The device.
        name: String,
        /// `"CUDA"` or `"Metal"`.
        kind: &'static str,
        /// The feature that enables it: `"cuda"` or `"metal"`.
        feature: &'static str,
    },
    /// candle could not open the device (no such GPU, a driver error).
    #[error("device {name:?} cannot be opened: {source}")]
    Open {
        /// The device.
        name: String,
        /// candle's error (boxed: it is large).
        #[source]
        source: Box<candle_core::Error>,
    },
    /// Copying a tensor onto the device failed (out of device memory, a driver error).
    #[error("moving the tensors onto device {name:?} failed: {source}")]
    Move {
        /// The device.
        name: String,
        /// candle's error (boxed: it is large).
        #[source]
        source: Box<candle_core::Error>,
    },
}

/// A [`DeviceError`] of one model: what a backend returns, as [`BackendError::Other`].
#[derive(Debug, thiserror::Error)]
#[error("model {model:?}: {source}")]
pub struct ModelDeviceError {
    /// The model (its ID, or the backend's name where a move knows no ID).
    pub model: String,
    /// What went wrong with the device.
    #[source]
    pub source: DeviceError,
}

impl DeviceError {
    /// The device this error is about, as it was named.
    pub fn device(&self) -> &str {
        match self {
            Self::Unknown { name }
            | Self::NotCompiled { name, .. }
            | Self::Open { name, .. }
            | Self::Move { name, .. } => name,
        }
    }

    /// This error as the contract's [`BackendError::Other`], naming `model` (downcast it to
    /// [`ModelDeviceError`]).
    pub fn for_model(self, model: &str) -> BackendError {
        BackendError::other(ModelDeviceError {
            model: model.to_owned(),
            source: self,
        })
    }

    /// A failed [`Tensor::to_device`] onto the device called `name`.
    pub fn moving(name: &str, source: candle_core::Error) -> Self {
        Self::Move {
            name: name.to_owned(),
            source: Box::new(source),
        }
    }
}

/// The device called `name`: `"cpu"` is [`Device::Cpu`], `"cuda:N"` [`Device::new_cuda`],
/// `"metal:N"` [`Device::new_metal`].
///
/// # Errors
/// [`DeviceError::Unknown`] for any other name; [`DeviceError::NotCompiled`] when candle was
/// built without the device's support; [`DeviceError::Open`] when candle cannot open it.
pub fn parse_device(name: &str) -> Result<Device, DeviceError> {
    if name == "cpu" {
        return Ok(Device::Cpu);
    }
    let unknown = || DeviceError::Unknown {
        name: name.to_owned(),
    };
    let (kind, index) = name.split_once(':').ok_or_else(unknown)?;
    // `usize::from_str` takes a leading `+`; an index is digits only.
    if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
        return Err(unknown());
    }
    let ordinal: usize = index.parse().map_err(|_| unknown())?;
    let opened = match kind {
        "cuda" => Device::new_cuda(ordinal),
        "metal" => Device::new_metal(ordinal),
        _ => return Err(unknown()),
    };
    opened.map_err(|e| match e {
        candle_core::Error::NotCompiledWithCudaSupport => DeviceError::NotCompiled {
            name: name.to_owned(),
            kind: "CUDA",
            feature: "cuda",
        },
        candle_core::Error::NotCompiledWithMetalSupport => DeviceError::NotCompiled {
            name: name.to_owned(),
            kind: "Metal",
            feature: "metal",
        },
        other => DeviceError::Open {
            name: name.to_owned(),
            source: Box::new(other),
        },
    })
}

/// The device a model is loaded onto: `None` (host memory) is the CPU, otherwise
/// [`parse_device`]'s, with its error naming the model `id`. What a backend's `open` calls.
///
/// # Errors
/// As [`parse_device`], as a [`BackendError`] naming the model and the device.
pub fn model_device(id: &str, device: Option<&str>) -> Result<Device, BackendError> {
    device.map_or(Ok(Device::Cpu), |name| {
        parse_device(name).map_err(|e| e.for_model(id))
    })
}

/// Every tensor of `tensors` on `device`, under the same names. A tensor already there is
/// shared, not copied (candle's [`Tensor::to_device`]).
///
/// # Errors
/// candle's error for the first tensor that cannot be moved.
pub fn tensors_to_device(
    tensors: &HashMap<String, Tensor>,
    device: &Device,
) -> candle_core::Result<HashMap<String, Tensor>> {
    tensors
        .iter()
        .map(|(name, t)| Ok((name.clone(), t.to_device(device)?)))
        .collect()
}

/// Where a model's tensors move (a backend's `demote` and `promote`): the device and its
/// name, with errors naming the model.
#[derive(Debug, Clone)]
pub struct MoveTo {
    name: String,
    device: Device,
}

impl MoveTo {
    /// Host memory: what `demote` moves a model to.
    pub fn host() -> Self {
        Self {
            name: "cpu".to_owned(),
            device: Device::Cpu,
        }
    }

    /// The device called `name` ([`parse_device`]): what `promote` moves a model to.
    ///
    /// # Errors
    /// As [`parse_device`], as a [`BackendError`] naming `model` and the device.
    pub fn device(model: &str, name: &str) -> Result<Self, BackendError> {
        let device = parse_device(name).map_err(|e| e.for_model(model))?;
        Ok(Self {
            name: name.to_owned(),
            device,
        })
    }

    /// A copy of `tensors` there ([`LoadedTensors::to_device`]).
    ///
    /// # Errors
    /// [`DeviceError::Move`], as a [`BackendError`] naming `model` and the device.
    pub fn tensors(
        &self,
        model: &str,
        tensors: &LoadedTensors,
    ) -> Result<LoadedTensors, BackendError> {
        tensors
            .to_device(&self.device)
            .map_err(|e| DeviceError::moving(&self.name, e).for_model(model))
    }

    /// A copy of the plain map `tensors` there ([`tensors_to_device`]).
    ///
    /// # Errors
    /// [`DeviceError::Move`], as a [`BackendError`] naming `model` and the device.
    pub fn map(
        &self,
        model: &str,
        tensors: &HashMap<String, Tensor>,
    ) -> Result<HashMap<String, Tensor>, BackendError> {
        tensors_to_device(tensors, &self.device)
            .map_err(|e| DeviceError::moving(&self.name, e).for_model(model))
    }
}

impl LoadedTensors {
    /// A copy of every tensor on `device` (see [`tensors_to_device`]).
    ///
    /// # Errors
    /// candle's error for the first tensor that cannot be moved.
    pub fn to_device(&self, device: &Device) -> candle_core::Result<LoadedTensors> {
        Ok(LoadedTensors::from_map(tensors_to_device(
            self.as_map(),
            device,
        )?))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cpu_is_the_cpu_and_unknown_names_list_the_accepted_forms() {
        assert!(parse_device("cpu").unwrap().is_cpu());
        for name in [
            "gpu", "cuda", "cuda:", "cuda:x", "cuda:+1", "CPU", "tpu:0", "",
        ] {
            let e = parse_device(name).unwrap_err();
            assert!(matches!(e, DeviceError::Unknown { .. }), "{name}: {e:?}");
            let text = e.to_string();
            assert!(text.contains(&format!("{name:?}")), "{text}");
            assert!(
                text.contains("cuda:N") && text.contains("metal:N"),
                "{text}"
            );
        }
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_says_to_build_with_it() {
        let e = parse_device("cuda:0").unwrap_err();
        assert!(matches!(e, DeviceError::NotCompiled { .. }), "{e:?}");
        let text = model_device("flux-dev", Some("cuda:0"))
            .unwrap_err()
            .to_string();
        assert!(text.contains("flux-dev"), "{text}");
        assert!(text.contains("\"cuda:0\""), "{text}");
        assert!(text.contains("`cuda` feature"), "{text}");
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn a_move_to_an_unavailable_device_names_the_model_and_the_device() {
        let text = MoveTo::device("kokoro", "cuda:1").unwrap_err().to_string();
        assert!(
            text.contains("kokoro") && text.contains("\"cuda:1\""),
            "{text}"
        );
    }

    #[test]
    fn no_device_is_the_cpu() {
        assert!(model_device("m", None).unwrap().is_cpu());
        assert!(model_device("m", Some("cpu")).unwrap().is_cpu());
    }

    #[test]
    fn tensors_move_with_their_names_and_values() {
        let mut map = HashMap::new();
        let t = Tensor::new(&[1.0f32, 2.0, 3.0], &Device::Cpu).unwrap();
        map.insert("w".to_owned(), t);
        let moved = LoadedTensors::from_map(map)
            .to_device(&Device::Cpu)
            .unwrap();
        assert_eq!(moved.len(), 1);
        assert_eq!(moved.resident_bytes(), 12);
        let w = moved.get("w").unwrap();
        assert_eq!(w.to_vec1::<f32>().unwrap(), [1.0, 2.0, 3.0]);
    }
}
