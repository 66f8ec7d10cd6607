//! A loaded LTX-Video model: its components' tensors, configs and layout.

use modelcache_backend::BackendError;
use modelcache_weights::candle_core::Tensor;
use modelcache_weights::{LoadedTensors, MoveTo};

use crate::Naming;
use crate::config::LtxConfig;
use crate::layout::Layout;
use crate::options::Component;

/// A loaded LTX-Video model.
///
/// Its tensors are immutable candle tensors and it has no interior mutability, so one model
/// serves many callers at once ([`Backend::shareable`](modelcache_backend::Backend::shareable) is
/// `true`). Callers must not write into the weights with candle's in-place setters
/// (`Tensor::slice_set`, `zero_set`, `one_set`): that would change the model for every caller.
#[derive(Debug)]
pub struct LtxModel {
    layout: Layout,
    config: LtxConfig,
    components: Vec<ComponentWeights>,
}

impl LtxModel {
    pub(crate) fn new(
        layout: Layout,
        config: LtxConfig,
        components: Vec<ComponentWeights>,
    ) -> Self {
        Self {
            layout,
            config,
            components,
        }
    }

    /// Where the model was loaded from.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The configs of the loaded components.
    pub fn config(&self) -> &LtxConfig {
        &self.config
    }

    /// The loaded components, in the order transformer, VAE, text encoder.
    pub fn components(&self) -> impl ExactSizeIterator<Item = &ComponentWeights> + '_ {
        self.components.iter()
    }

    /// The weights of `component`, if it was loaded.
    pub fn component(&self, component: Component) -> Option<&ComponentWeights> {
        self.components.iter().find(|c| c.component == component)
    }

    /// The transformer's weights, if loaded.
    pub fn transformer(&self) -> Option<&ComponentWeights> {
        self.component(Component::Transformer)
    }

    /// The VAE's weights, if loaded.
    pub fn vae(&self) -> Option<&ComponentWeights> {
        self.component(Component::Vae)
    }

    /// The text encoder's weights, if loaded.
    pub fn text_encoder(&self) -> Option<&ComponentWeights> {
        self.component(Component::TextEncoder)
    }

    /// Bytes held by all tensors, measured from their storage.
    pub fn resident_bytes(&self) -> u64 {
        self.components
            .iter()
            .map(ComponentWeights::resident_bytes)
            .sum()
    }

    /// A copy with every component's tensors moved as `to` says; the layout, configs and
    /// names as they are.
    pub(crate) fn moved(&self, to: &MoveTo) -> Result<Self, BackendError> {
        let components = self
            .components
            .iter()
            .map(|c| {
                Ok(ComponentWeights::new(
                    c.component,
                    c.naming,
                    c.prefix,
                    to.tensors(crate::NAME, &c.tensors)?,
                ))
            })
            .collect::<Result<_, BackendError>>()?;
        Ok(Self::new(
            self.layout.clone(),
            self.config.clone(),
            components,
        ))
    }
}

/// One loaded component's tensors, by name as the checkpoint stores them minus the single
/// file's component prefix: `patchify_proj.weight`, not `model.diffusion_model.patchify_proj.weight`
/// (the way LTX's own loaders strip it).
#[derive(Debug)]
pub struct ComponentWeights {
    component: Component,
    naming: Naming,
    prefix: &'static str,
    tensors: LoadedTensors,
}

impl ComponentWeights {
    pub(crate) fn new(
        component: Component,
        naming: Naming,
        prefix: &'static str,
        tensors: LoadedTensors,
    ) -> Self {
        Self {
            component,
            naming,
            prefix,
            tensors,
        }
    }

    /// Which component this is.
    pub fn component(&self) -> Component {
        self.component
    }

    /// How the tensors are named.
    pub fn naming(&self) -> Naming {
        self.naming
    }

    /// The prefix the checkpoint stores the names with (`"model.diffusion_model."`, `"vae."`,
    /// or `""` in a diffusers tree).
    pub fn prefix(&self) -> &str {
        self.prefix
    }

    /// The tensor called `name` (without the prefix).
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        if self.prefix.is_empty() {
            self.tensors.get(name)
        } else {
            self.tensors.get(&format!("{}{name}", self.prefix))
        }
    }

    /// Every `(name without the prefix, tensor)`, in no particular order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &Tensor)> + '_ {
        self.tensors
            .iter()
            // Every loaded name starts with the prefix: the checkpoint was selected by it.
            .map(|(name, t)| (name.strip_prefix(self.prefix).unwrap_or(name), t))
    }

    /// The number of tensors.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Bytes held by the tensors, measured from their storage.
    pub fn resident_bytes(&self) -> u64 {
        self.tensors.resident_bytes()
    }

    /// The tensors as loaded, by stored name (prefix included).
    pub fn into_tensors(self) -> LoadedTensors {
        self.tensors
    }
}
