//! docs/report-schema.json is generated from the `Report` type: this test fails when the
//! committed file differs from what the type generates. To regenerate it after changing the
//! report's types: `LLMBENCH_BLESS=1 cargo test --test report_schema`.
use llmbench::report::schema::report_schema;

#[test]
fn the_committed_schema_is_the_generated_one() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report-schema.json");
    let mut want = serde_json::to_string_pretty(&report_schema()).unwrap();
    want.push('\n');
    if std::env::var_os("LLMBENCH_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/report-schema.json is not the schema the Report type generates; regenerate it with\n  LLMBENCH_BLESS=1 cargo test --test report_schema\nand commit the result"
    );
}
