//! Docker's word processing for Dockerfile arguments (to be written).
