"""The process itself: its long-lived objects wired together (process), the background loops (jobs) and the
schema migrations (migrations). The one area that may import every other, since it assembles them."""
