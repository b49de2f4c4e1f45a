//! Docker image reference grammar.
