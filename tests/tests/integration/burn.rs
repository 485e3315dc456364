//! The burn hand-off on burn's flex CPU backend: zero-copy TensorData, and our loader behind
//! burn's DataLoader trait giving the same batches as the plain loader.

use std::sync::Arc;

use biobatch_core::{Array, Batch, Node};
use biobatch_loader::burn::{BurnLoader, HostBatch, to_tensor_data};
use biobatch_loader::{ArrayDataset, Loader, LoaderConfig};
use biobatch_sampling::{Order, Plan, Sampler, SamplerConfig};
use burn::data::dataloader::DataLoader;
use burn::tensor::{Device, Tensor};

fn dataset(n: usize) -> ArrayDataset {
    let x: Vec<f32> = (0..n * 3).map(|i| i as f32).collect();
    let label: Vec<i64> = (0..n as i64).collect();
    ArrayDataset::new()
        .input("x", Array::new(vec![n, 3], x).unwrap())
        .unwrap()
        .target("label", Array::new(vec![n], label).unwrap())
        .unwrap()
}

fn plan(n: usize) -> Sampler {
    Sampler::new(
        n as u64,
        SamplerConfig {
            seed: Some(9),
            order: Order::Shuffle,
            ..Default::default()
        },
    )
    .unwrap()
}

const CFG: LoaderConfig = LoaderConfig {
    batch_size: 8,
    num_workers: 2,
    prefetch: 3,
    drop_last: false,
};

#[test]
fn f32_arrays_become_tensor_data_without_a_copy() {
    let v: Vec<f32> = (0..12).map(|i| i as f32 * 0.5).collect();
    let ptr = v.as_ptr();
    let data = to_tensor_data(Array::new(vec![3, 4], v).unwrap()).unwrap();
    assert_eq!(data.as_slice::<f32>().unwrap().as_ptr(), ptr);
    assert_eq!(data.shape().num_dims(), 2);
    let t = Tensor::<2>::from_data(data, &Device::flex());
    assert_eq!(t.dims(), [3, 4]);
    assert_eq!(t.into_data().as_slice::<f32>().unwrap()[5], 2.5);
    assert!(to_tensor_data(Array::from_vec(vec!["a".to_string()])).is_err());
}

#[test]
fn host_batches_keep_strings_aside_and_check_ranks() {
    let mut b = Batch::new(Node::from_iter([(
        "x",
        Array::new(vec![2, 2], vec![1.0f32, 2.0, 3.0, 4.0]).unwrap(),
    )]));
    b.metadata = Some(Node::from_iter([(
        "chr",
        Array::from_vec(vec!["chr1".to_string(), "chr2".to_string()]),
    )]));
    let mut host = HostBatch::from_batch(b).unwrap();
    assert_eq!(host.paths().collect::<Vec<_>>(), ["inputs/x"]);
    let device = Device::flex();
    assert!(
        host.float::<3>("inputs/x", &device).is_err(),
        "rank 2 asked as rank 3"
    );
    assert_eq!(
        host.take_strings("metadata/chr")
            .unwrap()
            .as_slice::<String>()
            .unwrap()[1],
        "chr2"
    );
}

type Item = (Vec<f32>, Vec<i64>);

fn burn_loader(n: usize) -> BurnLoader<Item> {
    BurnLoader::new(
        dataset(n),
        plan(n),
        CFG,
        Device::flex(),
        |mut host, device| {
            let bad = |e| biobatch_loader::Error::Invalid(format!("{e:?}"));
            let x = host
                .float::<2>("inputs/x", device)?
                .into_data()
                .try_to_vec::<f32>()
                .map_err(bad)?;
            let y = host
                .int::<1>("targets/label", device)?
                .into_data()
                .try_to_vec::<i64>()
                .map_err(bad)?;
            Ok((x, y))
        },
    )
    .unwrap()
}

fn plain_epoch(n: usize, epoch: u64) -> Vec<Item> {
    let loader = Loader::new(dataset(n), plan(n), CFG).unwrap();
    loader
        .epoch(epoch)
        .unwrap()
        .map(|b| {
            let b = b.unwrap();
            (
                b.array("inputs/x")
                    .unwrap()
                    .as_slice::<f32>()
                    .unwrap()
                    .to_vec(),
                b.array("targets/label")
                    .unwrap()
                    .as_slice::<i64>()
                    .unwrap()
                    .to_vec(),
            )
        })
        .collect()
}

#[test]
fn burn_dataloader_yields_the_plain_loader_epochs_in_order() {
    let n = 50;
    let loader = burn_loader(n);
    assert_eq!(loader.num_items(), 50);
    for epoch in 0..2 {
        let mut it = loader.iter();
        let got: Vec<Item> = it.by_ref().map(|r| r.unwrap()).collect();
        assert_eq!(got, plain_epoch(n, epoch), "epoch {epoch}");
        let p = it.progress();
        assert_eq!((p.items_processed, p.items_total), (50, 50));
    }
}

#[test]
fn slices_split_an_epoch_and_resume_continues() {
    let n = 48;
    let whole = plain_epoch(n, 0);
    let loader = burn_loader(n);
    let (a, b) = (loader.slice(0, 24), loader.slice(24, 48));
    let mut got: Vec<Item> = a.iter().map(|r| r.unwrap()).collect();
    got.extend(b.iter().map(|r| r.unwrap()));
    assert_eq!(got, whole);

    // Resume after two batches of epoch 1: the rest of epoch 1, then epoch 2.
    let resumed = burn_loader(n);
    let cursor = plan(n).cursor(1, 16);
    resumed.resume_from(cursor).unwrap();
    let rest: Vec<Item> = resumed.iter().map(|r| r.unwrap()).collect();
    assert_eq!(rest, plain_epoch(n, 1)[2..]);
    let next: Vec<Item> = resumed.iter().map(|r| r.unwrap()).collect();
    assert_eq!(next, plain_epoch(n, 2));
    let _: Arc<dyn DataLoader<Item>> = resumed.to_device(&Device::flex());
}
