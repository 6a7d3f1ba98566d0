//! trybuild cases
