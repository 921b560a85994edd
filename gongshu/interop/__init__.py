"""R6 R22: interoperability — the published catalog as other catalog software reads it: CKAN's Action API
(read side) and DCAT-AP 3.0 (Turtle and JSON-LD). Both see exactly what the catalog's visibility rules
give the caller."""
