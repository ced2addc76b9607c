//! The admin routes over the messages the protection stage holds (`/protection/held`): listing
//! them a page at a time, reading a held body as it was received, releasing a quarantined
//! message to delivery, and deleting a held message. They sit behind the bearer token with
//! `/metrics` (see [`super::router`]); a store that fails answers 503, so a caller can retry.

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::Admin;
use crate::core::envelope::BodyFormat;
use crate::store::{HELD_PAGE_MAX, HoldKind, Release, StoreError};

/// Held messages per page when the caller does not say.
const PAGE_DEFAULT: i64 = 100;

pub fn routes() -> Router<Admin> {
    Router::new()
        .route("/protection/held", get(list))
        .route("/protection/held/{id}", axum::routing::delete(delete))
        .route("/protection/held/{id}/body", get(body))
        .route("/protection/held/{id}/release", post(release))
}

/// The query of a listing: which kind (any when absent), the last id of the previous page, how
/// many (at most [`HELD_PAGE_MAX`]).
#[derive(Debug, Deserialize)]
struct Page {
    kind: Option<HoldKind>,
    after: Option<i64>,
    limit: Option<i64>,
}

/// 503 with the store's error: the request may succeed later.
fn unavailable(e: &StoreError) -> Response {
    tracing::warn!(error = %e, "admin: the store failed a held-message request");
    (StatusCode::SERVICE_UNAVAILABLE, format!("store unavailable: {e}\n")).into_response()
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "no such held message\n").into_response()
}

/// `GET /protection/held?kind=&after=&limit=`: a JSON array of held messages, oldest first.
async fn list(State(admin): State<Admin>, Query(page): Query<Page>) -> Response {
    let limit = page.limit.unwrap_or(PAGE_DEFAULT).clamp(0, HELD_PAGE_MAX);
    match admin.store.held(page.kind, page.after.unwrap_or(0), limit).await {
        Ok(held) => Json(held).into_response(),
        Err(e) => unavailable(&e),
    }
}

/// `GET /protection/held/{id}/body`: the body exactly as it was received, typed by how it is
/// written (an MM1 PDU body or a mail).
async fn body(State(admin): State<Admin>, Path(id): Path<i64>) -> Response {
    match admin.store.held_body(id).await {
        Ok(Some((format, bytes))) => {
            let content_type = match format {
                BodyFormat::Wsp => "application/vnd.wap.mms-message",
                BodyFormat::Mime => "message/rfc822",
            };
            ([(header::CONTENT_TYPE, content_type)], bytes).into_response()
        }
        Ok(None) => not_found(),
        Err(e) => unavailable(&e),
    }
}

/// `POST /protection/held/{id}/release`: a quarantined message goes to delivery. 409 for an
/// archive copy (never delivered) and for a Message-ID stored already (the message stays held).
async fn release(State(admin): State<Admin>, Path(id): Path<i64>) -> Response {
    match admin.store.release(id, crate::core::ids::now()).await {
        Ok(Release::Released { message_id }) => {
            tracing::info!(id, %message_id, "held message released to delivery");
            Json(serde_json::json!({ "released": message_id })).into_response()
        }
        Ok(Release::NotFound) => not_found(),
        Ok(Release::NotQuarantined) => {
            (StatusCode::CONFLICT, "an archive copy is not released; it can only be deleted\n").into_response()
        }
        Ok(Release::AlreadyStored) => {
            (StatusCode::CONFLICT, "a message with this Message-ID is stored already\n").into_response()
        }
        Err(e) => unavailable(&e),
    }
}

