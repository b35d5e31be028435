"""Training of the learned candidate sources (issue 3); `recsys train` runs it."""
