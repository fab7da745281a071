"""Telling people: alerts as listed and acknowledged (alerts) and notifications (notifications). Imports
`database` only."""
