//! OpenID Connect with the `openidconnect` crate, the provider side of steps
//! 3, 5 and 6: the authorization URL, the token request (the code, or a
//! refresh token), and handing its ID token to `id_token` for validation.
//! Discovery (`discovery`) tells where the endpoints are.

use std::time::Duration;

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreClientAuthMethod,
    CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm,
    CoreProviderMetadata, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse,
};
use openidconnect::{
    AuthType, AuthorizationCode, Client, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    StandardErrorResponse, TokenResponse as _,
};
use secrecy::{ExposeSecret as _, SecretString};
use url::Url;

use super::SignInError;
use super::discovery::{DiscoveryCache, Issuer};
use super::id_token::{OidcTokenResponse, ProviderClaims, validate_id_token};
use super::token::{Observed, TokenExchange, TokenTrace, provider_tokens, send_observed};
use crate::providers::{ClientAuth, IssuerCheck, Prompt, Provider};

/// A client built from discovery: the authorization endpoint is known; the
/// token and userinfo endpoints are present only if the document lists them.
type DiscoveredClient = Client<
    ProviderClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    OidcTokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

pub(super) fn client(provider: &Provider, metadata: &CoreProviderMetadata) -> DiscoveredClient {
    let redirect_url = RedirectUrl::from_url(provider.redirect_uri.clone());
    // HTTP Basic unless the provider says it only takes the secret in the body
    // (Discovery 1.0 §3 `token_endpoint_auth_methods_supported`).
    let only_post = metadata
        .token_endpoint_auth_methods_supported()
        .is_some_and(|methods| {
            !methods.contains(&CoreClientAuthMethod::ClientSecretBasic)
                && methods.contains(&CoreClientAuthMethod::ClientSecretPost)
        });
    let auth_type = if provider.client_auth == ClientAuth::RequestBody || only_post {
        AuthType::RequestBody
    } else {
        AuthType::BasicAuth
    };
    Client::from_provider_metadata(
        metadata.clone(),
        ClientId::new(provider.client_id.clone()),
        Some(ClientSecret::new(
            provider.client_secret.expose_secret().to_owned(),
        )),
    )
    .set_auth_type(auth_type)
    // Step 3 carries this exact URI, and step 5 repeats it (RFC 6749 §4.1.3).
    .set_redirect_uri(redirect_url)
}

/// Step 3: the URL of the provider's authorization endpoint with every parameter
/// of RFC 6749 §4.1.1, RFC 7636 §4.3 (S256 challenge) and OIDC Core §3.1.2.1
/// (nonce; `prompt` and `max_age` when the request asks for them).
pub fn authorization_url(
    provider: &Provider,
    metadata: &CoreProviderMetadata,
    state: &str,
    nonce: &str,
    pkce_challenge: PkceCodeChallenge,
    (prompt, max_age): (Option<Prompt>, Option<Duration>),
) -> Url {
    let client = client(provider, metadata);
    let state = state.to_owned();
    let nonce = nonce.to_owned();
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            move || CsrfToken::new(state),
            move || Nonce::new(nonce),
        )
        .set_pkce_challenge(pkce_challenge);
    for scope in provider.scopes.iter().filter(|scope| *scope != "openid") {
        // The crate adds `openid` itself.
        request = request.add_scope(Scope::new(scope.clone()));
    }
    for (name, value) in &provider.extra_authorization_params {
        request = request.add_extra_param(*name, *value);
    }
    if let Some(prompt) = prompt {
        request = request.add_prompt(match prompt {
            Prompt::Consent => CoreAuthPrompt::Consent,
            Prompt::Login => CoreAuthPrompt::Login,
            Prompt::SelectAccount => CoreAuthPrompt::SelectAccount,
        });
    }
    if let Some(max_age) = max_age {
        // The ID token must then carry `auth_time` (OIDC Core §3.1.2.1),
        // which `step_up` checks.
        request = request.set_max_age(max_age);
    }
    let (url, _state, _nonce) = request.url();
    url
}

/// What the code exchange needs from step 4 and from the pending sign-in.
#[derive(Clone, Copy)]
pub struct CodeGrant<'a> {
    pub code: &'a str,
    pub pkce_verifier: &'a SecretString,
    pub nonce: &'a str,
}

/// Steps 5 and 6: exchange the code at the token endpoint (with the PKCE
/// verifier and client authentication), then validate the ID token.
pub async fn exchange_code(
    provider: &Provider,
    cache: &DiscoveryCache,
    http: &reqwest::Client,
    grant: CodeGrant<'_>,
    trace: &mut TokenTrace,
) -> Result<TokenExchange, SignInError> {
    let CodeGrant {
        code,
        pkce_verifier,
        nonce,
    } = grant;
    let discovered = cache.metadata(provider, http, false).await?;
    let check = Issuer::of(provider).map_or(IssuerCheck::Exact, |issuer| issuer.check);
    let metadata = &discovered.metadata;
    let client = client(provider, metadata);
    trace.token_endpoint = metadata.token_endpoint().map(|url| url.url().clone());
    trace.client_auth = client_auth_name(&client);

    // Step 5: POST to the token endpoint (RFC 6749 §4.1.3, RFC 7636 §4.5).
    let observed = Observed::default();
    let send = |request| send_observed(http, request, &observed);
    let response = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .map_err(|error| SignInError::ProviderUnavailable {
            detail: format!("the provider has no token endpoint: {error}"),
        })?
        .set_pkce_verifier(PkceCodeVerifier::new(
            pkce_verifier.expose_secret().to_owned(),
        ))
        .request_async(&send)
        .await;
    let response: OidcTokenResponse = observed.finish(response, trace)?;

    // Step 6: we have the access token. Before trusting who it is for, validate
    // the ID token (OpenID Connect Core §3.1.3.7).
    let validate = |metadata: &CoreProviderMetadata| {
        let client = self::client(provider, metadata);
        let document_issuer = metadata.issuer().as_str();
        validate_id_token(
            provider,
            client.id_token_verifier(),
            check,
            document_issuer,
            &response,
            Some(nonce),
        )
    };
    let valid = match validate(metadata) {
        Err(SignInError::InvalidIdToken { reason }) if reason.contains("No matching key") => {
            // The provider may have rotated its keys since we cached them.
            let discovered = cache.metadata(provider, http, true).await?;
            validate(&discovered.metadata)?
        }
        other => other?,
    };
    trace.id_token_claims = valid.shown;

    let mut tokens = provider_tokens(provider, &response);
    // Kept (sealed) for `id_token_hint` at sign-out and to compare a
    // refreshed ID token with (OIDC Core §12.2).
    tokens.id_token = response
        .id_token()
        .map(|id_token| SecretString::from(id_token.to_string()));
    Ok(TokenExchange {
        issuer: valid.issuer,
        identity: valid.identity,
        tokens,
    })
}

/// How the client authenticates at the token endpoint, for `/flow`.
pub(super) fn client_auth_name(client: &DiscoveredClient) -> &'static str {
    match client.auth_type() {
        AuthType::RequestBody => "form body (client_secret_post)",
        _ => "HTTP Basic (client_secret_basic)",
    }
}
