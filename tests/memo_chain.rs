//! `Memo<T>` chaining: keys by content hash, Merkle-style pipelines, lineage.

mod support;

use memo::{Memo, cached};
use support::{hit, in_store, miss, ran};

#[cached]
fn load(rows: usize) -> Memo<Vec<f32>> {
    ran();
    Memo::new((0..rows).map(|i| i as f32).collect())
}

#[cached]
fn normalize(data: &Memo<Vec<f32>>) -> Memo<Vec<f32>> {
    ran();
    let max = data.iter().cloned().fold(f32::MIN, f32::max).max(1.0);
    Memo::new(data.iter().map(|x| x / max).collect())
}

/// A different implementation of the same step, as if `normalize` had been edited.
#[cached]
fn normalize_edited(data: &Memo<Vec<f32>>) -> Memo<Vec<f32>> {
    ran();
    let max = data.iter().cloned().fold(f32::MIN, f32::max).max(1.0);
    Memo::new(data.iter().map(|x| x / max / 2.0).collect())
}

/// An edit that does not change the output.
#[cached]
fn normalize_refactored(data: &Memo<Vec<f32>>) -> Memo<Vec<f32>> {
    ran();
    let max = data.iter().copied().fold(f32::MIN, f32::max).max(1.0);
    let scaled: Vec<f32> = data.iter().map(|x| x / max).collect();
    Memo::new(scaled)
}

#[cached]
fn train(data: &Memo<Vec<f32>>, epochs: u32) -> f32 {
    ran();
    data.iter().sum::<f32>() * epochs as f32
}

#[test]
fn a_hit_rebuilds_the_memo_with_its_hash() {
    in_store(|_| {
        let fresh = miss(|| load(10));
        let stored = hit(|| load(10));
        assert_eq!(fresh.hash(), stored.hash());
        assert_eq!(*fresh, *stored);
        assert_eq!(stored.hash(), Memo::new((*stored).clone()).hash());
    });
}

#[test]
fn a_pipeline_reruns_exactly_the_steps_downstream_of_a_change() {
    in_store(|_| {
        let data = miss(|| load(100));
        let normal = miss(|| normalize(&data));
        let model = miss(|| train(&normal, 3));

        // Run again: every step is a hit.
        let data = hit(|| load(100));
        let normal = hit(|| normalize(&data));
        assert_eq!(hit(|| train(&normal, 3)), model);

        // `normalize` edited with a new result: it and `train` re-run, `load` does not.
        let data = hit(|| load(100));
        let edited = miss(|| normalize_edited(&data));
        let retrained = miss(|| train(&edited, 3));
        assert_ne!(retrained, model);

        // `normalize` edited without changing its output: `train` keys by the content
        // hash of its input, so it is a hit.
        let same = miss(|| normalize_refactored(&data));
        assert_eq!(same.hash(), normal.hash());
        assert_eq!(hit(|| train(&same, 3)), model);
    });
}

#[test]
fn lineage_records_which_results_fed_which() {
    in_store(|store| {
        let data = miss(|| load(5));
        let normal = miss(|| normalize(&data));
        let consumers = store.consumers(&data.hash()).unwrap();
        assert_eq!(consumers.len(), 1);
        let entry = store.entry(&consumers[0]).unwrap().unwrap();
        assert_eq!(entry.function, "memo_chain::normalize");
        assert_eq!(entry.inputs, vec![data.hash()]);
        assert_eq!(entry.output, normal.hash());
    });
}

#[test]
fn a_memo_keys_by_its_hash_not_its_value() {
    let big = Memo::new(vec![0u8; 1 << 20]);
    assert_eq!(memo::key_of(&big), memo::key_of(&big.clone()));
    assert_ne!(
        memo::key_of(&big),
        memo::key_of(&*big),
        "the hash, not the bytes"
    );
    let mut hasher = memo::KeyHasher::new();
    hasher.update(&big);
    assert_eq!(hasher.inputs(), &[big.hash()]);
}
