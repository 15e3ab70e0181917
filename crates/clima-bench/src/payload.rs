//! Request bodies for each load mode, every reading with its own (sensor, measured_at) so that
//! neither server can deduplicate or overwrite any of them.

use std::io::Write;

/// How readings are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// One JSON reading per POST /api/v1/readings.
    Single,
    /// A JSON array of --batch-size readings per POST /api/v1/readings.
    Batch,
    /// One line-protocol point per POST /write.
    InfluxSingle,
    /// --batch-size line-protocol points per POST /write.
    InfluxBatch,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Single => "single",
            Mode::Batch => "batch",
            Mode::InfluxSingle => "influx-single",
            Mode::InfluxBatch => "influx-batch",
        }
    }
}

/// Which readings a run sends: reading `g` (a run-wide index) belongs to sensor `g % sensors`
/// at `base_ms + g / sensors`, so the pair is unique and each series moves forward in time.
#[derive(Debug, Clone)]
pub struct Plan {
    pub mode: Mode,
    pub batch_size: u64,
    pub sensors: u64,
    pub clients: u64,
    /// Prefix of the sensor ids, distinct per run so repeated runs on one server never collide.
    pub run_tag: String,
    pub base_ms: i64,
    /// InfluxDB database named in the /write query (Clima ignores it).
    pub influx_db: String,
}

impl Plan {
    pub fn readings_per_request(&self) -> u64 {
        match self.mode {
            Mode::Single | Mode::InfluxSingle => 1,
            Mode::Batch | Mode::InfluxBatch => self.batch_size,
        }
    }

    /// Path and query of every request.
    pub fn path(&self) -> String {
        match self.mode {
            Mode::Single | Mode::Batch => "/api/v1/readings".to_owned(),
            Mode::InfluxSingle | Mode::InfluxBatch => {
                format!("/write?db={}&precision=ms", self.influx_db)
            }
        }
    }

    pub fn content_type(&self) -> &'static str {
        match self.mode {
            Mode::Single | Mode::Batch => "application/json",
            Mode::InfluxSingle | Mode::InfluxBatch => "text/plain; charset=utf-8",
        }
    }

    /// Writes the body of request number `request` of `client` into `out` (cleared first).
    pub fn body(&self, client: u64, request: u64, out: &mut Vec<u8>) {
        out.clear();
        let per = self.readings_per_request();
        let first = request * per;
        let json = matches!(self.mode, Mode::Single | Mode::Batch);
        let array = self.mode == Mode::Batch;
        if array {
            out.push(b'[');
        }
        for j in 0..per {
            let g = (first + j) * self.clients + client;
            let sensor = g % self.sensors;
            let at = self.base_ms + (g / self.sensors) as i64;
            // 10.00 to 19.99 °C and 30.5 to 79.5 %RH: plausible, so nothing is rejected.
            let centi = 1000 + g % 1000;
            let (t_int, t_frac) = (centi / 100, centi % 100);
            let hum = 30 + g % 50;
            if json {
                if array && j > 0 {
                    out.push(b',');
                }
                let _ = write!(
                    out,
                    "{{\"sensor\":\"{}-{sensor}\",\"temperature\":{t_int}.{t_frac:02},\"humidity\":{hum}.5,\"measured_at\":{at}}}",
                    self.run_tag
                );
            } else {
                let _ = writeln!(
                    out,
                    "bench,sensor={}-{sensor} temperature={t_int}.{t_frac:02},humidity={hum}.5 {at}",
                    self.run_tag
                );
            }
        }
        if array {
            out.push(b']');
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn plan(mode: Mode, batch_size: u64, clients: u64, sensors: u64) -> Plan {
        Plan {
            mode,
            batch_size,
            sensors,
            clients,
            run_tag: "b7".into(),
            base_ms: 1_795_683_660_000,
            influx_db: "bench".into(),
        }
    }

    fn check(p: &Plan, client: u64, request: u64, expected: &str) {
        let mut out = Vec::new();
        p.body(client, request, &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }

    #[test]
    fn bodies() {
        check(
            &plan(Mode::Single, 1, 2, 3),
            1,
            2,
            r#"{"sensor":"b7-2","temperature":10.05,"humidity":35.5,"measured_at":1795683660001}"#,
        );
        check(
            &plan(Mode::Batch, 2, 1, 10),
            0,
            0,
            r#"[{"sensor":"b7-0","temperature":10.00,"humidity":30.5,"measured_at":1795683660000},{"sensor":"b7-1","temperature":10.01,"humidity":31.5,"measured_at":1795683660000}]"#,
        );
        check(
            &plan(Mode::InfluxBatch, 2, 1, 1),
            0,
            1,
            "bench,sensor=b7-0 temperature=10.02,humidity=32.5 1795683660002\n\
             bench,sensor=b7-0 temperature=10.03,humidity=33.5 1795683660003\n",
        );
        assert_eq!(
            plan(Mode::InfluxSingle, 9, 1, 1).path(),
            "/write?db=bench&precision=ms"
        );
        assert_eq!(plan(Mode::InfluxSingle, 9, 1, 1).readings_per_request(), 1);
    }

    #[test]
    fn no_two_readings_share_sensor_and_time() {
        let p = plan(Mode::InfluxBatch, 7, 3, 4);
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for client in 0..3 {
            for request in 0..20 {
                p.body(client, request, &mut out);
                for line in String::from_utf8_lossy(&out).lines() {
                    let parts: Vec<&str> = line.split(' ').collect();
                    assert!(
                        seen.insert((parts[0].to_owned(), parts[2].to_owned())),
                        "{line}"
                    );
                }
            }
        }
        assert_eq!(seen.len(), 3 * 20 * 7);
    }
}
