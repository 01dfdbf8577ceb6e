//! berth-runtime: turns an OCI bundle into a running container.
