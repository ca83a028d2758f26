"""The world around the bins: who comes, when, with what, and how fill grows."""
