"""Change control: affected document versions, training impact, approval by e-signature."""
