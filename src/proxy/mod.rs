//! The reverse proxy: listener, path ownership, header rewriting and forwarding to NetBox.
