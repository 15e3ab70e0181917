//! Conformance with InfluxDB 1.6 (Debian's `influxdb`): each line-protocol case goes to a real
//! `influxd` started here and to a fresh Clima. Both must accept or refuse it alike and store
//! the same numbers at the same times, except where a case names one of the deliberate
//! differences in [`Difference`]. Strings and booleans are compared as accepted or refused
//! only: Clima does not store them, and a line holding nothing else stores nothing.

use std::collections::{BTreeMap, HashMap};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clima_model::metric::normalize;
use clima_model::timestamp::from_rfc3339;
use clima_model::SensorId;
use serde_json::value::RawValue;

use crate::util::{call, get, sent_metrics, Resp, Server};

/// Where Clima answers otherwise than InfluxDB 1.6 on purpose, and why. A case showing one
/// gives both statuses; its stored values are not compared.
#[derive(Debug, Clone, Copy)]
enum Difference {
    /// Clima refuses values no working sensor sends (999 °C is a missing probe, 101 %RH, 1e300
    /// °C); InfluxDB stores any number.
    Implausible,
    /// Metric names are 1 to 64 letters, digits, '.', '_' or '-', since they appear in URLs,
    /// file names and charts; Clima refuses a line with any other field name (a space, comma,
    /// quote or nothing), which InfluxDB stores. Clima also normalises names (temp_f becomes
    /// temperature in °C): the comparison maps InfluxDB's fields the same way.
    MetricName,
    /// Clima refuses times before 2000 or more than an hour ahead of its clock, which come from
    /// unset or wrong device clocks; InfluxDB stores any time from 1677 to 2262.
    Clock,
    /// Clima takes unsigned integers (`1u`) as InfluxDB 2 does, for clients of its API;
    /// InfluxDB 1.6 refuses them (its support is switched off in release builds).
    Unsigned,
    /// Clima keeps no field types: every number is a 64-bit float (so integers beyond 2^53
    /// lose their last digits, and values are compared as floats), and an integer where a
    /// float was is no conflict; InfluxDB refuses it as a field type conflict.
    FieldType,
    /// Clima reads `precision=us` as microseconds (InfluxDB 2's name) and refuses names it does
    /// not know; InfluxDB 1.6 silently reads every name but n, u, ms, s, m and h as nanoseconds.
    PrecisionName,
    /// A line without a timestamp gets the time of receipt to the millisecond in Clima;
    /// InfluxDB 1.6 rounds it down to the precision (to the hour with precision=h).
    ReceiptTime,
    /// Clima accepts CRLF line ends, which Windows tools send; InfluxDB 1.6 refuses each such
    /// line, since the '\r' becomes part of its last value or timestamp.
    Crlf,
    /// Clima takes UTF-8 bodies only, as names are shown as text; InfluxDB stores any bytes.
    Utf8,
    /// A field repeated on one line with another value is a conflict in Clima: the first value
    /// stands and the reply counts it, as for a resend with another value; InfluxDB keeps the
    /// last. Clima never changes a stored value, so it keeps the first everywhere.
    FirstValueStands,
}

/// What a case must show.
enum Expect {
    /// The same outcome, and the same numbers and times stored.
    Same,
    /// The same outcome, where InfluxDB cannot give back what it stored (the reason).
    Outcome(&'static str),
    /// A deliberate difference: InfluxDB's status, then Clima's.
    Differs(Difference, u16, u16),
}

struct Case {
    precision: &'static str,
    body: Vec<u8>,
    expect: Expect,
}

/// Cases run by this many threads at once; each case has its own database and Clima.
const THREADS: usize = 4;

/// The times cases write, as text per unit: `T_NS`, `T_US`, `T_MS`, `T_S`, `T_M` and `T_H`
/// are one whole hour two days ago (so Clima finds it plausible); `F_NS` is two days ahead.
struct Times {
    hour: i64,
    future_ns: i64,
}

impl Times {
    fn now() -> Times {
        let hour = now_ms() / 3_600_000 - 48;
        Times {
            hour,
            future_ns: (now_ms() + 2 * 86_400_000) * 1_000_000,
        }
    }

