//! The tray path of the real `clima` binary on Linux: on an Xvfb display of its own with a
//! session bus whose StatusNotifier watcher (served here) stands for a desktop's panel, the app
//! puts its icon in the tray, whose menu sums up the sensors and whose Open and Quit work;
//! closing the window hides it while the engine goes on, and the first close says so once (and
//! remembers it). Skipped, saying why, where Xvfb, dbus-daemon, xdotool or the AppIndicator
//! library are missing (`scripts/install-deps test` installs them).

#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Kills a helper process when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `cmd` with its stdout piped and returns it with its first line.
fn first_line(mut cmd: Command) -> (Killed, String) {
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (Killed(child), line.trim().to_owned())
}

/// A panel's StatusNotifier watcher: passes on each item that registers, as its bus name and
/// object path.
struct Watcher(mpsc::Sender<(String, String)>);

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl Watcher {
    fn register_status_notifier_item(
        &self,
        service: String,
        #[zbus(header)] header: zbus::message::Header<'_>,
    ) {
        let sender = header.sender().map(|s| s.to_string()).unwrap_or_default();
        let _ = self.0.send((sender, service));
    }

    #[zbus(property)]
    fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn protocol_version(&self) -> i32 {
        0
    }

    #[zbus(property)]
    fn registered_status_notifier_items(&self) -> Vec<String> {
        Vec::new()
    }
}

/// The item's dbusmenu object, where its panel reads and clicks the menu.
fn menu_path(bus: &zbus::blocking::Connection, sender: &str, path: &str) -> String {
    let item = zbus::blocking::Proxy::new(bus, sender, path, "org.kde.StatusNotifierItem").unwrap();
    let menu: zbus::zvariant::OwnedObjectPath = item.get_property("Menu").unwrap();
    menu.as_str().to_owned()
}

/// The tray menu as its panel reads it: each entry's id and label.
fn tray_menu(bus: &zbus::blocking::Connection, sender: &str, menu: &str) -> Vec<(i32, String)> {
    let reply = bus
        .call_method(
            Some(sender),
            menu,
            Some("com.canonical.dbusmenu"),
            "GetLayout",
            &(0i32, -1i32, Vec::<String>::new()),
        )
        .unwrap();
    let body = reply.body();
    // The root entry: (id, properties, children), each child a variant of the same.
    type Entry = (
        i32,
        std::collections::HashMap<String, zbus::zvariant::OwnedValue>,
        Vec<zbus::zvariant::OwnedValue>,
    );
    let (_revision, (_, _, children)): (u32, Entry) = body.deserialize().unwrap();
    let mut entries = Vec::new();
    for child in &children {
        menu_entries(child, &mut entries);
    }
    entries
}

fn menu_entries(v: &zbus::zvariant::Value<'_>, out: &mut Vec<(i32, String)>) {
    use zbus::zvariant::Value;
    match v {
        Value::Value(inner) => menu_entries(inner, out),
        Value::Structure(s) => {
            if let [Value::I32(id), Value::Dict(props), Value::Array(children)] = s.fields() {
                if let Ok(Some(label)) = props.get::<&str, String>(&"label") {
                    out.push((*id, label));
                }
                for child in children.inner() {
                    menu_entries(child, out);
                }
            }
        }
        _ => {}
    }
}

/// Clicks the tray menu's entry `id`, as the panel does.
fn click(bus: &zbus::blocking::Connection, sender: &str, menu: &str, id: i32) {
    bus.call_method(
        Some(sender),
        menu,
        Some("com.canonical.dbusmenu"),
        "Event",
        &(id, "clicked", zbus::zvariant::Value::from(0i32), 0u32),
    )
    .unwrap();
}

fn missing_tools() -> Option<String> {
    let found = |tool: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let missing: Vec<&str> = ["Xvfb", "dbus-daemon", "xdotool", "python3"]
        .into_iter()
        .filter(|t| !found(t))
        .collect();
    let library = [
        "/usr/lib",
        "/usr/lib64",
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
    ]
    .iter()
    .any(|d| Path::new(d).join("libayatana-appindicator3.so.1").exists());
    match (missing.is_empty(), library) {
        (true, true) => None,
        _ => Some(format!(
            "missing: {missing:?}{}",
            if library {
                ""
            } else {
                " and libayatana-appindicator3-1"
            }
        )),
    }
}

