"""Accounts: registration, login, sessions, vault (PROTOCOL §2-3, §7)."""
