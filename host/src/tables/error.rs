//! Errors of the table writers.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum TableError {
    #[error("table {table}: {source}")]
    Delta {
        table: String,
        #[source]
        source: Box<deltalake::DeltaTableError>,
    },

    #[error("table {table}: bad location `{location}`: {message}")]
    Location {
        table: String,
        location: String,
        message: String,
    },

    #[error("table {table} (iceberg): {source}")]
    Iceberg {
        table: String,
        #[source]
        source: Box<iceberg::Error>,
    },

    #[error("iceberg catalog `{uri}`: {message}")]
    Catalog { uri: String, message: String },

    #[error("table {table}: commit refused, another writer committed the same offsets: {message}")]
    Conflict { table: String, message: String },

    #[error(
        "table {table}: refusing to move {id} back from offset {held} to {next}: rows it holds would be written again"
    )]
    OffsetBackwards {
        table: String,
        id: String,
        held: i64,
        next: i64,
    },

    #[error("table {table}: the data does not fit the table's schema: {message}")]
    Schema { table: String, message: String },
}
