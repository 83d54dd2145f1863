//! The signed-in person's mail from the provider's API (step 7): the list,
//! one message, and the mail permission, asked for only when it is needed
//! (incremental consent). Sign-in asks for no mail scope, so `/mail` first
//! checks the scopes granted to the identity and, without the mail ones,
//! shows the permission page, whose button (`POST /mail/permission`) runs the
//! authorization flow again for the added scopes and comes back to `/mail`.

use std::time::Instant;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::api::{MailPage, Message};
use crate::app::AppState;
use crate::db::accounts::{self, AccountIds};
use crate::error::AppError;
use crate::oauth::outcome::Intent;
use crate::views::see_other;
use crate::web::api_access::{
    api_error, mail_access, note_first_api_call, own_mailbox, signed_in_with,
};
use crate::web::{CsrfForm, Visitor, asking_provider, authorization_request};

#[derive(Deserialize)]
pub struct MailQuery {
    /// Where the page starts, as the API's previous page said; absent for the
    /// newest messages.
    cursor: Option<String>,
    /// `permission=not-granted`: the callback of a request for the mail
    /// permission came back without it (see `views::MAIL_NOT_ALLOWED_PATH`).
    permission: Option<String>,
    /// `account={identity_id}`: which linked mailbox to read (`mail_access`).
    account: Option<i64>,
}

/// `GET /mail/{id}?account=…`: the mailbox the list was read from.
#[derive(Deserialize)]
pub struct AccountQuery {
    account: Option<i64>,
}

/// One of the user's mailboxes, for the chooser on `/mail`.
#[derive(Serialize)]
struct Mailbox {
    identity_id: i64,
    provider_name: String,
    display_name: String,
    chosen: bool,
}

#[derive(Serialize)]
struct MailPermissionPage<'a> {
    provider_name: &'a str,
    /// The scopes that will be asked for.
    scopes: &'a [String],
    /// The last request came back without the permission.
    not_granted: bool,
    /// A linked mailbox chosen with `?account=`, whose account is asked
    /// (the form carries it).
    account: Option<i64>,
}

#[derive(Serialize)]
struct MailListPage {
    /// `None` when the provider has no mail API (the page says so).
    mail: Option<MailPage>,
    provider_name: String,
    is_first_page: bool,
    /// The explicit choice, carried in every link of the page.
    account: Option<i64>,
    /// Every linked account with a mail API; the chooser shows when there
    /// are several.
    mailboxes: Vec<Mailbox>,
}

/// `GET /mail?cursor=…`
pub async fn show_mail(
    state: web::Data<AppState>,
    visitor: Visitor,
    query: web::Query<MailQuery>,
) -> Result<HttpResponse, AppError> {
    let mut access = mail_access(&state, &visitor, query.account).await?;
    let provider = access.provider;
    if provider.mail_api.is_some()
        && !provider
            .missing_mail_scopes(&access.usable.tokens.scopes)
            .is_empty()
    {
        // Not asked for at sign-in, or not granted: ask now, saying why.
        let page = MailPermissionPage {
            provider_name: &provider.display_name,
            scopes: &provider.mail_scopes,
            not_granted: query.permission.as_deref() == Some("not-granted"),
            account: query.account,
        };
        return visitor.render(&state, "mail_permission.html", &page);
    }
    let cursor = query.cursor.as_deref();
    let mail = match provider.mail_api {
        None => None,
        Some(_) => loop {
            let started = Instant::now();
            let (mail, description) = {
                let client = access.client(&state.http);
                (client.mail_page(cursor).await, client.describe_mail_call())
            };
            if access.refreshed_after(&state, &visitor, &mail).await? {
                continue;
            }
            note_first_api_call(&state, &visitor, description, &mail, started).await;
            break Some(mail.map_err(|error| api_error(&visitor, &access, error))?);
        },
    };
    let user = visitor.require_user()?;
    let (user_id, reading) = (user.user_id, access.usable.account.identity_id);
    let mailboxes = state
        .db()
        .run(move |connection, _| accounts::identities_of(connection, user_id))
        .await?
        .into_iter()
        .filter_map(|identity| {
            let provider = state.providers.get(&identity.provider)?;
            provider.mail_api.as_ref()?;
            Some(Mailbox {
                chosen: identity.identity_id == reading,
                identity_id: identity.identity_id,
                provider_name: provider.display_name.clone(),
                display_name: identity.display_name,
            })
        })
        .collect();
    let page = MailListPage {
        mail,
        provider_name: provider.display_name.clone(),
        is_first_page: cursor.is_none(),
        account: query.account,
        mailboxes,
    };
    visitor.render(&state, "mail.html", &page)
}

