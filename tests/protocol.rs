//! Golden frames: every message in tests/golden/ decodes into its Rust type and re-encodes to
//! the same MessagePack value (the worker's pytest does the same from the Python side).
use llmbench::backend::protocol::{
    decode, decode_from_worker, encode_frame, read_frame, FromWorker, ToWorker,
};
use std::path::PathBuf;

fn golden() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/golden")
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "msgpack"))
        .map(|e| {
            (
                e.file_name()
                    .to_string_lossy()
                    .trim_end_matches(".msgpack")
                    .to_string(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

fn value(body: &[u8]) -> rmpv::Value {
    rmpv::decode::read_value(&mut &body[..]).expect("one msgpack value")
}

/// Maps compared without regard to key order; absent optional keys equal nil.
fn same(a: &rmpv::Value, b: &rmpv::Value) -> bool {
    use rmpv::Value::*;
    match (a, b) {
        (Map(x), Map(y)) => {
            let get = |m: &Vec<(rmpv::Value, rmpv::Value)>, k: &rmpv::Value| {
                m.iter()
                    .find(|(kk, _)| kk == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or(Nil)
            };
            x.iter()
                .chain(y.iter())
                .all(|(k, _)| same(&get(x, k), &get(y, k)))
        }
        (Array(x), Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (F32(x), F64(y)) | (F64(y), F32(x)) => (*x as f64 - y).abs() < 1e-6,
        _ => {
            a == b
                || a.as_u64().zip(b.as_u64()).is_some_and(|(x, y)| x == y)
                || a.as_i64().zip(b.as_i64()).is_some_and(|(x, y)| x == y)
        }
    }
}

#[test]
fn every_golden_frame_round_trips() {
    let frames = golden();
    assert!(
        frames.len() >= 15,
        "expected one golden frame per message type, found {}",
        frames.len()
    );
    for (name, bytes) in frames {
        let mut buf = Vec::new();
        let mut r = &bytes[..];
        read_frame(&mut r, &mut buf)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .expect("one frame");
        assert!(r.is_empty(), "{name}: trailing bytes");
        let original = value(&buf);
        let ty = original
            .as_map()
            .and_then(|m| m.iter().find(|(k, _)| k.as_str() == Some("type")))
            .and_then(|(_, v)| v.as_str())
            .unwrap()
            .to_string();
        let re = if let Ok(m) = decode::<ToWorker>(&buf) {
            encode_frame(&m)
        } else {
            let m: FromWorker = decode(&buf)
                .unwrap_or_else(|e| panic!("{name} ({ty}) decodes as neither direction: {e}"));
            encode_frame(&m)
        };
        let again = value(&re[4..]);
        assert!(
            same(&original, &again),
            "{name}: re-encoded value differs\n  golden: {original}\n  rust:   {again}"
        );
    }
}

/// The supervisor's fast path for `outputs` frames decodes each golden frame from the worker
/// exactly as the general decoder does (and takes the fast path for the outputs frame).
#[test]
fn the_outputs_fast_path_decodes_as_the_general_decoder() {
    let mut seen_outputs = false;
    for (name, bytes) in golden() {
        let mut buf = Vec::new();
        read_frame(&mut &bytes[..], &mut buf).unwrap().unwrap();
        let Ok(general) = decode::<FromWorker>(&buf) else {
            continue; // a message to the worker
        };
        let fast = decode_from_worker(&buf).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(fast, general, "{name}");
        if let FromWorker::Outputs { items } = &fast {
            assert!(buf.starts_with(b"\x82\xa4type\xa7outputs"), "{name}");
            assert!(!items.is_empty());
            seen_outputs = true;
        }
    }
    assert!(seen_outputs);
}
