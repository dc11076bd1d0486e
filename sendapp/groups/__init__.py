"""Group conversations (PROTOCOL §9): membership, roles and their routes."""
