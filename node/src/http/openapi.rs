//! The OpenAPI 3.1 description of the REST API, served at `/openapi.json` and checked in as
//! `docs/openapi.json`. Each documented handler carries its own `#[utoipa::path]` and is
//! registered through `utoipa_axum::routes!`, so a route and its description are one thing.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::ErrorResponse;

/// The two ways a caller proves who it is.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |description: &str| {
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some(description)).build(),
            )
        };
        components.add_security_scheme("user", bearer("A user's access token (a JWT from /auth/*)."));
        components.add_security_scheme("api_key", bearer("An API key, `ck_...` (POST /admin/api-keys)."));
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "chat cluster",
        description = "The REST API of the chat cluster. The contract in prose, with the WebSocket \
                       protocol and every guarantee, is docs/API.md."
    ),
    modifiers(&SecuritySchemes),
    components(schemas(ErrorResponse))
)]
pub struct ApiDoc;