    fn fill(&self, body: &str) -> String {
        let s = self.hour * 3600;
        body.replace("T_NS", &(s * 1_000_000_000).to_string())
            .replace("T_US", &(s * 1_000_000).to_string())
            .replace("T_MS", &(s * 1_000).to_string())
            .replace("T_S", &s.to_string())
            .replace("T_M", &(self.hour * 60).to_string())
            .replace("T_H", &self.hour.to_string())
            .replace("F_NS", &self.future_ns.to_string())
    }
}

/// The cases: InfluxDB's documented syntax and the edge cases its own parser tests, in words
/// of their own. `T_S123` is the hour in seconds followed by more digits: a finer timestamp.
fn cases(t: &Times) -> Vec<Case> {
    use Difference::*;
    let case = |precision, body: &str, expect| Case {
        precision,
        body: t.fill(body).into_bytes(),
        expect,
    };
    let same = |body: &str| case("", body, Expect::Same);
    let at = |precision, body: &str| case(precision, body, Expect::Same);
    let differs = |d, influx, clima, body: &str| case("", body, Expect::Differs(d, influx, clima));
    let zeros = |n| "0".repeat(n);
    let mut invalid_utf8 = case(
        "",
        "cpu,host=\u{1} value=1 T_NS",
        Expect::Differs(Utf8, 204, 400),
    );
    for b in &mut invalid_utf8.body {
        if *b == 1 {
            *b = 0xff;
        }
    }

    vec![
        // The documentation's examples: measurement, tags, fields, timestamp.
        same("weather,location=us-midwest temperature=82 T_NS"),
        same("weather,location=us-midwest temperature=82"),
        same("weather,location=us-midwest,season=summer temperature=82 T_NS"),
        same("weather temperature=82 T_NS"),
        same("weather,location=us-midwest temperature=82,humidity=71 T_NS"),
        same("weather,location=us-midwest temperature=82i T_NS"),
        same("weather,location=us-midwest temperature=82,bug_concentration=98 T_NS"),
        same("weather,location=us-midwest temperature_str=\"too warm\" T_NS"),
        same("weather,location=us-midwest too_hot=true T_NS"),
        same("weather,location=us-midwest temperature=82,note=\"warm\",ok=t T_NS"),
        same(
            "weather,location=us-midwest temperature=82 T_NS\n\
             weather,location=us-east temperature=75 T_NS",
        ),
        same("cpu,zone=b,host=a value=1 T_NS"),
        same("cpu,z=1,y=2,x=3,w=4,v=5 value=1 T_NS"),
        same("cpu,sensor=porch value=1 T_NS"),
        same("cpu,id=attic,sensor=porch value=1 T_NS"),
        same(r"cpu,sensor=not\ an\ id,host=a value=1 T_NS"),
        same("cpu,host=a,name=Kitchen value=1 T_NS"),
        same("weather temp_f=68,pressure_pa=101325 T_NS"),
        same("weather value=1e300 T_NS"),
        // Escapes: ',' and ' ' in measurements; ',', ' ' and '=' in tag keys, tag values and
        // field keys; other backslashes stay.
        same(r"cpu\,main,region=east value=1 T_NS"),
        same(r"cpu\ load,region=east value=1 T_NS"),
        same(r"cpu\=load,region=east value=1 T_NS"),
        same(r"cpu=load,region=east value=1 T_NS"),
        case(
            "",
            r"cpu\\=load,region=east value=1 T_NS",
            Expect::Outcome("InfluxDB lists the measurement as cpu=load and finds no data in it"),
        ),
        same(r#"cpu\"load,region=east\"west value=1 T_NS"#),
        same(r"cpu\\load,region=east\\west value=1 T_NS"),
        same(r"cpu,region\,zone=east value=1 T_NS"),
        same(r"cpu,region\ zone=east value=1 T_NS"),
        same(r"cpu,reg\\=ion=east value=1 T_NS"),
        same(r"cpu,\ =east value=1 T_NS"),
        same(r"cpu,regions=east\,west value=1 T_NS"),
        same(r"cpu,regions=\\ east value=1 T_NS"),
        same(r"cpu,regions=eas\\ t value=1 T_NS"),
        same(r"cpu,regions=east\\  value=1 T_NS"),
        same(r"cpu,regions=east\ west value=1 T_NS"),
        same(r"cpu,regions=eas\t value=1 T_NS"),
        same(r"cpu,regions=\\,\,\=east value=1 T_NS"),
        same(r"cpu=load,equals\=foo=tag\=value value=1i T_NS"),
        same(r#""cpu",host=serverA value=1 T_NS"#),
        same(r#"cpu,"host"="serverA" value=1 T_NS"#),
        same("baz,mytag=\"a x=1 T_NS\nbaz,mytag=a z=1 T_NS"),
        same("t159,label=hey\\ \"ya a=1i,value=0i T_NS\nt159,label=another a=2i,value=1i T_NS"),
        same("cpu,host=wè value=1 T_NS"),
        same("cpu,host=☃ value=1 T_NS"),
        same("cpu\tload value=1 T_NS"),
        same("cpu,host=a\tb value=1 T_NS"),
        same("cpu,a==b value=1 T_NS"),
        same(r"cpu,host=a\\ value=1 T_NS"),
        same(r"cpu\\ value=1 T_NS"),
        differs(MetricName, 204, 400, r"cpu,regions=east value\,ms=1 T_NS"),
        differs(MetricName, 204, 400, r"cpu,regions=east value\ ms=1 T_NS"),
        differs(MetricName, 204, 400, r"cpu value\=x=1 T_NS"),
        differs(MetricName, 204, 400, r"cpu \a=1i T_NS"),
        differs(MetricName, 204, 400, "cpu \t=1 T_NS"),
        differs(MetricName, 204, 400, "cpu \"a=1 T_NS"),
        differs(MetricName, 204, 400, r"cpu,host=a a\ =123i T_NS"),
        differs(MetricName, 204, 400, r"cpu a\\=1,b=2 T_NS"),
        // String fields: quotes, escapes, commas, '=' and newlines inside them.
        same(r#"cpu value=1,str="foo \" bar" T_NS"#),
        same(r#"cpu value=1,str="foo bar" T_NS"#),
        same("cpu value=1,str=\"foo\nbar\" T_NS"),
        same("cpu value=1,str=\"one\ntwo\nthree\" T_S000000000\ncpu value=2 T_S001000000"),
        same(r#"cpu value=1,str="foo\,bar" T_NS"#),
        same(r#"cpu value=1,str="foo,bar" T_NS"#),
        same(r#"cpu str="foo\\",value=1 T_NS"#),
        same(r#"cpu value=1,str="{Hello\"{,}\" World}" T_NS"#),
        same(r#"cpu value=1,str="{Hello\"{\,}\" World}" T_NS"#),
        same(r#"cpu str="foo=bar",value=1 T_NS"#),
        same(r#"cpu value="test\\\"" T_NS"#),
        same(r#"cpu value=1,str="" T_NS"#),
        same(r#"cpu str="x"y,value=1 T_NS"#),
        same(r#"cpu value="test"#),
        same(r#"cpu value="test"""#),
        same(r#"cpu str="unterminated\",value=1 T_NS"#),
        // InfluxDB's two readings of a field name ending in a backslash disagree: it answers
        // 500 here, Clima 400.
        same(r#"cpu a\\="x,b=2" T_NS"#),
        same(r"cpu a\\=1 T_NS"),
        // Numbers: floats, integers with 'i', their bounds, and what is not a number.
        same("cpu value=1i T_NS"),
        same("cpu value=-1i T_NS"),
        same("cpu value=-1.0 T_NS"),
        same("cpu value=.1 T_NS"),
        same("cpu value=1.0e4 T_NS"),
        same("cpu value=1e4 T_NS"),
        same("cpu value=1.0E4 T_NS"),
        same("cpu value=1E4 T_NS"),
        same("cpu value=1.0e-4 T_NS"),
        same("cpu value=-1.0e-4 T_NS"),
        same("cpu value=1e+4 T_NS"),
        same("cpu value=5. T_NS"),
        same("cpu value=-.5 T_NS"),
        same("cpu value=00.5 T_NS"),
        same("cpu value=-0 T_NS"),
        same("cpu value=1e-400 T_NS"),
        same("cpu value=0.1,w=0.2,x=0.30000000000000004,y=2.5e-7 T_NS"),
        same("cpu value=9223372036854775807i T_NS"),
        same("cpu value=-9223372036854775808i T_NS"),
        same("cpu value=0009223372036854775807i T_NS"),
        same("cpu value=-0009223372036854775808i T_NS"),
        same("cpu value=9223372036854775808i T_NS"),
        same("cpu value=-9223372036854775809i T_NS"),
        same("cpu value=1.7976931348623157e308 T_NS"),
        same("cpu value=-1.7976931348623157e308 T_NS"),
        same("cpu value=1e309 T_NS"),
        same(&format!("cpu value=1{} T_NS", zeros(300))),
        same(&format!("cpu value=1{} T_NS", zeros(400))),
        same(&format!("cpu value=0.{}1 T_NS", zeros(30))),
        same("cpu value=.1a T_NS"),
        same("cpu value=0.-1 T_NS"),
        same("cpu value=- T_NS"),
        same("cpu value=1.1.1 T_NS"),
        same("cpu value=a T_NS"),
        same("cpu value=9ie10 T_NS"),
        same("cpu value=9e10i T_NS"),
        same("cpu value=1.5i T_NS"),
        same("cpu value=1ii T_NS"),
        same("cpu value=NaN T_NS"),
        same("cpu value=nAn T_NS"),
        same("cpu value=NaN"),
        same("cpu value=-Inf T_NS"),
        same("cpu value=+1 T_NS"),
        same("cpu value=0x1F T_NS"),
        same("cpu value=1_000 T_NS"),
        same("cpu value=1e T_NS"),
        same("cpu value=--1 T_NS"),
        same("cpu value=18446744073709551616u T_NS"),
        same("cpu value=-1u T_NS"),
        differs(Unsigned, 400, 204, "cpu value=1u T_NS"),
        differs(Unsigned, 400, 204, "cpu value=18446744073709551615u T_NS"),
        // Booleans: the ten spellings, and near misses.
        same("cpu b=true,B=True,c=TRUE,d=t,e=T,f=false,g=False,h=FALSE,i=f,j=F,value=1 T_NS"),
        same("cpu value=1,b=tRUE T_NS"),
        same("cpu b=yes T_NS"),
        same("cpu b=truee T_NS"),
        same("cpu b=fals T_NS"),
        // The shape of a line: measurement, tags, fields.
        same("cpu"),
        same("cpu,host=a"),
        same("cpu,"),
        same("cpu,,,"),
        same("cpu, value=1"),
        same("cpu,host=serverA,=us-east value=1i"),
        same(r"cpu,host=serverAa\,,=us-east value=1i"),
        same(r"cpu,host=serverA\,,=us-east value=1i"),
        same("cpu, =serverA value=1i"),
        same(r"cpu,host=serverA,\ =us-east value=1i T_NS"),
        same("cpu,host"),
        same("cpu,host,"),
        same("cpu,host="),
        same("cpu,host value=1i"),
        same("cpu,host=serverA,region value=1i"),
        same("cpu,host=serverA,region= value=1i"),
        same("cpu,host=serverA,region=,zone=us-west value=1i"),
        same("cpu,host=f=o, value=1"),
        same(r"cpu,host=f\==o value=1"),
        same("cpu,host=a ="),
        same("cpu,host=a =123i"),
        same("cpu,host=a value=123i,=456i"),
        same("cpu value="),
        same("cpu value= 1000000000i"),
        same("cpu value=,value2=1i"),
        same("cpu,host=server01 1434055562000000000i"),
        same("cpu value=1i,b"),
        same("cpu value=1,"),
        same(r#"m f="blah"=123,r T_NS"#),
        same(",tag=a value=1"),
        same("cpu,host=a,host=b value=1i T_NS"),
        same("cpu,b=2,b=1,c=3 value=1i T_NS"),
        same("cpu,b=2,c=3,b=1 value=1i T_NS"),
        same(&format!("cpu,k={} value=1 T_NS", "x".repeat(65_535))),
        // Whitespace: between the parts, before a line, after it.
        same("cpu    value=1.0 T_NS"),
        same("cpu value=1.0     T_NS"),
        same("cpu      value=1.0     T_NS"),
        same("cpu value=1.0 T_NS   "),
        same("cpu value=1.0 T_NS\n"),
        same("cpu   value=1.0 T_NS\n"),
        same("  cpu value=1 T_NS"),
        same("\tcpu value=1 T_NS"),
        same("\0cpu value=1 T_NS"),
        same("cpu \tvalue=1 T_NS"),
        same("cpu value=1 \t T_NS"),
        same("cpu value=1 "),
        same("cpu value=1 T_NS\t"),
        same("cpu value=1\t"),
        same("cpu value=1\tT_NS"),
        same("cpu value=1 T_NS 5"),
        // Bodies: empty ones, comments, blank lines, partial writes.
        same(""),
        same("   \n\n  \t\n"),
        same("# comment only"),
        same("# a point is below\ncpu value=1 T_NS"),
        same("cpu value=1 T_NS\n# end of points"),
        same("\t# indented comment\ncpu value=1 T_NS"),
        same("#cpu value=1 T_NS"),
        same("cpu value=1 T_NS # not a comment"),
        same("cpu value=1 T_S000000000\n\ncpu value=2 T_S001000000"),
        // A comment with an open quote runs on to the next closing quote.
        same("# x=\"open\ncpu value=1 T_NS\n\"\ncpu value=2 T_NS"),
        same("cpu value=1 T_S000000000\ncpu value=\ncpu,host=b value=3 T_S000000000"),
        same("bad\ncpu value=1 T_NS"),
        same("cpu value=1 T_S000000000\ncpu value=2 T_S001000000i"),
        // Timestamps and precisions.
        same("cpu value=1 T_S123456789"),
        at("n", "cpu value=1 T_NS"),
        at("ns", "cpu value=1 T_NS"),
        at("u", "cpu value=1 T_US"),
        at("u", "cpu value=1 T_S123456"),
        at("ms", "cpu value=1 T_MS"),
        at("ms", "cpu value=1 T_S123"),
        at("s", "cpu value=1 T_S"),
        at("m", "cpu value=1 T_M"),
        at("h", "cpu value=1 T_H"),
        at("s", "cpu value=1"),
        same("cpu value=1 9223372036854775807"),
        same("cpu value=1 -9223372036854775807"),
        same("cpu value=1 -9223372036854775808"),
        same("cpu value=1 99999999999999999999"),
        at("s", "cpu value=1 9999999999999"),
        at("h", "cpu value=1 99999999999"),
        same("cpu value=1 1.5"),
        same("cpu value=1 abc"),
        same("cpu value=1 -"),
        same(r"cpu value=1 0\"),
        same("cpu value=1 T_NSi"),
        case(
            "us",
            "cpu value=1 T_US",
            Expect::Differs(PrecisionName, 204, 204),
        ),
        case(
            "weeks",
            "cpu value=1 T_NS",
            Expect::Differs(PrecisionName, 204, 400),
        ),
        case("h", "cpu value=1", Expect::Differs(ReceiptTime, 204, 204)),
        differs(Clock, 204, 400, "cpu value=1 -1"),
        differs(Clock, 204, 400, "cpu value=1 0"),
        differs(Clock, 204, 400, "cpu value=1 9223372036854775806"),
        differs(Clock, 204, 400, "cpu value=1 -9223372036854775806"),
        differs(Clock, 204, 400, "cpu value=1 F_NS"),
        // What InfluxDB refuses when it stores a point rather than when it parses it.
        same("cpu,time=x value=1 T_NS"),
        same("cpu time=1 T_NS"),
        same("cpu time=1,value=2 T_NS"),
        differs(FirstValueStands, 204, 204, "cpu value=1,value=2 T_NS"),
        differs(FieldType, 400, 204, "cpu value=1,value=2i T_NS"),
        differs(
            FieldType,
            400,
            204,
            "cpu value=1 T_S000000000\ncpu value=2i T_S001000000",
        ),
        // Clima's plausibility checks; CRLF and bytes that are not UTF-8.
        differs(Implausible, 204, 400, "weather temperature=999 T_NS"),
        differs(Implausible, 204, 400, "weather humidity=101 T_NS"),
        differs(Implausible, 204, 400, "weather temperature=1e300 T_NS"),
        differs(
            Crlf,
            400,
            204,
            "cpu value=1 T_NS\r\ncpu,host=b value=2 T_NS\r\n",
        ),
        differs(Crlf, 400, 204, "cpu value=1\r\n"),
        invalid_utf8,
    ]
}

#[test]
fn line_protocol_matches_influxdb_1_6() {
    let started = Instant::now();
    let influx = Influx::start();
    query_answers(&influx);
    let times = Times::now();
    let cases = cases(&times);
    assert!(cases.len() >= 100, "{} cases", cases.len());
    let failures: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|w| {
                let (cases, influx) = (&cases, &influx);
                scope.spawn(move || {
                    (w..cases.len())
                        .step_by(THREADS)
                        .filter_map(|i| run(influx, i, &cases[i]).err())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from InfluxDB 1.6:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
    eprintln!(
        "{} cases agree with InfluxDB 1.6 in {:.1?}",
        cases.len(),
        started.elapsed()
    );
}

/// `/query` answers `SHOW DATABASES` and `CREATE DATABASE` in InfluxDB's JSON shape.
fn query_answers(influx: &Influx) {
    let clima = Server::start(&["--serial", "off"]);
    for q in ["CREATE DATABASE clima", "SHOW DATABASES", "show databases;"] {
        let form = format!("q={}", encode(q));
        let post = |url: String| {
            call(
                "POST",
                &url,
                &[("Content-Type", "application/x-www-form-urlencoded")],
                Some(form.as_bytes()),
            )
        };
        let want = post(influx.url("/query"));
        let got = post(clima.url("/query"));
        assert_eq!((want.status, got.status), (200, 200), "{q}: {}", got.body);
        assert_eq!(want.json(), got.json(), "{q}");
        let got = get(&clima.url(&format!("/query?q={}", encode(q))));
        assert_eq!(want.json(), got.json(), "GET {q}");
    }
}

/// Sends one case to both and compares; `Err` describes what differs.
fn run(influx: &Influx, i: usize, case: &Case) -> Result<(), String> {
    let db = format!("case{i}");
    influx.create(&db);
    let clima = Server::start(&["--serial", "off", "--rate-limit", "off"]);
    let precision = match case.precision {
        "" => String::new(),
        p => format!("&precision={p}"),
    };
    let sent = now_ms();
    let write = |url: String| {
        call(
            "POST",
            &url,
            &[("Content-Type", "text/plain; charset=utf-8")],
            Some(&case.body),
        )
    };
    let want = write(influx.url(&format!("/write?db={db}{precision}")));
    let got = write(clima.url(&format!("/write?db={db}{precision}")));
    let receipt = (sent - 2_000, now_ms() + 2_000);
    let describe = |what: &str| {
        let body = String::from_utf8_lossy(&case.body);
        let mut body: String = body.chars().take(200).collect();
        if case.body.len() > 200 {
            body.push('…');
        }
        format!(
            "case {i} {body:?} precision={:?}: {what}\n  InfluxDB {} {}\n  Clima    {} {}",
            case.precision,
            want.status,
            want.body.trim(),
            got.status,
            got.body.trim()
        )
    };
    match case.expect {
        Expect::Differs(d, influx_status, clima_status) => {
            if (want.status, got.status) != (influx_status, clima_status) {
                return Err(describe(&format!(
                    "expected InfluxDB {influx_status} and Clima {clima_status} ({d:?})"
                )));
            }
            Ok(())
        }
        Expect::Same | Expect::Outcome(_) => {
            // InfluxDB refuses with 400, or 500 where its engine trips; Clima always with 400.
            let refused = want.status != 204;
            if got.status != if refused { 400 } else { 204 } {
                return Err(describe("accepted by one, refused by the other"));
            }
            if let Expect::Outcome(why) = case.expect {
                eprintln!("case {i}: outcome only, as {why}");
                return Ok(());
            }
            let stored = clima_rows(&clima);
            let expected = influx_rows(&influx.select(&db)).map_err(|e| describe(&e))?;
            compare(expected, stored, receipt).map_err(|e| describe(&e))
        }
    }
}

/// One stored number as Clima names it.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    sensor: String,
    metric: String,
    at: i64,
    value: f64,
}

/// The rows Clima should hold for what InfluxDB stored: its series named by Clima's sensor
/// scheme and its fields by Clima's metric names.
fn influx_rows(answer: &str) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    let top: HashMap<String, &RawValue> = serde_json::from_str(answer).unwrap();
    let results: Vec<HashMap<String, &RawValue>> =
        serde_json::from_str(top["results"].get()).unwrap();
    for result in results {
        assert!(!result.contains_key("error"), "InfluxDB: {answer}");
        let Some(series) = result.get("series") else {
            continue;
        };
        let series: Vec<HashMap<String, &RawValue>> = serde_json::from_str(series.get()).unwrap();
        for s in series {
            let name: String = serde_json::from_str(s["name"].get()).unwrap();
            // GROUP BY * gives a series an empty value for the tags it lacks.
            let tags: BTreeMap<String, String> = s
                .get("tags")
                .map(|t| serde_json::from_str(t.get()).unwrap())
                .unwrap_or_default();
            let tags: BTreeMap<String, String> =
                tags.into_iter().filter(|(_, v)| !v.is_empty()).collect();
            let sensor = sensor_of(&name, &tags);
            let columns: Vec<String> = serde_json::from_str(s["columns"].get()).unwrap();
            let values: Vec<Vec<&RawValue>> = serde_json::from_str(s["values"].get()).unwrap();
            for row in values {
                let at: i64 = row[0].get().parse().unwrap();
                for (field, v) in columns.iter().zip(&row).skip(1) {
                    // Numbers only, read from InfluxDB's own text: strings, booleans and nulls
                    // are not stored by Clima.
                    let text = v.get();
                    if !text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
                        continue;
                    }
                    let n: f64 = text.parse().unwrap();
                    let (metric, value) = normalize(field, n).map_err(|e| {
                        format!(
                            "InfluxDB stored {field}={text}, which Clima refuses ({e}): \
                             name the Difference"
                        )
                    })?;
                    rows.push(Row {
                        sensor: sensor.clone(),
                        metric: metric.as_str().to_owned(),
                        at,
                        value,
                    });
                }
            }
        }
    }
    Ok(rows)
}

/// The sensor Clima names a series by (see crates/clima-model/src/line_protocol.rs): a valid
/// `sensor` or `id` tag, else the measurement and the tag values in the order of their keys.
fn sensor_of(measurement: &str, tags: &BTreeMap<String, String>) -> String {
    let explicit = tags
        .iter()
        .find(|(k, _)| *k == "sensor" || *k == "id")
        .and_then(|(_, v)| SensorId::parse(v).ok());
    match explicit {
        Some(id) => id.to_string(),
        None => {
            let mut id = measurement.to_owned();
            for v in tags.values() {
                id.push('.');
                id.push_str(v);
            }
            SensorId::sanitized(&id).to_string()
        }
    }
}

/// Every sample Clima stored, from its sensor list and CSV export.
fn clima_rows(clima: &Server) -> Vec<Row> {
    let sensors = get(&clima.url("/api/v1/sensors"));
    assert_eq!(sensors.status, 200, "{}", sensors.body);
    let to = now_ms() + 2 * 3_600_000;
    let mut rows = Vec::new();
    for s in sensors.json()["sensors"].as_array().unwrap() {
        let sensor = s["sensor"].as_str().unwrap();
        for m in sent_metrics(s) {
            let metric = m["metric"].as_str().unwrap();
            let csv = get(&clima.url(&format!(
                "/api/v1/export.csv?sensor={sensor}&metric={metric}&from=946684800000&to={to}"
            )));
            assert_eq!(csv.status, 200, "{}", csv.body);
            for line in csv.body.lines().skip(1).filter(|l| !l.is_empty()) {
                let cells: Vec<&str> = line.split(',').collect();
                rows.push(Row {
                    sensor: cells[0].to_owned(),
                    metric: cells[1].to_owned(),
                    at: from_rfc3339(cells[3]).unwrap(),
                    value: cells[5].parse().unwrap(),
                });
            }
        }
    }
    rows
}

/// Compares stored rows. Times must match, except times of receipt: those of both must fall in
/// `receipt` (explicit times in the cases are days away from it).
fn compare(mut want: Vec<Row>, mut got: Vec<Row>, receipt: (i64, i64)) -> Result<(), String> {
    let order = |a: &Row, b: &Row| {
        (&a.sensor, &a.metric)
            .cmp(&(&b.sensor, &b.metric))
            .then(a.value.total_cmp(&b.value))
            .then(a.at.cmp(&b.at))
    };
    want.sort_by(order);
    got.sort_by(order);
    let received = |t: i64| (receipt.0..=receipt.1).contains(&t);
    let agree = want.len() == got.len()
        && want.iter().zip(&got).all(|(w, g)| {
            w.sensor == g.sensor
                && w.metric == g.metric
                && w.value == g.value
                && (w.at == g.at || (received(w.at) && received(g.at)))
        });
    if agree {
        Ok(())
    } else {
        Err(format!(
            "stored values differ\n  InfluxDB {want:?}\n  Clima    {got:?}"
        ))
    }
}

/// An `influxd` of its own: its data, meta and WAL in a temp dir, HTTP on a free loopback
/// port, no reporting; any InfluxDB running as a service is left alone.
struct Influx {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Influx {
    fn start() -> Influx {
        let exe = std::env::var_os("PATH")
            .iter()
            .flat_map(std::env::split_paths)
            .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
            .map(|d| d.join("influxd"))
            .find(|p| p.is_file())
            .expect("influxd is not installed: run scripts/install-deps test (Debian's influxdb)");
        let dir = tempfile::tempdir().unwrap();
        // Both listeners at once, so the two ports differ.
        let listeners = [free_port(), free_port()];
        let [port, rpc] = listeners.each_ref().map(|l| l.local_addr().unwrap().port());
        let d = dir.path().display();
        let config = dir.path().join("influxdb.conf");
        std::fs::write(
            &config,
            format!(
                "reporting-disabled = true\n\
                 bind-address = \"127.0.0.1:{rpc}\"\n\
                 [meta]\n  dir = \"{d}/meta\"\n\
                 [data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n\
                 query-log-enabled = false\n\
                 [http]\n  bind-address = \"127.0.0.1:{port}\"\n  log-enabled = false\n\
                 [monitor]\n  store-enabled = false\n\
                 [continuous_queries]\n  enabled = false\n\
                 [retention]\n  enabled = false\n\
                 [subscriber]\n  enabled = false\n"
            ),
        )
        .unwrap();
        let log = dir.path().join("influxd.log");
        let mut cmd = Command::new(&exe);
        cmd.args(["run", "-config"]).arg(&config);
        // Settings in the environment would override the file.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("INFLUXDB_") {
                cmd.env_remove(k);
            }
        }
        drop(listeners);
        let child = cmd
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(dir.path().join("influxd.err")).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", exe.display()));
        let mut influx = Influx {
            child,
            port,
            log,
            _dir: dir,
        };
        influx.wait_ready();
        influx
    }

    /// Waits for `/ping` to answer 204.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ping = ureq::get(&self.url("/ping"))
                .timeout(Duration::from_secs(2))
                .call();
            if matches!(ping, Ok(ref r) if r.status() == 204) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("influxd exited with {status}: {}", self.logs());
            }
            assert!(
                Instant::now() < deadline,
                "influxd did not answer /ping: {}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn logs(&self) -> String {
        let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
        read(self.log.clone()) + &read(self.log.with_file_name("influxd.err"))
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn create(&self, db: &str) {
        let r = call(
            "POST",
            &self.url("/query"),
            &[("Content-Type", "application/x-www-form-urlencoded")],
            Some(format!("q={}", encode(&format!("CREATE DATABASE {db}"))).as_bytes()),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }

    /// Everything in `db`, times in milliseconds, one series per tag set.
    fn select(&self, db: &str) -> String {
        let q = encode("SELECT * FROM /.*/ GROUP BY *");
        let r: Resp = get(&self.url(&format!("/query?db={db}&epoch=ms&q={q}")));
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
    }
}

impl Drop for Influx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").unwrap()
}

/// Percent-encodes a query-string value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
