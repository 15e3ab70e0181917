//! The live stream (`GET /api/v1/stream`): Server-Sent Events fed by one hub viewer per client,
//! so a slow viewer only slows itself; one that stops reading is cut by the server's write
//! limit, which frees its viewer.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::reply::Reply;
use super::Front;
use crate::alert::AlertView;
use crate::hub::Viewer;
use tokio::sync::broadcast::error::RecvError;

type Alerts = tokio::sync::broadcast::Receiver<AlertView>;

/// Most live streams served at once; more get 503.
const MAX_STREAMS: usize = 256;
/// A comment line goes out this often on a quiet stream, so dead connections are noticed.
const HEARTBEAT: Duration = Duration::from_secs(15);

/// A viewer's place among the streams; dropping it (the stream ends) gives it back.
struct Place(Arc<Front>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.streams.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Starts one viewer's stream: `hello`, then `readings` events (throttled) and `alert` events
/// (every alert transition, at once) until the client goes or the engine stops.
pub fn open(front: Arc<Front>) -> Response {
    if front.streams.fetch_add(1, Ordering::Relaxed) >= MAX_STREAMS {
        front.streams.fetch_sub(1, Ordering::Relaxed);
        return Reply::error(
            503,
            "too_many_streams",
            "too many live viewers: close another dashboard and retry",
        )
        .into_response();
    }
    let place = Place(front.clone());
    let viewer = front.api.viewer(front.api.throttle());
    let hello = Event::default()
        .event("hello")
        .data(json!({ "throttle_ms": front.api.throttle().as_millis() as u64 }).to_string());
    let alerts = front.api.alert_events();
    let state = (viewer, alerts, place, Some(hello));
    let events = futures_util::stream::unfold(
        state,
        |(mut viewer, mut alerts, place, hello): (Viewer, Alerts, Place, Option<Event>)| async move {
            if let Some(hello) = hello {
                return Some((Ok::<_, Infallible>(hello), (viewer, alerts, place, None)));
            }
            let shutdown = place.0.shutdown.clone();
            let event = loop {
                tokio::select! {
                    u = viewer.next() => {
                        let update = u?;
                        break Event::default().event("readings").data(
                            json!({ "readings": update.readings, "skipped": update.skipped })
                                .to_string(),
                        );
                    }
                    a = alerts.recv() => match a {
                        Ok(alert) => {
                            break Event::default()
                                .event("alert")
                                .data(serde_json::to_string(&alert).unwrap_or_default())
                        }
                        // Missed transitions are in GET /api/v1/alerts.
                        Err(RecvError::Lagged(_)) => continue,
                        Err(RecvError::Closed) => return None,
                    },
                    _ = shutdown.cancelled() => return None,
                }
            };
            Some((Ok(event), (viewer, alerts, place, None)))
        },
    );
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(HEARTBEAT).text("keep-alive"))
        .into_response();
    let h = response.headers_mut();
    h.insert(
        "cache-control",
        axum::http::HeaderValue::from_static("no-store"),
    );
    h.insert(
        "x-content-type-options",
        axum::http::HeaderValue::from_static("nosniff"),
    );
    response
}
