"""Running containers with hardened defaults, and auditing container configurations."""
