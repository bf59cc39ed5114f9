//! REST routes, and the layers every request passes through.

mod admin;
mod api_keys;
mod auth;
mod client_ip;
mod directory;
pub mod extract;
mod fields;
mod message_changes;
mod messages;
mod metrics;
mod moderation;
mod openapi;
mod ops;
mod reactions;
mod request_limits;
mod room_settings;
mod rooms;
mod server_api;
mod threads;
mod users;
mod web;
mod webhooks;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, Request, header};
use axum::routing::get;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::NodeConfig;
use crate::state::AppState;

// The JSON bodies the routes take: each is read by `extract::parse_json`, then turned into what
// its use case takes, every bad field named, before anything runs.
pub use auth::{LoginRequest, RefreshRequest, RegisterRequest};
pub use message_changes::EditRequest;
pub use messages::SendRequest;
pub use rooms::{AddMemberRequest, CreateRoomRequest, ReadRequest};
pub use users::{ChangePasswordRequest, UpdateMeRequest};
pub use webhooks::CreateWebhookRequest;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The REST API's routes and its OpenAPI description: a described handler is registered with
/// `routes!`, which adds it to the description at the same time.
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(auth::register))
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(directory::search))
        .routes(routes!(users::me, users::update_me))
        .routes(routes!(users::change_password))
        .routes(routes!(users::get))
        .routes(routes!(admin::audit))
        .routes(routes!(admin::users))
        .routes(routes!(admin::disable))
        .routes(routes!(admin::enable))
        .routes(routes!(admin::delete_messages))
        .routes(routes!(api_keys::create, api_keys::list))
        .routes(routes!(api_keys::revoke))
        .routes(routes!(webhooks::create, webhooks::list))
        .routes(routes!(webhooks::delete))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(server_api::send_as_system))
        .routes(routes!(server_api::create_room))
        .routes(routes!(server_api::send))
        .routes(routes!(server_api::add_member))
        .routes(routes!(server_api::presence))
        .routes(routes!(rooms::create, rooms::list_mine))
        .routes(routes!(rooms::get, room_settings::update))
        .routes(routes!(rooms::members, rooms::add_member))
        .routes(routes!(rooms::remove_member, moderation::change_role))
        .routes(routes!(rooms::mark_read))
        .routes(routes!(moderation::bans, moderation::ban))
        .routes(routes!(moderation::unban))
        .routes(routes!(moderation::mute, moderation::unmute))
        .routes(routes!(rooms::presence))
        .routes(routes!(messages::history, messages::send))
        .routes(routes!(message_changes::edit, message_changes::delete))
        .routes(routes!(reactions::add, reactions::remove))
        .routes(routes!(threads::thread))
}

/// The REST routes and their finished OpenAPI document.
fn described_api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (api, mut document) = api_routes().split_for_parts();
    openapi::refine(&mut document);
    (api, document)
}

/// The OpenAPI document of the REST API, as `/openapi.json` serves it.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    described_api().1
}

pub fn router(state: AppState, config: &NodeConfig) -> Router {
    let (api, document) = described_api();
    let document = axum::Json(document);
    let api = api
        .route("/openapi.json", get(move || std::future::ready(document.clone())))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            request_limits::RequestLimits {
                max_body_bytes: config.max_body_bytes,
                timeout: config.request_timeout,
            },
            request_limits::enforce,
        ));

    // Metrics stay on the public address only when no address of their own is configured.
    let ops = match config.metrics_listen {
        Some(_) => Router::new(),
        None => Router::new().route("/metrics", get(ops::metrics)),
    };
    Router::new()
        .merge(api)
        .merge(ops)
        .merge(web::routes())
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/ws", get(crate::ws::upgrade))
        .route_service("/socket.io/", crate::socketio::service(state.clone()))
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(axum::middleware::from_fn(metrics::record))
        .layer(cors(&config.cors_origins))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let request_id = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %request.method(), uri = %request.uri().path(), request_id)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}

/// `/metrics` alone, for `--metrics-listen`.
pub fn metrics_router(state: AppState) -> Router {
    Router::new().route("/metrics", get(ops::metrics)).fallback(ops::not_found).with_state(state)
}

fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<&str> = origins.iter().map(|s| s.trim()).filter(|s| !s.is_empty()).collect();
    let allow = if origins.contains(&"*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([REQUEST_ID, header::RETRY_AFTER])
        .max_age(Duration::from_secs(600))
}
