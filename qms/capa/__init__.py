"""CAPA: corrective and preventive actions, their training, and the lifecycle that closes them."""
