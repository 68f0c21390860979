"""Policy: the signed rules an image must meet, and their evaluation into a Decision."""
