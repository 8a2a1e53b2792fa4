//! Datasets and data loaders (being written).
