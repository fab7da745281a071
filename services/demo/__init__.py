"""Demo traffic for `make run`: an HTTP client of the product's public ingest API, not a service. It imports
nothing from the other areas, so it exercises the product exactly as an outside sender does."""
