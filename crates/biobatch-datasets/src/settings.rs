//! The loader settings every dataset takes ([`LoaderSettings`]), and how a dataset and its
//! plan become a [`Loader`].

use std::sync::Arc;

use biobatch_loader::{BatchDataset, Loader, LoaderConfig};
use biobatch_sampling::Plan;
use serde::{Deserialize, Deserializer, Serialize};

use crate::{Error, Result};

/// How a dataset's batches are made: the `loader` table of every dataset configuration
/// (`[peaks.loader]`, `[loader]`, …). Fields left out of a table keep the dataset's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoaderSettings {
    /// Examples per batch [32].
    pub batch_size: usize,
    /// Worker threads (0: batches are made on the consumer's thread) [2].
    pub num_workers: usize,
    /// Batches made ahead of the consumer [8].
    pub prefetch: usize,
    /// Drop a last batch shorter than `batch_size` [false].
    pub drop_last: bool,
    /// Show a progress bar [false].
    pub progress: bool,
}

impl Default for LoaderSettings {
    fn default() -> Self {
        LoaderSettings {
            batch_size: 32,
            num_workers: 2,
            prefetch: 8,
            drop_last: false,
            progress: false,
        }
    }
}

/// A `loader` table as written: only the fields given.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Given {
    batch_size: Option<usize>,
    num_workers: Option<usize>,
    prefetch: Option<usize>,
    drop_last: Option<bool>,
    progress: Option<bool>,
}

impl LoaderSettings {
    /// Checks what no loader can run with: a batch size or prefetch of 0.
    pub fn check(&self) -> Result<()> {
        if self.batch_size == 0 {
            return Err(Error::Config("loader.batch_size must be at least 1".into()));
        }
        if self.prefetch == 0 {
            return Err(Error::Config("loader.prefetch must be at least 1".into()));
        }
        Ok(())
    }

    /// The loader runtime's configuration.
    pub fn config(&self) -> LoaderConfig {
        LoaderConfig {
            batch_size: self.batch_size,
            num_workers: self.num_workers,
            prefetch: self.prefetch,
            drop_last: self.drop_last,
        }
    }

    /// A `loader` table deserialised over `defaults`: the fields it gives replace theirs.
    pub(crate) fn deserialize_over<'de, D: Deserializer<'de>>(
        defaults: LoaderSettings,
        d: D,
    ) -> std::result::Result<Self, D::Error> {
        let g = Given::deserialize(d)?;
        Ok(LoaderSettings {
            batch_size: g.batch_size.unwrap_or(defaults.batch_size),
            num_workers: g.num_workers.unwrap_or(defaults.num_workers),
            prefetch: g.prefetch.unwrap_or(defaults.prefetch),
            drop_last: g.drop_last.unwrap_or(defaults.drop_last),
            progress: g.progress.unwrap_or(defaults.progress),
        })
    }

    /// A loader of `ds` over `plan` with these settings.
    pub(crate) fn loader<D: BatchDataset, P: Plan + 'static>(
        &self,
        ds: D,
        plan: P,
    ) -> Result<Loader> {
        self.check()?;
        Ok(Loader::new(ds, plan, self.config())?.with_progress(self.progress))
    }

    /// A loader of a shared dataset over a shared plan with these settings.
    pub(crate) fn loader_of_arcs(
        &self,
        ds: Arc<dyn BatchDataset>,
        plan: Arc<dyn Plan>,
    ) -> Result<Loader> {
        self.check()?;
        Ok(Loader::from_arcs(ds, plan, self.config())?.with_progress(self.progress))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Outer {
        #[serde(deserialize_with = "big")]
        loader: LoaderSettings,
    }

    fn big<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<LoaderSettings, D::Error> {
        let defaults = LoaderSettings {
            batch_size: 256,
            prefetch: 4,
            ..Default::default()
        };
        LoaderSettings::deserialize_over(defaults, d)
    }

    #[test]
    fn fields_left_out_keep_the_datasets_defaults_and_typos_are_refused() {
        let o: Outer = serde_json::from_str(r#"{"loader": {"num_workers": 5}}"#).unwrap();
        assert_eq!(
            (o.loader.batch_size, o.loader.num_workers, o.loader.prefetch),
            (256, 5, 4)
        );
        let e = serde_json::from_str::<Outer>(r#"{"loader": {"batchsize": 5}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("batchsize"), "{e}");
        let zero = LoaderSettings {
            batch_size: 0,
            ..Default::default()
        };
        assert!(zero.check().unwrap_err().to_string().contains("batch_size"));
    }
}
