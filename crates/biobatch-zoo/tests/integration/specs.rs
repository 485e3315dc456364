//! Specs, sources and remote files on real Kipoi files (`tests/data/zoo/kipoi`, copied from
//! kipoi/models with its MIT license; see its README for what each file exercises).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use biobatch_core::SchemaNode;
use biobatch_zoo::dataloaders::{build, choose};
use biobatch_zoo::kipoiseq::SEQ_INTERVAL_DL;
use biobatch_zoo::models::load;
use biobatch_zoo::remote::{fetch, md5_file};
use biobatch_zoo::run::check_schema;
use biobatch_zoo::source::{list, resolve};
use biobatch_zoo::spec::{RemoteFile, dataloader_from_str, model_from_str};
use serde_json::{Map, json};

fn kipoi() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/zoo/kipoi")
}

fn data(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data")
        .join(p)
}

#[test]
fn every_real_spec_parses_with_kipoi_semantics() {
    let names = list(&kipoi()).unwrap();
    for want in [
        "Basset",
        "DeepSEA/predict",
        "DeepSEA/beluga",
        "CpGenie/merged",
        "CpGenie/GM19239_ENCSR000DGH",
        "labranchor",
        "KipoiSplice/4",
        "DeepMEL/DeepMEL",
        "rbp_eclip/AARS",
        "MMSplice/mtsplice",
    ] {
        assert!(
            names.contains(&want.to_string()),
            "{want} not listed: {names:?}"
        );
    }
    assert_eq!(
        names.len(),
        9 + 5 + 4,
        "plain folders + 5 CpGenie rows + 5 rbp_eclip rows - 1 (CpGenie/merged is a folder)"
    );
    for n in &names {
        let m = resolve(&kipoi(), n).unwrap_or_else(|e| panic!("{n}: {e}"));
        assert!(!m.model.info.doc.is_empty(), "{n}: info.doc");
        assert!(
            m.model.default_dataloader.is_some(),
            "{n}: default_dataloader"
        );
    }

    let deepsea = resolve(&kipoi(), "DeepSEA/predict").unwrap().model;
    assert_eq!(
        deepsea.info.version.as_deref(),
        Some("0.94"),
        "a float version is its text"
    );
    let beluga = resolve(&kipoi(), "DeepSEA/beluga").unwrap().model;
    assert_eq!(
        beluga.kind, "pytorch",
        "defined_as: kipoi.model.PyTorchModel"
    );
    let dl = beluga.default_dataloader.unwrap();
    assert_eq!(dl.default_args["alphabet"], "AGCT");

    let basset = resolve(&kipoi(), "Basset").unwrap().model;
    let SchemaNode::Array(x) = &basset.schema.inputs else {
        panic!("Basset takes one array")
    };
    assert_eq!(x.shape, [Some(4), Some(600), Some(1)]);
    assert!(basset.args["weights"].remote.is_some());

    let labranchor = resolve(&kipoi(), "labranchor").unwrap();
    assert!(matches!(labranchor.model.schema.inputs, SchemaNode::Map(_)));
    assert!(labranchor.model.postprocessing.is_some());
    assert_eq!(
        labranchor.dataloader.unwrap().defined_as.as_deref(),
        Some("dataloader.py::BranchPointDataset")
    );

    let deepmel = resolve(&kipoi(), "DeepMEL/DeepMEL").unwrap();
    assert!(matches!(&deepmel.model.schema.inputs, SchemaNode::List(l) if l.len() == 2));
    let w = deepmel
        .model
        .args
        .values()
        .find_map(|a| a.remote.clone())
        .unwrap();
    assert_eq!(w.md5.len(), 32, "`md5:` prefix stripped");
    assert!(deepmel.model.warnings.iter().any(|w| w.contains("md5:")));

    let mtsplice = resolve(&kipoi(), "MMSplice/mtsplice").unwrap().model;
    let SchemaNode::Map(m) = &mtsplice.schema.inputs else {
        panic!()
    };
    let SchemaNode::Map(seq) = &m["seq"] else {
        panic!("nested inputs")
    };
    let SchemaNode::Array(a) = seq.values().next().unwrap() else {
        panic!()
    };
    assert_eq!(a.shape, [None, Some(4)], "`(None,4)`");

    let splice = resolve(&kipoi(), "KipoiSplice/4").unwrap();
    assert_eq!(splice.model.kind, "sklearn");
    let e = load(&splice, None, "cpu").err().unwrap().to_string();
    assert!(
        e.contains("unsupported model type `sklearn`") && e.contains("skl2onnx"),
        "{e}"
    );
}

