"""Protocol-agnostic data plane: what every route does, without any HTTP framework."""
