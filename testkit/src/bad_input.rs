//! The README's "bad input" table, as data: what each kind of bad input gets, in the plugin and in
//! the command line / library, and the tests that assert it.
//!
//! `testkit/tests/bad_input_table.rs` checks that the README holds exactly [`markdown`]'s table
//! and that every test a row names exists (a `#[test] fn` of that name in that file), so a row
//! cannot promise what no test checks, and the README cannot drift from the rows. Change a
//! behaviour: change its row here, its tests, and paste `markdown()` into the README (the test's
//! failure message prints it).

/// One kind of bad input.
#[derive(Clone, Copy, Debug)]
pub struct Row {
    pub input: &'static str,
    /// What the plugin does (in a host).
    pub plugin: &'static str,
    /// What `Genrescope analyze` and the library (`scan`, `similar`, …) do.
    pub cli: &'static str,
    /// Tests that assert it: `path/from/workspace.rs::test_fn`.
    pub tests: &'static [&'static str],
}

pub const ROWS: &[Row] = &[
    Row {
        input: "No model (folder missing, no `manifest.json`)",
        plugin: "audio passes unchanged, no MIDI; the editor says where it looked",
        cli: "error naming the folder (`manifest not found`), exit code 1",
        tests: &[
            "engine/tests/errors.rs::missing_model_folder",
            "plugin/tests/clap_midi.rs::broken_or_missing_models_pass_audio_and_send_nothing",
            "cli/tests/analyze_cli.rs::missing_model_is_a_clean_error",
            "library/tests/scan.rs::errors_say_what_to_do",
        ],
    },
    Row {
        input: "Foreign model (a front end this build cannot compute, or edited after training)",
        plugin: "audio passes unchanged, no MIDI; the editor shows why",
        cli: "error: `cannot compute the features` / front-end hash mismatch",
        tests: &[
            "engine/tests/errors.rs::foreign_front_end",
            "plugin/tests/faults.rs::broken_model_folders",
            "cli/tests/analyze_cli.rs::foreign_front_end_is_a_clean_error",
        ],
    },
    Row {
        input: "Corrupt model (a file changed or cut, missing, or not ONNX)",
        plugin: "audio passes unchanged, no MIDI; the error names the file",
        cli: "error: checksum mismatch, or ONNX Runtime's refusal of the file",
        tests: &[
            "engine/tests/errors.rs::corrupt_onnx_file",
            "plugin/tests/faults.rs::broken_model_folders",
            "cli/tests/analyze_cli.rs::corrupt_onnx_file_is_a_clean_error",
        ],
    },
    Row {
        input: "Hostile model (over a resource limit, absurd numbers, deep JSON, a 100 MB manifest, \
                symlink loops, a FIFO or device as a file)",
        plugin: "refused at activation before anything is built from it (model admission): audio \
                 passes unchanged, no MIDI, the error names the limit",
        cli: "the same admission: error naming the limit or file",
        tests: &[
            "engine/tests/hostile.rs::hostile_model_folders_are_refused_by_admission",
            "plugin/tests/hostile.rs::hostile_model_folders_pass_audio_and_claim_nothing",
            "plugin/src/lib.rs::hostile_models_are_refused_at_activation_with_a_visible_error",
            "core/src/model/admission.rs::special_files_and_symlink_loops_are_refused_without_blocking",
        ],
    },
    Row {
        input: "ONNX Runtime missing or not loadable",
        plugin: "audio passes unchanged, no MIDI; the error lists where it looked",
        cli: "error with the same list, exit code 1",
        tests: &[
            "plugin/tests/faults.rs::onnx_runtime_missing",
            "engine/tests/no_runtime.rs::missing_onnx_runtime",
            "cli/tests/analyze_cli.rs::missing_onnx_runtime_is_a_clean_error",
        ],
    },
    Row {
        input: "NaN, ±Inf, huge or denormal samples",
        plugin: "passed on bit-exact; analysed as zeros / clamped, music around them still detected",
        cli: "(decoded audio is finite)",
        tests: &["plugin/tests/stress.rs::hostile_samples_pass_unchanged_and_music_still_detected"],
    },
    Row {
        input: "Undecodable audio file (garbage, empty, header only)",
        plugin: "(the plugin reads no files)",
        cli: "`analyze`: error naming the file; `scan`: recorded as failed, the scan goes on",
        tests: &[
            "engine/tests/errors.rs::undecodable_audio_file",
            "cli/tests/analyze_cli.rs::corrupt_and_truncated_files_are_clean_errors",
            "library/tests/scan.rs::corrupt_files_are_recorded_and_the_scan_goes_on",
        ],
    },
    Row {
        input: "Truncated or damaged audio file",
        plugin: "(the plugin reads no files)",
        cli: "analysed up to the damage, with the decoder's warning (stored by `scan`)",
        tests: &[
            "cli/tests/analyze_cli.rs::truncated_file_is_analysed_with_a_warning",
            "library/tests/scan.rs::corrupt_files_are_recorded_and_the_scan_goes_on",
        ],
    },
    Row {
        input: "Any bytes as a manifest, ONNX file, checkpoint or audio file (fuzzed)",
        plugin: "an error, never a crash",
        cli: "an error, never a crash",
        tests: &["fuzz/tests/replay.rs::every_kept_fuzz_input_runs_clean"],
    },
    Row {
        input: "A huge first block (16384 samples) from a real-time host",
        plugin: "taken as real time: the audio thread never waits for the model load nor analyses",
        cli: "",
        tests: &[
            "plugin/tests/render_policy.rs::a_huge_first_block_in_real_time_never_waits_for_the_model",
            "plugin/src/render.rs::a_huge_first_block_is_not_a_render",
        ],
    },
    Row {
        input: "A render much faster than real time that the host did not declare",
        plugin: "analysed on the host's thread when that needs no waiting; never waits for a load or a lock",
        cli: "",
        tests: &["engine/src/analysis.rs::a_detected_render_never_waits_for_a_load"],
    },
    Row {
        input: "A panic inside inference (e.g. in ONNX Runtime)",
        plugin: "caught: audio passes, the editor says the analysis crashed; the thread's float mode \
                 (FTZ/DAZ) is restored",
        cli: "",
        tests: &["core/src/model/ensemble.rs::flush_to_zero_is_restored_on_return_and_on_panic"],
    },
    Row {
        input: "Odd host rates and block sizes, reactivation",
        plugin: "rates from 22.05 to 192 kHz, blocks from 1 sample, repeated activation: audio passes, analysis adapts",
        cli: "",
        tests: &["plugin/tests/clap_conformance.rs::activation_cycles_over_rates_and_block_sizes"],
    },
    Row {
        input: "A foreign or damaged plugin state",
        plugin: "refused or defaulted, never a crash",
        cli: "",
        tests: &["plugin/tests/clap_conformance.rs::state_round_trip_and_foreign_states"],
    },
    Row {
        input: "Library file missing, not a library, or from a newer version",
        plugin: "",
        cli: "error saying what to do (`Genrescope scan`, upgrade)",
        tests: &["library/tests/scan.rs::errors_say_what_to_do"],
    },
    Row {
        input: "A scan killed or stopped half-way (Ctrl-C, `kill -9`)",
        plugin: "",
        cli: "the library stays consistent; the next scan completes it",
        tests: &[
            "cli/tests/library_cli.rs::a_killed_scan_leaves_a_consistent_library_and_the_next_one_completes_it",
            "cli/tests/library_cli.rs::ctrl_c_stops_after_the_files_in_progress",
        ],
    },
];

/// First and last line of the table's section in README.md.
pub const BEGIN: &str =
    "<!-- bad-input table: generated from testkit/src/bad_input.rs, checked by testkit/tests/bad_input_table.rs -->";
pub const END: &str = "<!-- end of bad-input table -->";

/// The table as Markdown, between [`BEGIN`] and [`END`].
pub fn markdown() -> String {
    let cell = |s: &str| if s.is_empty() { "—".to_string() } else { s.replace('|', "\\|") };
    let mut out = format!("{BEGIN}\n| Bad input | Plugin | CLI and library |\n|---|---|---|\n");
    for r in ROWS {
        out.push_str(&format!("| {} | {} | {} |\n", cell(r.input), cell(r.plugin), cell(r.cli)));
    }
    out.push_str(END);
    out
}