#[test]
fn model_groups_render_their_templates() {
    // The duplicate `info.trained_on` keeps its last value, as PyYAML does.
    let m = resolve(&kipoi(), "CpGenie/GM19239_ENCSR000DGH").unwrap();
    let row = m.group_row.clone().unwrap();
    assert_eq!(row["model"], "GM19239_ENCSR000DGH");
    assert_eq!(
        m.model.info.trained_on.as_deref(),
        Some(
            "RRBS (restricted representation bisulfite sequencing) data from ENCODE (https://www.encodeproject.org/)"
        )
    );
    assert!(
        m.model.test.expect.is_some(),
        "the `{{% if %}}` test block renders for this row only"
    );
    let other = resolve(&kipoi(), "CpGenie/A549_ENCSR000DDI").unwrap();
    assert!(other.model.test.expect.is_none());
    // Values come from the row: the weights URL and md5 differ per model.
    let (a, b) = (
        m.model.args["weights"].remote.clone().unwrap(),
        other.model.args["weights"].remote.clone().unwrap(),
    );
    assert_eq!(a.md5, row["args_weights_md5"]);
    assert_ne!(a.url, b.url);
    // The plain folder wins over a group row of the same name.
    let merged = resolve(&kipoi(), "CpGenie/merged").unwrap();
    assert!(merged.group_row.is_none());
    // rbp_eclip renders its dataloader template too, with a remote default.
    let r = resolve(&kipoi(), "rbp_eclip/AARS").unwrap();
    let dl = r.dataloader.unwrap();
    assert!(dl.args.values().any(|a| a.remote.is_some()));
    assert!(!dl.info.doc.contains("{{"), "rendered: {}", dl.info.doc);

    let e = resolve(&kipoi(), "CpGenie/NOPE").unwrap_err().to_string();
    assert!(e.contains("no model `NOPE`"), "{e}");
    let e = resolve(&kipoi(), "../etc").unwrap_err().to_string();
    assert!(e.contains("a model name has no empty or `..` parts"), "{e}");
}

#[test]
fn a_kipoiseq_model_gets_its_dataloader_and_schema_checked() {
    // Basset: SeqIntervalDl with alphabet_axis 0, dummy_axis 2, auto_resize_len 600.
    let m = resolve(&kipoi(), "Basset").unwrap();
    let user = json!({"intervals_file": data("zoo/kipoiseq/intervals.bed"), "fasta_file": data("multi.fa")});
    let c = choose(&m, user.as_object().unwrap(), false, None).unwrap();
    assert_eq!(c.name, SEQ_INTERVAL_DL);
    assert_eq!(c.args["auto_resize_len"], 600);
    // multi.fa's chromosomes are 20 kb, so 600 bp windows fit except near the ends.
    let e = build(&c.name, c.args.clone()).unwrap_err().to_string();
    assert!(
        e.contains("intervals.bed:1") && e.contains("reaches past the chromosome"),
        "{e}"
    );
    let mut args = c.args.clone();
    args.insert("out_of_bounds".into(), json!("pad"));
    let dl = build(&c.name, args).unwrap();
    let s = dl.schema.unwrap();
    check_schema(&m.model.schema.inputs, &s.inputs, "inputs").unwrap();
    // DeepSEA/beluga takes (4, 1, 2000): Basset's settings do not fit it.
    let beluga = resolve(&kipoi(), "DeepSEA/beluga").unwrap().model;
    let e = check_schema(&beluga.schema.inputs, &s.inputs, "inputs")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(
            "the model expects shape (B, 4, 1, 2000), the dataloader gives shape (B, 4, 600, 1)"
        ),
        "{e}"
    );
    // Python dataloaders are named, not run.
    let l = resolve(&kipoi(), "labranchor").unwrap();
    let e = choose(&l, &Map::new(), false, None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("`dataloader.py::BranchPointDataset` is Python code"),
        "{e}"
    );
}

