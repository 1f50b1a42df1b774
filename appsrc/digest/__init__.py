"""The daily internal digest: activity queries, the pure builder, the local-LLM client, the DB-backed
policy, the scheduler step and the on-demand sends (see `service.DigestService`)."""