/// `DELETE /protection/held/{id}`: 204 once it is gone.
async fn delete(State(admin): State<Admin>, Path(id): Path<i64>) -> Response {
    match admin.store.delete_held(id).await {
        Ok(true) => {
            tracing::info!(id, "held message deleted");
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => not_found(),
        Err(e) => unavailable(&e),
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use metrics_exporter_prometheus::PrometheusBuilder;
    use tower::ServiceExt;

    use super::super::{Access, router, token};
    use super::*;
    use crate::push::smpp::LinkStates;
    use crate::store::samples::{LOCAL, NOW, PEER, SENDER, message, reason, scratch};
    use crate::store::{Change, Held, Store};

    const TOKEN: &str = "s3cret";

    /// The answer to `method path`, with the bearer token when `authorised`: status, content
    /// type, body.
    async fn call(app: &Router, method: &str, path: &str, authorised: bool) -> (StatusCode, String, Vec<u8>) {
        let mut request = Request::builder().method(method).uri(path);
        if authorised {
            request = request.header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
        }
        let response = app.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
        let status = response.status();
        let content_type =
            response.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, content_type, body.to_vec())
    }

    /// The ids and Message-IDs of a listing.
    fn listed(body: &[u8]) -> Vec<(i64, String)> {
        let values: Vec<serde_json::Value> = serde_json::from_slice(body).unwrap();
        values.iter().map(|v| (v["id"].as_i64().unwrap(), v["message_id"].as_str().unwrap().to_owned())).collect()
    }

    fn ids(body: &[u8]) -> Vec<i64> {
        listed(body).into_iter().map(|(id, _)| id).collect()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn held_messages_are_listed_read_released_and_deleted_with_the_token() {
        let dir = scratch("admin-held");
        let (store, _handle) = Store::open(&dir, 16).await.unwrap();
        let hold = |id: &str, body: &[u8], kind| Change::Hold {
            message: Box::new(message(id, body)),
            kind,
            reason: reason(),
            now: NOW,
        };
        let changes = vec![
            hold("q1", b"quarantined body", HoldKind::Quarantine),
            hold("a1", b"archived body", HoldKind::Archive),
            hold("q2", b"stored twice", HoldKind::Quarantine),
            Change::Accept(Box::new(message("q2", b"stored twice"))),
        ];
        assert_eq!(store.apply(changes).await.unwrap(), [true, true, true, true]);
        let app = router(Admin {
            metrics: PrometheusBuilder::new().build_recorder().handle(),
            store,
            links: LinkStates::default(),
            access: Access::new(&token::hash_hex(TOKEN.as_bytes()), "127.0.0.1:8003".parse().unwrap()).unwrap(),
        });

        for (method, path) in [
            ("GET", "/protection/held"),
            ("GET", "/protection/held/1/body"),
            ("POST", "/protection/held/1/release"),
            ("DELETE", "/protection/held/1"),
        ] {
            assert_eq!(call(&app, method, path, false).await.0, StatusCode::UNAUTHORIZED, "{method} {path}");
        }

        let (status, content_type, body) = call(&app, "GET", "/protection/held", true).await;
        assert_eq!((status, content_type.as_str()), (StatusCode::OK, "application/json"));
        let all = listed(&body);
        assert_eq!(all.iter().map(|(_, m)| m.as_str()).collect::<Vec<_>>(), ["q1", "a1", "q2"]);
        let [q1, a1, q2] = [all[0].0, all[1].0, all[2].0];
        let first = Held {
            id: q1,
            kind: HoldKind::Quarantine,
            message_id: "q1".into(),
            sender: SENDER.into(),
            recipients: vec![LOCAL.into(), PEER.into()],
            subject: Some("offer".into()),
            size: 16,
            reason: reason(),
            at: NOW,
        };
        let values: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap();
        assert_eq!(values[0], serde_json::to_value(first).unwrap());
        assert_eq!(values[0]["kind"], "quarantine");
        assert_eq!(values[0]["reason"]["check"], "virus");
        let (_, _, archived) = call(&app, "GET", "/protection/held?kind=archive", true).await;
        assert_eq!(ids(&archived), [a1]);
        let (_, _, page) = call(&app, "GET", &format!("/protection/held?after={q1}&limit=1"), true).await;
        assert_eq!(ids(&page), [a1]);
        assert_eq!(call(&app, "GET", "/protection/held?kind=spam", true).await.0, StatusCode::BAD_REQUEST);

        let (status, content_type, body) = call(&app, "GET", &format!("/protection/held/{q1}/body"), true).await;
        assert_eq!((status, content_type.as_str()), (StatusCode::OK, "application/vnd.wap.mms-message"));
        assert_eq!(body, b"quarantined body");
        assert_eq!(call(&app, "GET", "/protection/held/999/body", true).await.0, StatusCode::NOT_FOUND);
        assert_eq!(call(&app, "GET", "/protection/held/x/body", true).await.0, StatusCode::BAD_REQUEST);

        let release = |id: i64| format!("/protection/held/{id}/release");
        assert_eq!(call(&app, "POST", &release(a1), true).await.0, StatusCode::CONFLICT, "an archive copy");
        assert_eq!(call(&app, "POST", &release(q2), true).await.0, StatusCode::CONFLICT, "a Message-ID stored");
        let (status, _, answer) = call(&app, "POST", &release(q1), true).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&answer).unwrap(),
            serde_json::json!({"released": "q1"})
        );
        assert_eq!(call(&app, "POST", &release(q1), true).await.0, StatusCode::NOT_FOUND, "released once");

        let delete = |id: i64| format!("/protection/held/{id}");
        assert_eq!(call(&app, "DELETE", &delete(a1), true).await.0, StatusCode::NO_CONTENT);
        assert_eq!(call(&app, "DELETE", &delete(a1), true).await.0, StatusCode::NOT_FOUND);
        let (_, _, left) = call(&app, "GET", "/protection/held", true).await;
        assert_eq!(ids(&left), [q2]);
    }
}
