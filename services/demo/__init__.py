"""Demo traffic for `make run`: a simulated shop (shop) and the HTTP client that posts its events to the product's
public ingest API (traffic), not a service. It imports nothing from the other areas, so it exercises the product
exactly as an outside sender does."""
