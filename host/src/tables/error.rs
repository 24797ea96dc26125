//! Errors of the table writers.

use thiserror::Error;

/// The underlying error of a failure whose cause may be any of several libraries' errors (URL
/// parsing, the file system, an object store).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Error)]
pub enum TableError {
    #[error("table {table}: {source}")]
    Delta {
        table: String,
        #[source]
        source: Box<deltalake::DeltaTableError>,
    },

    #[error("table {table}: bad location `{location}`: {source}")]
    Location {
        table: String,
        location: String,
        #[source]
        source: BoxError,
    },

    #[error("table {table} (iceberg): {source}")]
    Iceberg {
        table: String,
        #[source]
        source: Box<iceberg::Error>,
    },

    #[error("iceberg catalog `{uri}`: {source}")]
    Catalog {
        uri: String,
        #[source]
        source: Box<iceberg::Error>,
    },

    #[error("no Iceberg catalog: set tables.iceberg.uri")]
    NoCatalog,

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

    /// Table upkeep could not finish (it changed nothing it did not commit).
    #[error("table {table}: upkeep: {message}")]
    Upkeep { table: String, message: String },

    /// A table was handed data files another format's table wrote (a bug in the caller).
    #[error("table {table}: handed data files written for another table format")]
    ForeignFiles { table: String },

    /// The quarantine's dead-letter topic could not take its records, or its cursor could not
    /// be read or moved (`crate::dead_letter`).
    #[error("dead-letter topic {topic}: {source}")]
    DeadLetter {
        topic: String,
        #[source]
        source: BoxError,
    },

    /// The declared columns or the rows do not fit the table: a declaration change Weir cannot
    /// apply, or rows the format's writer or Arrow could not fit to the table's schema.
    #[error("table {table}: the data does not fit the table's schema: {source}")]
    Schema {
        table: String,
        #[source]
        source: BoxError,
    },
}
