//! The home page (step 2: "Do you want to sign in via a third party?") and the
//! guest landing page for "Not now".

use actix_web::{HttpResponse, web};
use serde::Serialize;

use super::Visitor;
use crate::error::AppError;
use crate::startup::AppState;
use crate::teaching::{STEPS, Step};
use crate::views::{ProviderButton, sign_in_link};

#[derive(Serialize)]
struct HomePage {
    providers: Vec<ProviderButton>,
    steps: &'static [Step],
}

/// Buttons for every configured provider, each coming back to `return_to`.
pub(super) fn provider_buttons(state: &AppState, return_to: &str) -> Vec<ProviderButton> {
    state
        .providers
        .iter()
        .map(|provider| ProviderButton {
            id: provider.id.to_owned(),
            name: provider.display_name.clone(),
            href: sign_in_link(provider.id, return_to),
        })
        .collect()
}

/// `GET /`
pub async fn show_home(
    state: web::Data<AppState>,
    visitor: Visitor,
) -> Result<HttpResponse, AppError> {
    let page = HomePage {
        providers: provider_buttons(&state, "/profile"),
        steps: &STEPS,
    };
    visitor.render(&state, "home.html", &page)
}

/// `GET /guest`: the visitor chose "Not now".
pub async fn show_guest(
    state: web::Data<AppState>,
    visitor: Visitor,
) -> Result<HttpResponse, AppError> {
    visitor.render(&state, "guest.html", &())
}