#[test]
fn spec_errors_name_the_file_and_key() {
    let p = Path::new("m/model.yaml");
    let e = model_from_str("type: onnx\nschema:\n  inputs:\n    shape: (4, x)\n", p)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("m/model.yaml") && e.contains("`x` is not a dimension"),
        "{e}"
    );
    let e = model_from_str(
        "type: onnx\nschema:\n  inputs:\n    shape: (4,)\ntest:\n  precision_decimal: many\n",
        p,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("test.precision_decimal"), "{e}");
    let e = dataloader_from_str(
        "defined_as: x.Y\nargs: {}\n",
        Path::new("d/dataloader.yaml"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("d/dataloader.yaml") && e.contains("output_schema"),
        "{e}"
    );
}

/// Serves `body` to each of `n` HTTP requests on a loopback port; returns the URL.
fn serve(body: Vec<u8>, n: usize) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/weights.bin", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for s in l.incoming().take(n) {
            let mut s = s.unwrap();
            let mut req = Vec::new();
            let mut b = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                let k = s.read(&mut b).unwrap();
                if k == 0 {
                    break;
                }
                req.extend_from_slice(&b[..k]);
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            s.write_all(head.as_bytes()).unwrap();
            s.write_all(&body).unwrap();
        }
    });
    url
}

#[test]
fn remote_files_are_always_checked_and_a_bad_one_is_never_used() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("real.bin");
    std::fs::write(&src, b"the real weights").unwrap();
    let md5 = md5_file(&src).unwrap();
    assert_eq!(md5.len(), 32);
    let cache = tmp.path().join("cache");

    // A good download lands in the cache under its md5.
    let url = serve(b"the real weights".to_vec(), 2);
    let r = RemoteFile {
        url: url.clone(),
        md5: md5.clone(),
        name: None,
    };
    let p = fetch(&r, &cache).unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), b"the real weights");
    assert_eq!(p, cache.join(&md5).join("weights.bin"));
    // A cached copy is checked before use: a corrupted one is replaced by a fresh download.
    std::fs::write(&p, b"bit rot").unwrap();
    let p2 = fetch(&r, &cache).unwrap();
    assert_eq!(std::fs::read(&p2).unwrap(), b"the real weights");

    // A download that does not match (a tampered server) is refused and leaves nothing behind.
    let url = serve(b"tampered weights".to_vec(), 1);
    let bad = RemoteFile {
        url,
        md5: md5.clone(),
        name: Some("w.bin".into()),
    };
    let e = fetch(&bad, &cache).unwrap_err().to_string();
    assert!(e.contains("is not used") && e.contains(&bad.md5), "{e}");
    let left: Vec<String> = std::fs::read_dir(cache.join(&md5))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        left,
        ["weights.bin"],
        "neither w.bin nor a partial download is kept"
    );

    // file:// URLs work the same way.
    let r = RemoteFile {
        url: format!("file://{}", src.display()),
        md5: md5.clone(),
        name: Some("local.bin".into()),
    };
    assert_eq!(
        std::fs::read(fetch(&r, &cache).unwrap()).unwrap(),
        b"the real weights"
    );
}

#[test]
fn a_remote_file_spec_cannot_write_outside_its_cache_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("real.bin");
    std::fs::write(&src, b"payload").unwrap();
    let md5 = md5_file(&src).unwrap();
    let cache = tmp.path().join("cache");
    let url = format!("file://{}", src.display());
    for name in ["../../escape.bin", "a/b.bin", "..", ""] {
        let r = RemoteFile {
            url: url.clone(),
            md5: md5.clone(),
            name: Some(name.into()),
        };
        let e = fetch(&r, &cache).unwrap_err().to_string();
        assert!(e.contains("is not a plain file name"), "{name}: {e}");
    }
    for md5 in ["../../x", "abc", &"g".repeat(32)] {
        let r = RemoteFile {
            url: url.clone(),
            md5: md5.to_string(),
            name: None,
        };
        let e = fetch(&r, &cache).unwrap_err().to_string();
        assert!(e.contains("is not 32 hex digits"), "{md5}: {e}");
    }
    assert!(!tmp.path().join("escape.bin").exists() && !cache.exists());
    // An upper-case md5 is the same digest.
    let r = RemoteFile {
        url,
        md5: md5.to_ascii_uppercase(),
        name: None,
    };
    assert_eq!(
        std::fs::read(fetch(&r, &cache).unwrap()).unwrap(),
        b"payload"
    );
}

