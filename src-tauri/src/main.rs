//! `clima`: the desktop app. Starts the same engine as `clima-server`, shows the dashboard in a
//! window, forwards live updates to it, and stops the engine on quit.

mod background;
mod commands;
mod error;
mod export;
mod live;
mod malloc;
mod notify;
mod shell;
mod webview;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use clap::Parser;
use clima_core::config::DEFAULT_PORT;
use tauri::{Emitter, Manager, RunEvent, Runtime};

use crate::live::Live;
use crate::shell::Shell;

/// Clima's desktop app: a live dashboard of every sensor, with the ingest port open to the
/// network (protected by a token generated on first run).
#[derive(Debug, Clone, Parser)]
#[command(name = "clima", version, about)]
pub struct Args {
    /// SQLite database file, created if missing [default: the platform data dir, e.g.
    /// ~/.local/share/clima/clima.db]
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,

    /// Address and port devices send readings to.
    #[arg(long, value_name = "ADDR:PORT", default_value_t = SocketAddr::from(([0, 0, 0, 0], DEFAULT_PORT)))]
    pub listen: SocketAddr,

    /// Token devices must send [default: one generated on first run, kept in the database and
    /// shown in Settings].
    #[arg(
        long,
        env = "CLIMA_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,

    /// Serial ports to read: 'auto' (every USB serial port, the default), 'off', or
    /// PATH[@BAUD]; repeatable.
    #[arg(long, value_name = "auto|off|PATH[@BAUD]")]
    pub serial: Vec<String>,

    /// Forward every reading to an outside database as well (as clima-server's --forward);
    /// repeatable.
    #[arg(long, value_name = "URL")]
    pub forward: Vec<String>,

    /// Environment variable holding the token of /api/v2/write forward targets.
    #[arg(long, value_name = "VAR")]
    pub forward_token_env: Option<String>,
}

fn main() {
    let launched = Instant::now();
    malloc::tune();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info".into())
                // The HTTP client's debug lines hold forward targets' credentials.
                .add_directive("ureq=warn".parse().expect("a valid directive")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    // The single-instance plugin must come first: a second `clima` hands its arguments to the
    // running one (which shows its window) and exits 0 during `build`, before it opens the
    // database or the port, which the engine started in setup would otherwise find in use.
    let builder =
        tauri::Builder::default().plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            tracing::info!("another clima was started: showing the window");
            show_window(app)
        }));
    let app = match app(builder, launched, move || shell::start(&args))
        .build(tauri::generate_context!())
    {
        Ok(app) => app,
        Err(e) => {
            eprintln!("Clima could not open its window: {e}");
            std::process::exit(1);
        }
    };
    let handle = app.handle().clone();
    // Ctrl-C or SIGTERM quits like closing the window, so the engine stops cleanly.
    if let Err(e) = ctrlc::set_handler(move || handle.exit(0)) {
        tracing::warn!(error = %e, "Ctrl-C will not stop Clima cleanly");
    }
    app.run(|app, event| {
        if let RunEvent::Exit = event {
            quit(app);
        }
    });
}

/// Registers the state, the commands and live forwarding; the same for the real runtime and
/// the mock one in tests.
fn app<R: Runtime>(
    builder: tauri::Builder<R>,
    launched: Instant,
    start: impl FnOnce() -> Result<shell::Running, error::CommandError> + Send + 'static,
) -> tauri::Builder<R> {
    builder
        .manage(Shell::new(launched))
        .manage(Mutex::new(None::<Live>))
        .invoke_handler(tauri::generate_handler![
            commands::status,
            commands::sensors,
            commands::readings,
            commands::chart,
            commands::export,
            commands::ports,
            commands::forwarders,
            commands::add_forwarder,
            commands::remove_forwarder,
            commands::alert_rules,
            commands::create_alert_rule,
            commands::update_alert_rule,
            commands::delete_alert_rule,
            commands::alert_presets,
            commands::alerts,
            commands::alert_webhooks,
            commands::add_alert_webhook,
            commands::remove_alert_webhook,
            commands::port_action,
            commands::port_settings,
            commands::demo,
            commands::set_update_interval,
            commands::painted,
            commands::regenerate_token,
            commands::background,
            commands::set_background,
            commands::set_calibration,
            commands::rename_sensor,
            commands::hide_sensor,
            commands::delete_sensor,
            commands::merge_sensors,
        ])
        .plugin(tauri_plugin_autostart::Builder::new().build())
        .plugin(tauri_plugin_notification::init())
        .on_window_event(background::on_window_event)
        .setup(move |app| {
            if let Some(window) = app.get_webview_window("main") {
                webview::configure(&window);
            }
            let shell = app.state::<Shell>();
            shell.start_engine(start);
            let started = shell.with(|r| Ok((r.engine.api().clone(), r.engine.runtime())));
            if let Ok((api, runtime)) = started {
                let handle = app.handle().clone();
                let alert_handle = handle.clone();
                let live = Live::start(
                    &api,
                    &runtime,
                    shell.interval_ms.subscribe(),
                    move |update| {
                        if let Err(e) = handle.emit(live::EVENT, update) {
                            tracing::debug!(error = %e, "live update not delivered");
                        }
                    },
                );
                live.forward_alerts(&api, &runtime, move |alert| {
                    if let Err(e) = alert_handle.emit(live::ALERT_EVENT, alert) {
                        tracing::debug!(error = %e, "alert event not delivered");
                    }
                });
                *app.state::<Mutex<Option<Live>>>()
                    .lock()
                    .expect("live lock") = Some(live);
            }
            background::setup(app.handle())?;
            notify::setup(app.handle());
            Ok(())
        })
}