#[derive(Serialize)]
struct MessagePage {
    message: Message,
    /// The mailbox chosen on `/mail`, carried back to it.
    account: Option<i64>,
}

/// Message ids are opaque to us, but none is this long.
const MAX_MESSAGE_ID_LEN: usize = 512;

/// `GET /mail/{id}`
pub async fn show_message(
    state: web::Data<AppState>,
    visitor: Visitor,
    id: web::Path<String>,
    query: web::Query<AccountQuery>,
) -> Result<HttpResponse, AppError> {
    if id.is_empty() || id.len() > MAX_MESSAGE_ID_LEN {
        return Err(AppError::NotFound);
    }
    let mut access = mail_access(&state, &visitor, query.account).await?;
    let provider = access.provider;
    if !provider
        .missing_mail_scopes(&access.usable.tokens.scopes)
        .is_empty()
    {
        // Without the mail permission, /mail asks for it.
        return Ok(see_other(&match query.account {
            Some(account) => format!("/mail?account={account}"),
            None => "/mail".to_owned(),
        }));
    }
    let message = loop {
        let message = access.client(&state.http).message(&id).await;
        if !access.refreshed_after(&state, &visitor, &message).await? {
            break message.map_err(|error| api_error(&visitor, &access, error))?;
        }
    };
    let page = MessagePage {
        message,
        account: query.account,
    };
    visitor.render(&state, "message.html", &page)
}

/// `POST /mail/permission` (the permission page's button, with the CSRF
/// token): asks the provider for the mail scopes for the signed-in identity,
/// or for the linked one chosen on `/mail` (`account`, one of the user's
/// own), with the same state, PKCE and nonce as a sign-in (incremental
/// consent). The answer comes back to the callback, which stores the new
/// grant for that identity only if the provider answered for that same
/// account, and then to `/mail` (with the same choice).
///
/// The answer is a page that sends the browser on (`<meta http-equiv=
/// "refresh">` and a link), not a 303: our Content-Security-Policy says
/// `form-action 'self'`, which browsers apply to the redirects after a form's
/// POST, so a 303 to the provider would be blocked (as at sign-out).
pub async fn ask_mail_permission(
    state: web::Data<AppState>,
    request: actix_web::HttpRequest,
    visitor: Visitor,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, AppError> {
    let user = visitor.require_user_with_csrf(&form.csrf_token)?;
    let (provider, identity_id, return_to) =
        match form.account.filter(|chosen| *chosen != user.identity_id) {
            Some(chosen) => (
                own_mailbox(&state, user.user_id, chosen).await?,
                chosen,
                format!("/mail?account={chosen}"),
            ),
            None => {
                let (_, provider) = signed_in_with(&state, &visitor)?;
                if provider.mail_api.is_none() {
                    return Err(AppError::NotFound);
                }
                (provider, user.identity_id, "/mail".to_owned())
            }
        };
    let ids = AccountIds {
        user_id: user.user_id,
        identity_id,
    };
    let authorization_url = authorization_request(
        &state,
        &request,
        &visitor,
        provider,
        &return_to,
        Intent::add_mail(ids),
    )
    .await?;
    asking_provider(
        &state,
        &visitor,
        provider,
        format!("Asking {} for the permission", provider.display_name),
        &authorization_url,
    )
}
