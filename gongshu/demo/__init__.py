"""The demo city: a realistic set of organisations, users for every role, and public accounts."""
