"""The OpenAPI document of the HTTP API (spec), built from the definitions the services validate with."""
