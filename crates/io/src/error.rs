use std::path::PathBuf;

/// Why a file could not be read or written. Every variant names the file; feature errors name
/// the feature by its 0-based index in the file and, when it has one, its id.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file cannot be opened, read or written (missing, no permission, disk full…).
    #[error("cannot access {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The file holds nothing (no bytes, only whitespace, or no layer).
    #[error("{path}: the file is empty")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The extension is none of those read natively (`.geojson`, `.json`, `.fgb`).
    #[error("{path}: unknown format (expected .geojson, .json or .fgb)")]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// The file is not valid GeoJSON.
    #[error("{path}: not valid GeoJSON: {message}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's reason.
        message: String,
    },
    /// The file is not a FlatGeobuf file gridmap can read (bad magic bytes, header or index).
    #[error("{path}: not a readable FlatGeobuf file: {message}")]
    Fgb {
        /// The file.
        path: PathBuf,
        /// The decoder's reason.
        message: String,
    },
    /// GDAL/OGR could not open or read the file, or its layer is unusable (formats read
    /// through GDAL).
    #[error("{path}: {message}")]
    Gdal {
        /// The file.
        path: PathBuf,
        /// GDAL's message, or what gridmap found wrong with the layer.
        message: String,
    },
    /// One feature is unusable (wrong geometry type, coordinates out of lon/lat range, a
    /// missing or duplicate id, a bad attribute…).
    #[error("{path}: feature {index}{}: {message}", id.as_ref().map(|i| format!(" (id {i})")).unwrap_or_default())]
    Feature {
        /// The file.
        path: PathBuf,
        /// The feature's 0-based index in the file.
        index: usize,
        /// Its id, when it has one.
        id: Option<String>,
        /// What is wrong with it.
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
