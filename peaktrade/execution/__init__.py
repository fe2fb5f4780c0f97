"""The execution service layer: the desk decides, the journal remembers."""
