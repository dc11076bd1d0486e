"""Health checks for supervisors and proxies: /healthz (alive) and /readyz (ready for traffic)."""
