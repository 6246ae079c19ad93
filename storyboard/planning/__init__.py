"""Stage 2: one concrete request per take, named by a hash of its content, with its price and what exists of it."""
