//! ExperimentDataset on a store with a known pattern: selection, order, partitions, dense and
//! sparse outputs against a brute-force reference, codes, weights, splits and resume.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, DictionaryArray, Int32Array, RecordBatch, StringArray};
use biobatch_core::Batch;
use biobatch_datasets::{ExperimentConfig, ExperimentDataset, LoaderSettings};
use biobatch_formats::csr::CsrMatrix;
use biobatch_formats::soma::{LayerData, write_experiment};
use biobatch_sampling::{Cursor, Layout, Partition, Policy};

const CELLS: usize = 1_000;
const GENES: usize = 50;

/// Cell i expresses genes (i·7 + 3k) % GENES for k < 1 + i % 6, value 1 + (i + k) % 9.
fn value(i: usize, j: usize) -> f32 {
    (0..1 + i % 6)
        .find(|k| (i * 7 + 3 * k) % GENES == j)
        .map_or(0.0, |k| (1 + (i + k) % 9) as f32)
}

fn tissue(i: usize) -> &'static str {
    ["lung", "liver", "brain", "kidney"][i % 4]
}

struct Store {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn store() -> Store {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exp");
    let (mut r, mut c, mut v) = (vec![], vec![], vec![]);
    for i in 0..CELLS {
        for j in 0..GENES {
            let x = value(i, j);
            if x != 0.0 {
                r.push(i as u32);
                c.push(j as u32);
                v.push(x as u16);
            }
        }
    }
    let m = CsrMatrix::<u16, u32>::from_coo(CELLS, GENES, &r, &c, &v).unwrap();
    let tissues: DictionaryArray<Int32Type> = (0..CELLS).map(tissue).collect();
    let obs = RecordBatch::try_from_iter([
        (
            "obs_id",
            Arc::new(StringArray::from_iter_values(
                (0..CELLS).map(|i| format!("c{i}")),
            )) as ArrayRef,
        ),
        ("tissue", Arc::new(tissues) as ArrayRef),
        (
            "batch",
            Arc::new(StringArray::from_iter_values(
                (0..CELLS).map(|i| format!("b{}", i / 250)),
            )) as ArrayRef,
        ),
        (
            "n_genes",
            Arc::new(Int32Array::from_iter_values(
                (0..CELLS).map(|i| (1 + i % 6) as i32),
            )) as ArrayRef,
        ),
    ])
    .unwrap();
    let var = RecordBatch::try_from_iter([(
        "var_id",
        Arc::new(StringArray::from_iter_values(
            (0..GENES).map(|j| format!("g{j}")),
        )) as ArrayRef,
    )])
    .unwrap();
    write_experiment(&path, &obs, &var, &[("counts", LayerData::from(&m))]).unwrap();
    Store { _dir: dir, path }
}

fn config(s: &Store) -> ExperimentConfig {
    ExperimentConfig {
        loader: LoaderSettings {
            batch_size: 32,
            num_workers: 0,
            ..ExperimentConfig::default().loader
        },
        store: s.path.clone(),
        io_batch_size: 128,
        shuffle_chunk_size: 16,
        seed: Some(3),
        ..Default::default()
    }
}

fn epoch_of(c: &ExperimentConfig, partition: Partition, e: u64) -> Vec<Batch> {
    let loader = ExperimentDataset::open(c)
        .unwrap()
        .into_loader(partition)
        .unwrap();
    loader
        .epoch(e)
        .unwrap()
        .map(|b| b.unwrap().into_inner())
        .collect()
}

fn ids(b: &Batch) -> Vec<i64> {
    b.array("metadata/soma_joinid")
        .unwrap()
        .as_slice::<i64>()
        .unwrap()
        .to_vec()
}

fn all_ids(batches: &[Batch]) -> Vec<i64> {
    batches.iter().flat_map(ids).collect()
}

fn dense(b: &Batch) -> Vec<f32> {
    match b.array("inputs/X") {
        Ok(a) => a.as_slice::<f32>().unwrap().to_vec(),
        Err(_) => b
            .sparse("inputs/X")
            .unwrap()
            .to_dense()
            .unwrap()
            .as_slice::<f32>()
            .unwrap()
            .to_vec(),
    }
}

#[test]
fn every_cell_once_per_epoch_with_the_right_values_and_a_new_order_each_epoch() {
    let s = store();
    let c = config(&s);
    let e0 = epoch_of(&c, Partition::single(), 0);
    let e1 = epoch_of(&c, Partition::single(), 1);
    let mut seen = all_ids(&e0);
    assert_ne!(seen, all_ids(&e1), "the epoch is mixed into the order");
    assert_eq!(
        all_ids(&e0),
        all_ids(&epoch_of(&c, Partition::single(), 0)),
        "reproducible"
    );
    seen.sort_unstable();
    assert_eq!(seen, (0..CELLS as i64).collect::<Vec<_>>());
    for b in e0.iter().chain(&e1) {
        let x = dense(b);
        for (k, &i) in ids(b).iter().enumerate() {
            let want: Vec<f32> = (0..GENES).map(|j| value(i as usize, j)).collect();
            assert_eq!(&x[k * GENES..(k + 1) * GENES], &want[..], "cell {i}");
        }
    }
    // Chunked: each IO batch (8 chunks of 16 consecutive cells, shuffled row-wise inside)
    // holds exactly the cells of its 8 chunks.
    let order = all_ids(&e0);
    let chunked = biobatch_sampling::Order::Chunked {
        shuffle_chunk_size: 16,
        io_batch_size: 128,
    };
    let ranges = biobatch_sampling::io_batches(&chunked, CELLS as u64, 3, 0).unwrap();
    assert_eq!(ranges.len(), 8);
    for r in ranges {
        let io = &order[r.start as usize..r.end as usize];
        let chunks: BTreeSet<i64> = io.iter().map(|i| i / 16).collect();
        let whole: usize = chunks
            .iter()
            .map(|&ch| (((ch + 1) * 16).min(CELLS as i64) - ch * 16) as usize)
            .sum();
        assert_eq!(
            whole,
            io.len(),
            "IO batch {r:?} is made of whole chunks: {chunks:?}"
        );
    }
}

#[test]
fn dense_and_sparse_batches_agree_for_any_worker_count() {
    let s = store();
    let mut c = config(&s);
    let reference = epoch_of(&c, Partition::single(), 2);
    for workers in [1, 3] {
        for sparse in [false, true] {
            c.loader.num_workers = workers;
            c.return_sparse = sparse;
            let got = epoch_of(&c, Partition::single(), 2);
            assert_eq!(got.len(), reference.len());
            for (a, b) in got.iter().zip(&reference) {
                assert_eq!(ids(a), ids(b), "workers {workers} sparse {sparse}");
                assert_eq!(dense(a), dense(b), "workers {workers} sparse {sparse}");
            }
            if sparse {
                let sp = got[0].sparse("inputs/X").unwrap();
                sp.validate().unwrap();
                assert_eq!(sp.rows(), 32);
            }
        }
    }
}

#[test]
fn ranks_get_disjoint_equal_shares_of_a_new_random_subset_each_epoch() {
    let s = store();
    let c = config(&s);
    let world = 3;
    let mut per_epoch = Vec::new();
    for e in 0..2 {
        let mut union = BTreeSet::new();
        let mut shares = Vec::new();
        for rank in 0..world {
            let p = Partition::new(rank, world, Policy::Drop, Layout::Contiguous).unwrap();
            let loader = ExperimentDataset::open(&c).unwrap().into_loader(p).unwrap();
            let batches: Vec<Batch> = loader
                .epoch(e)
                .unwrap()
                .map(|b| b.unwrap().into_inner())
                .collect();
            assert_eq!(
                batches.len() as u64,
                loader.num_batches(),
                "len = batches of this rank"
            );
            let got = all_ids(&batches);
            assert_eq!(
                got.len(),
                CELLS / world as usize,
                "equal counts (drop policy)"
            );
            for &i in &got {
                assert!(union.insert(i), "cell {i} on two ranks");
            }
            shares.push(got.iter().copied().collect::<BTreeSet<_>>());
        }
        assert_eq!(union.len(), CELLS - CELLS % world as usize);
        per_epoch.push(shares);
    }
    assert_ne!(
        per_epoch[0][0], per_epoch[1][0],
        "rank 0 sees other cells next epoch"
    );
}

#[test]
fn filters_gene_selections_codes_and_obs_columns() {
    let s = store();
    let mut c = config(&s);
    c.obs_filter = Some("tissue IN ('lung', 'brain') AND n_genes >= 3".into());
    c.var_ids = vec!["g7".into(), "g0".into(), "g3".into()];
    c.covariates = vec!["batch".into()];
    c.labels = vec!["tissue+batch".into()];
    c.obs_columns = vec!["obs_id".into(), "n_genes".into()];
    c.return_sparse = true;
    let ds = ExperimentDataset::open(&c).unwrap();
    let want: Vec<u64> = (0..CELLS as u64)
        .filter(|&i| ["lung", "brain"].contains(&tissue(i as usize)) && 1 + i % 6 >= 3)
        .collect();
    assert_eq!(ds.cells(), &want[..]);
    assert_eq!(ds.num_genes(), 3);
    let d = ds.describe();
    assert_eq!(
        (d.filtered_cells, d.cells, d.genes, d.value_dtype.as_str()),
        (want.len(), want.len(), 3, "u16")
    );
    let vocab: HashMap<String, Vec<String>> = ds
        .vocabularies()
        .into_iter()
        .map(|v| (v.name, v.values))
        .collect();
    assert_eq!(vocab["batch"], ["b0", "b1", "b2", "b3"]);
    let batches = epoch_of(&c, Partition::single(), 0);
    let mut seen = Vec::new();
    for b in &batches {
        let x = dense(b);
        let batch_codes = b.array("inputs/batch").unwrap().as_slice::<i64>().unwrap();
        let label_codes = b
            .array("targets/tissue+batch")
            .unwrap()
            .as_slice::<i64>()
            .unwrap();
        let obs_ids = b
            .array("metadata/obs/obs_id")
            .unwrap()
            .as_slice::<String>()
            .unwrap();
        let n_genes = b
            .array("metadata/obs/n_genes")
            .unwrap()
            .as_slice::<i64>()
            .unwrap();
        for (k, &i) in ids(b).iter().enumerate() {
            let i = i as usize;
            let row: Vec<f32> = [7, 0, 3].iter().map(|&j| value(i, j)).collect();
            assert_eq!(
                &x[k * 3..(k + 1) * 3],
                &row[..],
                "cell {i}: genes in the requested order"
            );
            assert_eq!(
                vocab["batch"][batch_codes[k] as usize],
                format!("b{}", i / 250)
            );
            assert_eq!(
                vocab["tissue+batch"][label_codes[k] as usize],
                format!("{}|b{}", tissue(i), i / 250)
            );
            assert_eq!(obs_ids[k], format!("c{i}"));
            assert_eq!(n_genes[k], (1 + i % 6) as i64);
            seen.push(i as u64);
        }
    }
    seen.sort_unstable();
    assert_eq!(seen, want);

    // A var filter keeps store order.
    let mut c = config(&s);
    c.var_filter = Some("var_id IN ('g2', 'g1')".into());
    let b = &epoch_of(&c, Partition::single(), 0)[0];
    for (k, &i) in ids(b).iter().enumerate() {
        assert_eq!(
            dense(b)[k * 2..k * 2 + 2],
            [value(i as usize, 1), value(i as usize, 2)]
        );
    }
    // Mistakes are errors.
    let mut c = config(&s);
    c.obs_filter = Some("tisue = 'lung'".into());
    assert!(
        ExperimentDataset::open(&c)
            .unwrap_err()
            .to_string()
            .contains("no column `tisue`")
    );
    let mut c = config(&s);
    c.var_ids = vec!["nope".into()];
    assert!(
        ExperimentDataset::open(&c)
            .unwrap_err()
            .to_string()
            .contains("no gene `nope`")
    );
    let mut c = config(&s);
    c.obs_filter = Some("n_genes > 100".into());
    assert!(
        ExperimentDataset::open(&c)
            .unwrap_err()
            .to_string()
            .contains("selects no cells")
    );
}

#[test]
fn splits_are_disjoint_and_weighted_sampling_balances_classes() {
    let s = store();
    let mut c = config(&s);
    c.obs_filter = Some("tissue <> 'kidney'".into());
    c.split = vec![0.8, 0.2];
    let train = ExperimentDataset::open(&c).unwrap().cells().to_vec();
    c.split_part = 1;
    let val = ExperimentDataset::open(&c).unwrap().cells().to_vec();
    assert_eq!((train.len(), val.len()), (600, 150));
    let all: BTreeSet<u64> = train.iter().chain(&val).copied().collect();
    assert_eq!(all.len(), 750, "disjoint, covering the filtered cells");
    // The split is drawn from split_seed (default: the seed), never from the epoch.
    c.seed = Some(99);
    assert_ne!(ExperimentDataset::open(&c).unwrap().cells(), &val[..]);
    c.split_seed = Some(3);
    assert_eq!(ExperimentDataset::open(&c).unwrap().cells(), &val[..]);

    // Weighted by a 3:1 unbalanced key: classes come out about equally often.
    let mut c = config(&s);
    c.obs_filter = Some("tissue IN ('lung', 'liver', 'brain')".into());
    c.weight_by = Some("batch".into());
    c.epoch_len = Some(4_000);
    c.obs_columns = vec!["batch".into()];
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for b in epoch_of(&c, Partition::single(), 0) {
        for v in b
            .array("metadata/obs/batch")
            .unwrap()
            .as_slice::<String>()
            .unwrap()
        {
            *counts.entry(v.clone()).or_default() += 1;
        }
    }
    assert_eq!(counts.values().sum::<usize>(), 4_000);
    for (k, &n) in &counts {
        assert!((850..1150).contains(&n), "class {k}: {n} of 4000");
    }
}

#[test]
fn a_cursor_resumes_the_same_batches_and_refuses_another_selection() {
    let s = store();
    let c = config(&s);
    let loader = ExperimentDataset::open(&c)
        .unwrap()
        .into_loader(Partition::single())
        .unwrap();
    let all: Vec<_> = loader.epoch(1).unwrap().map(|b| b.unwrap()).collect();
    let cursor: Cursor = all[4].cursor_after().to_string().parse().unwrap();
    let fresh = ExperimentDataset::open(&c)
        .unwrap()
        .into_loader(Partition::single())
        .unwrap();
    let rest: Vec<Batch> = fresh
        .resume(&cursor)
        .unwrap()
        .map(|b| b.unwrap().into_inner())
        .collect();
    let want: Vec<Batch> = all.into_iter().skip(5).map(|b| b.into_inner()).collect();
    assert_eq!(rest, want);
    let mut other = c.clone();
    other.obs_filter = Some("n_genes > 0".into()); // the same cells, but …
    let same = ExperimentDataset::open(&other)
        .unwrap()
        .into_loader(Partition::single())
        .unwrap();
    assert!(
        same.resume(&cursor).is_ok(),
        "… a filter selecting the same cells is the same stream"
    );
    other.obs_filter = Some("n_genes > 1".into());
    let different = ExperimentDataset::open(&other)
        .unwrap()
        .into_loader(Partition::single())
        .unwrap();
    assert!(
        different.resume(&cursor).is_err(),
        "another pool refuses the cursor"
    );
}
