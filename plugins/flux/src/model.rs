//! A loaded Flux model: its components' tensors, config and layout.

use modelcache_backend::BackendError;
use modelcache_weights::{LoadedTensors, MoveTo};

use crate::config::FluxConfig;
use crate::layout::Layout;
use crate::options::Component;
use crate::quant::Quantization;

/// One loaded component: its tensors, named as stored, and how they are quantized.
#[derive(Debug, Clone)]
pub struct LoadedComponent {
    pub(crate) component: Component,
    pub(crate) tensors: LoadedTensors,
    pub(crate) quantization: Option<Quantization>,
    pub(crate) prefix: &'static str,
    pub(crate) dir: std::path::PathBuf,
}

impl LoadedComponent {
    /// Which component this is.
    pub fn component(&self) -> Component {
        self.component
    }

    /// The tensors, under the names the checkpoint stores (BFL transformer keys keep a
    /// `model.diffusion_model.` prefix if the file has one: see [`prefix`](Self::prefix)).
    pub fn tensors(&self) -> &LoadedTensors {
        &self.tensors
    }

    /// The tensors, by value (for example for `candle_nn::VarBuilder::from_tensors`).
    pub fn into_tensors(self) -> LoadedTensors {
        self.tensors
    }

    /// MLX quantization of the packed `U32` weights (mflux trees), if any.
    pub fn quantization(&self) -> Option<Quantization> {
        self.quantization
    }

    /// The prefix in front of every model key: `"model.diffusion_model."` for BFL transformers
    /// repackaged with one, otherwise `""`.
    pub fn prefix(&self) -> &'static str {
        self.prefix
    }

    /// Bytes held by the tensors' storage, measured from the tensors.
    pub fn resident_bytes(&self) -> u64 {
        self.tensors.resident_bytes()
    }

    /// The folder the component was read from, where a diffusers `config.json` lives (the
    /// model folder for BFL files).
    pub fn folder(&self) -> &std::path::Path {
        &self.dir
    }
}

/// A loaded FLUX.1 checkpoint: the requested components, in the requested order.
///
/// Every tensor is a read-only candle tensor (`Send + Sync`, shared through `Arc`s), so one
/// loaded model serves any number of concurrent callers: the backend reports it
/// [`shareable`](modelcache_backend::Backend::shareable).
#[derive(Debug, Clone)]
pub struct FluxModel {
    pub(crate) layout: Layout,
    pub(crate) config: Option<FluxConfig>,
    pub(crate) components: Vec<LoadedComponent>,
}

impl FluxModel {
    /// The layout the model was loaded from.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The transformer's config, when the transformer was loaded: inferred from shapes (BFL,
    /// mflux) or read from `transformer/config.json` and checked against them (diffusers).
    pub fn config(&self) -> Option<&FluxConfig> {
        self.config.as_ref()
    }

    /// The loaded components, in the order the options named them.
    pub fn components(&self) -> &[LoadedComponent] {
        &self.components
    }

    /// One component, if it was loaded.
    pub fn component(&self, component: Component) -> Option<&LoadedComponent> {
        self.components.iter().find(|c| c.component == component)
    }

    /// The components, by value.
    pub fn into_components(self) -> Vec<LoadedComponent> {
        self.components
    }

    /// Bytes held by all tensors, measured from the tensors themselves.
    pub fn resident_bytes(&self) -> u64 {
        self.components
            .iter()
            .map(LoadedComponent::resident_bytes)
            .sum()
    }

    /// A copy with every component's tensors moved as `to` says; everything else (layout,
    /// config, names, quantization, folders) as it is.
    pub(crate) fn moved(&self, to: &MoveTo) -> Result<Self, BackendError> {
        let components = self
            .components
            .iter()
            .map(|c| {
                Ok(LoadedComponent {
                    tensors: to.tensors(crate::backend::NAME, &c.tensors)?,
                    ..c.clone()
                })
            })
            .collect::<Result<_, BackendError>>()?;
        Ok(Self {
            layout: self.layout,
            config: self.config.clone(),
            components,
        })
    }
}
