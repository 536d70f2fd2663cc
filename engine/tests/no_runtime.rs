//! No usable ONNX Runtime (its own test process: the runtime is loaded once per process, and a
//! failure is kept). The model folder is fine; the engine says what is missing, typed.
use genrescope_core::features::FrontEndSpec;
use genrescope_core::model::ModelError;
use genrescope_core::runtime::{RuntimeError, ORT_LIB_ENV};
use genrescope_engine::{EngineError, OfflineEngine};
use genrescope_testkit::{scratch_dir, TinyModel};

#[test]
fn missing_onnx_runtime() {
    // The only test in this process, so nothing has loaded ONNX Runtime yet.
    std::env::set_var(ORT_LIB_ENV, "/nonexistent/libonnxruntime.so");
    let dir = scratch_dir("errors-no-runtime");
    TinyModel::new(FrontEndSpec::musicnn()).write(&dir).unwrap();
    let e = OfflineEngine::new(&dir).err().expect("loads without ONNX Runtime");
    assert!(
        matches!(&e, EngineError::Model { source: ModelError::Runtime(RuntimeError::BadEnvPath { .. }), .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains(ORT_LIB_ENV), "{e}");
}
