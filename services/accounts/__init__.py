"""Who may use the panel: users and roles (users), senders' API keys (api_keys), and the audit log of what
they did (audit). Imports only `database`."""
