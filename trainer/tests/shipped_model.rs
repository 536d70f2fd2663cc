//! The committed model in `models/`: int8 members agree with their fp32 originals on >= 99%
//! of validation segments. Needs the GTZAN copy (GENRESCOPE_GTZAN, default
//! `<workspace>/../shared/datasets/gtzan`) and ONNX Runtime; without the data it is skipped.
use genrescope_core::features::FeatureConfig;
use genrescope_trainer::data::{featurize, scan, split, Segments};
use genrescope_trainer::inference::{member_probs, top1_agreement};
use std::path::PathBuf;

#[test]
fn shipped_int8_members_agree_with_fp32_on_validation_data() {
    let ws = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let models = ws.join("models");
    let data = std::env::var_os("GENRESCOPE_GTZAN").map(PathBuf::from).unwrap_or(ws.join("../shared/datasets/gtzan"));
    if !models.join("manifest.fp32.json").is_file() || !data.join("splits/valid.txt").is_file() {
        eprintln!("skipped: no shipped model or no GTZAN data at {}", data.display());
        return;
    }
    let cfg = FeatureConfig::default();
    let clips = scan(&data).unwrap();
    let sp = split(&data, &clips, 0.2, 42).unwrap();
    let valid: Vec<_> = sp.valid.iter().map(|&i| clips[i].clone()).collect();
    let cache = ws.join("target/trainer-cache");
    let feats = featurize(&valid, &cfg, Some(&cache), 2);
    let seg = Segments::build(&valid, &feats, &(0..valid.len()).collect::<Vec<_>>(), &cfg);
    assert!(seg.len() > 50);
    let p8 = member_probs(&models.join("manifest.json"), &cfg, &seg).unwrap();
    let p32 = member_probs(&models.join("manifest.fp32.json"), &cfg, &seg).unwrap();
    assert_eq!(p8.len(), p32.len());
    for (m, (a, b)) in p8.iter().zip(&p32).enumerate() {
        let agree = top1_agreement(a, b);
        assert!(agree >= 0.99, "member {m}: int8/fp32 top-1 agreement {agree} on {} segments", seg.len());
    }
}
