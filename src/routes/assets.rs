//! `GET /static/{file}`: the stylesheet and images, compiled into the binary so
//! the app works offline and from any working directory.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use crate::error::AppError;

const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "style.css",
        "text/css; charset=utf-8",
        include_bytes!("../../static/style.css"),
    ),
    (
        "logo.svg",
        "image/svg+xml",
        include_bytes!("../../static/logo.svg"),
    ),
];

pub async fn serve_asset(file: web::Path<String>) -> Result<HttpResponse, AppError> {
    let (_, content_type, bytes) = ASSETS
        .iter()
        .find(|(name, _, _)| *name == file.as_str())
        .ok_or(AppError::NotFound)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, *content_type))
        // Public and cacheable, unlike pages (which default to no-store).
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(*bytes))
}
