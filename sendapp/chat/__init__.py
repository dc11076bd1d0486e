"""Messages: send, sync, history, typing, read markers (PROTOCOL §5, §8)."""
