"""Friendships: who may talk to whom (PROTOCOL §7)."""
