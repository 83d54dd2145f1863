//! The home page (step 2: "Do you want to sign in via a third party?") and the
//! guest landing page for "Not now".

use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::app::AppState;
use crate::error::AppError;
#[cfg(feature = "teaching")]
use crate::teaching::steps::{STEPS, Step};
use crate::views::{ProviderButton, provider_buttons};
use crate::web::Visitor;

#[derive(Serialize)]
struct HomePage {
    providers: Vec<ProviderButton>,
    /// The seven steps, each linking to `/learn` (the teaching layer's).
    #[cfg(feature = "teaching")]
    steps: &'static [Step],
}

/// `GET /`
pub async fn show_home(
    state: web::Data<AppState>,
    visitor: Visitor,
) -> Result<HttpResponse, AppError> {
    let page = HomePage {
        providers: provider_buttons(&state.providers, "/profile"),
        #[cfg(feature = "teaching")]
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
