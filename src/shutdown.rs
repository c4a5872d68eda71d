//! Graceful shutdown: signal handling and the drain deadline.
