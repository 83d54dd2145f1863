//! Providers described as data: who they are, where their endpoints are, which
//! scopes we ask for, and which API serves profile and mail.
//!
//! The sign-in flow (`oauth`) and the API clients (`api`) read these descriptions
//! and never branch on a provider's name. Adding a provider means one new file here
//! that builds a [`Provider`] from configuration. Nothing in this module knows about
//! HTTP requests or sessions.

pub mod demo;

use secrecy::SecretString;
use url::Url;

use crate::config::Config;

/// One configured provider.
#[derive(Debug, Clone)]
pub struct Provider {
    /// Stable id used in routes (`/auth/{id}/login`) and stored with identities.
    pub id: &'static str,
    /// Shown on buttons: "Sign in with {display_name}".
    pub display_name: String,
    /// Step 1 of the flow: what registering the app at the provider gave us
    /// (RFC 6749 §2.2 client identifier, §2.3.1 client password).
    pub client_id: String,
    pub client_secret: SecretString,
    /// Our callback, exactly as registered at the provider (RFC 6749 §3.1.2).
    pub redirect_uri: Url,
    /// How to find the provider's endpoints.
    pub endpoints: Endpoints,
    /// Scopes requested at the authorization endpoint (RFC 6749 §3.3).
    pub scopes: Vec<String>,
    /// Which API answers profile and mail requests (step 7).
    pub api: ApiKind,
}

/// Where a provider's endpoints come from.
#[derive(Debug, Clone)]
pub enum Endpoints {
    /// An OpenID Connect issuer: endpoints and signing keys from
    /// `{issuer}/.well-known/openid-configuration` (OpenID Connect Discovery 1.0).
    OpenIdConnect { issuer: Url },
}

/// The provider's resource API, used after sign-in (step 7).
#[derive(Debug, Clone)]
pub enum ApiKind {
    /// Microsoft Graph v1.0 (`/v1.0/me`, `/v1.0/me/messages`) at this base URL.
    /// The demo provider speaks the same API.
    MicrosoftGraph { base_url: Url },
}

/// All configured providers, in the order they are offered.
#[derive(Debug, Clone, Default)]
pub struct Providers {
    list: Vec<Provider>,
}

impl Providers {
    /// Builds the provider list from configuration: a provider appears only when
    /// it is configured.
    pub fn from_config(config: &Config) -> Self {
        let list = config
            .demo
            .as_ref()
            .map(|demo| demo::provider(demo, config.redirect_uri(demo::ID)))
            .into_iter()
            .collect();
        Providers { list }
    }

    /// Adds a provider (tests add fakes; ids must be unique).
    pub fn add(&mut self, provider: Provider) {
        self.list.retain(|existing| existing.id != provider.id);
        self.list.push(provider);
    }

    pub fn get(&self, id: &str) -> Option<&Provider> {
        self.list.iter().find(|provider| provider.id == id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Provider> {
        self.list.iter()
    }
}