/// The visible windows whose title matches `name` on `display`.
fn windows(display: &str, name: &str) -> Vec<String> {
    let out = Command::new("xdotool")
        .args(["search", "--onlyvisible", "--name", name])
        .env("DISPLAY", display)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

const TOKEN: &str = "tray-test-token-0123456789abcdef";

fn healthy(addr: &str) -> bool {
    ureq::get(&format!("http://{addr}/healthz")).call().is_ok()
}

#[test]
fn the_tray_sums_up_the_sensors_opens_and_quits_and_a_close_hides_the_window() {
    if let Some(why) = missing_tools() {
        eprintln!("skipped: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_x, display) = first_line({
        let mut c = Command::new("Xvfb");
        c.args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "1280x800x24",
            "-nolisten",
            "tcp",
        ]);
        c
    });
    let display = format!(":{display}");
    let (_bus, address) = first_line({
        let mut c = Command::new("dbus-daemon");
        c.args(["--session", "--nofork", "--print-address=1"]);
        c
    });
    let (items_tx, items) = mpsc::channel();
    let watcher = zbus::blocking::connection::Builder::address(address.as_str())
        .unwrap()
        .name("org.kde.StatusNotifierWatcher")
        .unwrap()
        .serve_at("/StatusNotifierWatcher", Watcher(items_tx))
        .unwrap()
        .build()
        .unwrap();

    let db = dir.path().join("clima.db");
    let start = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_clima"));
        c.arg("--db")
            .arg(&db)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--serial",
                "off",
                "--token",
                TOKEN,
            ])
            .env("DISPLAY", &display)
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .env("HOME", dir.path())
            .env("XDG_CONFIG_HOME", dir.path().join("config"))
            .env("XDG_DATA_HOME", dir.path().join("data"))
            .stderr(Stdio::null());
        let (app, line) = first_line(c);
        let addr = line.rsplit("http://").next().unwrap().to_owned();
        (app, addr)
    };
    let close = || {
        let window = windows(&display, "^Clima$").pop().expect("the window");
        let status = Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../e2e/close-window.py"))
            .arg(window)
            .env("DISPLAY", &display)
            .status()
            .unwrap();
        assert!(status.success());
    };

    let (mut app, addr) = start();
    let (sender, item) = items
        .recv_timeout(Duration::from_secs(30))
        .expect("the tray icon registered");
    assert!(item.contains("clima"), "{item}");
    let menu = menu_path(&watcher, &sender, &item);
    wait_for("the window", Duration::from_secs(30), || {
        windows(&display, "^Clima$").len() == 1
    });
    close();
    wait_for("the window to hide", Duration::from_secs(10), || {
        windows(&display, "^Clima$").is_empty()
    });
    wait_for("the one-time message", Duration::from_secs(10), || {
        windows(&display, "^Clima keeps running$").len() == 1
    });
    // Still collecting: a reading posted now shows in the tray's summary within its 5 s.
    ureq::post(&format!("http://{addr}/api/v1/readings"))
        .set("Authorization", &format!("Bearer {TOKEN}"))
        .send_string(r#"{"sensor":"kitchen","temperature":21.5}"#)
        .unwrap();
    let mut entries = Vec::new();
    wait_for("the summary", Duration::from_secs(15), || {
        entries = tray_menu(&watcher, &sender, &menu);
        entries.iter().any(|(_, l)| l == "1 sensor live")
    });
    assert!(
        entries
            .iter()
            .any(|(_, l)| l.starts_with("Newest reading ") && l.ends_with(" s ago")),
        "{entries:?}"
    );
    let id = |label: &str| entries.iter().find(|(_, l)| l == label).expect(label).0;
    // Open brings the window back; Quit stops the engine and exits 0.
    click(&watcher, &sender, &menu, id("Open Clima"));
    wait_for("the window again", Duration::from_secs(10), || {
        windows(&display, "^Clima$").len() == 1
    });
    click(&watcher, &sender, &menu, id("Quit Clima"));
    let stopped = app.0.wait().unwrap();
    assert!(stopped.success(), "{stopped:?}");
    assert!(!healthy(&addr));

    // The message was remembered: the next close hides without it.
    let (mut app, addr) = start();
    wait_for("the window", Duration::from_secs(30), || {
        windows(&display, "^Clima$").len() == 1
    });
    close();
    wait_for("the window to hide", Duration::from_secs(10), || {
        windows(&display, "^Clima$").is_empty()
    });
    std::thread::sleep(Duration::from_secs(1));
    assert!(windows(&display, "^Clima keeps running$").is_empty());
    assert!(healthy(&addr));
    let _ = app.0.kill();
}
