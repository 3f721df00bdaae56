//! Environment files: model, loading, layering, schema and validation.

pub mod load;
pub mod merge;
pub mod model;
pub mod resolve;
pub mod schema;
pub mod select;
pub mod validate;
