//! Export and import through the CLI: a series out to CSV and SVG, into another database, and
//! the same series back out.

use std::process::Command;

use crate::util::*;

fn cli(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_clima-server"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn export_then_import_gives_back_the_same_series() {
    let dir = tempfile::tempdir().unwrap();
    let (db, db2) = (dir.path().join("a.db"), dir.path().join("b.db"));
    let s = Server::start_on(&db, &[]);
    let base = 1_795_680_000i64;
    let items: Vec<String> = (0..500)
        .map(|i| {
            format!(
                r#"{{"sensor":"lab","temperature":{}.25,"humidity":40,"measured_at":{}}}"#,
                15 + i % 10,
                base + i * 30
            )
        })
        .collect();
    post_batch(&s, &items);
    assert!(s.terminate().success());

    let csv1 = dir.path().join("one.csv");
    let db_arg = db.to_str().unwrap();
    let range = [
        "--sensor",
        "lab",
        "--metric",
        "temperature",
        "--from",
        "2026-11-01T00:00:00Z",
        "--to",
        "2026-12-01T00:00:00Z",
    ];
    cli(&[
        &["export", "--db", db_arg, "--out", csv1.to_str().unwrap()][..],
        &range[..],
    ]
    .concat());
    let text = std::fs::read_to_string(&csv1).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "sensor,metric,unit,measured_at,received_at,value");
    assert_eq!(lines.len(), 501);
    assert!(
        lines[1].starts_with("lab,temperature,°C,2026-11-26T08:00:00.000Z,2026-"),
        "{}",
        lines[1]
    );
    assert!(lines[1].ends_with(",15.25"), "{}", lines[1]);

    // Into another database, twice: the second import stores nothing new.
    let first = cli(&[
        "import",
        "--db",
        db2.to_str().unwrap(),
        csv1.to_str().unwrap(),
    ]);
    assert!(
        String::from_utf8_lossy(&first.stderr).contains("500 rows read: 500 stored"),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let second = cli(&[
        "import",
        "--db",
        db2.to_str().unwrap(),
        csv1.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&second.stderr).contains("0 stored, 500 already present"));

    let csv2 = dir.path().join("two.csv");
    cli(&[
        &[
            "export",
            "--db",
            db2.to_str().unwrap(),
            "--out",
            csv2.to_str().unwrap(),
        ][..],
        &range[..],
    ]
    .concat());
    assert_eq!(
        std::fs::read_to_string(&csv2).unwrap(),
        text,
        "the round trip changed the series"
    );

    // The same file over HTTP.
    let s2 = Server::start_on(&db2, &[]);
    let r = get(&s2.url("/api/v1/export.csv?sensor=lab&metric=temperature&from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z"));
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("Content-Disposition"),
        Some("attachment; filename=\"lab-temperature.csv\"")
    );
    assert!(
        r.body == text,
        "HTTP export differs: {} bytes against {}",
        r.body.len(),
        text.len()
    );
    assert_eq!(
        get(&s2.url("/api/v1/export.csv?sensor=nobody&metric=temperature")).status,
        404
    );
    drop(s2);

    let svg = dir.path().join("chart.svg");
    cli(&[
        &[
            "export",
            "--db",
            db_arg,
            "--format",
            "svg",
            "--out",
            svg.to_str().unwrap(),
        ][..],
        &range[..],
    ]
    .concat());
    let svg_text = std::fs::read_to_string(&svg).unwrap();
    assert!(svg_text.starts_with("<svg") && svg_text.contains("lab · temperature (times in UTC)"));
    let png = dir.path().join("chart.png");
    cli(&[
        &[
            "export",
            "--db",
            db_arg,
            "--format",
            "png",
            "--out",
            png.to_str().unwrap(),
        ][..],
        &range[..],
    ]
    .concat());
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert!(
        bytes.len() > 5_000,
        "an image with a drawn chart, {} bytes",
        bytes.len()
    );

    // A bad file is refused with a reason, and bad rows are reported by line.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "a,b\n1,2\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_clima-server"))
        .args(["import", "--db", db_arg, bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Clima CSV export"));
    std::fs::write(
        &bad,
        format!(
            "{}\nlab,temperature,°C,2026-11-26T08:00:00Z,2026-11-26T08:00:00Z,999\n",
            lines[0]
        ),
    )
    .unwrap();
    let out = cli(&["import", "--db", db_arg, bad.to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 2: temperature: 999"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
