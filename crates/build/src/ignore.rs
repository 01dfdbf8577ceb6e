//! `.dockerignore` patterns (to be written).
