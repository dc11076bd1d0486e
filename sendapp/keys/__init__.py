"""Identity public keys (PROTOCOL §3)."""