#[test]
fn a_remote_default_the_user_overrides_is_never_downloaded() {
    use biobatch_zoo::source::resolve_dir;
    let tmp = tempfile::tempdir().unwrap();
    let m = tmp.path().join("m");
    std::fs::create_dir_all(&m).unwrap();
    let model = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/zoo/peak-cnn/model.yaml"),
    )
    .unwrap();
    std::fs::write(m.join("model.yaml"), model).unwrap();
    // Port 9 on loopback (discard) refuses: a download would fail loudly.
    std::fs::write(
        m.join("dataloader.yaml"),
        "type: Dataset\ndefined_as: kipoiseq.dataloaders.SeqIntervalDl\nargs:\n  \
         intervals_file:\n    doc: intervals\n  fasta_file:\n    doc: genome\n    default:\n      \
         url: http://127.0.0.1:9/genome.fa\n      md5: 0123456789abcdef0123456789abcdef\n\
         output_schema:\n  inputs:\n    shape: (4, 500)\n",
    )
    .unwrap();
    let r = resolve_dir(&m).unwrap();
    let cache = tmp.path().join("cache");
    let user = json!({"intervals_file": "a.bed", "fasta_file": "mine.fa"});
    let c = choose(&r, user.as_object().unwrap(), false, Some(&cache)).unwrap();
    assert_eq!(c.args["fasta_file"], "mine.fa");
    assert!(!cache.exists(), "nothing was fetched");
    // Without the override the default is fetched, and here that fails with the URL named.
    let user = json!({"intervals_file": "a.bed"});
    let e = choose(&r, user.as_object().unwrap(), false, Some(&cache))
        .unwrap_err()
        .to_string();
    assert!(e.contains("http://127.0.0.1:9/genome.fa"), "{e}");
}

/// Runs git in `dir` (with an identity for commits), failing the test with its stderr.
fn git(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=biobatch tests",
            "-c",
            "user.email=tests@biobatch",
        ])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Copies the files of a model folder (no subfolders).
