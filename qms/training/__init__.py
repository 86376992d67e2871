"""Training: the matrix, assignments, completions, the maintained compliance state and the
as-of rule.
"""
