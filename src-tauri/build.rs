//! Builds the app's context from tauri.conf.json and declares the commands the page may call, so
//! the capability file can allow exactly those.

/// Every command the shell registers; each gets an `allow-NAME` permission.
const COMMANDS: &[&str] = &[
    "status",
    "sensors",
    "readings",
    "chart",
    "export",
    "ports",
    "port_action",
    "port_settings",
    "demo",
    "set_update_interval",
    "painted",
    "regenerate_token",
    "background",
    "set_background",
    "forwarders",
    "add_forwarder",
    "remove_forwarder",
    "set_calibration",
    "rename_sensor",
    "hide_sensor",
    "delete_sensor",
    "merge_sensors",
    "alert_rules",
    "create_alert_rule",
    "update_alert_rule",
    "delete_alert_rule",
    "alert_presets",
    "alerts",
    "alert_webhooks",
    "add_alert_webhook",
    "remove_alert_webhook",
];

fn main() {
    let attributes = tauri_build::Attributes::new()
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(e) = tauri_build::try_build(attributes) {
        panic!("tauri build step failed: {e:#}");
    }
}
