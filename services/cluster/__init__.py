"""Several server processes on one Redis (SPEC §8): the shared stream, the leader lease, the process registry."""
