//! Model sources (a local directory, or a git repository cloned or updated only on request)
//! and name resolution, as Kipoi does it: a plain folder with `model.yaml` first, then a model
//! group — a parent folder with `model-template.yaml` and `models.tsv`, whose row for the rest
//! of the name fills the Jinja2 template.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::spec::{DataloaderSpec, ModelSpec, dataloader_from_str_in, model_from_str_in};
use crate::{Error, Result};

/// How a source is reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SourceKind {
    /// A directory on disk.
    Local {
        /// The directory.
        local_path: PathBuf,
        /// The folder that relative paths in its specs may reach up to (default: the
        /// directory itself).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        root: Option<PathBuf>,
    },
    /// A git repository, kept in `local_path` (`git-lfs` is read as `git`).
    #[serde(alias = "git-lfs", alias = "git_lfs")]
    Git {
        /// Where to clone from.
        remote_url: String,
        /// Where the clone lives.
        local_path: PathBuf,
    },
}

impl SourceKind {
    /// The directory models are read from.
    pub fn root(&self) -> &Path {
        match self {
            SourceKind::Local { local_path, .. } | SourceKind::Git { local_path, .. } => local_path,
        }
    }

    /// The folder that relative paths in the source's specs may reach up to: `root` of a
    /// local source, else the directory (a git source: its clone).
    pub fn confine_root(&self) -> &Path {
        match self {
            SourceKind::Local { root: Some(r), .. } => r,
            _ => self.root(),
        }
    }
}

/// The sources configuration: the meaning of Kipoi's `config.yaml` (`model_sources`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ZooConfig {
    /// Sources by name, searched in name order unless one is named.
    #[serde(default)]
    pub model_sources: BTreeMap<String, SourceKind>,
}

/// The bundled example zoo (`zoo/` of the bundled examples, found at run time: see
/// [`examples_dir`](biobatch_formats::fs::examples_dir)), if there is one.
pub fn bundled_zoo() -> Option<PathBuf> {
    let dir = biobatch_formats::fs::examples_dir()?.join("zoo");
    dir.is_dir().then(|| dir.canonicalize().unwrap_or(dir))
}

/// The config file: `$BIOBATCH_ZOO_CONFIG`, else `$XDG_CONFIG_HOME/biobatch/zoo.yaml`, else
/// `~/.config/biobatch/zoo.yaml`.
pub fn config_path() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("BIOBATCH_ZOO_CONFIG")
        .or_else(|| var("XDG_CONFIG_HOME").map(|d| d.join("biobatch/zoo.yaml")))
        .or_else(|| var("HOME").map(|d| d.join(".config/biobatch/zoo.yaml")))
}

impl ZooConfig {
    /// The configuration from [`config_path`], plus the bundled zoo as source `examples`
    /// when there is one (unless the file defines a source of that name). A missing file is
    /// no sources but the bundled one; a malformed file is an error naming it.
    pub fn load() -> Result<Self> {
        let mut c = match config_path() {
            Some(p) if p.exists() => {
                let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
                let v = crate::spec::parse_yaml(&text, &p)?;
                serde_json::from_value::<ZooConfig>(v)
                    .map_err(|e| Error::spec(&p, e.to_string()))?
            }
            _ => ZooConfig::default(),
        };
        if let Some(local_path) = bundled_zoo() {
            // The bundled models share the example data beside the zoo.
            let root = local_path.parent().map(Path::to_path_buf);
            c.model_sources
                .entry("examples".into())
                .or_insert(SourceKind::Local { local_path, root });
        }
        Ok(c)
    }

