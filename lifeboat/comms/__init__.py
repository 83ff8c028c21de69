"""Stakeholder messages: the parts of a good incident update, filled from the run and
rendered in the reader's language for their audience (customers or internal)."""
