//! Operations: health, readiness, metrics, the OpenAPI document.

pub mod health;
pub mod metrics;
pub mod openapi;