fn copy_model(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn a_git_source_changes_only_when_it_is_updated() {
    use biobatch_zoo::source::{SourceKind, update};

    let tmp = tempfile::tempdir().unwrap();
    let remote = tmp.path().join("remote");
    std::fs::create_dir_all(&remote).unwrap();
    git(&remote, &["init", "-q"]);
    copy_model(&data("zoo/onnx-int64"), &remote.join("counter"));
    git(&remote, &["add", "."]);
    git(&remote, &["commit", "-q", "-m", "one model"]);
    let src = SourceKind::Git {
        remote_url: remote.display().to_string(),
        local_path: tmp.path().join("clone"),
    };
    // Nothing is cloned until asked: the model is not there, and looking does not fetch it.
    let e = resolve(src.root(), "counter").unwrap_err().to_string();
    assert!(e.contains("counter"), "{e}");
    assert!(!src.root().exists(), "resolving cloned the source");
    update(&src).unwrap();
    assert_eq!(resolve(src.root(), "counter").unwrap().model.kind, "onnx");
    // A model added upstream appears only after the next update.
    copy_model(&data("zoo/onnx-int64"), &remote.join("counter2"));
    git(&remote, &["add", "."]);
    git(&remote, &["commit", "-q", "-m", "another"]);
    assert!(resolve(src.root(), "counter2").is_err());
    assert_eq!(list(src.root()).unwrap(), ["counter"]);
    update(&src).unwrap();
    assert_eq!(list(src.root()).unwrap(), ["counter", "counter2"]);
    // A local source needs no update, and a broken remote is git's own error.
    let local = SourceKind::Local {
        local_path: remote.clone(),
        root: None,
    };
    assert!(update(&local).unwrap().contains("no update"));
    let broken = SourceKind::Git {
        remote_url: tmp.path().join("nowhere").display().to_string(),
        local_path: tmp.path().join("clone2"),
    };
    let e = update(&broken).unwrap_err().to_string();
    assert!(e.starts_with("git clone"), "{e}");
}

#[test]
fn paths_in_a_spec_cannot_reach_outside_its_source() {
    use biobatch_zoo::Zoo;
    use biobatch_zoo::source::{ZooConfig, resolve_dir};
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("secret.txt"), "not a model's file\n").unwrap();
    let m = tmp.path().join("zoo/evil");
    std::fs::create_dir_all(&m).unwrap();
    std::fs::write(
        m.join("model.yaml"),
        "type: onnx\nargs:\n  file: ../../secret.txt\ninfo: {doc: x}\ndefault_dataloader: .\n\
         schema: {inputs: {shape: (4, 10)}, targets: {shape: (1,)}}\n",
    )
    .unwrap();
    std::fs::write(
        m.join("dataloader.yaml"),
        "type: Dataset\ndefined_as: kipoiseq.dataloaders.SeqIntervalDl\nargs:\n  \
         intervals_file: {doc: i, example: ../../secret.txt}\n  fasta_file: {doc: f, example: \
         ../../secret.txt}\ninfo: {doc: x}\noutput_schema:\n  inputs: {shape: (4, 10)}\n",
    )
    .unwrap();
    let model = resolve_dir(&m).unwrap();
    // The model's own file.
    let e = load(&model, None, "cpu").err().unwrap().to_string();
    assert!(
        e.contains("../../secret.txt") && e.contains("inside its source"),
        "{e}"
    );
    // Its examples: neither used nor copied.
    let zoo = Zoo {
        config: ZooConfig::default(),
        cache: None,
    };
    let out = tmp.path().join("ex");
    let e = zoo.get_example(&model, &out).unwrap_err().to_string();
    assert!(e.contains("leads outside the model's source"), "{e}");
    assert!(!out.exists());
    // An absolute example outside the source is left where it is, not copied.
    std::fs::write(
        m.join("dataloader.yaml"),
        format!(
            "type: Dataset\ndefined_as: kipoiseq.dataloaders.SeqIntervalDl\nargs:\n  \
             intervals_file: {{doc: i, example: {}}}\ninfo: {{doc: x}}\noutput_schema:\n  \
             inputs: {{shape: (4, 10)}}\n",
            tmp.path().join("secret.txt").display()
        ),
    )
    .unwrap();
    let model = resolve_dir(&m).unwrap();
    let args = zoo.get_example(&model, &out).unwrap();
    assert!(!out.join("secret.txt").exists(), "not copied");
    assert_eq!(
        args["intervals_file"],
        json!(tmp.path().join("secret.txt").display().to_string())
    );
    // A labels file is read only from inside the spec's folder.
    for labels in ["../../secret.txt", "[../../secret.txt]"] {
        let text = format!(
            "type: onnx\nargs: {{file: m.onnx}}\ninfo: {{doc: x}}\nschema: {{inputs: {{shape: \
             (4, 10)}}, targets: {{shape: (3,), column_labels: {labels}}}}}\n"
        );
        let e = biobatch_zoo::spec::model_from_str(&text, &m.join("model.yaml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("column_labels") && e.contains("leads outside"),
            "{e}"
        );
    }
    // A one-item list that is not a file inside the folder is a label, not a path.
    let text = "type: onnx\nargs: {file: m.onnx}\ninfo: {doc: x}\nschema: {inputs: {shape: \
                (4, 10)}, targets: {shape: (1,), column_labels: [../../secret.txt]}}\n";
    let spec = biobatch_zoo::spec::model_from_str(text, &m.join("model.yaml")).unwrap();
    let t = spec.schema.targets.unwrap();
    assert_eq!(format!("{t:?}").matches("not a model's file").count(), 0);
}
