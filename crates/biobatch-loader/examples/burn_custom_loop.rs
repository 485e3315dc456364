//! A custom burn training loop fed by the biobatch loader: linear regression on an
//! `ArrayDataset`, on burn's `flex` CPU backend.
//!
//! Run: `cargo run -p biobatch-loader --features burn --example burn_custom_loop`

use burn::nn::loss::{MseLoss, Reduction};
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;

use biobatch_core::Array;
use biobatch_loader::burn::BurnLoader;
use biobatch_loader::{ArrayDataset, LoaderConfig};
use biobatch_sampling::{Order, Sampler, SamplerConfig};
use burn::data::dataloader::DataLoader;

#[derive(Module, Debug)]
struct Net {
    fc: Linear,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // y = x · w + 0.5 with a fixed w, 2,048 records of 8 features.
    let (n, d) = (2_048usize, 8usize);
    let w: Vec<f32> = (0..d).map(|j| j as f32 / 4.0 - 1.0).collect();
    let x: Vec<f32> = (0..n * d)
        .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
        .collect();
    let y: Vec<f32> = (0..n)
        .map(|r| (0..d).map(|j| x[r * d + j] * w[j]).sum::<f32>() + 0.5)
        .collect();
    let dataset = ArrayDataset::new()
        .input("x", Array::new(vec![n, d], x)?)?
        .target("y", Array::new(vec![n, 1], y)?)?;
    let plan = Sampler::new(
        n as u64,
        SamplerConfig {
            seed: Some(7),
            order: Order::Shuffle,
            ..Default::default()
        },
    )?;

    let device = Device::flex().autodiff();
    device.seed(42);
    // The batch function turns a (staged) host batch into tensors on the device; f32 data
    // moves into the tensors without a copy.
    let loader = BurnLoader::new(
        dataset,
        plan,
        LoaderConfig {
            batch_size: 64,
            num_workers: 2,
            prefetch: 4,
            drop_last: false,
        },
        device.clone(),
        |mut host, device| {
            Ok((
                host.float::<2>("inputs/x", device)?,
                host.float::<2>("targets/y", device)?,
            ))
        },
    )?;

    let mut model = Net {
        fc: LinearConfig::new(d, 1).init(&device),
    };
    let mut optim = AdamConfig::new().init();
    for epoch in 0..6 {
        let (mut total, mut batches) = (0.0f32, 0);
        for batch in loader.iter() {
            let (x, y) = batch?;
            let loss = MseLoss::new().forward(model.fc.forward(x), y, Reduction::Mean);
            total += loss.clone().into_scalar::<f32>();
            batches += 1;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(0.05, model, grads);
        }
        println!("epoch {epoch}: mean loss {:.5}", total / batches as f32);
    }
    Ok(())
}
