"""The process itself: its long-lived objects wired together (process), the background loops (jobs), the schema
migrations (migrations), and how its PostgreSQL connections wait (psycopg_internals, every use of psycopg's
internals). The one area that may import every other, since it assembles them."""
