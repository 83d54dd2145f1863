//! Diesel table definitions, written by hand to match `migrations/` with
//! portable types (BigInt, Text, Binary), so a second backend can share them.

diesel::table! {
    users (id) {
        id -> BigInt,
        display_name -> Text,
        email -> Nullable<Text>,
        created_at -> BigInt,
        last_sign_in_at -> BigInt,
    }
}

diesel::table! {
    identities (id) {
        id -> BigInt,
        user_id -> BigInt,
        provider -> Text,
        issuer -> Text,
        subject -> Text,
        email -> Nullable<Text>,
        display_name -> Text,
        created_at -> BigInt,
        last_sign_in_at -> BigInt,
    }
}

diesel::table! {
    provider_tokens (identity_id) {
        identity_id -> BigInt,
        access_token -> Binary,
        refresh_token -> Nullable<Binary>,
        access_token_expires_at -> Nullable<BigInt>,
        scopes -> Text,
        updated_at -> BigInt,
        id_token -> Nullable<Binary>,
        generation -> BigInt,
        refresh_lease_until -> Nullable<BigInt>,
    }
}

diesel::table! {
    sessions (id_hash) {
        id_hash -> Text,
        user_id -> BigInt,
        identity_id -> BigInt,
        created_at -> BigInt,
        last_seen_at -> BigInt,
        handle -> Text,
        browser -> Nullable<Text>,
    }
}

diesel::table! {
    pending_sign_ins (state_hash) {
        state_hash -> Text,
        browser_hash -> Text,
        provider -> Text,
        pkce_verifier -> Binary,
        nonce -> Text,
        return_to -> Text,
        created_at -> BigInt,
        purpose -> Text,
        for_user_id -> Nullable<BigInt>,
        for_identity_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    sign_in_attempts (id) {
        id -> BigInt,
        state_hash -> Text,
        browser_hash -> Text,
        user_id -> Nullable<BigInt>,
        provider -> Text,
        started_at -> BigInt,
        outcome -> Text,
        steps -> Text,
    }
}

diesel::joinable!(identities -> users (user_id));
diesel::joinable!(provider_tokens -> identities (identity_id));
diesel::joinable!(sign_in_attempts -> users (user_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(sessions -> identities (identity_id));
diesel::allow_tables_to_appear_in_same_query!(
    users,
    identities,
    provider_tokens,
    pending_sign_ins,
    sign_in_attempts,
    sessions
);
