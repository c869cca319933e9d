"""The read models: one pure `apply` per model, its SQL schema and its queries, and the registry."""
