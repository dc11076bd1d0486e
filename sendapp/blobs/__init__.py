"""Encrypted attachments (PROTOCOL §5, §7): opaque bytes on disk, readable by one pair."""
