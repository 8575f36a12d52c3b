"""Business Central <-> Dynamics 365 Sales synchronization: hooks, mappings, transforms, state and operators."""
