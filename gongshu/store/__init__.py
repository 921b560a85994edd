"""R7: the data store — per-resource tables holding the data aggregated into the platform."""
