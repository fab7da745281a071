"""The product's logic, by area, with no request objects: each area is a package whose docstring says what it owns
and what it may import. Blueprints call into these; these never import blueprints, Flask's request or `current_app`."""
