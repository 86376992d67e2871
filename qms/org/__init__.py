"""The organisation: departments, job functions, equipment and people's dated memberships;
hire, role change, transfer, equipment, leave and termination.
"""