    /// The source named `name`; the error lists the sources there are.
    pub fn source(&self, name: &str) -> Result<&SourceKind> {
        self.model_sources.get(name).ok_or_else(|| Error::NoSource {
            name: name.to_string(),
            known: self
                .model_sources
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
}

/// Clones a git source, or pulls it if it is cloned already. Only ever run on request.
pub fn update(source: &SourceKind) -> Result<String> {
    let SourceKind::Git {
        remote_url,
        local_path,
    } = source
    else {
        return Ok("a local source needs no update".into());
    };
    let git = |args: &[&str], dir: Option<&Path>| -> Result<String> {
        let mut cmd = std::process::Command::new("git");
        if let Some(d) = dir {
            cmd.arg("-C").arg(d);
        }
        let failed = |message: String| Error::Git {
            args: args.join(" "),
            message,
        };
        let out = cmd
            .args(args)
            .output()
            .map_err(|e| failed(format!("cannot run git: {e}")))?;
        if !out.status.success() {
            return Err(failed(
                String::from_utf8_lossy(&out.stderr).trim().to_string(),
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    if local_path.join(".git").exists() {
        git(&["pull", "--ff-only"], Some(local_path))
    } else {
        let dest = local_path.to_string_lossy().to_string();
        git(&["clone", "--depth", "1", remote_url, &dest], None)
    }
}

/// A resolved model: its directory, its spec, and its own dataloader spec if it has one.
#[derive(Debug, Clone)]
pub struct ResolvedModel {
    /// The model's name as asked.
    pub name: String,
    /// Its directory (where relative files in its spec live).
    pub dir: PathBuf,
    /// The folder relative paths in its specs must stay inside (its source's root, or the
    /// model folder itself when it was given as a folder).
    pub root: PathBuf,
    /// `model.yaml` (rendered, for a group member).
    pub model: ModelSpec,
    /// `dataloader.yaml` beside it, if any.
    pub dataloader: Option<DataloaderSpec>,
    /// The `models.tsv` row a group member was rendered from.
    pub group_row: Option<BTreeMap<String, String>>,
}

impl ResolvedModel {
    /// A file the model's spec names, relative to its folder: refused when absolute, or when
    /// it leads (through `..` or a symbolic link) outside the model's [`root`](Self::root).
    pub fn file(&self, rel: &str) -> Result<PathBuf> {
        biobatch_formats::fs::within(&self.root, &self.dir, rel).map_err(|why| {
            Error::spec(
                &self.model.path,
                format!(
                    "`{rel}` {why}: files a spec names must lie inside its source ({})",
                    self.root.display()
                ),
            )
        })
    }
}

/// Reads `models.tsv`: a header row, then one row per model (column `model` names it).
fn read_tsv(path: &Path) -> Result<Vec<BTreeMap<String, String>>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .ok_or_else(|| Error::spec(path, "empty"))?
        .split('\t')
        .collect();
    if !header.contains(&"model") {
        return Err(Error::spec(path, "no `model` column in the header"));
    }
    lines
        .enumerate()
        .map(|(i, l)| {
            let cells: Vec<&str> = l.split('\t').collect();
            if cells.len() != header.len() {
                return Err(Error::spec(
                    path,
                    format!(
                        "line {}: {} cells, the header has {}",
                        i + 2,
                        cells.len(),
                        header.len()
                    ),
                ));
            }
            Ok(header
                .iter()
                .zip(cells)
                .map(|(h, c)| (h.to_string(), c.to_string()))
                .collect())
        })
        .collect()
}

/// Renders a Jinja2 template file with a row's values.
fn render(path: &Path, row: &BTreeMap<String, String>) -> Result<String> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    let bad = |stage| {
        move |source| Error::Template {
            path: path.to_path_buf(),
            stage,
            source,
        }
    };
    env.add_template("t", &text).map_err(bad("template"))?;
    env.get_template("t")
        .and_then(|t| t.render(row))
        .map_err(bad("rendering"))
}

/// Whether `name` names a model of the source at `root`: its folder has a `model.yaml`, or
/// a folder above it is a model group (`model-template.yaml` + `models.tsv`). A name that
/// is there but does not resolve is an error of that model's files, not a missing model.
pub fn contains(root: &Path, name: &str) -> bool {
    let name = name.trim_matches('/');
    if name.split('/').any(|s| s == ".." || s.is_empty()) {
        return false;
    }
    if root.join(name).join("model.yaml").exists() {
        return true;
    }
    let parts: Vec<&str> = name.split('/').collect();
    (1..parts.len()).any(|cut| {
        let group = root.join(parts[..cut].join("/"));
        group.join("model-template.yaml").exists() && group.join("models.tsv").exists()
    })
}

/// Resolves `name` under `models`: `models/name/model.yaml`, else the nearest parent folder
/// of the name holding `model-template.yaml` + `models.tsv` with a row for the rest. Relative
/// paths in its specs must stay inside `models`.
pub fn resolve(models: &Path, name: &str) -> Result<ResolvedModel> {
    resolve_in(models, models, name)
}

/// [`resolve`], with relative paths in the model's specs confined to `root` instead (a
/// folder containing `models`: a source's root).
pub fn resolve_in(models: &Path, root: &Path, name: &str) -> Result<ResolvedModel> {
    let name = name.trim_matches('/');
    if name.split('/').any(|s| s == ".." || s.is_empty()) {
        return Err(Error::NoModel {
            name: name.to_string(),
            tried: "any source (a model name has no empty or `..` parts)".into(),
        });
    }
    let dir = models.join(name);
    let plain = dir.join("model.yaml");
    if plain.exists() {
        let text = std::fs::read_to_string(&plain).map_err(|e| Error::io(&plain, e))?;
        let model = model_from_str_in(&text, &plain, root)?;
        let dl_path = dir.join("dataloader.yaml");
        let dataloader = if dl_path.exists() {
            let t = std::fs::read_to_string(&dl_path).map_err(|e| Error::io(&dl_path, e))?;
            Some(dataloader_from_str_in(&t, &dl_path, root)?)
        } else {
            None
        };
        return Ok(ResolvedModel {
            name: name.to_string(),
            dir,
            root: root.to_path_buf(),
            model,
            dataloader,
            group_row: None,
        });
    }
    // Model groups: the longest prefix of the name with a template.
    let parts: Vec<&str> = name.split('/').collect();
    for cut in (1..parts.len()).rev() {
        let group = models.join(parts[..cut].join("/"));
        let template = group.join("model-template.yaml");
        let table = group.join("models.tsv");
        if !(template.exists() && table.exists()) {
            continue;
        }
        let rest = parts[cut..].join("/");
        let rows = read_tsv(&table)?;
        let row = rows
            .into_iter()
            .find(|r| r.get("model") == Some(&rest))
            .ok_or_else(|| Error::NoModel {
                name: rest.clone(),
                tried: format!("model group {} (its models.tsv)", group.display()),
            })?;
        let rendered = render(&template, &row)?;
        let model = model_from_str_in(&rendered, &template, root)?;
        let dl_template = group.join("dataloader-template.yaml");
        let dl_plain = group.join("dataloader.yaml");
        let dataloader = if dl_template.exists() {
            Some(dataloader_from_str_in(
                &render(&dl_template, &row)?,
                &dl_template,
                root,
            )?)
        } else if dl_plain.exists() {
            let t = std::fs::read_to_string(&dl_plain).map_err(|e| Error::io(&dl_plain, e))?;
            Some(dataloader_from_str_in(&t, &dl_plain, root)?)
        } else {
            None
        };
        return Ok(ResolvedModel {
            name: name.to_string(),
            dir: group,
            root: root.to_path_buf(),
            model,
            dataloader,
            group_row: Some(row),
        });
    }
    Err(Error::NoModel {
        name: name.to_string(),
        tried: format!(
            "{} (no {name}/model.yaml, and no model group above it)",
            models.display()
        ),
    })
}

/// Resolves a model given as its directory (Kipoi's `--source dir`), e.g. the `model/`
/// folder `biobatch train bpnet` writes; relative paths in its specs must stay inside it.
pub fn resolve_dir(dir: &Path) -> Result<ResolvedModel> {
    resolve_dir_in(dir, None)
}

/// [`resolve_dir`], with relative paths confined to `root` (a folder containing `dir`)
/// instead of `dir` itself.
pub fn resolve_dir_in(dir: &Path, root: Option<&Path>) -> Result<ResolvedModel> {
    let full = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
    if !full.join("model.yaml").is_file() {
        return Err(Error::spec(dir, "no model.yaml in this folder"));
    }
    let (parent, name) = match (full.parent(), full.file_name()) {
        (Some(r), Some(n)) => (r.to_path_buf(), n.to_string_lossy().into_owned()),
        _ => {
            return Err(Error::spec(dir, "not a model folder"));
        }
    };
    let confine = root.map_or_else(|| full.clone(), Path::to_path_buf);
    resolve_in(&parent, &confine, &name)
}

/// Every model name under `root`: folders with `model.yaml`, and each row of each group.
pub fn list(root: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
        let rel = |p: &Path| {
            p.strip_prefix(root)
                .unwrap_or(p)
                .to_string_lossy()
                .replace('\\', "/")
        };
        if dir.join("model.yaml").exists() {
            out.push(rel(dir));
        }
        if dir.join("model-template.yaml").exists() && dir.join("models.tsv").exists() {
            for r in read_tsv(&dir.join("models.tsv"))? {
                if let Some(m) = r.get("model") {
                    out.push(format!("{}/{m}", rel(dir)));
                }
            }
        }
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| Error::io(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_dir()
                    && !p
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        entries.sort();
        for e in entries {
            walk(root, &e, out)?;
        }
        Ok(())
    }
    walk(root, root, &mut out)?;
    out.sort();
    Ok(out)
}
