"""R13: data quality before the load — transforms, vectorised checks, rules beyond the items, quarantine."""