/// Brings the main window to the front: another `clima` was started.
fn show_window<R: Runtime>(app: &tauri::AppHandle<R>) {
    if let Some(window) = app.get_webview_window("main") {
        let shown = window
            .show()
            .and_then(|()| window.unminimize())
            .and_then(|()| window.set_focus());
        if let Err(e) = shown {
            tracing::warn!(error = %e, "could not bring the window to the front");
        }
    }
}

/// Stops live forwarding, then the engine, which commits everything it acknowledged.
fn quit<R: Runtime>(app: &tauri::AppHandle<R>) {
    if let Some(mut live) = app
        .state::<Mutex<Option<Live>>>()
        .lock()
        .expect("live lock")
        .take()
    {
        live.stop();
    }
    app.state::<Shell>().shutdown();
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use tauri::test::{get_ipc_response, mock_builder, mock_context, noop_assets, INVOKE_KEY};
    use tauri::webview::InvokeRequest;

    fn invoke(
        webview: &tauri::WebviewWindow<tauri::test::MockRuntime>,
        cmd: &str,
        body: Value,
    ) -> Result<Value, Value> {
        let request = InvokeRequest {
            cmd: cmd.into(),
            callback: tauri::ipc::CallbackFn(0),
            error: tauri::ipc::CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: tauri::ipc::InvokeBody::Json(body),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        };
        get_ipc_response(webview, request).map(|b| b.deserialize::<Value>().unwrap())
    }

    /// Arguments for an app on a fresh database in `dir`, on an ephemeral port, with no serial.
    fn test_args(dir: &tempfile::TempDir, extra: &[&str]) -> Args {
        let db = dir.path().join("t.db");
        let mut argv = vec![
            "clima",
            "--db",
            db.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--serial",
            "off",
        ];
        argv.extend_from_slice(extra);
        Args::parse_from(argv)
    }

    /// The app on the mock runtime, its setup run (which starts the engine with `start` and
    /// live forwarding).
    fn mock_app(
        start: impl FnOnce() -> Result<shell::Running, error::CommandError> + Send + 'static,
    ) -> tauri::App<tauri::test::MockRuntime> {
        let mut app = app(mock_builder(), Instant::now(), start)
            .build(mock_context(noop_assets()))
            .unwrap();
        #[allow(deprecated)]
        app.run_iteration(|_, _| {});
        app
    }

    #[test]
    fn commands_answer_like_the_http_api() {
        let dir = tempfile::tempdir().unwrap();
        let args = test_args(&dir, &[]);
        let app = mock_app({
            let args = args.clone();
            move || shell::start(&args)
        });
        let (live_tx, live_rx) = std::sync::mpsc::channel();
        tauri::Listener::listen_any(&app, live::EVENT, move |event| {
            let _ = live_tx.send(event.payload().to_owned());
        });
        let webview = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
            .build()
            .unwrap();

        // A token was generated and stored; a second start with the same database keeps it.
        let status = invoke(&webview, "status", json!({})).unwrap();
        let first = status["token"].as_str().unwrap().to_owned();
        assert_eq!(first.len(), 32);
        assert!(status["listen"].as_str().unwrap().starts_with("127.0.0.1:"));
        assert_eq!(status["token_regenerable"], true);
        // Present and null while commits succeed.
        assert_eq!(status.get("store_problem"), Some(&Value::Null));

        // A regenerated token is in force at once: the old one gets 401 from the engine's port.
        let local = app
            .state::<Shell>()
            .with(|r| Ok(r.engine.local_addr()))
            .unwrap();
        let sensors_with = |token: &str| match ureq::get(&format!("http://{local}/api/v1/sensors"))
            .set("Authorization", &format!("Bearer {token}"))
            .call()
        {
            Ok(resp) => resp.status(),
            Err(ureq::Error::Status(code, _)) => code,
            Err(e) => panic!("the engine did not answer: {e}"),
        };
        assert_eq!(sensors_with(&first), 200);
        let regenerated = invoke(&webview, "regenerate_token", json!({})).unwrap();
        let token = regenerated["token"].as_str().unwrap().to_owned();
        assert_eq!(token.len(), 32);
        assert_ne!(token, first);
        assert_eq!(sensors_with(&first), 401);
        assert_eq!(sensors_with(&token), 200);
        // status reports the token in force, not the one taken at start.
        let status = invoke(&webview, "status", json!({})).unwrap();
        assert_eq!(status["token"], token.as_str());

        // A reading written through the engine shows in sensors, readings and the chart.
        let writer = app
            .state::<Shell>()
            .with(|r| Ok(r.engine.writer()))
            .unwrap();
        let now = clima_core::now_ms();
        let reading = clima_model::json::parse_body(
            br#"{"sensor":"kitchen","name":"<b>Kitchen</b>","temperature":21.5}"#,
            &clima_model::SensorId::parse("fallback").unwrap(),
            now,
        )
        .unwrap()
        .remove(0)
        .unwrap();
        writer
            .write(vec![reading], clima_core::store::Source::Http, now)
            .unwrap();
        // The window hears about it through one coalesced event.
        let update: Value = serde_json::from_str(
            &live_rx
                .recv_timeout(std::time::Duration::from_secs(5))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(update["readings"][0]["sensor"], "kitchen");
        assert_eq!(update["readings"][0]["value"], 21.5);
        let sensors = invoke(&webview, "sensors", json!({})).unwrap();
        assert_eq!(sensors["sensors"][0]["name"], "<b>Kitchen</b>");
        let range = json!({"sensor": "kitchen", "metric": "temperature", "from": now - 60_000, "to": now + 1000, "points": 61});
        let readings = invoke(&webview, "readings", range.clone()).unwrap();
        assert_eq!(readings["unit"], "°C");
        assert_eq!(
            readings["points"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["count"].as_u64().unwrap())
                .sum::<u64>(),
            1
        );
        let mut chart_args = range;
        chart_args["width"] = json!(400);
        chart_args["height"] = json!(200);
        chart_args["unit"] = json!("F");
        let chart = invoke(&webview, "chart", chart_args).unwrap();
        assert!(chart["svg"].as_str().unwrap().starts_with("<svg"));
        assert!(chart["svg"].as_str().unwrap().contains("°F"));
        assert!(chart["plot"]["width"].as_i64().unwrap() > 200);

        // The housekeeping and comparison commands answer as their HTTP routes do.
        let hall = clima_model::json::parse_body(
            br#"{"sensor":"hall","temperature":19.0,"humidity":50}"#,
            &clima_model::SensorId::parse("fallback").unwrap(),
            now,
        )
        .unwrap()
        .remove(0)
        .unwrap();
        writer
            .write(vec![hall], clima_core::store::Source::Http, now)
            .unwrap();
        let mut both = json!({"sensor": "kitchen,hall", "metric": "temperature", "from": now - 60_000, "to": now + 1000, "points": 61});
        let compared = invoke(&webview, "readings", both.clone()).unwrap();
        let ids: Vec<&str> = compared["series"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["sensor"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["kitchen", "hall"]);
        both["width"] = json!(400);
        both["height"] = json!(200);
        let chart = invoke(&webview, "chart", both).unwrap();
        assert!(chart["svg"]
            .as_str()
            .unwrap()
            .lines()
            .any(|l| l.trim() == "hall"));
        let nine = invoke(
            &webview,
            "readings",
            json!({"sensor": "a,b,c,d,e,f,g,h,i", "metric": "temperature"}),
        )
        .unwrap_err();
        assert!(nine["message"].as_str().unwrap().contains("at most 8"));
        let set = invoke(
            &webview,
            "set_calibration",
            json!({"sensor": "kitchen", "metric": "temperature", "offset": -1.5}),
        )
        .unwrap();
        assert_eq!(
            (set["offset"].as_f64(), set["scale"].as_f64()),
            (Some(-1.5), Some(1.0))
        );
        invoke(
            &webview,
            "rename_sensor",
            json!({"sensor": "hall", "name": "Hall"}),
        )
        .unwrap();
        invoke(
            &webview,
            "hide_sensor",
            json!({"sensor": "hall", "hidden": true}),
        )
        .unwrap();
        let sensors = invoke(&webview, "sensors", json!({})).unwrap();
        let listed = |id: &str| {
            sensors["sensors"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["sensor"] == id)
                .cloned()
                .unwrap()
        };
        assert_eq!(listed("kitchen")["metrics"][0]["value"], 20.0);
        assert_eq!(
            (
                listed("hall")["display_name"].as_str(),
                listed("hall")["hidden"].as_bool()
            ),
            (Some("Hall"), Some(true))
        );
        let unconfirmed = invoke(&webview, "delete_sensor", json!({"sensor": "hall"})).unwrap_err();
        assert_eq!(unconfirmed["kind"], "confirmation_required");
        let merged = invoke(
            &webview,
            "merge_sensors",
            json!({"from": "hall", "into": "kitchen"}),
        )
        .unwrap();
        // Temperature, humidity and the two derived metrics; its temperature at the same time as the
        // kitchen's conflicts, and the kitchen's value stands.
        assert_eq!(
            (merged["accepted"].as_u64(), merged["conflicts"].as_u64()),
            (Some(3), Some(1))
        );
        let gone = invoke(
            &webview,
            "delete_sensor",
            json!({"sensor": "hall", "confirm": "hall"}),
        )
        .unwrap_err();
        assert_eq!(gone["kind"], "not_found");

        // Errors reach the page as {kind, message}.
        let missing = invoke(
            &webview,
            "readings",
            json!({"sensor": "nope", "metric": "temperature"}),
        )
        .unwrap_err();
        assert_eq!(missing["kind"], "not_found");
        assert!(missing["message"].as_str().unwrap().contains("nope"));
        // An export is checked before its save dialog opens (the dialog itself needs a display:
        // export::export_to is tested on its own, the dialog in e2e/desktop.test.mjs).
        let export = invoke(
            &webview,
            "export",
            json!({"sensor": "kitchen", "metric": "temperature", "format": "pdf"}),
        )
        .unwrap_err();
        assert_eq!(export["kind"], "invalid");
        assert!(export["message"]
            .as_str()
            .unwrap()
            .contains("csv, png or svg"));
        let backwards = invoke(
            &webview,
            "export",
            json!({"sensor": "kitchen", "metric": "temperature", "format": "csv", "from": now, "to": now - 1}),
        )
        .unwrap_err();
        assert_eq!(backwards["kind"], "invalid");
        let bad = invoke(
            &webview,
            "port_action",
            json!({"action": "explode", "id": "x"}),
        )
        .unwrap_err();
        assert_eq!(bad["kind"], "invalid");
        assert_eq!(
            invoke(&webview, "set_update_interval", json!({"ms": 5})).unwrap(),
            json!(100)
        );

        // The About part's facts come from the engine.
        assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(status["db"], dir.path().join("t.db").display().to_string());
        // Keeping Clima in the tray is off once chosen so, whether or not this session has a
        // tray, and kept for the next start.
        let background = invoke(&webview, "set_background", json!({"keepInTray": false})).unwrap();
        assert_eq!(background["keep_in_tray"], false);
        assert_eq!(background["autostart"], false);

        quit(app.handle());
        let stopped = invoke(&webview, "sensors", json!({})).unwrap_err();
        assert_eq!(stopped["kind"], "stopped");

        // The regenerated token is the one kept for the next start.
        let again = shell::start(&args).unwrap();
        assert_eq!(again.engine.api().token().unwrap().expose(), token);
        let kept = again.engine.api().background_settings().unwrap();
        assert_eq!(kept.keep_in_tray, Some(false));
        again.engine.shutdown();
    }

    #[test]
    fn a_token_given_with_the_flag_is_not_regenerated() {
        let dir = tempfile::tempdir().unwrap();
        let args = test_args(&dir, &["--token", "fixed-token-1234"]);
        let app = mock_app(move || shell::start(&args));
        let webview = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
            .build()
            .unwrap();
        let status = invoke(&webview, "status", json!({})).unwrap();
        assert_eq!(status["token"], "fixed-token-1234");
        assert_eq!(status["token_regenerable"], false);
        let refused = invoke(&webview, "regenerate_token", json!({})).unwrap_err();
        assert_eq!(refused["kind"], "token_fixed");
        assert!(refused["message"].as_str().unwrap().contains("--token"));
        let status = invoke(&webview, "status", json!({})).unwrap();
        assert_eq!(status["token"], "fixed-token-1234");
        quit(app.handle());
    }

    #[test]
    fn a_failed_start_is_reported_not_fatal() {
        let args = Args::parse_from(["clima", "--token", "short"]);
        let err = shell::start(&args).err().unwrap();
        assert_eq!(err.kind, "config");
        let app = mock_app(move || Err(err));
        let webview = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
            .build()
            .unwrap();
        let status = invoke(&webview, "status", json!({})).unwrap_err();
        assert!(status["message"].as_str().unwrap().contains("--token"));
    }
}
