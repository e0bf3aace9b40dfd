"""Staff administration (SPEC 11.1): members, their roles, invitations and access."""
