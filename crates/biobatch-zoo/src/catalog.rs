//! [`Zoo`]: the configured model sources and the cache of remote files, and what a user does
//! with them — find a model by name, list, update, predict, test, copy its examples.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::dataloaders::choose;
use crate::run::{PredictReport, RunOptions, TestReport};
use crate::source::{
    ResolvedModel, SourceKind, ZooConfig, contains, list, resolve_dir_in, resolve_in,
};
use crate::{Error, Result};

/// The model sources (Kipoi's `config.yaml`: local folders and git repositories) and the
/// cache directory remote files are downloaded into.
#[derive(Debug, Clone, PartialEq)]
pub struct Zoo {
    /// The sources, by name.
    pub config: ZooConfig,
    /// Where remote files go (`None`: a model that needs one fails, naming it).
    pub cache: Option<PathBuf>,
}

/// What [`Zoo::list`] found in one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listing {
    /// The models of a source, by name.
    Models(Vec<String>),
    /// A git source not cloned yet (`zoo update` clones it).
    NotCloned,
}

impl Zoo {
    /// The configured sources ([`ZooConfig::load`]) with the default cache directory
    /// ([`crate::remote::cache_dir`]).
    pub fn load() -> Result<Self> {
        Ok(Zoo {
            config: ZooConfig::load()?,
            cache: crate::remote::cache_dir(),
        })
    }

    /// Finds a model: a folder holding `model.yaml`, else the model of that name in `source`,
    /// else in each source in name order. A model that is there but does not parse is that
    /// error, not "no model".
    pub fn find(&self, name: &str, source: Option<&str>) -> Result<ResolvedModel> {
        let p = Path::new(name);
        if source.is_none() && p.join("model.yaml").is_file() {
            // A folder inside a configured source keeps that source's root.
            let full = p.canonicalize().map_err(|e| Error::io(p, e))?;
            let root = self.config.model_sources.values().find_map(|s| {
                let r = s.confine_root().canonicalize().ok()?;
                full.starts_with(&r).then_some(r)
            });
            return resolve_dir_in(p, root.as_deref());
        }
        fn in_source(src: &str) -> impl Fn(Error) -> Error + '_ {
            move |e| Error::InSource {
                name: src.to_string(),
                error: Box::new(e),
            }
        }
        if let Some(s) = source {
            let kind = self.config.source(s)?;
            return resolve_in(kind.root(), kind.confine_root(), name).map_err(in_source(s));
        }
        let mut tried = Vec::new();
        for (src, kind) in &self.config.model_sources {
            if !kind.root().exists() {
                tried.push(format!(
                    "{src} (not cloned: run `biobatch zoo update {src}`)"
                ));
                continue;
            }
            if contains(kind.root(), name) {
                return resolve_in(kind.root(), kind.confine_root(), name).map_err(in_source(src));
            }
            tried.push(src.clone());
        }
        Err(Error::NoModel {
            name: name.to_string(),
            tried: format!(
                "the sources {} (nor a folder of that name with a model.yaml)",
                tried.join(", ")
            ),
        })
    }

    /// The models of every source (or of `source`), by source name.
    pub fn list(&self, source: Option<&str>) -> Result<Vec<(String, Listing)>> {
        if let Some(s) = source {
            self.config.source(s)?;
        }
        let mut out = Vec::new();
        for (name, kind) in &self.config.model_sources {
            if source.is_some_and(|s| s != name) {
                continue;
            }
            let l = if kind.root().exists() {
                Listing::Models(list(kind.root())?)
            } else {
                Listing::NotCloned
            };
            out.push((name.clone(), l));
        }
        Ok(out)
    }

    /// Clones or pulls the git sources (all, or `source`); returns what git said for each.
    /// Nothing else ever touches the network for sources.
    pub fn update(&self, source: Option<&str>) -> Result<Vec<(String, String)>> {
        let names: Vec<String> = match source {
            Some(s) => vec![s.to_string()],
            None => self
                .config
                .model_sources
                .iter()
                .filter(|(_, s)| matches!(s, SourceKind::Git { .. }))
                .map(|(n, _)| n.clone())
                .collect(),
        };
        names
            .into_iter()
            .map(|n| {
                let msg = crate::source::update(self.config.source(&n)?)?;
                Ok((n, msg))
            })
            .collect()
    }

    /// `zoo predict`: see [`crate::run::predict_to_file`].
    pub fn predict_to_file(
        &self,
        m: &ResolvedModel,
        dataloader_args: &Map<String, Value>,
        out: &Path,
        opts: &RunOptions,
    ) -> Result<PredictReport> {
        crate::run::predict_to_file(m, dataloader_args, out, opts, self.cache.as_deref())
    }

    /// `zoo test`: see [`crate::run::test`].
    pub fn test(&self, m: &ResolvedModel, opts: &RunOptions) -> Result<TestReport> {
        crate::run::test(m, opts, self.cache.as_deref())
    }

    /// `zoo get-example`: copies the files of the model's example arguments (and their
    /// `.fai` / `.gzi` / `.tbi` indexes) into the new folder `dir` (which must not exist, or
    /// be empty), and returns the dataloader arguments that use them. Remote examples are
    /// fetched into the cache first. Only files inside the model's source (or the cache) are
    /// copied. The folder appears whole or not at all.
    pub fn get_example(&self, m: &ResolvedModel, dir: &Path) -> Result<Map<String, Value>> {
        if dir.exists()
            && std::fs::read_dir(dir)
                .map(|mut d| d.next().is_some())
                .unwrap_or(true)
        {
            return Err(Error::output(dir, "exists and is not empty"));
        }
        let cache = self.cache.as_deref();
        let without = choose(m, &Map::new(), false, cache)?;
        let with = choose(m, &Map::new(), true, cache)?;
        let staged = biobatch_formats::fs::AtomicDir::create(dir)?;
        let mut args = with.args.clone();
        for (k, v) in &with.args {
            if without.args.contains_key(k) {
                continue;
            }
            let Some(src) = v.as_str().map(PathBuf::from).filter(|p| p.is_file()) else {
                continue;
            };
            // Only the model's own files (and downloaded ones) are copied; a file elsewhere
            // that a spec names by an absolute path (a trained model's genome) stays where it
            // is, and the argument keeps pointing at it.
            let within = |root: Option<&Path>| {
                let (Some(root), Ok(full)) = (root, src.canonicalize()) else {
                    return false;
                };
                root.canonicalize().is_ok_and(|r| full.starts_with(r))
            };
            if !within(Some(&m.root)) && !within(cache) {
                continue;
            }
            let Some(name) = src.file_name().map(|n| n.to_os_string()) else {
                continue;
            };
            copy(&src, &staged.path().join(&name))?;
            // Indexes travel with their files.
            for ext in ["fai", "gzi", "tbi"] {
                let side = biobatch_formats::fs::with_suffix(&src, &format!(".{ext}"));
                if side.is_file() {
                    let to = format!("{}.{ext}", name.to_string_lossy());
                    copy(&side, &staged.path().join(to))?;
                }
            }
            args.insert(
                k.clone(),
                Value::String(dir.join(&name).display().to_string()),
            );
        }
        staged.commit_new()?;
        Ok(args)
    }
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| Error::io(from, e))
}
