"""The audit trail: database triggers write one row per changed field; a SHA-256 chain makes it tamper-evident.

- ``context``: who is changing data, why, and from where; carried to the triggers by the connection.
- ``chain``: the canonical form of an audit row and its hash, shared by the triggers and the verifier.
- ``triggers``: DDL generated from the model metadata for SQLite and PostgreSQL.
- ``verify``: walks the chain and compares live rows with their last audited state.
"""
