"""R7 R9 R10: aggregation — files uploaded (and later pushed or pulled) into the data store."""
