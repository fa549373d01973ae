use std::path::PathBuf;

/// Why a file could not be read or written. Every variant names the file; feature errors name
/// the feature by its 0-based index in the file and, when it has one, its id.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("cannot access {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: the file is empty")]
    Empty { path: PathBuf },
    #[error("{path}: unknown format (expected .geojson, .json or .fgb)")]
    UnknownFormat { path: PathBuf },
    #[error("{path}: not valid GeoJSON: {message}")]
    Json { path: PathBuf, message: String },
    #[error("{path}: not a readable FlatGeobuf file: {message}")]
    Fgb { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Gdal { path: PathBuf, message: String },
    #[error("{path}: feature {index}{}: {message}", id.as_ref().map(|i| format!(" (id {i})")).unwrap_or_default())]
    Feature {
        path: PathBuf,
        index: usize,
        id: Option<String>,
        message: String,
    },
}

impl Error {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
